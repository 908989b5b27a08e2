"""Scheduler: hand-checked water-filling, conservation, demand caps, blocking, policies, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.scheduler import SchedulerError, _water_level, schedule

MHZ = 1e6


def reference_waterfill(need, w, avail):
    """Sorted sweep (independent of the kernel's fixed-point search): x_k = min(need_k, w_k lambda)."""
    need, w = np.asarray(need, float), np.asarray(w, float)
    if need.sum() <= avail:
        return need.copy()
    order = np.argsort(need / w)
    a_rem, w_rem = avail, w.sum()
    lam = 0.0
    for k in order:
        lam = a_rem / w_rem
        if need[k] / w[k] <= lam:
            a_rem -= need[k]
            w_rem -= w[k]
        else:
            break
    return np.minimum(need, w * lam)


def test_equal_share_hand_example():
    # se = 1 bps/Hz, B = 1 MHz: a user's rate in Mbps equals its resource fraction
    res = schedule(np.zeros(4, int), np.ones(4), np.array([0.1, 0.2, 0.5, 0.9]), MHZ)
    np.testing.assert_allclose(res.rate_mbps, [0.1, 0.2, 0.35, 0.35])
    assert res.prb_utilisation[0] == pytest.approx(1.0)
    assert res.n_unsatisfied[0] == 2 and res.unsatisfied_mbps[0] == pytest.approx(0.7)
    assert res.served_mbps[0] == pytest.approx(1.0) and res.demand_mbps[0] == pytest.approx(1.7)


def test_underloaded_cell_satisfies_everyone():
    res = schedule(np.zeros(3, int), np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 4.0]), 10 * MHZ)
    np.testing.assert_array_equal(res.rate_mbps, [1.0, 2.0, 4.0])
    assert res.prb_utilisation[0] == pytest.approx(0.3)
    assert res.n_unsatisfied[0] == 0 and res.unsatisfied_mbps[0] == 0.0


def test_available_fraction_limits_resources():
    res = schedule(np.zeros(2, int), np.ones(2), np.array([1.0, 1.0]), MHZ, np.array([0.5]))
    np.testing.assert_allclose(res.rate_mbps, [0.25, 0.25])
    assert res.prb_utilisation[0] == pytest.approx(0.5)


def test_equal_rate_policy_gives_equal_rates():
    # se 1 and 3, B = 1 MHz, demands 10 each: equal rate r with r/1 + r/3 = 1 -> r = 0.75
    res = schedule(np.zeros(2, int), np.array([1.0, 3.0]), np.array([10.0, 10.0]), MHZ, policy="equal_rate")
    np.testing.assert_allclose(res.rate_mbps, [0.75, 0.75])
    # equal share instead: half the resources each -> 0.5 and 1.5
    res = schedule(np.zeros(2, int), np.array([1.0, 3.0]), np.array([10.0, 10.0]), MHZ)
    np.testing.assert_allclose(res.rate_mbps, [0.5, 1.5])


def test_weighted_pf_and_unit_weights_equal_share():
    res = schedule(np.zeros(2, int), np.ones(2), np.array([5.0, 5.0]), MHZ, policy="proportional_fair",
                   weights=np.array([1.0, 2.0]))
    np.testing.assert_allclose(res.rate_mbps, [1 / 3, 2 / 3])
    rng = np.random.default_rng(5)
    n = 500
    args = (rng.integers(-1, 7, n), rng.uniform(0, 6, n), rng.exponential(3.0, n), 20 * MHZ)
    a = schedule(*args, n_cells=7)
    b = schedule(*args, n_cells=7, policy="proportional_fair")
    np.testing.assert_array_equal(a.rate_mbps, b.rate_mbps)


def test_pf_allocation_maximises_weighted_log_utility():
    """KKT check against random feasible perturbations on a small instance."""
    rng = np.random.default_rng(2)
    need = np.array([0.05, 0.3, 0.4, 0.6])
    w = np.array([1.0, 0.5, 2.0, 1.0])
    res = schedule(np.zeros(4, int), np.ones(4), need, MHZ, policy="proportional_fair", weights=w)
    x = res.rate_mbps

    def utility(v):
        return float(np.sum(w * np.log(v)))

    best = utility(x)
    for _ in range(2000):
        y = rng.dirichlet(np.ones(4)) * rng.uniform(0.5, 1.0)
        y = np.minimum(y, need)
        assert utility(y) <= best + 1e-12


def test_blocked_and_unassigned_users_are_counted():
    serving = np.array([0, 0, 1, -1, -1, 0])
    se = np.array([2.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    dem = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 0.0])
    res = schedule(serving, se, dem, 20 * MHZ, np.array([1.0, 0.0]))
    np.testing.assert_array_equal(res.rate_mbps, [1.0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(res.n_users, [3, 1])
    np.testing.assert_array_equal(res.n_active, [2, 1])
    np.testing.assert_array_equal(res.n_blocked, [1, 1])
    np.testing.assert_array_equal(res.unsatisfied_mbps, [2.0, 3.0])
    assert res.n_unassigned == 2 and res.unassigned_demand_mbps == 9.0
    assert res.total_unserved_mbps == pytest.approx(14.0)


def test_water_level_fixed_point_and_sorted_fallback_agree():
    rng = np.random.default_rng(4)
    for _ in range(50):
        m = int(rng.integers(1, 300))
        need = rng.exponential(1.0, m) * rng.choice([1e-3, 1.0, 1e3])
        w = rng.uniform(0.1, 3.0, m)
        avail = float(rng.uniform(0.05, 1.2)) * need.sum()
        key = need / w
        lam_iter = _water_level(need, w, key, avail, 10_000)
        lam_sort = _water_level(need, w, key, avail, 0)
        expect = reference_waterfill(need, w, avail)
        for lam in (lam_iter, lam_sort):
            np.testing.assert_allclose(np.minimum(need, w * lam), expect, rtol=1e-9, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(0, 60), st.integers(0, 2**31 - 1),
       st.sampled_from(["equal_share", "proportional_fair", "equal_rate"]))
def test_conservation_caps_and_optimality(n_cells, n_users, seed, policy):
    rng = np.random.default_rng(seed)
    serving = rng.integers(-1, n_cells, n_users)
    se = np.where(rng.random(n_users) < 0.1, 0.0, rng.uniform(0.05, 7.0, n_users))
    dem = np.where(rng.random(n_users) < 0.1, 0.0, rng.exponential(rng.uniform(0.1, 30.0), n_users))
    bw = rng.choice([5e6, 20e6, 100e6], n_cells)
    avail = np.where(rng.random(n_cells) < 0.2, 0.0, rng.uniform(0.1, 1.0, n_cells))
    weights = rng.uniform(0.2, 5.0, n_users)
    res = schedule(serving, se, dem, bw, avail, policy=policy, weights=weights)
    assert np.all(res.rate_mbps >= 0) and np.all(res.rate_mbps <= dem)
    assert np.all(res.rate_mbps[serving < 0] == 0)
    for c in range(n_cells):
        mine = (serving == c) & (dem > 0) & (se > 0)
        x = np.zeros(n_users)
        x[mine] = res.rate_mbps[mine] * 1e6 / (se[mine] * bw[c])
        # resources conserved: used share = reported utilisation <= available
        assert x.sum() == pytest.approx(res.prb_utilisation[c], rel=1e-9, abs=1e-12)
        assert res.prb_utilisation[c] <= avail[c] + 1e-12
        need = dem[mine] * 1e6 / (se[mine] * bw[c])
        if mine.any() and avail[c] > 0:
            w = {"equal_share": np.ones(mine.sum()), "proportional_fair": weights[mine],
                 "equal_rate": 1.0 / se[mine]}[policy]
            np.testing.assert_allclose(x[mine], reference_waterfill(need, w, avail[c]), rtol=1e-9, atol=1e-15)
            # work conserving: either everyone satisfied or the available share is used up
            if need.sum() > avail[c]:
                assert res.prb_utilisation[c] == pytest.approx(avail[c], rel=1e-9)
        served = res.rate_mbps[serving == c].sum()
        assert served == pytest.approx(res.served_mbps[c], rel=1e-9, abs=1e-12)
        assert res.demand_mbps[c] == pytest.approx(served + res.unsatisfied_mbps[c], rel=1e-9, abs=1e-9)


def test_input_errors_name_the_index():
    with pytest.raises(SchedulerError, match=r"serving_cell\[1\]: expected -1 or a cell index in \[0, 1\]"):
        schedule(np.array([0, 5]), np.ones(2), np.ones(2), np.full(2, MHZ))
    with pytest.raises(SchedulerError, match=r"demand_mbps\[0\]"):
        schedule(np.array([0]), np.ones(1), np.array([-1.0]), MHZ)
    with pytest.raises(SchedulerError, match=r"se_bps_hz\[0\]"):
        schedule(np.array([0]), np.array([np.nan]), np.ones(1), MHZ)
    with pytest.raises(SchedulerError, match=r"available_fraction\[0\]"):
        schedule(np.array([0]), np.ones(1), np.ones(1), MHZ, np.array([1.5]))
    with pytest.raises(SchedulerError, match="policy"):
        schedule(np.array([0]), np.ones(1), np.ones(1), MHZ, policy="round_robin")
    with pytest.raises(SchedulerError, match=r"weights\[0\]"):
        schedule(np.array([0]), np.ones(1), np.ones(1), MHZ, policy="proportional_fair", weights=np.zeros(1))


def test_deterministic_on_large_input():
    rng = np.random.default_rng(9)
    n = 200_000
    args = (rng.integers(-1, 57, n), rng.uniform(0, 5, n), rng.exponential(1.0, n), 20 * MHZ)
    a = schedule(*args, n_cells=57)
    b = schedule(*args, n_cells=57)
    np.testing.assert_array_equal(a.rate_mbps, b.rate_mbps)
    assert np.all(a.prb_utilisation <= 1.0 + 1e-12)
    assert np.all(a.rate_mbps <= args[2])


@pytest.mark.parametrize("policy", ["equal_share", "proportional_fair", "equal_rate"])
def test_unchecked_call_gives_the_checked_result(policy):
    """check=False (the simulation's per-tick call with arrays it built) skips only the input checks."""
    rng = np.random.default_rng(11)
    n, n_cells = 3000, 12
    serving = rng.integers(-1, n_cells, n).astype(np.int64)
    se = np.where(rng.random(n) < 0.05, 0.0, rng.uniform(0.1, 6.0, n))
    dem = np.where(rng.random(n) < 0.2, 0.0, rng.exponential(2.0, n))
    bw = np.full(n_cells, 20e6)
    av = np.where(rng.random(n_cells) < 0.2, 0.0, 1.0)
    a = schedule(serving, se, dem, bw, av, n_cells=n_cells, policy=policy)
    b = schedule(serving, se, dem, bw, av, n_cells=n_cells, policy=policy, check=False)
    for f in ("rate_mbps", "prb_utilisation", "n_users", "n_active", "demand_mbps", "served_mbps",
              "unsatisfied_mbps", "n_unsatisfied", "n_blocked"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert (a.n_unassigned, a.unassigned_demand_mbps) == (b.n_unassigned, b.unassigned_demand_mbps)
    assert a.prb_utilisation.max() > 0.99  # some cells are loaded: the water-filling is exercised
