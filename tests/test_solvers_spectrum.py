"""solvers.spectrum: brute force over all assignments, fairness, protection, infeasibility, JSON, bad data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from solvers import load_problem, solve
from solvers.base import ProblemDataError, SolveStatus
from solvers.spectrum import (
    CBRS_THRESHOLD_DBM,
    ProtectionPoint,
    SpectrumProblem,
    SpectrumSolution,
    check_assignment,
    solve_spectrum,
)

N, C = 5, 3


def _problem(seed: int, fairness: str = "none") -> SpectrumProblem:
    rng = np.random.default_rng(seed)
    return SpectrumProblem(
        n_channels=C, operator=[0, 0, 1, 1, 2], channels_max=[2, 1, 2, 1, 2],
        value=rng.integers(1, 4, N).astype(float),
        conflict_pairs=[[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]], separation=[1, 2, 1, 1, 2],
        points=[ProtectionPoint(name="FSS-1", kind="FSS", channels=[1, 2]),
                ProtectionPoint(name="ESC-1", kind="ESC")],
        interference_dbm=rng.uniform(-140.0, -128.0, (N, 2)),
        excluded=np.array([[False] * C] * 4 + [[True, False, False]]),
        fairness=fairness)


def _brute(problem: SpectrumProblem) -> float:
    """Independent oracle: every 0/1 assignment matrix (2^15), checked in floating point."""
    bits = np.arange(2 ** (N * C))[:, None] >> np.arange(N * C)[None, :] & 1
    xs = bits.astype(bool).reshape(-1, N, C)
    g = xs.sum(axis=2)
    ok = (g <= problem.channels_max).all(axis=1)
    if problem.channels_min is not None:
        ok &= (g >= problem.channels_min).all(axis=1)
    ch = np.arange(C)
    close = np.abs(ch[:, None] - ch[None, :])
    edges = [] if problem.conflict_pairs is None else zip(problem.conflict_pairs, problem.separation, strict=True)
    for (i, j), s in edges:
        ok &= ~(xs[:, i, :, None] & xs[:, j, None, :] & (close < s)).any(axis=(1, 2))
    ok &= ~(xs & problem.excluded).any(axis=(1, 2))
    i_mw = 10 ** (problem.interference_dbm / 10)
    prot = problem.protected()
    for e, pt in enumerate(problem.points):
        agg = np.einsum("n,knc->kc", i_mw[:, e], xs.astype(float))
        ok &= (agg[:, prot[e]] <= pt.limit_mw()).all(axis=1)
    d = problem.demand()
    gop = np.stack([g[:, problem.operator == o].sum(axis=1) for o in range(problem.n_operators)], axis=1)
    active = d > 0  # operators that request nothing do not count
    share = gop[:, active] / d[active]
    if problem.fairness == "none":
        val = g @ problem.values()
    elif problem.fairness == "weighted_share":
        val = share @ problem.weights()[active]
    elif active.any():
        val = (share / problem.weights()[active]).min(axis=1)
    else:
        val = np.zeros(len(xs))
    return float(val[ok].max())


@pytest.mark.parametrize("backend", ["cp-sat", "highs"])
@pytest.mark.parametrize("fairness", ["none", "weighted_share", "max_min"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force(fairness: str, seed: int, backend: str) -> None:
    p = _problem(seed, fairness)
    sol = solve_spectrum(p, backend=backend)
    assert sol.backend == backend
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(_brute(p), rel=1e-12)
    assert check_assignment(p, sol.assignment)["violations"] == []
    assert (sol.protection_margin_db >= 0).all()


@pytest.mark.parametrize("backend", ["cp-sat", "highs"])
def test_weighted_max_min_with_operator_weights(backend: str) -> None:
    p = _problem(2, "max_min").model_copy(update={"operator_weight": np.array([1.0, 2.0, 0.5])})
    sol = solve_spectrum(p, backend=backend)
    assert sol.objective == pytest.approx(_brute(p), rel=1e-12)


@pytest.mark.parametrize("backend", ["cp-sat", "highs"])
def test_protection_threshold_binds(backend: str) -> None:
    # every cell alone is under the FSS limit on its protected channels, three together are not
    lim = CBRS_THRESHOLD_DBM["FSS"] - 1.0
    p = SpectrumProblem(n_channels=1, operator=[0, 0, 0], channels_max=[1, 1, 1],
                        points=[ProtectionPoint(name="FSS-2", kind="FSS")],
                        interference_dbm=np.full((3, 1), lim - 10 * np.log10(2.5)))
    sol = solve_spectrum(p, backend=backend)
    assert sol.objective == 2 and sol.status == SolveStatus.OPTIMAL
    assert sol.protection_margin_db[0] == pytest.approx(10 * np.log10(2.5 / 2), abs=1e-6)


@pytest.mark.parametrize("backend", ["cp-sat", "highs"])
def test_infeasible_names_the_protection_point(backend: str) -> None:
    lim = CBRS_THRESHOLD_DBM["FSS"] - 1.0
    p = SpectrumProblem(n_channels=1, operator=[0, 1], channels_max=[1, 1], channels_min=[1, 1],
                        points=[ProtectionPoint(name="FSS-2", kind="FSS"),
                                ProtectionPoint(name="ESC-1", kind="ESC")],
                        interference_dbm=np.array([[lim - 2.0, -200.0], [lim - 2.0, -200.0]]))
    sol = solve(p, backend=backend)
    assert sol.status == SolveStatus.INFEASIBLE and sol.backend == backend
    assert sol.blocking_constraints == ["incumbent_protection:FSS-2", "min_channels"]


def test_infeasible_separation_and_exclusion() -> None:
    p = SpectrumProblem(n_channels=2, operator=[0, 1], channels_max=[1, 1], channels_min=[1, 1],
                        conflict_pairs=[[0, 1]], separation=[2],
                        excluded=np.array([[False, True], [False, False]]))
    sol = solve_spectrum(p)
    assert sol.status == SolveStatus.INFEASIBLE
    assert sol.blocking_constraints == ["separation", "min_channels"]


def test_time_limit_reported() -> None:
    rng = np.random.default_rng(0)
    n = 120
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.1])
    p = SpectrumProblem(n_channels=15, operator=rng.integers(0, 3, n), channels_max=rng.integers(1, 5, n),
                        conflict_pairs=pairs, separation=rng.integers(1, 3, len(pairs)), fairness="max_min")
    sol = solve_spectrum(p, time_limit_s=0.05)
    assert sol.time_limit_reached
    assert sol.wall_time_s < 5.0


def test_json_round_trip() -> None:
    p = _problem(0, "max_min")
    assert load_problem(p.model_dump_json()) == p
    sol = solve(p)
    assert SpectrumSolution.model_validate_json(sol.model_dump_json()) == sol


def test_bad_data_names_the_field() -> None:
    data = _problem(0).model_dump(mode="json")
    data["conflict_pairs"][2] = [2, 9]
    with pytest.raises(ValidationError, match=r"conflict_pairs\[2\]"):
        SpectrumProblem.model_validate(data)
    data = _problem(0).model_dump(mode="json")
    data["points"][1]["channels"] = [7]
    with pytest.raises(ValidationError, match=r"points\[1\].channels"):
        SpectrumProblem.model_validate(data)
    data = _problem(0).model_dump(mode="json")
    data["interference_dbm"] = data["interference_dbm"][:3]
    with pytest.raises(ValidationError, match="interference_dbm"):
        SpectrumProblem.model_validate(data)
    data = _problem(0).model_dump(mode="json")
    data["channels_max"][0] = -1
    with pytest.raises(ValidationError, match=r"channels_max\[0\]"):
        SpectrumProblem.model_validate(data)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), fairness=st.sampled_from(["none", "weighted_share", "max_min"]))
def test_random_instances_both_backends_match_brute_force(seed: int, fairness: str) -> None:
    rng = np.random.default_rng(seed)
    pairs = [[i, j] for i in range(N) for j in range(i + 1, N) if rng.random() < 0.4]
    p = SpectrumProblem(
        n_channels=C, operator=rng.integers(0, 2, N), channels_max=rng.integers(0, 3, N),
        value=rng.integers(1, 4, N).astype(float),
        conflict_pairs=pairs or None, separation=rng.integers(1, 3, len(pairs)) if pairs else None,
        points=[ProtectionPoint(name="PPA-1", kind="PPA", channels=[0, 1])],
        interference_dbm=rng.uniform(-92.0, -80.0, (N, 1)), excluded=rng.random((N, C)) < 0.1,
        fairness=fairness)
    want = _brute(p)
    for backend in ("cp-sat", "highs"):
        sol = solve_spectrum(p, backend=backend)
        assert sol.status == SolveStatus.OPTIMAL
        assert sol.objective == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("backend", ["cp-sat", "highs"])
@pytest.mark.parametrize("fairness", ["none", "max_min"])
def test_warm_start_is_accepted_and_checked(backend: str, fairness: str) -> None:
    p = _problem(3, fairness)
    first = solve_spectrum(p, backend=backend)
    again = solve_spectrum(p, backend=backend, warm_start=first)
    assert again.objective == pytest.approx(first.objective)
    assert again.status == SolveStatus.OPTIMAL and again.message == ""
    bad = np.ones((N, C), dtype=bool)  # violates every family: ignored, still optimal
    assert solve_spectrum(p, backend=backend, warm_start={"assignment": bad}).objective == pytest.approx(
        first.objective)
    with pytest.raises(ProblemDataError, match="warm_start.assignment"):
        solve_spectrum(p, backend=backend, warm_start={"assignment": np.ones((2, 2), dtype=bool)})


@pytest.mark.parametrize("backend", ["cp-sat", "highs"])
def test_max_min_without_any_request_is_optimal_at_zero(backend: str) -> None:
    # regression (hypothesis seed 10000): with every channels_max 0 the HiGHS max-min stage had an unbounded
    # share variable and reported INFEASIBLE
    p = SpectrumProblem(n_channels=C, operator=[0, 0, 1], channels_max=[0, 0, 0], fairness="max_min")
    sol = solve_spectrum(p, backend=backend)
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == 0.0 and not sol.assignment.any()
