"""solvers.rru_sleep: optimum against brute force, infeasibility diagnosis, time limits, JSON, bad data.

The oracle below is written independently of the solver: it enumerates every on/off pattern of a tiny instance,
prices each period's traffic with its own LP (scipy.optimize.linprog) and each cell's sleep levels, entries,
switches and dwell times by enumeration straight from the formulation of REFERENCES.md 6.1.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.optimize import linprog

import solvers
from solvers import ProblemDataError, SolveStatus
from solvers.rru_sleep import RruSleepProblem, RruSleepSolution, solve_rru_sleep


def make_problem(n_i=4, n_j=10, n_t=3, seed=0, load=1.0, profile=None, **kw) -> RruSleepProblem:
    rng = np.random.default_rng(seed)
    profile = rng.uniform(0.2, 1.0, n_t) if profile is None else np.asarray(profile)
    cells = rng.uniform(0, 1000, (n_i, 2))
    pts = rng.uniform(0, 1000, (n_j, 2))
    dist = np.linalg.norm(cells[:, None] - pts[None], axis=2) + 10.0
    args = dict(
        demand_mbps=load * rng.uniform(0, 30, (n_j, n_t)) * profile,
        spectral_efficiency_bps_hz=np.clip(4.4 - dist / 300.0, 0.0, None),
        rsrp_dbm=-60.0 - 35.0 * np.log10(dist / 10.0), rsrp_floor_dbm=-125.0,
        bandwidth_mhz=np.full(n_i, 60.0), rho_max=0.8, n_trx=np.full(n_i, 2.0), p0_w=np.full(n_i, 130.0),
        delta_p=np.full(n_i, 4.7), p_max_w=np.full(n_i, 20.0), p_sleep_w=np.full(n_i, 75.0))
    args.update(kw)
    return RruSleepProblem(**args)


# ------------------------------------------------------------------------------------------ oracle
def _traffic_cost(p: RruSleepProblem, t: int, on: np.ndarray) -> float:
    """min over y, z of load energy + lost-traffic penalty for period t and active cells ``on``; inf if
    infeasible. Independent LP (scipy linprog)."""
    dem = p.demand_mbps[:, t]
    covers = p.rsrp_dbm >= p.rsrp_floor_dbm
    cand = covers & (p.spectral_efficiency_bps_hz > 0)
    if p.max_candidates is not None:
        for j in range(p.n_points):
            idx = np.flatnonzero(cand[:, j])
            keep = idx[np.argsort(-p.rsrp_dbm[idx, j], kind="stable")][: p.max_candidates]
            cand[:, j] = False
            cand[keep, j] = True
    pts = [j for j in range(p.n_points) if dem[j] > 0]
    for j in pts:
        if not any(on[i] and covers[i, j] for i in range(p.n_cells)):
            return np.inf  # coverage
    pairs = [(i, j) for j in pts for i in range(p.n_cells) if cand[i, j] and on[i]]
    lost_ok = p.max_unserved_fraction is None or p.max_unserved_fraction > 0
    n_y, n_z = len(pairs), len(pts) if lost_ok else 0
    n = n_y + n_z
    if n == 0:
        return 0.0 if not pts else np.inf
    dt = p.period_h
    cost = np.zeros(n)
    a_eq = np.zeros((len(pts), n))
    a_ub, b_ub = [], []
    load_rows = {i: np.zeros(n) for i in range(p.n_cells)}
    for k, (i, j) in enumerate(pairs):
        coef = dem[j] / (p.spectral_efficiency_bps_hz[i, j] * p.bandwidth_mhz[i])
        cost[k] = dt * p.n_trx[i] * p.delta_p[i] * p.p_max_w[i] * coef
        a_eq[pts.index(j), k] = 1.0
        load_rows[i][k] = coef
    for k, j in enumerate(pts[:n_z]):
        cost[n_y + k] = dt * p.unserved_penalty_wh_per_mbit * dem[j]
        a_eq[k, n_y + k] = 1.0
    for i in range(p.n_cells):
        if on[i]:
            a_ub.append(load_rows[i])
            b_ub.append(p.rho_max)
    if n_z and p.max_unserved_fraction is not None:
        row = np.zeros(n)
        row[n_y:] = dem[pts]
        a_ub.append(row)
        b_ub.append(p.max_unserved_fraction * dem.sum())
    res = linprog(cost, A_ub=np.array(a_ub) if a_ub else None, b_ub=b_ub or None, A_eq=a_eq,
                  b_eq=np.ones(len(pts)), bounds=(0, 1), method="highs")
    return float(res.fun) if res.status == 0 else np.inf


def _cell_cost(p: RruSleepProblem, i: int, on_i: tuple[int, ...]) -> float:
    """Fixed energy, sleep levels (enumerated), entry energies, switching; inf if a dwell time is violated."""
    n_t, dt = p.n_periods, p.period_h
    sleep_w = p.sleep_level_power_w[i] if p.sleep_level_power_w is not None else [p.n_trx[i] * p.p_sleep_w[i]]
    entry = p.sleep_level_entry_wh[i] if p.sleep_level_entry_wh is not None else np.zeros(len(sleep_w))

    def prev(t):
        if t > 0:
            return t - 1
        return n_t - 1 if p.cyclic and n_t > 1 else None

    def prev_on(t):
        q = prev(t)
        if q is not None:
            return bool(on_i[q])
        return None if p.initial_on is None else bool(p.initial_on[i])

    if i in p.must_stay_on and not all(on_i):
        return np.inf
    switches = 0
    for t in range(n_t):
        was = prev_on(t)
        if was is None or was == bool(on_i[t]):
            continue
        switches += 1
        need = p.min_on_periods if on_i[t] else p.min_off_periods
        for k in range(1, need):
            tt = t + k
            if tt >= n_t:
                if not p.cyclic:
                    break
                tt -= n_t
            if on_i[tt] != on_i[t]:
                return np.inf
    fixed = sum(dt * p.n_trx[i] * p.p0_w[i] for t in range(n_t) if on_i[t])
    off = [t for t in range(n_t) if not on_i[t]]
    best_sleep = 0.0 if not off else np.inf
    for levels in itertools.product(range(len(sleep_w)), repeat=len(off)):
        lv = dict(zip(off, levels, strict=True))
        c = sum(dt * sleep_w[k] for k in levels)
        for t in off:
            q = prev(t)
            if q is not None:
                entered = bool(on_i[q]) or lv.get(q) != lv[t]
            else:
                entered = p.initial_on is not None and bool(p.initial_on[i])
            c += entry[lv[t]] if entered else 0.0
        best_sleep = min(best_sleep, c)
    return fixed + best_sleep + p.switch_cost_wh * switches


def brute_force(p: RruSleepProblem) -> float:
    n_i, n_t = p.n_cells, p.n_periods
    patterns = list(itertools.product((0, 1), repeat=n_i))
    traffic = {(t, pat): _traffic_cost(p, t, np.array(pat, bool)) for t in range(n_t) for pat in patterns}
    cell_rows = list(itertools.product((0, 1), repeat=n_t))
    cell = {(i, row): _cell_cost(p, i, row) for i in range(n_i) for row in cell_rows}
    best = np.inf
    for plan in itertools.product(patterns, repeat=n_t):
        c = sum(traffic[t, plan[t]] for t in range(n_t))
        if not np.isfinite(c) or c >= best:
            continue
        c += sum(cell[i, tuple(plan[t][i] for t in range(n_t))] for i in range(n_i))
        best = min(best, c)
    return best


_DIP = dict(load=2.0, profile=[1.0, 0.15, 1.0])  # a quiet middle period: cells want to sleep and wake again
CASES = {
    "independent hours": dict(seed=1, **_DIP),
    "switching + dwell + initial state": dict(seed=2, switch_cost_wh=40.0, min_on_periods=2, min_off_periods=2,
                                              initial_on=[True, True, False, True], **_DIP),
    "cyclic + 2 sleep levels + entry energy": dict(
        seed=2, cyclic=True, switch_cost_wh=10.0, sleep_level_power_w=[[150.0, 40.0]] * 4,
        sleep_level_entry_wh=[[0.0, 120.0]] * 4, **_DIP),
    "QoS budget + penalty + must stay on": dict(seed=3, load=4.0, profile=[1.0, 0.15, 1.0],
                                                max_unserved_fraction=0.15, unserved_penalty_wh_per_mbit=1.5,
                                                must_stay_on=[0], initial_on=[False] * 4, switch_cost_wh=5.0),
    "max candidates + min off 3": dict(seed=3, max_candidates=2, min_off_periods=3, switch_cost_wh=1.0,
                                        initial_on=[True] * 4, **_DIP),
}
_COUPLING = ("switch_cost_wh", "min_on_periods", "min_off_periods", "sleep_level_entry_wh", "cyclic")


@pytest.mark.parametrize("name", list(CASES))
def test_highs_matches_brute_force(name):
    p = make_problem(**CASES[name])
    expected = brute_force(p)
    assert np.isfinite(expected)
    if name != "independent hours":  # the instance really exercises the coupling terms
        uncoupled = brute_force(make_problem(**{k: v for k, v in CASES[name].items() if k not in _COUPLING}))
        assert expected > uncoupled * 1.005
    for backend in ("highs", "highs-monolithic"):
        sol = solve_rru_sleep(p, time_limit_s=30, backend=backend)
        assert sol.status is SolveStatus.OPTIMAL, (backend, sol.message)
        assert sol.objective == pytest.approx(expected, rel=2e-4), backend
        assert sol.best_bound <= sol.objective + 1e-6
        assert sol.on.shape == (4, 3)
        assert sol.utilisation.max() <= p.rho_max + 1e-6


@pytest.mark.parametrize("name", ["switching + dwell + initial state", "QoS budget + penalty + must stay on"])
def test_pyomo_backend_agrees(name):
    p = make_problem(**CASES[name])
    a = solvers.solve(p, backend="pyomo", time_limit_s=30)
    b = solvers.solve(p, backend="highs", time_limit_s=30)
    assert a.status is SolveStatus.OPTIMAL and a.backend == "pyomo"
    assert a.objective == pytest.approx(b.objective, rel=2e-4)


def test_energy_accounting_by_hand():
    # one macro sector (EARTH Table 2 per sector: N_TRX 2, P0 130 W, dp 4.7, Pmax 20 W), 100 Mbit/s at 2 bps/Hz
    # over 100 MHz -> utilisation 0.5 -> 2 (130 + 4.7 * 20 * 0.5) = 354 W for 1 h.
    p = RruSleepProblem(demand_mbps=[[100.0]], spectral_efficiency_bps_hz=[[2.0]], rsrp_dbm=[[-90.0]],
                        rsrp_floor_dbm=-120.0, bandwidth_mhz=[100.0], n_trx=[2.0], p0_w=[130.0],
                        delta_p=[4.7], p_max_w=[20.0], p_sleep_w=[75.0])
    sol = solvers.solve(p)
    assert sol.objective == pytest.approx(354.0)
    assert sol.energy_all_on_wh == pytest.approx(354.0)
    assert sol.utilisation[0, 0] == pytest.approx(0.5)
    assert sol.serving_cell[0, 0] == 0
    assert sol.energy_saving_fraction == pytest.approx(0.0)


def test_idle_cell_sleeps_and_saving_is_reported():
    # two cells, only cell 1 sees the point: cell 0 sleeps (2 * 75 W instead of 2 * 130 W)
    p = RruSleepProblem(demand_mbps=[[100.0, 50.0]], spectral_efficiency_bps_hz=[[0.0], [2.0]],
                        rsrp_dbm=[[-150.0], [-90.0]], rsrp_floor_dbm=-120.0, bandwidth_mhz=[100.0, 100.0],
                        n_trx=[2.0, 2.0], p0_w=[130.0, 130.0], delta_p=[4.7, 4.7], p_max_w=[20.0, 20.0],
                        p_sleep_w=[75.0, 75.0])
    sol = solvers.solve(p)
    assert sol.on.tolist() == [[False, False], [True, True]]
    assert sol.sleep_level.tolist() == [[0, 0], [-1, -1]]
    on_energy = 354.0 + 2 * (130 + 4.7 * 20 * 0.25)
    assert sol.energy_wh == pytest.approx(on_energy + 2 * 150.0)
    assert sol.energy_all_on_wh == pytest.approx(on_energy + 2 * 260.0)
    assert sol.energy_saving_fraction == pytest.approx(1 - sol.energy_wh / sol.energy_all_on_wh)


def test_infeasible_capacity_is_named():
    p = make_problem(seed=1, load=40.0)
    sol = solvers.solve(p)
    assert sol.status is SolveStatus.INFEASIBLE
    assert sol.blocking_constraints == ["capacity", "demand"]
    assert sol.objective is None and sol.on is None


def test_infeasible_coverage_is_named():
    p = make_problem(seed=1, max_unserved_fraction=None)
    rsrp = p.rsrp_dbm.copy()
    rsrp[:, 3] = -200.0  # nobody reaches point 3; its traffic may be lost, but coverage is required
    p = p.model_copy(update={"rsrp_dbm": rsrp})
    sol = solvers.solve(p)
    assert sol.status is SolveStatus.INFEASIBLE
    assert sol.blocking_constraints == ["coverage"]
    p2 = make_problem(seed=1)
    p2 = p2.model_copy(update={"rsrp_dbm": rsrp})
    assert solvers.solve(p2).blocking_constraints == ["coverage+demand"]


def test_time_limit_is_honoured_and_reported():
    p = make_problem(n_i=30, n_j=400, n_t=4, seed=7, load=0.6, bandwidth_mhz=np.full(30, 100.0),
                     switch_cost_wh=20.0, min_on_periods=2)
    sol = solvers.solve(p, time_limit_s=0.05)
    assert sol.time_limit_reached
    assert sol.status in (SolveStatus.FEASIBLE, SolveStatus.TIME_LIMIT)
    if sol.status is SolveStatus.FEASIBLE:
        assert sol.gap is None or sol.gap > p.mip_rel_gap
        assert sol.on.shape == (30, 4)
    assert sol.wall_time_s < 60.0  # generous: the limit stops the search, pricing the plan still runs


def test_json_round_trip_problem_and_solution():
    p = make_problem(**CASES["cyclic + 2 sleep levels + entry energy"])
    rsrp = p.rsrp_dbm.copy()
    rsrp[0, 0] = -np.inf
    p = RruSleepProblem.model_validate({**p.model_dump(), "rsrp_dbm": rsrp})
    text = p.model_dump_json()
    q = solvers.load_problem(text)
    assert isinstance(q, RruSleepProblem) and q == p
    assert json.loads(text)["kind"] == "rru_sleep"
    sol = solvers.solve(q)
    back = RruSleepSolution.model_validate_json(sol.model_dump_json())
    assert back == sol
    assert back.status is sol.status and back.on.dtype == np.bool_


def test_warm_start_gives_same_optimum():
    p = make_problem(**CASES["switching + dwell + initial state"])
    first = solvers.solve(p)
    again = solvers.solve(p, warm_start=first)
    also = solvers.solve(p, warm_start={"on": first.on.astype(int).tolist()})
    assert again.objective == pytest.approx(first.objective, rel=1e-6)
    assert also.objective == pytest.approx(first.objective, rel=1e-6)
    with pytest.raises(ProblemDataError, match="warm_start.on"):
        solvers.solve(p, warm_start={"on": [[1, 0]]})


@pytest.mark.parametrize("update, field", [
    ({"demand_mbps": [[1.0, -2.0, 0.0]] * 10}, "demand_mbps[0,1]"),
    ({"spectral_efficiency_bps_hz": np.full((4, 10), np.nan)}, "spectral_efficiency_bps_hz[0,0]"),
    ({"rsrp_dbm": np.zeros((3, 10))}, "rsrp_dbm"),
    ({"bandwidth_mhz": [100.0, 100.0]}, "bandwidth_mhz"),
    ({"must_stay_on": [7]}, "must_stay_on[0]"),
    ({"rho_max": 1.5}, "rho_max"),
    ({"initial_on": [True, False]}, "initial_on"),
    ({"sleep_level_power_w": [[1.0, 2.0]] * 4, "sleep_level_entry_wh": [[1.0]] * 4}, "sleep_level_entry_wh"),
])
def test_bad_data_is_refused_with_the_field_named(update, field):
    data = make_problem().model_dump()
    data.update(update)
    with pytest.raises(ValidationError) as err:
        RruSleepProblem.model_validate(data)
    assert field in str(err.value)


def test_unknown_backend_refused():
    with pytest.raises(ProblemDataError, match="backend"):
        solvers.solve(make_problem(), backend="cplex")


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), sw=st.sampled_from([0.0, 15.0, 60.0]), up=st.integers(1, 3),
       down=st.integers(1, 3), cyclic=st.booleans(), init=st.sampled_from([None, True, False]))
def test_random_tiny_instances_match_brute_force(seed, sw, up, down, cyclic, init):
    p = make_problem(n_i=3, n_j=8, seed=seed, load=2.0, profile=[1.0, 0.2, 0.8], switch_cost_wh=sw,
                     min_on_periods=up, min_off_periods=down, cyclic=cyclic,
                     initial_on=None if init is None else [init] * 3)
    expected = brute_force(p)
    sol = solvers.solve(p, time_limit_s=30)
    if not np.isfinite(expected):
        assert sol.status is SolveStatus.INFEASIBLE
        return
    assert sol.status is SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(expected, rel=2e-4)


@settings(max_examples=40, deadline=None)
@given(bits=st.lists(st.booleans(), min_size=12, max_size=12), up=st.integers(1, 4), down=st.integers(1, 4),
       cyclic=st.booleans(), init=st.sampled_from([None, True, False]))
def test_dwell_repair_only_wakes_cells_and_satisfies_dwell(bits, up, down, cyclic, init):
    from solvers.rru_sleep import _model
    from solvers.rru_sleep.solver import _repair

    p = make_problem(n_i=2, n_j=3, n_t=6, min_on_periods=up, min_off_periods=down, cyclic=cyclic,
                     initial_on=None if init is None else [init] * 2)
    on = np.array(bits, dtype=bool).reshape(2, 6)
    fixed = _repair(_model.Data.from_problem(p), on)
    assert (fixed >= on).all()
    for i in range(2):
        assert np.isfinite(_cell_cost(p, i, tuple(int(v) for v in fixed[i])))


@pytest.mark.parametrize("limit_s", [0.3, 4.0])
def test_time_limit_bounds_every_phase_on_a_larger_instance(limit_s):
    """Issue 5: the reference and relaxation LPs share the budget too. The slack covers building the model
    and pricing the reported plan (generous: the machine is shared); the status must say what happened."""
    p = make_problem(n_i=80, n_j=800, n_t=8, seed=3, load=0.5, bandwidth_mhz=np.full(80, 100.0),
                     switch_cost_wh=10.0, min_on_periods=2, min_off_periods=2, cyclic=True)
    sol = solvers.solve(p, time_limit_s=limit_s)
    assert sol.wall_time_s < limit_s + 4.0
    if sol.status is SolveStatus.TIME_LIMIT:
        assert sol.time_limit_reached and sol.on is None and "time limit" in sol.message
    else:
        assert sol.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)
        assert sol.on.shape == (80, 8)
        assert sol.gap is None or sol.time_limit_reached == (sol.gap > p.mip_rel_gap + 1e-9)
