"""dientine.problems.spectrum: the realistic multi-operator CBRS builder and a solve on it."""

from __future__ import annotations

import numpy as np

from dientine.problems.spectrum import build_spectrum_problem
from solvers.base import SolveStatus
from solvers.spectrum import check_assignment, solve_spectrum


def test_builder_structure() -> None:
    inst = build_spectrum_problem(n_cells=60, n_operators=3, n_points=5, seed=1)
    p = inst.problem
    assert p.n_cells == 60 and p.n_channels == 15 and p.n_operators == 3
    assert len(p.points) == 5 and p.interference_dbm.shape == (60, 5)
    # conflicts only between operators
    assert (p.operator[p.conflict_pairs[:, 0]] != p.operator[p.conflict_pairs[:, 1]]).all()
    fss = [pt for pt in p.points if pt.kind == "FSS"]
    assert fss and fss[0].channels == list(range(5, 15))  # 3600-3700 MHz
    dpa = [pt for pt in p.points if pt.kind == "DPA"]
    assert dpa and dpa[0].channels == list(range(0, 10))  # 3550-3650 MHz


def test_solve_meets_every_constraint_exactly() -> None:
    p = build_spectrum_problem(n_cells=45, n_points=5, fairness="none", seed=2).problem
    sol = solve_spectrum(p, time_limit_s=20)
    assert sol.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
    assert check_assignment(p, sol.assignment)["violations"] == []
    assert (sol.protection_margin_db >= 0).all()
    assert sol.best_bound >= sol.objective - 1e-9
    assert np.all(sol.channels_granted <= p.channels_max)
