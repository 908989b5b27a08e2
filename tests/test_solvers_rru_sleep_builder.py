"""dientine.problems.rru_sleep: the realistic sleep-plan problem built from the default 57-cell scenario."""

from __future__ import annotations

import numpy as np
import pytest

import solvers
from agents.traffic import load_diurnal_profile
from dientine.problems.rru_sleep import EARTH_MACRO_PER_SECTOR, build_rru_sleep_problem, hex_cells
from solvers import SolveStatus


@pytest.fixture(scope="module")
def default_instance():
    return build_rru_sleep_problem(n_points=200, seed=3)


def test_layout_is_the_57_cell_calibration_layout():
    sites, cells, az = hex_cells(19, 500.0)
    assert sites.shape == (19, 2) and cells.shape == (57, 2)
    assert np.allclose(sites[0], 0.0)
    # REFERENCES §0: x = D (q + r/2), y = D (sqrt(3)/2) r; the six first-ring sites are 500 m away
    assert np.allclose(np.sort(np.hypot(*sites.T))[1:7], 500.0)
    assert sorted(set(az.tolist())) == [30.0, 150.0, 270.0]
    assert hex_cells(100, 500.0)[1].shape == (300, 2)


def test_shapes_power_and_floor(default_instance):
    p = default_instance.problem
    assert p.n_cells == 57 and p.n_periods == 24 and 190 <= p.n_points <= 200
    assert np.all(p.n_trx == 2.0) and np.all(p.p0_w == 130.0) and np.all(p.delta_p == 4.7)
    assert np.all(p.p_max_w == 20.0) and np.all(p.p_sleep_w == 75.0)
    assert EARTH_MACRO_PER_SECTOR["n_trx"] * 3 == 6.0  # EARTH Table 2 macro site: 6 TRX over 3 sectors
    # floor: noise per 30 kHz subcarrier (-174 + 44.77 + 9 dBm) + TR 36.942 SINR_MIN -10 dB
    assert p.rsrp_floor_dbm == pytest.approx(-174 + 10 * np.log10(30e3) + 9 - 10)
    assert p.max_candidates == 5
    assert (p.candidates().sum(axis=0) >= 1).all()


def test_demand_follows_the_sourced_profile_and_busy_hour_load(default_instance):
    inst = default_instance
    p = inst.problem
    prof = load_diurnal_profile()
    assert np.allclose(inst.profile, prof.array)
    assert "EARTH" in inst.profile_source
    total = p.demand_mbps.sum(axis=0)
    assert np.allclose(total / total.max(), prof.array)
    peak = int(np.argmax(prof.array))
    best_se = p.spectral_efficiency_bps_hz.max(axis=0)
    util = p.demand_mbps[:, peak] / (best_se * p.bandwidth_mhz[0])
    assert util.sum() / p.n_cells == pytest.approx(inst.busy_hour_load)


def test_interference_all_on_is_never_better_than_none():
    a = build_rru_sleep_problem(n_points=50, hours=[0], seed=1).problem
    b = build_rru_sleep_problem(n_points=50, hours=[0], seed=1, interference="all_on").problem
    assert np.all(b.spectral_efficiency_bps_hz <= a.spectral_efficiency_bps_hz + 1e-12)
    assert b.spectral_efficiency_bps_hz.max(axis=0).mean() < a.spectral_efficiency_bps_hz.max(axis=0).mean()


def test_supplied_profile_needs_a_source():
    with pytest.raises(ValueError, match="profile_source"):
        build_rru_sleep_problem(n_points=10, profile=np.ones(24))
    with pytest.raises(ValueError, match="interference"):
        build_rru_sleep_problem(n_points=10, interference="some")


def test_night_hour_is_solved_and_saves_energy():
    inst = build_rru_sleep_problem(n_points=80, hours=[4], seed=2)
    sol = solvers.solve(inst.problem, time_limit_s=30)
    assert sol.status is SolveStatus.OPTIMAL
    assert 0.0 < sol.energy_saving_fraction < 1.0
    assert sol.on.sum() < inst.problem.n_cells
    # every point with traffic is served by an active cell that covers it
    served = sol.serving_cell[:, 0]
    assert (served >= 0).all() and sol.on[served, 0].all()
    assert inst.problem.covers()[served, np.arange(len(served))].all()
