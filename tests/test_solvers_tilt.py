"""solvers.tilt: brute-force optimum, methods, bounds, time limit, JSON round trip, bad data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from solvers import load_problem, solve
from solvers.base import ProblemDataError, SolveStatus
from solvers.tilt import TiltProblem, TiltSolution, evaluate_tilts, solve_tilt, tilt_upper_bound


def _geometric(n_cells: int, n_tilts: int, n_pix: int, seed: int) -> TiltProblem:
    """Cells on a line, pixels on the same line, a tilt-dependent vertical pattern (36.814 form)."""
    rng = np.random.default_rng(seed)
    cell_x = np.linspace(0.0, 500.0 * (n_cells - 1), n_cells)
    pix_x = rng.uniform(-200.0, 500.0 * (n_cells - 1) + 200.0, n_pix)
    d = np.maximum(np.abs(pix_x[None, :] - cell_x[:, None]), 10.0)
    below = np.degrees(np.arctan2(23.5, d))
    tilts = np.arange(n_tilts, dtype=float) * (15.0 / max(n_tilts - 1, 1))
    att = -np.minimum(12.0 * ((below[:, None, :] - tilts[None, :, None]) / 10.0) ** 2, 20.0)
    pl = 13.54 + 39.08 * np.log10(np.hypot(d, 23.5)) + 20 * np.log10(3.5)
    rx_dbm = 43.0 + 14.0 + att - pl[:, None, :] + rng.normal(0, 3.0, (n_cells, 1, n_pix))
    return TiltProblem(rx_power_mw=10 ** (rx_dbm / 10), noise_mw=np.full(n_pix, 10 ** (-9.5)),
                       weight=rng.integers(1, 4, n_pix).astype(float), tilts_deg=tilts, sinr_min_db=3.0)


def _brute(problem: TiltProblem) -> tuple[float, tuple[int, ...]]:
    """Independent NumPy oracle over every tilt combination."""
    best = (-math.inf, ())
    rx, n = problem.rx_power_mw, problem.noise_mw
    gamma = 10 ** (problem.sinr_min_db / 10)
    for combo in itertools.product(range(problem.n_tilts), repeat=problem.n_cells):
        r = rx[np.arange(problem.n_cells), list(combo), :]
        s = r.max(axis=0)
        sinr = s / (r.sum(axis=0) - s + n)
        if problem.objective == "coverage":
            v = float(problem.weight[sinr >= gamma].sum())
        else:
            v = float((problem.weight * np.log(np.log2(1 + np.maximum(sinr, gamma)))).sum())
        if v > best[0] + 1e-9:
            best = (v, combo)
    return best


@pytest.mark.parametrize("seed", [0, 1])
def test_enumeration_matches_brute_force_coverage(seed: int) -> None:
    p = _geometric(3, 16, 120, seed)
    sol = solve_tilt(p)
    assert sol.backend == "enumeration" and sol.status == SolveStatus.OPTIMAL
    best, _ = _brute(p)
    assert sol.objective == pytest.approx(best)
    assert sol.gap == 0.0 and sol.best_bound == pytest.approx(best)
    assert evaluate_tilts(p, sol.tilt_index)["objective"] == pytest.approx(best)


def test_enumeration_matches_brute_force_log_rate() -> None:
    p = _geometric(3, 8, 80, 2).model_copy(update={"objective": "sum_log_rate"})
    sol = solve_tilt(p)
    best, _ = _brute(p)
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(best, rel=1e-12)


def test_local_search_reaches_the_optimum_and_bound_is_valid() -> None:
    p = _geometric(3, 16, 120, 0)
    best, _ = _brute(p)
    sol = solve_tilt(p, backend="local-search")
    assert sol.backend == "local-search"
    assert sol.objective <= best + 1e-9
    assert sol.objective == pytest.approx(best)  # tiny instance: restarts + kicks find it
    assert sol.best_bound >= best - 1e-9  # per-pixel relaxation is an upper bound
    assert tilt_upper_bound(p) == pytest.approx(sol.best_bound)


def test_cpsat_matches_brute_force() -> None:
    p = _geometric(3, 5, 40, 3)
    best, _ = _brute(p)
    sol = solve_tilt(p, backend="cp-sat", time_limit_s=30)
    assert sol.backend == "cp-sat"
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(best)
    assert sol.best_bound >= best - 1e-9


def test_cpsat_refuses_log_rate() -> None:
    p = _geometric(2, 3, 10, 0).model_copy(update={"objective": "sum_log_rate"})
    with pytest.raises(ProblemDataError, match="backend"):
        solve_tilt(p, backend="cp-sat")


def test_allowed_mask_and_initial_tilts_respected() -> None:
    p = _geometric(3, 6, 60, 4)
    allowed = np.ones((3, 6), dtype=bool)
    allowed[0, :] = False
    allowed[0, 2] = True
    p2 = p.model_copy(update={"allowed": allowed, "initial_tilt_index": np.array([2, 0, 0])})
    sol = solve_tilt(p2)
    assert sol.tilt_index[0] == 2
    assert sol.initial_objective == pytest.approx(evaluate_tilts(p2, [2, 0, 0])["objective"])
    assert sol.objective >= sol.initial_objective


def test_time_limit_honoured_and_reported() -> None:
    p = _geometric(12, 16, 400, 5)
    solve_tilt(_geometric(2, 2, 5, 0), backend="local-search")  # compile the kernels first
    sol = solve_tilt(p, backend="enumeration", time_limit_s=0.3)
    assert sol.time_limit_reached and sol.status == SolveStatus.FEASIBLE
    assert sol.wall_time_s < 5.0
    assert sol.best_bound >= sol.objective
    big = _geometric(30, 16, 2000, 6)
    sol2 = solve(big, backend="local-search", time_limit_s=0.05)
    assert sol2.time_limit_reached and sol2.wall_time_s < 5.0


def test_json_round_trip() -> None:
    p = _geometric(2, 3, 7, 0)
    text = p.model_dump_json()
    assert load_problem(text) == p
    sol = solve(p)
    again = TiltSolution.model_validate_json(sol.model_dump_json())
    assert again == sol


def test_bad_data_names_the_field() -> None:
    p = _geometric(2, 3, 7, 0)
    data = p.model_dump(mode="json")
    data["noise_mw"] = data["noise_mw"][:-1]
    with pytest.raises(ValidationError, match="noise_mw"):
        TiltProblem.model_validate(data)
    data = p.model_dump(mode="json")
    data["rx_power_mw"][1][2][3] = -1.0
    with pytest.raises(ValidationError, match=r"rx_power_mw\[1,2,3\]"):
        TiltProblem.model_validate(data)
    data = p.model_dump(mode="json")
    data["allowed"] = [[False, False, False], [True, True, True]]
    with pytest.raises(ValidationError, match=r"allowed\[0\]"):
        TiltProblem.model_validate(data)
    with pytest.raises(ProblemDataError, match="backend"):
        solve_tilt(p, backend="simplex")


def _brute_constrained(problem: TiltProblem, frac: float) -> float | None:
    rx, n, w = problem.rx_power_mw, problem.noise_mw, problem.weight
    gamma = 10 ** (problem.sinr_min_db / 10)
    best = None
    for combo in itertools.product(range(problem.n_tilts), repeat=problem.n_cells):
        r = rx[np.arange(problem.n_cells), list(combo), :]
        s = r.max(axis=0)
        sinr = s / (r.sum(axis=0) - s + n)
        if w[sinr >= gamma].sum() < frac * w.sum() * (1 - 1e-12):
            continue
        v = float((w * np.log(np.log2(1 + np.maximum(sinr, gamma)))).sum())
        best = v if best is None else max(best, v)
    return best


def test_log_rate_with_min_coverage_matches_brute_force() -> None:
    base = _geometric(3, 6, 80, 7).model_copy(update={"objective": "sum_log_rate"})
    cov = [solve_tilt(base.model_copy(update={"objective": "coverage"})).covered_fraction]
    frac = 0.98 * cov[0]
    p = base.model_copy(update={"min_covered_fraction": frac})
    want = _brute_constrained(p, frac)
    assert want is not None
    sol = solve_tilt(p)
    assert sol.status == SolveStatus.OPTIMAL and sol.backend == "enumeration"
    assert sol.objective == pytest.approx(want, rel=1e-12)
    assert sol.covered_fraction >= frac - 1e-12
    ls = solve_tilt(p, backend="local-search")
    assert ls.covered_fraction >= frac - 1e-12 and ls.objective <= want + 1e-9
    assert ls.objective == pytest.approx(want, rel=1e-9)


def test_min_coverage_infeasible_is_reported_with_its_family() -> None:
    p = _geometric(3, 6, 80, 7).model_copy(update={"objective": "sum_log_rate"})
    noise = p.noise_mw.copy()
    noise[0] = 1e3  # a pixel drowned in noise: no configuration covers it
    p = p.model_copy(update={"noise_mw": noise})
    best_cov = solve_tilt(p.model_copy(update={"objective": "coverage"})).covered_fraction
    ub = tilt_upper_bound(p.model_copy(update={"objective": "coverage"})) / p.weight.sum()
    assert best_cov < ub < 1.0
    # above the best achievable coverage: complete enumeration proves it
    sol = solve_tilt(p.model_copy(update={"min_covered_fraction": min(best_cov + 1e-3, 1.0)}))
    assert sol.status == SolveStatus.INFEASIBLE and sol.blocking_constraints == ["min_coverage"]
    # above the per-pixel bound: proven before searching, by any method
    sol2 = solve_tilt(p.model_copy(update={"min_covered_fraction": 1.0}), backend="local-search")
    assert sol2.status == SolveStatus.INFEASIBLE and sol2.blocking_constraints == ["min_coverage"]
    assert sol2.method == "per-pixel coverage bound"


def test_min_coverage_needs_the_log_rate_objective() -> None:
    with pytest.raises(ValidationError, match="min_covered_fraction"):
        TiltProblem.model_validate({**_geometric(2, 2, 5, 0).model_dump(mode="json"), "min_covered_fraction": 0.5})


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n_cells=st.integers(1, 3), n_tilts=st.integers(1, 5),
       objective=st.sampled_from(["coverage", "sum_log_rate"]), floor_db=st.floats(-6.0, 6.0))
def test_random_instances_enumeration_exact_and_bounds_valid(seed: int, n_cells: int, n_tilts: int,
                                                             objective: str, floor_db: float) -> None:
    rng = np.random.default_rng(seed)
    n_pix = 25
    p = TiltProblem(rx_power_mw=10 ** rng.uniform(-11, -7, (n_cells, n_tilts, n_pix)),
                    noise_mw=np.full(n_pix, 10 ** -9.5), weight=rng.integers(0, 3, n_pix).astype(float),
                    tilts_deg=np.arange(n_tilts, dtype=float), objective=objective, sinr_min_db=floor_db)
    best, _ = _brute(p)
    sol = solve_tilt(p)
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(best, rel=1e-9, abs=1e-9)
    ls = solve_tilt(p, backend="local-search")
    assert ls.objective <= best + 1e-9 and ls.best_bound >= best - 1e-9
