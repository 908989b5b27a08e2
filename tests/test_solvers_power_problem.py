"""dientine.problems.power: the realistic builder and the LP / max-min on it."""

from __future__ import annotations

import numpy as np
import pytest

from dientine.problems.power import build_power_problem
from solvers.base import SolveStatus
from solvers.power import sinr_db, solve_power


def test_builder_and_lp_on_the_default_layout() -> None:
    p = build_power_problem(n_points=600, seed=2).problem
    assert p.gain.shape == (600, 57)
    assert (p.serving_cell == np.argmax(p.gain, axis=1)).all()
    sol = solve_power(p)
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.max_violation_db <= 1e-6
    assert (sinr_db(p, sol.power_w) >= -10.0 - 1e-6).all()
    assert (sol.power_w <= 20.0 + 1e-9).all()
    # cheaper than every cell at the 20 W cap (which is feasible here)
    assert (sinr_db(p, np.full(57, 20.0)) >= -10.0).all()
    full = float((p.earth_n_trx * (p.earth_p0_w + p.earth_delta_p * 20.0)).sum())
    assert sol.objective < full


def test_max_min_on_the_default_layout_beats_uniform_power() -> None:
    p = build_power_problem(n_points=300, mode="max_min_sinr", seed=4).problem
    sol = solve_power(p)
    uniform = float(sinr_db(p, np.full(57, 20.0)).min())
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective >= uniform - p.sinr_tolerance_db
    assert sinr_db(p, sol.power_w).min() == pytest.approx(sol.objective, abs=1e-3)
