"""The shared solver contract (solvers/base.py): arrays, validation errors, registry, dispatch, diagnosis."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pytest
from pydantic import ValidationError

from solvers.base import (
    BoolArray,
    FloatArray,
    IntArray,
    NonNegFloatArray,
    Problem,
    ProblemDataError,
    Solution,
    SolveStatus,
    array_type,
    check_shape,
    diagnose_infeasibility,
    load_problem,
    register,
    relative_gap,
    solve,
)


class ToyProblem(Problem):
    kind: ClassVar[str] = "toy_base_test"
    weights: NonNegFloatArray
    gains_db: array_type(float, 2, finite=False)
    counts: IntArray | None = None
    mask: BoolArray | None = None
    fail_with: str = ""

    def check(self) -> None:
        check_shape("gains_db", self.gains_db, (len(self.weights), self.gains_db.shape[1]))


class ToySolution(Solution):
    kind: str = "toy_base_test"
    choice: FloatArray | None = None


def _toy_solve(p: ToyProblem, *, time_limit_s: float, backend: str | None, warm_start) -> ToySolution:
    if p.fail_with:
        raise RuntimeError(p.fail_with)
    total = float(p.weights.sum())
    return ToySolution(status=SolveStatus.OPTIMAL, objective=total, best_bound=total, gap=0.0,
                       backend=backend or "toy", choice=p.weights * 2)


register("toy_base_test", ToyProblem, ToySolution, _toy_solve)


def _toy(**kw) -> ToyProblem:
    args = {"weights": [1.0, 2.0], "gains_db": [[0.0, -np.inf], [-3.0, -4.0]]}
    args.update(kw)
    return ToyProblem(**args)


def test_status_values_are_the_contract_strings():
    assert [s.value for s in SolveStatus] == ["optimal", "feasible", "infeasible", "time_limit", "error"]
    assert SolveStatus("time_limit") is SolveStatus.TIME_LIMIT


def test_json_round_trip_keeps_kind_and_arrays():
    p = _toy(counts=[3, 4], mask=[True, False])
    text = p.model_dump_json()
    data = json.loads(text)
    assert data["kind"] == "toy_base_test"
    assert data["gains_db"][0][1] == float("-inf")  # written as -Infinity, read back as -inf
    q = load_problem(text)
    assert isinstance(q, ToyProblem)
    assert q.counts.dtype == np.int64 and q.mask.dtype == np.bool_
    assert np.array_equal(q.weights, [1.0, 2.0])
    assert q == ToyProblem.model_validate(p.model_dump())


def test_negative_value_is_refused_with_field_and_index():
    with pytest.raises(ValidationError) as err:
        _toy(weights=[1.0, -2.0])
    assert "ToyProblem.weights[1]: expected >= 0.0, found -2.0" in str(err.value)


def test_nan_is_refused_even_where_inf_is_allowed():
    with pytest.raises(ValidationError) as err:
        _toy(gains_db=[[0.0, np.nan], [1.0, 2.0]])
    assert "gains_db[0,1]: expected a number, found NaN" in str(err.value)


def test_infinite_refused_in_finite_field():
    with pytest.raises(ValidationError, match=r"weights\[0\]: expected a finite number"):
        _toy(weights=[np.inf, 1.0])


def test_malformed_arrays_are_refused():
    with pytest.raises(ValidationError, match="rectangular"):
        _toy(weights=[[1.0, 2.0], [3.0]])
    with pytest.raises(ValidationError, match="string"):
        _toy(weights="abc")
    with pytest.raises(ValidationError, match=r"gains_db: expected a 2-d array, found 1-d"):
        _toy(gains_db=[1.0, 2.0])


def test_cross_field_shape_check_names_field():
    with pytest.raises(ValidationError, match=r"gains_db: expected shape \(3, 2\), found \(2, 2\)"):
        _toy(weights=[1.0, 2.0, 3.0])
    p = _toy()
    p.weights = np.array([1.0, 2.0, 3.0])  # reassigned after construction: solve() re-checks
    with pytest.raises(ProblemDataError) as err:
        solve(p)
    assert err.value.field == "gains_db"


def test_int_and_bool_fields_refuse_non_integers():
    with pytest.raises(ValidationError, match=r"counts\[1\]: expected an integer, found 2.5"):
        _toy(counts=[1, 2.5])
    with pytest.raises(ValidationError, match=r"mask\[0\]: expected a boolean"):
        _toy(mask=[2, 0])


def test_kind_mismatch_and_unknown_kind():
    data = _toy().model_dump(mode="json")
    data["kind"] = "tilt_or_whatever"
    with pytest.raises(ProblemDataError, match="no solver registered"):
        load_problem(data)
    with pytest.raises(ValidationError, match="expected 'toy_base_test'"):
        ToyProblem.model_validate(data)


def test_solve_dispatches_and_times():
    sol = solve(_toy(), backend="x")
    assert isinstance(sol, ToySolution)
    assert sol.status is SolveStatus.OPTIMAL and sol.objective == 3.0 and sol.backend == "x"
    assert sol.wall_time_s > 0
    assert np.array_equal(sol.choice, [2.0, 4.0])
    again = ToySolution.model_validate_json(sol.model_dump_json())
    assert again == sol
    assert solve(_toy().model_dump(mode="json")).objective == 3.0


def test_backend_failure_becomes_error_status():
    sol = solve(_toy(fail_with="licence server unreachable"))
    assert sol.status is SolveStatus.ERROR
    assert "licence server unreachable" in sol.message
    assert not sol.has_decision


@pytest.mark.parametrize("limit", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_time_limit_refused(limit):
    with pytest.raises(ProblemDataError, match="time_limit_s"):
        solve(_toy(), time_limit_s=limit)


def test_relative_gap():
    assert relative_gap(100.0, 99.0) == pytest.approx(0.01)
    assert relative_gap(0.0, 0.0) == 0.0
    assert relative_gap(None, 1.0) is None
    assert relative_gap(1.0, float("-inf")) is None


def test_diagnose_singles_then_pairs():
    calls: list[str] = []

    def only_capacity(name: str) -> bool:
        calls.append(name)
        return name == "capacity"

    assert diagnose_infeasibility(["coverage", "capacity", "demand"], only_capacity) == ["capacity"]
    assert calls == ["coverage", "capacity", "demand"]

    def needs_pair(name: str) -> bool:
        return set(name.split("+")) >= {"coverage", "demand"}

    assert diagnose_infeasibility(["coverage", "capacity", "demand"], needs_pair) == [
        "coverage+demand"]
    assert diagnose_infeasibility(["a", "b", "c"], lambda n: n == "a+b+c") == ["a+b+c"]
    assert diagnose_infeasibility(["a", "b"], lambda n: False) == []


def test_package_imports_every_present_solver_module():
    import importlib.util

    import solvers

    for kind in ("rru_sleep", "tilt", "power", "spectrum"):
        if importlib.util.find_spec(f"solvers.{kind}") is not None:
            assert kind in solvers.registered_kinds()
    assert solvers.RruSleepProblem.kind == "rru_sleep"
    assert set(["solve", "load_problem", "Problem", "Solution", "SolveStatus"]) <= set(solvers.__all__)
