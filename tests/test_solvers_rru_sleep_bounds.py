"""solvers.rru_sleep: proven bounds, exact point aggregation and the horizon local search (issue 5).

Every bound is checked against the independent brute-force oracle of ``test_solvers_rru_sleep`` (enumeration of
on/off patterns, scipy LPs for the traffic): a lower bound above the optimum, an aggregation that changes the
optimum or a local search that breaks a dwell time fails these tests.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_solvers_rru_sleep import _cell_cost, _traffic_cost, brute_force, make_problem

import solvers
from solvers import SolveStatus
from solvers.rru_sleep import _model
from solvers.rru_sleep import solver as rs


def _hour(p, t):
    """Period t of ``p`` as a one-period problem without coupling."""
    return p.model_copy(update=dict(demand_mbps=p.demand_mbps[:, [t]], switch_cost_wh=0.0, min_on_periods=1,
                                    min_off_periods=1, cyclic=False, initial_on=None,
                                    sleep_level_entry_wh=None))


def _oracle_plan_cost(p, on):
    """Oracle cost of a fixed plan: traffic LPs per period, cell costs by enumeration."""
    traffic = sum(_traffic_cost(p, t, on[:, t]) for t in range(p.n_periods))
    return traffic + sum(_cell_cost(p, i, tuple(int(v) for v in on[i])) for i in range(p.n_cells))


@pytest.mark.parametrize("seed", range(8))
def test_lp_relaxation_and_start_plan_bracket_the_brute_force_optimum(seed):
    """The per-period LP-relaxation bound is <= the period's optimum <= the start plan's (dive + local search)
    exact price, on small random single periods (5 cells: all 32 patterns enumerated)."""
    p = _hour(make_problem(n_i=5, n_j=14, n_t=1, seed=seed, load=2.5), 0)
    opt = brute_force(p)
    d = _model.Data.from_problem(p)
    ref, on, obj, lp_bound, _ = rs._lp_start(d, 0, None, 10.0, rs._Clock(30.0))
    if not np.isfinite(opt):  # even all cells on cannot carry the traffic
        assert ref is not None and not ref.feasible
        return
    assert ref is not None and ref.feasible
    assert lp_bound <= opt + 1e-6 * abs(opt)
    assert obj >= opt - 1e-6 * abs(opt)
    assert obj == pytest.approx(_oracle_plan_cost(p, on[:, None]), rel=1e-6)


def _tree_instance(seed: int, n_i: int):
    kw = dict(must_stay_on=[0]) if seed % 3 == 2 else {}
    return _hour(make_problem(n_i=n_i, n_j=3 * n_i, n_t=1, seed=seed, load=0.35 * n_i, **kw), 0)


@pytest.mark.parametrize("seed", range(8))
def test_branch_and_bound_bounds_and_reaches_the_brute_force_optimum(seed):
    """The per-period branch and bound (:class:`_Tree`), started from a poor incumbent (every cell on): after
    each node its bound is <= the oracle's optimum <= its incumbent, the incumbent's value is that plan's exact
    (oracle) price, and run to the end it closes the gap at the optimum (8 cells: 256 patterns enumerated)."""
    p = _tree_instance(seed, 8)
    opt = brute_force(p)
    assert np.isfinite(opt)
    d = _model.Data.from_problem(p)
    clock = rs._Clock(60.0)
    ref, _, _, lp_bound, root = rs._lp_start(d, 0, None, 10.0, clock)
    assert root is not None and root.value == pytest.approx(lp_bound)
    all_on = np.ones(d.n_i, dtype=bool)
    tree = rs._Tree(d, 0, root, all_on, _oracle_plan_cost(p, all_on[:, None]))
    tol = 1e-6 * abs(opt)
    steps = 0
    while not tree.run(-1.0 if steps == 0 else clock.elapsed() + 1e-3, clock, 0.0):  # a few nodes at a time
        steps += 1
        assert tree.bound() <= opt + tol
        assert tree.ub >= opt - tol
        assert tree.ub == pytest.approx(_oracle_plan_cost(p, tree.on[:, None]), rel=1e-6)
        assert steps < 10_000
    assert tree.bound() <= opt + tol
    assert tree.ub == pytest.approx(opt, rel=1e-6)
    assert tree.on[d.must_on].all()


def test_branch_and_bound_stops_at_the_requested_gap():
    """With a gap tolerance the tree stops once incumbent - bound <= gap * incumbent, and reports finished."""
    p = _tree_instance(1, 8)
    d = _model.Data.from_problem(p)
    clock = rs._Clock(60.0)
    _, on, obj, _, root = rs._lp_start(d, 0, None, 10.0, clock)
    tree = rs._Tree(d, 0, root, on, obj)
    assert tree.run(60.0, clock, 0.05)
    assert tree.ub - tree.bound() <= 0.05 * tree.ub + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_swap_chains_undo_a_perturbation_of_the_brute_force_optimum(seed):
    """:func:`_chain_search` with every cell in its move lists: from the oracle's optimal plan spoiled by one swap
    it returns a plan of the optimum's cost; spoiled by two swaps (each step feasible) it returns a cheaper plan;
    every returned cost is that plan's exact (oracle) price (8 cells: 256 patterns enumerated)."""
    p = _tree_instance(seed, 8)
    d = _model.Data.from_problem(p)
    plans = [np.array(bits, dtype=bool) for bits in itertools.product((False, True), repeat=d.n_i)]
    costs = np.array([_oracle_plan_cost(p, on[:, None]) for on in plans])
    opt_on, opt = plans[int(np.argmin(costs))], float(costs.min())
    assert np.isfinite(opt)
    cost_of = {on.tobytes(): c for on, c in zip(plans, costs, strict=True)}
    hour = rs._HourLP(d, 0)
    x_rel = np.linspace(0.0, 1.0, d.n_i)  # any order: the move lists hold every cell

    def swap(on, k, i):
        out = on.copy()
        out[k], out[i] = True, False
        return out

    def check(found, worse):
        assert found is not None
        assert found[1] < worse - 1e-9 * abs(worse)
        assert found[1] == pytest.approx(cost_of[found[0].tobytes()], rel=1e-6)
        assert found[1] >= opt - 1e-6 * abs(opt)
        return found[1]

    one = [(k, i) for k in np.flatnonzero(~opt_on) for i in np.flatnonzero(opt_on & ~d.must_on)]
    spoiled = [(swap(opt_on, k, i), k, i) for k, i in one if np.isfinite(cost_of[swap(opt_on, k, i).tobytes()])]
    assert spoiled
    for on, _, _ in spoiled[:4]:
        found = rs._chain_search(lambda plan: hour.solve(plan, rs.INF), on, cost_of[on.tobytes()], x_rel,
                                 d.must_on, np.inf, width=d.n_i, depth=1)
        assert check(found, cost_of[on.tobytes()]) == pytest.approx(opt, rel=1e-6)
    twice = [(on2, cost_of[on2.tobytes()]) for on, k, i in spoiled for k2, i2 in one if k2 != k and i2 != i
             for on2 in [swap(on, k2, i2)] if np.isfinite(cost_of[on2.tobytes()])]
    for on, c in twice[:4]:
        found = rs._chain_search(lambda plan: hour.solve(plan, rs.INF), on, c, x_rel, d.must_on, np.inf,
                                 width=d.n_i, depth=2, beam=d.n_i ** 2)
        check(found, c)


@pytest.mark.parametrize("seed", range(6))
def test_reported_bound_never_exceeds_the_brute_force_optimum(seed):
    """A stopped solve (tiny time limit) and a finished one both report a bound <= the oracle's optimum."""
    p = make_problem(n_i=4, n_j=10, n_t=3, seed=seed, load=2.0, profile=[1.0, 0.2, 0.9], switch_cost_wh=20.0,
                     min_on_periods=2, min_off_periods=2, cyclic=seed % 2 == 0)
    opt = brute_force(p)
    assert np.isfinite(opt)
    for limit_s in (0.05, 30.0):
        sol = solvers.solve(p, time_limit_s=limit_s)
        if sol.best_bound is not None:
            assert sol.best_bound <= opt + 1e-6 * abs(opt), (limit_s, sol.method)
        if sol.objective is not None:
            assert sol.objective >= opt - 1e-6 * abs(opt)
    assert sol.status is SolveStatus.OPTIMAL


@pytest.mark.parametrize("seed", range(4))
def test_sum_of_hourly_optima_bounds_the_coupled_day(seed):
    """Sum of the periods' optima (what the decomposition proves) <= optimum of the coupled day (brute force),
    and the coupled day costs strictly more on these instances (the bound is not trivially tight)."""
    p = make_problem(n_i=4, n_j=10, n_t=3, seed=seed, load=2.0, profile=[1.0, 0.15, 1.0], switch_cost_wh=40.0,
                     min_on_periods=2, min_off_periods=2, cyclic=True)
    day = brute_force(p)
    hourly = [solvers.solve(_hour(p, t), time_limit_s=30) for t in range(p.n_periods)]
    assert all(h.status is SolveStatus.OPTIMAL for h in hourly)
    total_bound = sum(h.best_bound for h in hourly)
    assert total_bound <= day + 1e-6 * abs(day)
    assert sum(brute_force(_hour(p, t)) for t in range(p.n_periods)) <= day + 1e-6 * abs(day)


def _with_duplicates(seed: int, **kw):
    """Problem whose points 0..3 are repeated (same radio columns, other demands): aggregable points. The first
    base instance (from ``seed`` on) where every point is covered by some cell."""
    for s in range(100 * seed, 100 * seed + 100):
        base = make_problem(n_i=4, n_j=8, n_t=2, seed=s, load=1.0, **kw)
        if base.covers().any(axis=0).all():
            break
    dup = [0, 1, 2, 3, 0, 1]
    rng = np.random.default_rng(s + 1)
    return base.model_copy(update=dict(
        demand_mbps=np.concatenate([base.demand_mbps, rng.uniform(0, 10, (len(dup), 2))]),
        spectral_efficiency_bps_hz=np.concatenate([base.spectral_efficiency_bps_hz,
                                                   base.spectral_efficiency_bps_hz[:, dup]], axis=1),
        rsrp_dbm=np.concatenate([base.rsrp_dbm, base.rsrp_dbm[:, dup]], axis=1)))


@pytest.mark.parametrize("seed", range(4))
def test_aggregated_points_give_the_unaggregated_optimum(seed):
    p = _with_duplicates(seed, max_unserved_fraction=None, unserved_penalty_wh_per_mbit=0.5)
    agg = _model.Data.from_problem(p)
    raw = _model.Data.from_problem(p, aggregate=False)
    assert raw.n_j == p.n_points and agg.n_j <= p.n_points - 6
    assert (agg.point_group[8:] == agg.point_group[[0, 1, 2, 3, 0, 1]]).all()
    assert np.allclose(agg.demand.sum(axis=0), p.demand_mbps.sum(axis=0))
    optima = []
    for d in (agg, raw):
        m = _model.build(d, np.arange(d.n_t), coupled=False)
        r = rs._run(m.highs, 60.0, 1e-9)
        assert r.status == rs._MS.kOptimal
        optima.append(r.objective)
    assert optima[0] == pytest.approx(optima[1], rel=1e-7)
    sol = solvers.solve(p, time_limit_s=30)
    assert sol.objective == pytest.approx(brute_force(p), rel=2e-4)
    assert sol.serving_cell.shape == (p.n_points, p.n_periods)
    dup = np.arange(8, 14)
    assert (sol.serving_cell[dup] == sol.serving_cell[[0, 1, 2, 3, 0, 1]]).all()


def test_points_with_different_rates_are_not_aggregated():
    p = _with_duplicates(0)
    se = p.spectral_efficiency_bps_hz.copy()
    se[:, 8:] *= 1.01  # same candidates and coverage, other capacity per Mbit/s: not aggregable with 0..3
    d = _model.Data.from_problem(p.model_copy(update=dict(spectral_efficiency_bps_hz=se)))
    assert not set(d.point_group[8:]) & set(d.point_group[:8])
    assert d.n_j == 12  # the copies of points 0 and 1 (twice each) still pair up among themselves


@pytest.mark.parametrize("seed", range(5))
def test_day_search_keeps_dwell_and_never_raises_the_oracle_cost(seed):
    for s in range(100 * seed, 100 * seed + 100):  # an instance whose all-on plan is feasible
        p = make_problem(n_i=4, n_j=10, n_t=6, seed=s, load=1.0, profile=[1.0, 0.3, 0.2, 0.2, 0.6, 1.0],
                         switch_cost_wh=15.0, min_on_periods=2, min_off_periods=2, cyclic=seed % 2 == 1)
        if np.isfinite(_oracle_plan_cost(p, np.ones((4, 6), dtype=bool))):
            break
    d = _model.Data.from_problem(p)
    rng = np.random.default_rng(seed)
    start = rs._repair(d, rng.random((4, 6)) < 0.5)
    before = _oracle_plan_cost(p, start)
    if not np.isfinite(before):  # the random plan cannot carry the traffic: start from all cells on
        start = np.ones((4, 6), dtype=bool)
        before = _oracle_plan_cost(p, start)
    after_on, moves = rs._day_search(d, start, rs._Clock(60.0), 60.0)
    after = _oracle_plan_cost(p, after_on)
    assert np.isfinite(after)  # dwell-feasible (the oracle's cell cost is inf otherwise) and servable
    assert after <= before + 1e-6 * abs(before)
    assert (moves == 0) == (after_on == start).all()
