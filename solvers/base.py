"""The shared solver contract: typed problems in, typed solutions out, one ``solve()`` for all.

Every problem module (``solvers.rru_sleep``, ``solvers.tilt``, ``solvers.power``, ``solvers.spectrum``)
defines

* ``XxxProblem(Problem)`` -- plain data (arrays of path gains, demands, powers; never twin objects),
  validated on construction: per-field checks (finite, sign, ndim) through :func:`array_type`, cross-field
  checks (shapes) in :meth:`Problem.check`, which raises :class:`ProblemDataError` naming the field;
* ``XxxSolution(Solution)`` -- status, objective, proven bound, gap, wall time, backend, method, decision;
* ``solve_xxx(problem, *, time_limit_s, backend, warm_start) -> XxxSolution``,

and calls :func:`register` at import. :func:`solve` dispatches on ``problem.kind``; :func:`load_problem`
turns a JSON document (or dict) carrying a ``"kind"`` key back into the right problem class.

Status semantics (DESIGN.md, "Solvers report honestly"):

* ``OPTIMAL``: proven optimal within the solver's gap tolerance (``gap`` is the proven relative gap, ~0);
* ``FEASIBLE``: a feasible decision whose optimality is not proven; ``best_bound``/``gap`` say how good it
  is; ``time_limit_reached`` says whether the limit stopped the search;
* ``INFEASIBLE``: no decision meets the constraints; ``blocking_constraints`` names the constraint families
  whose relaxation restores feasibility (see :func:`diagnose_infeasibility`);
* ``TIME_LIMIT``: stopped by the time limit with no feasible decision found;
* ``ERROR``: the backend failed; ``message`` says why.

Arrays are NumPy arrays inside and lists in JSON (``model_dump_json`` / ``model_validate_json`` round-trip).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

__all__ = [
    "SolveStatus",
    "Problem",
    "Solution",
    "ProblemDataError",
    "array_type",
    "FloatArray",
    "NonNegFloatArray",
    "IntArray",
    "BoolArray",
    "check_shape",
    "relative_gap",
    "diagnose_infeasibility",
    "register",
    "registered_kinds",
    "solve",
    "load_problem",
]


class SolveStatus(StrEnum):
    """Outcome of a solve. ``TIME_LIMIT`` means the limit stopped the search *without* any feasible decision;
    a limit hit with an incumbent is ``FEASIBLE`` with ``time_limit_reached=True``."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


class ProblemDataError(ValueError):
    """Inconsistent problem data, refused before solving. ``field`` is the offending field path
    (e.g. ``"demand_mbps[3,17]"``); the message names it too."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


# ----------------------------------------------------------------------------------------------------------
# NumPy array fields
# ----------------------------------------------------------------------------------------------------------


def _index_str(flat_index: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    return "[" + ",".join(str(int(k)) for k in np.unravel_index(flat_index, shape)) + "]"


def array_type(
    dtype: type = float,
    ndim: int | None = None,
    *,
    finite: bool = True,
    min_value: float | None = None,
    max_value: float | None = None,
) -> Any:
    """An ``Annotated[np.ndarray, ...]`` pydantic field type: accepts nested lists or arrays, converts to
    ``dtype`` (float64, int64 or bool), checks ``ndim``, finiteness (floats; NaN is always refused, +-inf only
    when ``finite=False``) and bounds, and serialises to nested lists in JSON. Errors name the field and the
    first offending index, e.g. ``"RruSleepProblem.demand_mbps[3,17]: expected >= 0, found -2.0"``."""
    np_dtype = {float: np.float64, int: np.int64, bool: np.bool_}[dtype]

    def _validate(value: Any, info: ValidationInfo) -> np.ndarray:
        owner = (info.config or {}).get("title") or "problem"
        name = f"{owner}.{info.field_name}"
        if isinstance(value, str | bytes):
            raise ValueError(f"{name}: expected an array of numbers, found a string")
        try:
            raw = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged nested lists
            raise ValueError(f"{name}: expected a rectangular array, found {type(value).__name__} "
                             f"({exc})") from exc
        if raw.dtype == object:
            raise ValueError(f"{name}: expected a rectangular array of numbers (ragged or mixed input)")
        if ndim is not None and raw.ndim != ndim:
            raise ValueError(f"{name}: expected a {ndim}-d array, found {raw.ndim}-d with shape {raw.shape}")
        if np_dtype is np.bool_:
            if raw.dtype != np.bool_ and raw.size and not np.isin(raw, (0, 1)).all():
                bad = int(np.flatnonzero(~np.isin(raw, (0, 1)))[0])
                raise ValueError(f"{name}{_index_str(bad, raw.shape)}: expected a boolean (0/1), "
                                 f"found {raw.ravel()[bad].item()!r}")
            return raw.astype(np.bool_)
        if raw.size and not (np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_):
            raise ValueError(f"{name}: expected numbers, found dtype {raw.dtype}")
        if np_dtype is np.int64:
            arr_f = raw.astype(np.float64)
            if raw.size and (~np.isfinite(arr_f) | (arr_f != np.round(arr_f))).any():
                bad = int(np.flatnonzero(~np.isfinite(arr_f) | (arr_f != np.round(arr_f)))[0])
                raise ValueError(f"{name}{_index_str(bad, raw.shape)}: expected an integer, "
                                 f"found {float(arr_f.ravel()[bad])}")
            arr = raw.astype(np.int64)
        else:
            arr = raw.astype(np.float64)
            nan = np.isnan(arr)
            if nan.any():
                bad = int(np.flatnonzero(nan)[0])
                raise ValueError(f"{name}{_index_str(bad, arr.shape)}: expected a number, found NaN")
            if finite and not np.isfinite(arr).all():
                bad = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise ValueError(f"{name}{_index_str(bad, arr.shape)}: expected a finite number, "
                                 f"found {arr.ravel()[bad]}")
        if min_value is not None and arr.size and (arr < min_value).any():
            bad = int(np.flatnonzero(arr < min_value)[0])
            raise ValueError(f"{name}{_index_str(bad, arr.shape)}: expected >= {min_value}, "
                             f"found {arr.ravel()[bad]}")
        if max_value is not None and arr.size and (arr > max_value).any():
            bad = int(np.flatnonzero(arr > max_value)[0])
            raise ValueError(f"{name}{_index_str(bad, arr.shape)}: expected <= {max_value}, "
                             f"found {arr.ravel()[bad]}")
        return arr

    item_schema = {float: {"type": "number"}, int: {"type": "integer"}, bool: {"type": "boolean"}}[dtype]
    schema: dict[str, Any] = {"type": "array", "items": item_schema}
    if ndim is not None and ndim > 1:
        schema = {"type": "array", "items": {"type": "array"},
                  "description": f"{ndim}-d array of {dtype.__name__}"}
    return Annotated[
        np.ndarray,
        PlainValidator(_validate),
        PlainSerializer(lambda a: np.asarray(a).tolist(), when_used="json"),
        WithJsonSchema(schema),
    ]


FloatArray = array_type(float)
NonNegFloatArray = array_type(float, min_value=0.0)
IntArray = array_type(int)
BoolArray = array_type(bool)


def check_shape(field: str, arr: np.ndarray | None, shape: tuple[int, ...]) -> None:
    """Raise :class:`ProblemDataError` naming ``field`` unless ``arr.shape == shape``. ``None`` passes."""
    if arr is None:
        return
    if tuple(arr.shape) != tuple(shape):
        raise ProblemDataError(field, f"expected shape {tuple(shape)}, found {tuple(arr.shape)}")


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        if a_arr.shape != b_arr.shape:
            return False
        return bool(np.array_equal(a_arr, b_arr, equal_nan=a_arr.dtype.kind == "f"))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class _ArrayModel(BaseModel):
    """Base for models holding NumPy arrays: value equality that compares arrays element-wise."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, ser_json_inf_nan="constants")

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, BaseModel)
        keys = set(type(self).model_fields)
        return all(_values_equal(getattr(self, k), getattr(other, k)) for k in keys)

    __hash__ = None  # type: ignore[assignment]


# ----------------------------------------------------------------------------------------------------------
# Problem and Solution
# ----------------------------------------------------------------------------------------------------------


class Problem(_ArrayModel):
    """Base of every solver problem. Subclasses set ``kind`` (a ``ClassVar``) and override :meth:`check`
    for cross-field consistency. ``kind`` is written into JSON (``model_dump``/``model_dump_json``) and
    accepted back on validation, so :func:`load_problem` can dispatch."""

    kind: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _strip_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" in data:
            if data["kind"] != cls.kind:
                raise ProblemDataError("kind", f"expected {cls.kind!r}, found {data['kind']!r}")
            data = {k: v for k, v in data.items() if k != "kind"}
        return data

    @model_validator(mode="after")
    def _run_check(self) -> Problem:
        self.check()
        return self

    @model_serializer(mode="wrap")
    def _add_kind(self, handler: Callable[[Any], Any]) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            data = {"kind": self.kind, **data}
        return data

    def check(self) -> None:
        """Cross-field consistency (shapes, index ranges); raise :class:`ProblemDataError` naming the field.
        Called on construction and again by :func:`solve` (fields may have been reassigned)."""


class Solution(_ArrayModel):
    """Base of every solver solution; subclasses add the decision fields, each with a default (``None``), so
    an INFEASIBLE / TIME_LIMIT / ERROR solution can be built without a decision."""

    kind: str
    status: SolveStatus
    objective: float | None = None
    best_bound: float | None = None
    gap: float | None = None
    wall_time_s: float = 0.0
    backend: str = ""
    method: str = ""
    time_limit_reached: bool = False
    blocking_constraints: list[str] = []
    message: str = ""

    @property
    def has_decision(self) -> bool:
        """True when the solution carries a feasible decision (OPTIMAL or FEASIBLE)."""
        return self.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``|objective - bound| / max(|objective|, 1e-9)``; ``None`` if either is missing or not finite."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    return abs(objective - bound) / max(abs(objective), 1e-9)


def diagnose_infeasibility(families: Iterable[str], feasible_without: Callable[[str], bool],
                           max_combination: int = 2) -> list[str]:
    """The constraint families whose relaxation restores feasibility. ``feasible_without(name)`` re-solves the
    problem with the named family relaxed and says whether it became feasible; a combination of families is
    passed as their names joined by ``"+"`` (e.g. ``"coverage+capacity"``). Single families are tried first;
    only if none alone suffices, pairs, and so on up to ``max_combination`` families (then all together).
    Returns every name (single or joined) at the first size that restores feasibility, else ``[]``."""
    fams = list(families)
    sizes = list(range(1, min(max_combination, len(fams)) + 1))
    if len(fams) > max_combination:
        sizes.append(len(fams))
    for size in sizes:
        found = ["+".join(c) for c in itertools.combinations(fams, size) if feasible_without("+".join(c))]
        if found:
            return found
    return []


# ----------------------------------------------------------------------------------------------------------
# Registry and dispatch
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    problem_cls: type[Problem]
    solution_cls: type[Solution]
    fn: Callable[..., Solution]


_REGISTRY: dict[str, _Entry] = {}


def register(kind: str, problem_cls: type[Problem], solution_cls: type[Solution],
             fn: Callable[..., Solution]) -> None:
    """Register a solver: ``fn(problem, *, time_limit_s, backend, warm_start) -> solution_cls``."""
    if problem_cls.kind != kind:
        raise ValueError(f"register: {problem_cls.__name__}.kind is {problem_cls.kind!r}, expected {kind!r}")
    _REGISTRY[kind] = _Entry(problem_cls, solution_cls, fn)


def registered_kinds() -> list[str]:
    return sorted(_REGISTRY)


def _entry(kind: str) -> _Entry:
    if kind not in _REGISTRY:
        raise ProblemDataError("kind", f"no solver registered for {kind!r} (known: {registered_kinds()})")
    return _REGISTRY[kind]


def load_problem(path_or_dict: str | Path | dict[str, Any]) -> Problem:
    """A problem from a JSON file path, a JSON string, or a dict, each carrying ``"kind"``."""
    if isinstance(path_or_dict, dict):
        data = path_or_dict
    else:
        text = str(path_or_dict)
        if isinstance(path_or_dict, Path) or not text.lstrip().startswith("{"):
            text = Path(path_or_dict).read_text()
        data = json.loads(text)
    if not isinstance(data, dict) or "kind" not in data:
        raise ProblemDataError("kind", "expected a JSON object with a 'kind' field")
    return _entry(str(data["kind"])).problem_cls.model_validate(data)


def solve(problem: Problem | dict[str, Any], *, time_limit_s: float = 60.0, backend: str | None = None,
          warm_start: Solution | dict[str, Any] | None = None) -> Solution:
    """Solve any registered problem. Data errors (:class:`ProblemDataError`, pydantic ``ValidationError``) are
    raised before solving; a backend failure comes back as a solution with status ``ERROR``. ``wall_time_s``
    covers the whole call."""
    if not (isinstance(time_limit_s, int | float) and math.isfinite(time_limit_s) and time_limit_s > 0):
        raise ProblemDataError("time_limit_s", f"expected a positive finite number, found {time_limit_s!r}")
    t0 = time.perf_counter()
    if isinstance(problem, dict):
        problem = load_problem(problem)
    entry = _entry(problem.kind)
    if not isinstance(problem, entry.problem_cls):
        raise ProblemDataError("kind", f"expected a {entry.problem_cls.__name__}, "
                                       f"found {type(problem).__name__}")
    problem.check()
    try:
        sol = entry.fn(problem, time_limit_s=float(time_limit_s), backend=backend, warm_start=warm_start)
    except ProblemDataError:
        raise
    except (RuntimeError, ArithmeticError, MemoryError, OSError) as exc:
        return entry.solution_cls(
            kind=problem.kind, status=SolveStatus.ERROR, wall_time_s=time.perf_counter() - t0,
            backend=backend or "", message=f"{type(exc).__name__}: {exc}")
    sol.wall_time_s = max(float(sol.wall_time_s), time.perf_counter() - t0)
    return sol
