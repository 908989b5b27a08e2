"""Population: placement, indoor heights, crowds (place, window, leave), scenario forms, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.catalog import load_catalog
from agents.users import CrowdEvent, Population, area_of, parse_clock_s, parse_duration_s
from dientine.grid import Grid

CAT = load_catalog()
AREA = (-1500.0, -1500.0, 3000.0, 3000.0)
CROWD = {"kind": "crowd", "at": "18:00", "for": "3h", "where": {"x_m": 300.0, "y_m": -600.0, "radius_m": 200.0},
         "users": 4000, "archetype": "pedestrian"}


def test_build_counts_heights_indoor_share():
    groups = [("pedestrian", 2000), {"archetype": "xr_user", "count": 20000}, ("indoor_stationary", 3000)]
    pop = Population.build(CAT, groups, Grid(*AREA, resolution_m=10.0), np.random.default_rng(1))
    u = pop.users
    assert u.n == 25000 and u.n_active == 25000
    t = u.tables
    assert np.all(u.archetype[:2000] == t.index("pedestrian"))
    assert not u.indoor[:2000].any() and np.all(u.height_m[:2000] == 1.5)
    xr = slice(2000, 22000)
    assert abs(u.indoor[xr].mean() - 0.8) < 0.01
    assert u.indoor[22000:].all()
    # TR 38.901: h = 3 (n_fl - 1) + 1.5, n_fl ~ U{1..N_fl}, N_fl ~ U{4..8} -> 1.5 ... 22.5 m
    hin = u.height_m[22000:]
    assert set(np.unique(hin)) == {1.5 + 3 * k for k in range(8)}
    # P(n_fl = 1) = mean over N_fl of 1/N_fl = (1/4 + 1/5 + 1/6 + 1/7 + 1/8)/5 = 0.1768
    assert abs(np.mean(hin == 1.5) - 0.1768) < 0.02
    assert np.all(u.height_m[xr][~u.indoor[xr]] == 1.5)
    assert np.all(Grid(*AREA, resolution_m=10.0).contains(u.x_m, u.y_m))


def test_bad_groups_and_areas():
    rng = np.random.default_rng(0)
    with pytest.raises(KeyError, match="unknown user archetype 'ghost'"):
        Population.build(CAT, [("ghost", 3)], AREA, rng)
    with pytest.raises(ValueError, match="count must be an integer >= 0"):
        Population.build(CAT, [("pedestrian", 2.5)], AREA, rng)
    with pytest.raises(ValueError, match="area: expected"):
        area_of((0, 0, -5, 10))
    with pytest.raises(ValueError, match="outside the area"):
        Population.build(CAT, [("pedestrian", 3)], AREA, rng,
                         crowds=[{**CROWD, "where": {"x_m": 9000, "y_m": 0, "radius_m": 10}}])


def test_time_parsing_and_crowd_event_forms():
    assert parse_clock_s("18:00") == 64800 and parse_clock_s("07:30:15") == 27015 and parse_clock_s(10) == 10
    assert parse_duration_s("3h") == 10800 and parse_duration_s("15min") == 900 and parse_duration_s("90s") == 90
    assert parse_duration_s("1d") == 86400
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s("soon")
    with pytest.raises(ValueError, match="out of range"):
        parse_clock_s("25:00")
    e = CrowdEvent.model_validate(CROWD)
    assert (e.at_s, e.duration_s, e.end_s, e.users) == (64800, 10800, 75600, 4000)
    with pytest.raises(ValidationError):
        CrowdEvent.model_validate({**CROWD, "users": 0})
    with pytest.raises(ValidationError, match="expected 'crowd'"):
        CrowdEvent.model_validate({**CROWD, "kind": "site_failure"})


def test_crowd_appears_in_the_disc_during_its_window_then_leaves():
    pop = Population.build(CAT, [("pedestrian", 1000)], AREA, np.random.default_rng(2), crowds=[CROWD])
    u = pop.users
    crowd = u.crowd == 0
    assert crowd.sum() == 4000 and u.n_active == 1000
    rng = np.random.default_rng(3)
    counts = {}
    for t in np.arange(0, 86400, 900.0):
        ev = pop.step(t, 900.0, rng)
        counts[t] = (u.n_active, ev)
        if 64800 <= t < 75600:
            d = np.hypot(u.x_m[crowd] - 300, u.y_m[crowd] + 600)
            assert d.max() <= 200 + 1e-9 and u.active[crowd].all()
            assert np.all(u.demand_mbps[crowd] >= 0)
            r = np.sort(d)
            # uniform in the disc: the median distance is R / sqrt(2)
            assert abs(r[2000] - 200 / np.sqrt(2)) < 8
    assert counts[64800.0 - 900][0] == 1000
    assert counts[64800.0] == (5000, {"joined": 4000, "left": 0})
    assert counts[75600.0] == (1000, {"joined": 0, "left": 4000})
    assert not u.active[crowd].any() and np.all(u.demand_mbps[crowd] == 0)
    assert np.all(u.ho.serving_cell[crowd] == -1)


def test_whole_day_reproducible_with_the_same_seed():
    def run(seed):
        pop = Population.build(CAT, [("pedestrian", 800), ("vehicle", 800), ("xr_user", 100),
                                     ("iot_meter", 100)], AREA, np.random.default_rng(seed), crowds=[CROWD])
        rng = np.random.default_rng(seed + 100)
        trace = []
        for t in np.arange(0, 86400, 1800.0):
            pop.step(t, 1800.0, rng)
            u = pop.users
            trace.append(np.concatenate([u.x_m, u.y_m, u.demand_mbps, u.active.astype(float)]))
        return np.concatenate(trace)

    a, b, c = run(7), run(7), run(8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
