"""Mobility kernels: inside the area, speed respected, street-grid geometry and turn probabilities,
reproducibility, serial == parallel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import mobility as mob
from agents.catalog import load_catalog
from agents.users import Population

CAT = load_catalog()


def _pop(groups, area=(0.0, 0.0, 2000.0, 1500.0), seed=1, catalog=CAT):
    return Population.build(catalog, groups, area, np.random.default_rng(seed))


def _on_grid(v, origin, block):
    f = (v - origin - block / 2) / block
    return np.abs(f - np.rint(f)) < 1e-6


def test_hash_uniform_is_uniform_and_keyed():
    u = np.array([mob.hash_uniform(np.uint64(12345), i, 0) for i in range(20000)])
    assert u.min() >= 0 and u.max() < 1
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert np.all(np.abs(counts - 2000) < 5 * np.sqrt(2000))
    assert mob.hash_uniform(np.uint64(1), 5, 0) != mob.hash_uniform(np.uint64(2), 5, 0)
    assert mob.hash_uniform(np.uint64(1), 5, 0) == mob.hash_uniform(np.uint64(1), 5, 0)


@settings(max_examples=20, deadline=None)
@given(dt=st.floats(0.1, 2000.0), seed=st.integers(0, 2**32 - 1),
       w=st.floats(500.0, 5000.0), h=st.floats(500.0, 5000.0), x0=st.floats(-3000, 3000))
def test_random_waypoint_inside_and_speed(dt, seed, w, h, x0):
    area = (x0, -h / 2, w, h)
    pop = _pop([("pedestrian", 300), ("xr_user", 100)], area, seed)
    u = pop.users
    rng = np.random.default_rng(seed + 1)
    for _ in range(4):
        x, y, v = u.x_m.copy(), u.y_m.copy(), u.speed_mps.copy()
        pop.step_mobility(dt, rng)
        step = np.hypot(u.x_m - x, u.y_m - y)
        assert np.all(step <= v * dt * (1 + 1e-9) + 1e-6)   # straight line <= path length <= v dt
        assert np.all((u.x_m >= x0) & (u.x_m <= x0 + w) & (u.y_m >= -h / 2) & (u.y_m <= h / 2))


def test_random_waypoint_walks_at_its_speed_between_waypoints():
    c = CAT.with_overrides({"users.pedestrian.pause_max_s": 0.0})
    pop = _pop([("pedestrian", 2000)], (0, 0, 3000, 3000), 3, c)
    u = pop.users
    x, y = u.x_m.copy(), u.y_m.copy()
    pop.step_mobility(1.0, np.random.default_rng(0))
    step = np.hypot(u.x_m - x, u.y_m - y)
    # with no pause and 1 s ticks nearly everyone moves exactly 3 km/h * 1 s (a turn shortens the chord)
    assert np.mean(np.isclose(step, 0.8333, atol=1e-6)) > 0.99
    assert step.max() <= 0.8333 + 1e-9


def test_street_grid_on_streets_inside_and_l1_speed():
    area = (100.0, -50.0, 2100.0, 1300.0)
    pop = _pop([("vehicle", 3000)], area, 4)
    u = pop.users
    block = float(CAT.user_class("vehicle").block_m)
    rng = np.random.default_rng(5)
    for dt in (1.0, 7.0, 60.0, 900.0):
        x, y = u.x_m.copy(), u.y_m.copy()
        pop.step_mobility(dt, rng)
        on_x, on_y = _on_grid(u.x_m, area[0], block), _on_grid(u.y_m, area[1], block)
        assert np.all(on_x | on_y)
        assert np.all((u.x_m > area[0]) & (u.x_m < area[0] + area[2]))
        assert np.all((u.y_m > area[1]) & (u.y_m < area[1] + area[3]))
        l1 = np.abs(u.x_m - x) + np.abs(u.y_m - y)
        assert np.all(l1 <= 8.3333 * dt + 1e-6)
        if dt <= 7.0:  # less than one block: no U-turns, so moved exactly v dt along the streets
            assert np.mean(np.isclose(l1, 8.3333 * dt, atol=1e-6)) > 0.97


def test_street_grid_turn_probabilities_at_a_crossing():
    """All users start 10 m before an interior crossing heading +x; one tick takes them 10 m past it."""
    pop = _pop([("vehicle", 40000)], (0, 0, 2000, 2000), 6)
    u = pop.users
    u.x_m[:] = 900.0 - 10.0   # crossing at x = 900 (streets at 100 + 200 k), y = 900
    u.y_m[:] = 900.0
    u.heading[:] = 0
    pop.step_mobility(20.0 / 8.3333, np.random.default_rng(7))
    h = u.heading
    n = h.size
    assert abs(np.mean(h == 0) - 0.5) < 0.015
    assert abs(np.mean(h == 1) - 0.25) < 0.015   # left of +x is +y
    assert abs(np.mean(h == 3) - 0.25) < 0.015
    assert np.count_nonzero(h == 2) == 0 and n == 40000
    straight = h == 0
    assert np.allclose(u.x_m[straight], 910.0) and np.allclose(u.y_m[straight], 900.0)
    assert np.allclose(u.x_m[h == 1], 900.0) and np.allclose(u.y_m[h == 1], 910.0)


def test_street_grid_edge_crossing_never_leaves():
    pop = _pop([("vehicle", 1000)], (0, 0, 1000, 1000), 8)
    u = pop.users
    u.x_m[:] = 900.0 - 5.0   # last street x = 900; heading +x towards the corner (900, 900)
    u.y_m[:] = 900.0
    u.heading[:] = 0
    pop.step_mobility(10.0 / 8.3333, np.random.default_rng(9))
    assert np.all(u.heading == 3)     # only way out of the north-east corner: turn right (-y)
    assert np.allclose(u.y_m, 895.0) and np.allclose(u.x_m, 900.0)


def test_block_too_large_is_rejected():
    c = CAT.with_overrides({"users.archetypes.vehicle.block_m": 900.0}, allow_sourced=True)
    with pytest.raises(ValueError, match="block_m 900.0 is too large"):
        _pop([("vehicle", 5)], (0, 0, 1000, 1000), 1, c)


def test_stationary_users_do_not_move_and_bad_dt():
    pop = _pop([("iot_meter", 100), ("indoor_stationary", 100)])
    x, y = pop.users.x_m.copy(), pop.users.y_m.copy()
    pop.step_mobility(3600.0, np.random.default_rng(0))
    assert np.array_equal(x, pop.users.x_m) and np.array_equal(y, pop.users.y_m)
    with pytest.raises(ValueError, match="dt_s must be"):
        pop.step_mobility(-1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="dt_s must be"):
        pop.step_mobility(float("nan"), np.random.default_rng(0))


def test_same_seed_same_paths_and_parallel_equals_serial():
    groups = [("pedestrian", 500), ("vehicle", 500), ("xr_user", 200)]
    runs = []
    for parallel in (False, True, False):
        pop = _pop(groups, seed=11)
        rng = np.random.default_rng(12)
        for _ in range(20):
            pop.step_mobility(30.0, rng, parallel=parallel)
        runs.append(np.concatenate([pop.users.x_m, pop.users.y_m, pop.users.speed_mps]))
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])
    other = _pop(groups, seed=11)
    rng = np.random.default_rng(13)
    for _ in range(20):
        other.step_mobility(30.0, rng)
    assert not np.array_equal(runs[0], np.concatenate([other.users.x_m, other.users.y_m,
                                                       other.users.speed_mps]))


def test_normal_speed_distribution_truncated_positive():
    n = 20000
    idx = np.arange(n)
    speed = np.zeros(n)
    arch = np.zeros(n, np.int16)
    mob._init_speeds(idx, speed, arch, np.array([mob.SPEED_NORMAL], np.int8), np.array([1.0]),
                     np.array([0.5]), np.uint64(99))
    assert speed.min() > 0 and speed.max() <= 4.0
    # truncated normal N(1, 0.5) on (0, 4]: mean = 1 + 0.5 phi(2)/Phi(2) = 1.0277
    assert abs(speed.mean() - 1.0277) < 0.01


def test_street_grid_edge_t_junction_renormalises():
    """On the northern edge street heading +x, 'left' (+y) does not exist: straight 0.5/0.75, right 0.25/0.75."""
    pop = _pop([("vehicle", 30000)], (0, 0, 2000, 2000), 10)
    u = pop.users
    u.x_m[:] = 900.0 - 10.0
    u.y_m[:] = 1900.0          # last horizontal street (100 + 200 * 9)
    u.heading[:] = 0
    pop.step_mobility(20.0 / 8.3333, np.random.default_rng(11))
    assert abs(np.mean(u.heading == 0) - 2 / 3) < 0.015
    assert abs(np.mean(u.heading == 3) - 1 / 3) < 0.015
    assert np.count_nonzero(u.heading == 1) == 0 and np.all(u.y_m <= 1900.0 + 1e-9)
