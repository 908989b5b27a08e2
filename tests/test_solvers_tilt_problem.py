"""dientine.problems.tilt: the realistic builder (REFERENCES.md §5.2 model check) and a solve on it."""

from __future__ import annotations

import numpy as np
import pytest

from dientine.layout import hex_site_positions_m
from dientine.problems._common import hex_sector_cells, rings_for_sites, sites_in_rings
from dientine.problems.tilt import build_tilt_problem
from solvers.base import SolveStatus
from solvers.tilt import evaluate_tilts, solve_tilt


def _p5_by_uniform_tilt(isd_m: float) -> np.ndarray:
    p = build_tilt_problem(isd_m=isd_m, n_pixels=1000, tilts_deg=np.arange(0.0, 21.0), seed=1).problem
    return np.array([evaluate_tilts(p, [k] * p.n_cells)["sinr_p5_db"] for k in range(p.n_tilts)])


def test_p5_sinr_has_an_interior_optimum_that_moves_down_with_isd() -> None:
    p5_500 = _p5_by_uniform_tilt(500.0)
    p5_1732 = _p5_by_uniform_tilt(1732.0)
    k500, k1732 = int(np.argmax(p5_500)), int(np.argmax(p5_1732))
    assert 0 < k500 < 20 and 0 < k1732 < 20  # interior optimum (TR 36.814: 15° at 500 m, 6° at 1732 m)
    assert k1732 < k500
    assert 11 <= k500 <= 17 and 3 <= k1732 <= 9


def test_builder_shapes_and_a_solve_improves_the_initial_tilts() -> None:
    inst = build_tilt_problem(n_pixels=400, initial_tilt_deg=2.0, sinr_min_db=0.0, seed=3)
    p = inst.problem
    assert p.rx_power_mw.shape == (57, 16, 400) and p.n_cells == 57
    assert inst.cell_xy_m.shape == (57, 2) and inst.pixel_xy_m.shape == (400, 2)
    noise_dbm = 10 * np.log10(p.noise_mw[0])
    assert noise_dbm == pytest.approx(-174 + 70 + 9, abs=1e-9)  # 10 MHz, NF 9 dB (REFERENCES §4.4)
    sol = solve_tilt(p, time_limit_s=20)
    assert sol.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)
    assert sol.objective >= sol.initial_objective
    assert sol.best_bound >= sol.objective


def test_builder_refuses_an_unknown_initial_tilt() -> None:
    with pytest.raises(ValueError, match="initial_tilt_deg"):
        build_tilt_problem(n_sites=3, n_pixels=10, initial_tilt_deg=2.5)


def test_shared_builder_geometry_is_the_project_hex_layout() -> None:
    cells = hex_sector_cells(19, 500.0, height_m=25.0, tx_power_dbm=43.0)
    assert cells.n_cells == 57 and (cells.height_m == 25.0).all()
    np.testing.assert_array_equal(cells.site_positions_m(), hex_site_positions_m(2, 500.0))
    part = hex_sector_cells(8, 500.0, height_m=25.0, tx_power_dbm=43.0)  # centre, first ring, one of ring 2
    dist = np.sort(np.hypot(*part.site_positions_m().T))
    assert part.n_cells == 24
    np.testing.assert_allclose(dist, [0.0] + [500.0] * 6 + [500.0 * np.sqrt(3.0)])
    assert rings_for_sites(19) == 2 and rings_for_sites(20) == 3 and sites_in_rings(2) == 19
    with pytest.raises(ValueError, match="n_sites"):
        hex_sector_cells(0, 500.0, height_m=25.0, tx_power_dbm=43.0)
