"""Drones: flight patterns, altitude bands, speed, waypoint loops, aerial-UE view and TR 36.777 path loss."""

from __future__ import annotations

import numpy as np
import pytest

from agents.catalog import load_catalog
from agents.drones import aerial_path_loss_db, build_drones, step_drones, update_drone_demand
from agents.traffic import traffic_table

CAT = load_catalog()
AREA = (-1000.0, -1000.0, 2000.0, 2000.0)
GROUPS = [("delivery_drone", 20), ("inspection_drone", 10), ("intruder_drone", 10)]


def _fleet(seed=1, groups=GROUPS):
    return build_drones(CAT, groups, AREA, np.random.default_rng(seed))


def test_patterns_bands_and_registration():
    d = _fleet()
    names = d.names
    for i in range(d.n):
        name = names[d.archetype[i]]
        dc = CAT.drone_class(name)
        wp = d.waypoints[i, :d.n_waypoints[i]]
        lo, hi = float(dc.altitude_m.low), float(dc.altitude_m.high)
        assert np.all((wp[:, 2] >= lo) & (wp[:, 2] <= hi)), name
        assert np.all((wp[:, 0] >= -1000) & (wp[:, 0] <= 1000) & (wp[:, 1] >= -1000) & (wp[:, 1] <= 1000))
        if name == "delivery_drone":
            assert np.ptp(wp[:, 2]) == 0                       # a corridor is flown at one altitude
            legs = int(float(dc.legs))
            assert d.n_waypoints[i] == 2 * legs                # out and back
            assert np.allclose(wp[1:legs + 1][::-1], wp[legs:][:legs])  # way back = way out reversed
        if name == "inspection_drone":
            assert d.n_waypoints[i] == 2 * int(float(dc.legs)) and np.ptp(wp[:, 2]) == 0
        assert d.registered[i] == dc.registered
    intr = d.is_intruder()
    assert intr.sum() == 10 and not d.served[intr].any() and d.served[~intr].all()
    x, y, h, served = d.ue_view()
    assert h is d.z_m and np.array_equal(served, d.served)


def test_flight_respects_speed_and_stays_in_bounds():
    d = _fleet(2)
    for dt in (0.5, 10.0, 600.0):
        p0 = np.column_stack([d.x_m, d.y_m, d.z_m]).copy()
        step_drones(d, dt)
        p1 = np.column_stack([d.x_m, d.y_m, d.z_m])
        assert np.all(np.linalg.norm(p1 - p0, axis=1) <= d.speed_mps * dt + 1e-6)
        assert np.all(np.abs(p1[:, :2]) <= 1000 + 1e-9)
        for i in range(d.n):
            dc = CAT.drone_class(d.names[d.archetype[i]])
            assert float(dc.altitude_m.low) - 1e-9 <= d.z_m[i] <= float(dc.altitude_m.high) + 1e-9
    lo, hi = 10.0, 20.0
    dl = d.archetype == d.names.index("delivery_drone")
    assert np.all((d.speed_mps[dl] >= lo) & (d.speed_mps[dl] <= hi))


def test_loop_returns_to_start_after_one_lap():
    d = _fleet(3, [("intruder_drone", 1)])
    wp = d.waypoints[0, :d.n_waypoints[0]]
    lap = np.sum(np.linalg.norm(np.roll(wp, -1, axis=0) - wp, axis=1))
    start = wp[0].copy()
    step_drones(d, 0.25 * lap / d.speed_mps[0])
    assert not np.allclose([d.x_m[0], d.y_m[0], d.z_m[0]], start)
    step_drones(d, 0.75 * lap / d.speed_mps[0])
    assert np.allclose([d.x_m[0], d.y_m[0], d.z_m[0]], start, atol=1e-6)


def test_reproducible_and_errors():
    a, b, c = _fleet(5), _fleet(5), _fleet(6)
    assert np.array_equal(a.waypoints, b.waypoints) and np.array_equal(a.rcs_dbsm, b.rcs_dbsm)
    assert not np.array_equal(a.waypoints, c.waypoints)
    with pytest.raises(KeyError, match="unknown drone archetype"):
        build_drones(CAT, [("pedestrian", 1)], AREA, np.random.default_rng(0))
    with pytest.raises(ValueError, match="dt_s must be"):
        step_drones(a, -1.0)


def test_drone_demand_is_its_c2_rate():
    d = _fleet()
    update_drone_demand(d, traffic_table(CAT))
    assert np.allclose(d.demand_mbps[d.served], 0.1) and np.all(d.demand_mbps[~d.served] == 0)


def test_aerial_path_loss_matches_tr36777_vectors():
    """REFERENCES.md §2 table (fc 3.5 GHz, h_BS 25 m): UMa-AV h 30 m, d2D 100 m LOS 82.89, NLOS 97.16 dB;
    h 50 m, d2D 1000 m LOS 104.88 dB."""
    d = _fleet(1, [("intruder_drone", 2)])
    d.x_m[:] = [100.0, 1000.0]
    d.y_m[:] = 0.0
    d.z_m[:] = [30.0, 50.0]
    los = aerial_path_loss_db(d, [0.0], [0.0], 25.0, 3.5, los=True)
    assert los.shape == (2, 1)
    assert los[0, 0] == pytest.approx(82.89, abs=0.01) and los[1, 0] == pytest.approx(104.88, abs=0.01)
    nlos = aerial_path_loss_db(d, [0.0], [0.0], 25.0, 3.5, los=False)
    assert nlos[0, 0] == pytest.approx(97.16, abs=0.01)
