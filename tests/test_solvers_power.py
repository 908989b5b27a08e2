"""solvers.power: LP vs closed form, spectral-radius property, discrete brute force, max-min, infeasibility."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from solvers import load_problem, solve
from solvers._common import bound_reached, csr_starts, new_highs, solve_highs, warm_start_field
from solvers.base import ProblemDataError, SolveStatus
from solvers.power import PowerProblem, PowerSolution, sinr_db, solve_power, spectral_radius


def _one_to_one(n: int, seed: int, target_db: float = 3.0, cross: float = 0.2) -> PowerProblem:
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.01, cross, (n, n))
    np.fill_diagonal(g, 1.0)
    return PowerProblem(gain=g, serving_cell=np.arange(n), noise_w=np.full(n, 0.01),
                        sinr_target_db=np.full(n, target_db), p_max_w=np.full(n, 1.0))


def test_lp_equals_foschini_miljanic_fixed_point() -> None:
    p = _one_to_one(5, 0)
    sol = solve_power(p)
    assert sol.status == SolveStatus.OPTIMAL and sol.backend == "highs"
    # closed form: p* = (I - D F)^-1 D eta, the componentwise-minimal solution
    gamma = 10 ** (p.sinr_target_db / 10)
    f = p.gain / np.diag(p.gain)[:, None]
    np.fill_diagonal(f, 0.0)
    p_star = np.linalg.solve(np.eye(5) - gamma[:, None] * f, gamma * p.noise_w / np.diag(p.gain))
    assert sol.power_w == pytest.approx(p_star, rel=1e-6)
    assert sol.objective == pytest.approx(p_star.sum(), rel=1e-6)
    assert sinr_db(p, sol.power_w) == pytest.approx(np.full(5, 3.0), abs=1e-6)
    assert sol.max_violation_db <= 1e-6
    assert sol.spectral_radius < 1


def test_earth_objective_adds_the_static_term() -> None:
    p = _one_to_one(3, 1).model_copy(update={"objective": "earth_w"})
    sol = solve_power(p)
    assert sol.objective == pytest.approx(3 * 6 * 130.0 + 6 * 4.7 * sol.power_w.sum(), rel=1e-9)
    assert sol.input_power_w == pytest.approx(sol.objective)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 10_000), target=st.floats(-5.0, 12.0),
       cross=st.floats(0.05, 0.9))
def test_lp_feasible_iff_spectral_radius_below_one(n: int, seed: int, target: float, cross: float) -> None:
    p = _one_to_one(n, seed, target, cross).model_copy(update={"p_max_w": None})
    rho = spectral_radius(p)
    if abs(rho - 1.0) < 0.02:  # too close to the boundary for a floating-point LP
        return
    sol = solve_power(p)
    assert (sol.status == SolveStatus.OPTIMAL) == (rho < 1.0)
    if rho >= 1.0:
        assert sol.status == SolveStatus.INFEASIBLE
        assert sol.blocking_constraints == ["sinr_target"]


def test_power_cap_named_when_it_blocks() -> None:
    p = _one_to_one(4, 2).model_copy(update={"p_max_w": np.full(4, 0.001)})
    sol = solve(p)
    assert sol.status == SolveStatus.INFEASIBLE
    assert "p_max" in sol.blocking_constraints and "sinr_target" in sol.blocking_constraints


def test_rsrp_floor_raises_power() -> None:
    p = _one_to_one(3, 3).model_copy(update={"rsrp_min_dbm": np.array([20.0, -100.0, -100.0])})  # 100 mW
    sol = solve_power(p)
    assert sol.power_w[0] == pytest.approx(0.1 / p.gain[0, 0], rel=1e-6)
    assert sol.max_violation_db <= 1e-6


@pytest.mark.parametrize("objective", ["total_w", "earth_w"])
def test_discrete_matches_brute_force(objective: str) -> None:
    rng = np.random.default_rng(4)
    n = 4
    g = rng.uniform(0.01, 0.15, (6, n))
    serving = np.array([0, 1, 2, 3, 0, 2])
    g[np.arange(6), serving] = rng.uniform(0.5, 1.0, 6)
    p = PowerProblem(gain=g, serving_cell=serving, noise_w=np.full(6, 0.02), sinr_target_db=np.full(6, 2.0),
                     p_max_w=np.array([1.0, 2.0, 1.0, 0.5]), mode="discrete", objective=objective,
                     earth_n_trx=np.full(n, 2.0), earth_p0_w=np.full(n, 10.0), earth_delta_p=np.full(n, 3.0))
    sol = solve_power(p)
    levels = p.levels()
    best = None
    for combo in itertools.product(range(levels.size), repeat=n):
        pw = p.p_max_w * 10 ** (levels[list(combo)] / 10)
        if (sinr_db(p, pw) >= 2.0 - 1e-9).all():
            v = pw.sum() if objective == "total_w" else (2.0 * (10.0 + 3.0 * pw)).sum()
            best = v if best is None else min(best, v)
    assert best is not None
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(best, rel=1e-9)
    assert sol.power_w == pytest.approx(p.p_max_w * 10 ** (levels[sol.level_index] / 10))


def test_discrete_infeasible_names_levels() -> None:
    # continuous powers meet the target only below the lowest level's... : cap forces levels too coarse
    p = _one_to_one(2, 5, target_db=3.0).model_copy(
        update={"mode": "discrete", "levels_db": np.array([0.0]), "p_max_w": np.array([1.0, 0.05])})
    sol = solve_power(p)
    assert sol.status == SolveStatus.INFEASIBLE
    assert sol.blocking_constraints  # a named family restores feasibility


def test_max_min_sinr_bisection() -> None:
    p = _one_to_one(4, 6).model_copy(update={"mode": "max_min_sinr", "sinr_target_db": None})
    sol = solve_power(p)
    assert sol.status == SolveStatus.OPTIMAL and sol.backend == "bisection+highs"
    assert sol.best_bound - sol.objective <= p.sinr_tolerance_db + 1e-12
    assert sinr_db(p, sol.power_w).min() >= sol.objective - 1e-6
    # the max-min SINR with unlimited power is 1/rho(F) (Perron); with the cap it can only be lower
    f = p.gain / np.diag(p.gain)[:, None]
    np.fill_diagonal(f, 0.0)
    assert sol.objective <= -10 * np.log10(np.max(np.abs(np.linalg.eigvals(f)))) + 1e-6
    # a bigger cap makes the noise negligible: close to the Perron limit
    big = p.model_copy(update={"p_max_w": np.full(4, 1e6)})
    s2 = solve_power(big)
    assert s2.objective == pytest.approx(-10 * np.log10(np.max(np.abs(np.linalg.eigvals(f)))), abs=0.02)


def test_time_limit_is_reported_and_json_round_trip() -> None:
    p = _one_to_one(3, 7)
    assert load_problem(p.model_dump_json()) == p
    sol = solve(p, time_limit_s=5.0)
    assert PowerSolution.model_validate_json(sol.model_dump_json()) == sol
    assert sol.wall_time_s < 5.0 and not sol.time_limit_reached


def test_bad_data_names_the_field() -> None:
    p = _one_to_one(3, 8)
    data = p.model_dump(mode="json")
    data["serving_cell"] = [0, 1, 5]
    with pytest.raises(ValidationError, match=r"serving_cell\[2\]"):
        PowerProblem.model_validate(data)
    data = p.model_dump(mode="json")
    data["gain"][1][0] = -0.5
    with pytest.raises(ValidationError, match=r"gain\[1,0\]"):
        PowerProblem.model_validate(data)
    data = p.model_dump(mode="json")
    data["p_max_w"] = None
    data["mode"] = "discrete"
    with pytest.raises(ValidationError, match="p_max_w"):
        PowerProblem.model_validate(data)
    with pytest.raises(ProblemDataError, match="backend"):
        solve_power(p, backend="gurobi")


def test_survives_a_different_highs_thread_setting_in_the_same_process() -> None:
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)  # the pool is process-global: a later model asking for 2 would fail
    h.addVars(1, np.zeros(1), np.ones(1))
    h.run()
    sol = solve_power(_one_to_one(3, 9))
    assert sol.status == SolveStatus.OPTIMAL


def test_shared_highs_helpers_map_statuses() -> None:
    # max x on [0, 1]: optimal at 1
    h = new_highs()
    h.addVars(1, np.array([0.0]), np.array([1.0]))
    h.changeColsCost(1, np.array([0], dtype=np.int32), np.array([-1.0]))
    run = solve_highs(h, 5.0)
    assert run.status == "optimal" and run.x.tolist() == [1.0]
    # 2 <= x <= 1 written as a row: infeasible, no solution
    h = new_highs()
    h.addVars(1, np.array([0.0]), np.array([1.0]))
    h.addRow(2.0, np.inf, 1, np.array([0], dtype=np.int32), np.array([1.0]))
    run = solve_highs(h, 5.0)
    assert run.status == "infeasible" and run.x is None
    assert bound_reached(10.0, 10.0 + 1e-12) and not bound_reached(10.0, 10.1) and not bound_reached(1.0, None)
    assert warm_start_field({"a": 1}, "a") == 1 and warm_start_field(None, "a") is None
    assert csr_starts(np.array([2, 0, 3])).tolist() == [0, 2, 2]
