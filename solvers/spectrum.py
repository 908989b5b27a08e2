"""``solvers.spectrum``: channel assignment for the cells of several operators with incumbent protection.

Formulation: REFERENCES.md §6.4 (Aardal et al., Annals of OR 153, 2007; WInnForum IAP, §5.3), on booleans
``x_ic`` (cell ``i`` uses channel ``c``), solved with CP-SAT (integer-scaled interference) or as a HiGHS MILP
(exact floating-point protection rows; the default when there are protection points, whose knapsack rows give
CP-SAT weak bounds):

* channels per cell: ``channels_min_i <= sum_c x_ic <= channels_max_i``          (family ``min_channels``)
* conflict graph: for an edge (i, j) with separation ``s``, ``x_ia + x_jb <= 1`` whenever ``|a - b| < s``
  (1 = not co-channel, 2 = not adjacent either)                                      (family ``separation``)
* incumbent protection: for each protection point ``e`` and each channel it protects,
  ``sum_i I_ie x_ic <= T_e - margin_e`` (mW) with ``I_ie`` the power cell ``i`` puts into ``e``'s reference
  bandwidth when it transmits on that channel                  (family ``incumbent_protection:<point name>``)
* exclusion zones: ``x_ic = 0`` where ``excluded[i, c]``                             (family ``exclusion``)

Default thresholds (WInnForum SAS reference models, REFERENCES.md §5.3): PPA -80 dBm/10 MHz, FSS -129 dBm/MHz,
ESC -109 dBm/MHz, DPA -144 dBm/10 MHz; 1 dB IAP margin. The DPA threshold is a 95th percentile over Monte-Carlo
draws in the reference; here the aggregate is the deterministic sum the caller supplies (e.g. its 95th-percentile
path loss) -- a documented simplification. Out-of-band emissions are not modelled (a channel only affects
points that protect that channel).

CP-SAT integer scaling: each protection row is scaled so ``T_e - margin_e`` maps to
``SCALE = 10**6`` and each ``I_ie`` is rounded UP, ``ceil(SCALE I_ie / T'_e)``: an assignment the model accepts
meets the exact constraint (conservative; an assignment within 1e-6 of a threshold may be refused). HiGHS rows use
``sum I_ie/T'_e x_ic <= 1 - 1e-6`` so its feasibility tolerance cannot admit a violation. The returned
assignment is always re-checked in floating point (``protection_margin_db``).

Objectives (``fairness``):

* ``"none"``: ``max sum_i v_i g_i`` (``g_i`` granted channels, ``v_i = value``, default 1);
* ``"weighted_share"``: ``max sum_o w_o G_o / D_o`` (``G_o`` channels granted to operator ``o``, ``D_o`` its
  requested channels ``sum channels_max``, ``w_o = operator_weight``, default 1);
* ``"max_min"``: lexicographic -- first ``max min_o G_o / (w_o D_o)`` (exact: rationals scaled by the least
  common multiple of the ``w_o D_o``, weights rounded to 1e-3), then ``max sum_i v_i g_i`` among assignments
  keeping that minimum. ``objective`` is the minimum weighted share; ``total_value`` the second criterion.

Non-integral values/weights in a linear objective are scaled to integers rounding UP, so the reported bound
stays valid; the objective is always recomputed exactly from the assignment.
"""

from __future__ import annotations

import math
import time
from typing import ClassVar, Literal

import highspy
import numpy as np
from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict, Field

from solvers._common import (
    INF,
    bound_reached,
    cpsat_solver,
    csr_starts,
    new_highs,
    solve_highs,
    warm_start_field,
)
from solvers.base import (
    Problem,
    ProblemDataError,
    Solution,
    SolveStatus,
    array_type,
    check_shape,
    diagnose_infeasibility,
    register,
    relative_gap,
)

__all__ = ["SpectrumProblem", "SpectrumSolution", "ProtectionPoint", "solve_spectrum", "check_assignment",
           "CBRS_THRESHOLD_DBM", "CBRS_REF_BANDWIDTH_MHZ", "IAP_MARGIN_DB"]

CBRS_THRESHOLD_DBM = {"PPA": -80.0, "FSS": -129.0, "ESC": -109.0, "DPA": -144.0}
"""Aggregate interference thresholds, WInnForum SAS reference models (REFERENCES.md §5.3)."""
CBRS_REF_BANDWIDTH_MHZ = {"PPA": 10.0, "FSS": 1.0, "ESC": 1.0, "DPA": 10.0}
"""Reference bandwidth of each threshold (REFERENCES.md §5.3)."""
IAP_MARGIN_DB = 1.0
"""Pre-IAP margin per protected entity (REFERENCES.md §5.3)."""

SCALE = 10**6
"""Integer resolution of a protection row: 1e-6 of the threshold (assumption)."""
_VALUE_SCALE = 10**6
_HIGHS_ROW_SAFETY = 1e-6
"""HiGHS protection rows use ``sum r_i x_i <= 1 - 1e-6`` (r = I/T'): its 1e-7 feasibility tolerance can then never
admit an exact violation (conservative, like the CP-SAT rounding)."""


class ProtectionPoint(BaseModel):
    """An incumbent protection point. ``threshold_dbm`` defaults to the CBRS value of ``kind`` (in the kind's
    reference bandwidth, :data:`CBRS_REF_BANDWIDTH_MHZ`); ``channels`` lists the protected channel indices
    (default: all)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["PPA", "FSS", "ESC", "DPA", "custom"]
    threshold_dbm: float | None = None
    margin_db: float = IAP_MARGIN_DB
    channels: list[int] | None = None

    def limit_mw(self) -> float:
        thr = self.threshold_dbm if self.threshold_dbm is not None else CBRS_THRESHOLD_DBM[self.kind]
        return 10.0 ** ((thr - self.margin_db) / 10.0)


class SpectrumProblem(Problem):
    """Channel assignment. Shapes: ``operator``, ``channels_max``, ``channels_min``, ``value`` ``(n_cells,)``;
    ``conflict_pairs (n_edges, 2)``, ``separation (n_edges,)``; ``interference_dbm (n_cells, n_points)``;
    ``excluded (n_cells, n_channels)``; ``operator_weight (n_operators,)``."""

    model_config = ConfigDict(title="spectrum")
    kind: ClassVar[str] = "spectrum"

    n_channels: int = Field(ge=1)
    channel_bandwidth_mhz: float = Field(default=10.0, gt=0)
    operator: array_type(int, 1, min_value=0)
    channels_max: array_type(int, 1, min_value=0)
    channels_min: array_type(int, 1, min_value=0) | None = None
    value: array_type(float, 1, min_value=0.0) | None = None
    conflict_pairs: array_type(int, 2, min_value=0) | None = None
    separation: array_type(int, 1, min_value=1) | None = None
    points: list[ProtectionPoint] = []
    interference_dbm: array_type(float, 2) | None = None
    excluded: array_type(bool, 2) | None = None
    fairness: Literal["none", "max_min", "weighted_share"] = "none"
    operator_weight: array_type(float, 1, min_value=0.0) | None = None

    @property
    def n_cells(self) -> int:
        return int(self.operator.shape[0])

    @property
    def n_operators(self) -> int:
        return int(self.operator.max()) + 1 if self.operator.size else 0

    def check(self) -> None:
        n = self.n_cells
        if n < 1:
            raise ProblemDataError("operator", "expected at least one cell")
        for name in ("channels_max", "channels_min", "value"):
            check_shape(name, getattr(self, name), (n,))
        if self.channels_min is not None:
            bad = np.flatnonzero(self.channels_min > np.minimum(self.channels_max, self.n_channels))
            if bad.size:
                i = int(bad[0])
                raise ProblemDataError(f"channels_min[{i}]", f"expected <= channels_max[{i}] and n_channels, "
                                                             f"found {self.channels_min[i]}")
        if (self.conflict_pairs is None) != (self.separation is None):
            raise ProblemDataError("separation", "conflict_pairs and separation go together")
        if self.conflict_pairs is not None:
            m = self.conflict_pairs.shape[0]
            check_shape("conflict_pairs", self.conflict_pairs, (m, 2))
            check_shape("separation", self.separation, (m,))
            bad = np.flatnonzero((self.conflict_pairs >= n).any(axis=1))
            if bad.size:
                e = int(bad[0])
                raise ProblemDataError(f"conflict_pairs[{e}]", f"expected cell indices < {n}, found "
                                                               f"{self.conflict_pairs[e].tolist()}")
            bad = np.flatnonzero(self.conflict_pairs[:, 0] == self.conflict_pairs[:, 1])
            if bad.size:
                e = int(bad[0])
                raise ProblemDataError(f"conflict_pairs[{e}]", "expected two different cells")
        n_pts = len(self.points)
        if n_pts:
            if self.interference_dbm is None:
                raise ProblemDataError("interference_dbm", "required when points are given")
            check_shape("interference_dbm", self.interference_dbm, (n, n_pts))
        elif self.interference_dbm is not None and self.interference_dbm.size:
            check_shape("interference_dbm", self.interference_dbm, (n, 0))
        names = set()
        for e, pt in enumerate(self.points):
            if pt.name in names:
                raise ProblemDataError(f"points[{e}].name", f"duplicate name {pt.name!r}")
            names.add(pt.name)
            if pt.kind == "custom" and pt.threshold_dbm is None:
                raise ProblemDataError(f"points[{e}].threshold_dbm", "required for kind 'custom'")
            for v, name in ((pt.threshold_dbm, "threshold_dbm"), (pt.margin_db, "margin_db")):
                if v is not None and not math.isfinite(v):
                    raise ProblemDataError(f"points[{e}].{name}", f"expected a finite number, found {v}")
            for ch in pt.channels or []:
                if not 0 <= ch < self.n_channels:
                    raise ProblemDataError(f"points[{e}].channels", f"expected 0..{self.n_channels - 1}, "
                                                                    f"found {ch}")
        check_shape("excluded", self.excluded, (n, self.n_channels))
        if self.operator_weight is not None:
            check_shape("operator_weight", self.operator_weight, (self.n_operators,))

    def protected(self) -> np.ndarray:
        """(n_points, n_channels) bool: point e protects channel c."""
        m = np.zeros((len(self.points), self.n_channels), dtype=bool)
        for e, pt in enumerate(self.points):
            if pt.channels is None:
                m[e] = True
            else:
                m[e, pt.channels] = True
        return m

    def values(self) -> np.ndarray:
        return np.ones(self.n_cells) if self.value is None else self.value

    def weights(self) -> np.ndarray:
        return np.ones(self.n_operators) if self.operator_weight is None else self.operator_weight

    def demand(self) -> np.ndarray:
        """Requested channels per operator, ``D_o = sum channels_max``, capped at n_channels per cell."""
        return np.bincount(self.operator, weights=np.minimum(self.channels_max, self.n_channels),
                           minlength=self.n_operators)


class SpectrumSolution(Solution):
    kind: str = "spectrum"
    assignment: array_type(bool, 2) | None = None
    """(n_cells, n_channels): cell i uses channel c."""
    channels_granted: array_type(int, 1) | None = None
    operator_share: array_type(float, 1) | None = None
    """Granted / requested channels per operator."""
    total_value: float | None = None
    protection_margin_db: array_type(float, 1) | None = None
    """Per point: min over protected channels of (threshold - margin) - aggregate (dB); >= 0 when met
    (+1e9 stands for "no interference")."""


# ----------------------------------------------------------------------------------------------------------
# exact checks
# ----------------------------------------------------------------------------------------------------------


def check_assignment(problem: SpectrumProblem, x: np.ndarray) -> dict:
    """Exact (floating-point) evaluation of an assignment: which constraint families it violates, its
    per-operator shares, total value and protection margins."""
    x = np.asarray(x, dtype=bool)
    g = x.sum(axis=1)
    viol: list[str] = []
    if (g > problem.channels_max).any():
        viol.append("channels_max")
    if problem.channels_min is not None and (g < problem.channels_min).any():
        viol.append("min_channels")
    if problem.conflict_pairs is not None:
        ch = np.arange(problem.n_channels)
        close = np.abs(ch[:, None] - ch[None, :])
        for (i, j), s in zip(problem.conflict_pairs, problem.separation, strict=True):
            if (x[i][:, None] & x[j][None, :] & (close < s)).any():
                viol.append("separation")
                break
    if problem.excluded is not None and (x & problem.excluded).any():
        viol.append("exclusion")
    margins = np.full(len(problem.points), 1e9)
    if problem.points:
        prot = problem.protected()
        i_mw = 10.0 ** (problem.interference_dbm / 10.0)  # (n, E)
        agg = i_mw.T @ x.astype(float)  # (E, C)
        for e, pt in enumerate(problem.points):
            a = agg[e, prot[e]]
            if a.size and a.max() > 0:
                margins[e] = 10.0 * math.log10(pt.limit_mw()) - 10.0 * math.log10(a.max())
                if a.max() > pt.limit_mw() * (1 + 1e-12):
                    viol.append(f"incumbent_protection:{pt.name}")
    d = problem.demand()
    gop = np.bincount(problem.operator, weights=g, minlength=problem.n_operators)
    share = np.where(d > 0, gop / np.where(d > 0, d, 1.0), 1.0)
    return {"violations": viol, "granted": g, "share": share, "total_value": float(problem.values() @ g),
            "margins_db": margins}


def _objective(problem: SpectrumProblem, info: dict) -> float:
    if problem.fairness == "none":
        return info["total_value"]
    w = problem.weights()
    d = problem.demand()
    active = d > 0
    if problem.fairness == "weighted_share":
        return float((w[active] * info["share"][active]).sum())
    ratio = info["share"][active] / np.where(w[active] > 0, w[active], np.inf)
    return float(ratio.min()) if ratio.size else 0.0


# ----------------------------------------------------------------------------------------------------------
# CP-SAT model
# ----------------------------------------------------------------------------------------------------------


class _Model:
    def __init__(self, problem: SpectrumProblem, relaxed: set[str]) -> None:
        self.pb = problem
        n, n_ch = problem.n_cells, problem.n_channels
        m = cp_model.CpModel()
        self.m = m
        x = [[m.NewBoolVar(f"x_{i}_{c}") for c in range(n_ch)] for i in range(n)]
        self.x = x
        cmax = np.minimum(problem.channels_max, n_ch)
        for i in range(n):
            row = x[i]
            m.Add(sum(row) <= int(cmax[i]))
            if problem.channels_min is not None and problem.channels_min[i] > 0 and \
                    "min_channels" not in relaxed:
                m.Add(sum(row) >= int(problem.channels_min[i]))
            if cmax[i] == 0:
                for v in row:
                    m.Add(v == 0)
        if problem.conflict_pairs is not None and "separation" not in relaxed:
            for (i, j), s in zip(problem.conflict_pairs, problem.separation, strict=True):
                for a in range(n_ch):
                    for b in range(max(0, a - s + 1), min(n_ch, a + s)):
                        m.AddBoolOr([x[i][a].Not(), x[j][b].Not()])
        if problem.excluded is not None and "exclusion" not in relaxed:
            for i, c in zip(*np.nonzero(problem.excluded), strict=True):
                m.Add(x[i][c] == 0)
        if problem.points:
            prot = problem.protected()
            i_mw = 10.0 ** (problem.interference_dbm / 10.0)
            for e, pt in enumerate(problem.points):
                if "incumbent_protection" in relaxed or f"incumbent_protection:{pt.name}" in relaxed:
                    continue
                ratio = i_mw[:, e] / pt.limit_mw()
                coef = np.ceil(np.minimum(ratio, 2.0) * SCALE).astype(np.int64)  # round UP (conservative)
                cells = np.flatnonzero(coef > 0)
                for c in np.flatnonzero(prot[e]):
                    blocked = cells[coef[cells] > SCALE]
                    for i in blocked:
                        m.Add(x[i][c] == 0)
                    rest = cells[coef[cells] <= SCALE]
                    if rest.size and coef[rest].sum() > SCALE:
                        m.Add(cp_model.LinearExpr.WeightedSum([x[i][c] for i in rest],
                                                              [int(q) for q in coef[rest]]) <= SCALE)
        self.granted = [sum(x[i]) for i in range(n)]

    def op_granted(self, o: int):
        cells = np.flatnonzero(self.pb.operator == o)
        return sum(self.x[i][c] for i in cells for c in range(self.pb.n_channels))

    def run(self, time_limit_s: float, seed: int = 0) -> tuple[int, cp_model.CpSolver]:
        solver = cpsat_solver(time_limit_s, workers=2, seed=seed)
        st = solver.Solve(self.m)
        return st, solver

    def value_of(self, solver: cp_model.CpSolver) -> np.ndarray:
        return np.array([[solver.BooleanValue(v) for v in row] for row in self.x], dtype=bool)


def _int_coefs(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Integer objective coefficients and their scale: exact when ``values`` are integers, else
    ``ceil(v K)`` (bound stays valid)."""
    if np.all(values == np.round(values)) and values.max(initial=0) < 2**40:
        return values.astype(np.int64), 1.0
    k = _VALUE_SCALE / max(float(values.max()), 1e-300)
    return np.ceil(values * k).astype(np.int64), k


def _lcm_scale(a: np.ndarray) -> int:
    q = 1
    for v in a:
        q = math.lcm(q, int(v))
        if q > 10**12:
            return 0
    return q


def _set_linear_objective(mdl: _Model, coefs_per_cell: np.ndarray) -> None:
    terms, cs = [], []
    for i in range(mdl.pb.n_cells):
        if coefs_per_cell[i]:
            for v in mdl.x[i]:
                terms.append(v)
                cs.append(int(coefs_per_cell[i]))
    mdl.m.Maximize(cp_model.LinearExpr.WeightedSum(terms, cs) if terms else 0)


def _cell_coefs(problem: SpectrumProblem) -> tuple[np.ndarray, float]:
    """Integer objective coefficient per channel of each cell and the scale ``k`` (CP-SAT objective = k x the
    exact objective). Weighted share: ``round(1000 w_o) L / D_o`` with ``L = lcm(D_o)`` -- exact for weights
    with at most 3 decimals; otherwise (or for non-integral values) rounded UP."""
    if problem.fairness == "weighted_share":
        d = np.round(problem.demand()).astype(np.int64)
        w = problem.weights()
        w_int = np.round(w * 1000).astype(np.int64)
        lcm = _lcm_scale(d[d > 0]) if (d > 0).any() else 1
        if lcm and np.allclose(w * 1000, w_int, rtol=0, atol=1e-9):
            per_op = np.where(d > 0, w_int * (lcm // np.where(d > 0, d, 1)), 0)
            return per_op[problem.operator].astype(np.int64), 1000.0 * lcm
        per_op = np.where(d > 0, w / np.where(d > 0, d, 1), 0.0)
        return _int_coefs(per_op[problem.operator])
    return _int_coefs(problem.values())


def solve_spectrum(problem: SpectrumProblem, *, time_limit_s: float = 60.0, backend: str | None = None,
                   warm_start: Solution | dict | None = None) -> SpectrumSolution:
    """Solve a :class:`SpectrumProblem` (see the module docstring). ``backend``: ``"cp-sat"``, ``"highs"``
    (MILP) or None -- HiGHS when there are protection points (their knapsack rows give CP-SAT weak bounds; on
    the 200-cell benchmark HiGHS proves a much smaller gap), CP-SAT for a pure conflict-graph problem.
    ``warm_start``: a solution or dict with ``assignment``: a CP-SAT hint, or a HiGHS starting solution when it
    meets every constraint (exact check; otherwise ignored)."""
    t0 = time.perf_counter()
    if backend not in (None, "auto", "cp-sat", "highs"):
        raise ProblemDataError("backend", f"expected 'cp-sat', 'highs' or None, found {backend!r}")
    deadline = t0 + time_limit_s
    hint = None
    raw = warm_start_field(warm_start, "assignment")
    if raw is not None:
        hint = np.asarray(raw, dtype=bool)
        if hint.shape != (problem.n_cells, problem.n_channels):
            raise ProblemDataError("warm_start.assignment", f"expected shape "
                                   f"{(problem.n_cells, problem.n_channels)}, found {hint.shape}")
    if backend == "highs" or (backend in (None, "auto") and problem.points):
        return _solve_highs(problem, t0, deadline, hint)
    mdl = _Model(problem, set())
    if hint is not None:
        for i in range(problem.n_cells):
            for c in range(problem.n_channels):
                mdl.m.AddHint(mdl.x[i][c], bool(hint[i, c]))
    method = f"CP-SAT, fairness {problem.fairness!r}"
    msg = ""
    if problem.fairness == "max_min":
        return _solve_max_min(problem, mdl, t0, deadline, method)
    coefs, k = _cell_coefs(problem)
    _set_linear_objective(mdl, coefs)
    st, solver = mdl.run(deadline - time.perf_counter())
    failed = _cpsat_failure(problem, st, solver, t0, deadline, method)
    if failed is not None:
        return failed
    x = mdl.value_of(solver)
    bound = float(solver.BestObjectiveBound()) / k
    return _solution(problem, x, False, bound, t0, method, msg, hit=st == cp_model.FEASIBLE)


def _cpsat_failure(problem: SpectrumProblem, st: int, solver: cp_model.CpSolver, t0: float, deadline: float,
                   method: str) -> SpectrumSolution | None:
    """The solution to return for a CP-SAT run without an assignment (None when it found one)."""
    if st == cp_model.INFEASIBLE:
        return _infeasible(problem, t0, deadline, method)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    status = SolveStatus.TIME_LIMIT if st == cp_model.UNKNOWN else SolveStatus.ERROR
    return SpectrumSolution(status=status, wall_time_s=time.perf_counter() - t0, backend="cp-sat",
                            method=method, time_limit_reached=st == cp_model.UNKNOWN,
                            message=f"CP-SAT status {solver.StatusName(st)}")


def _solution(problem: SpectrumProblem, x: np.ndarray, proven: bool, bound: float | None, t0: float, method: str,
              msg: str, hit: bool, backend: str = "cp-sat") -> SpectrumSolution:
    info = check_assignment(problem, x)
    obj = _objective(problem, info)
    if bound_reached(obj, bound):
        proven, bound = True, obj
    if info["violations"]:
        msg = (msg + "; " if msg else "") + f"exact check found violations: {info['violations']}"
    return SpectrumSolution(
        status=SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE, objective=obj, best_bound=bound,
        gap=relative_gap(obj, bound), wall_time_s=time.perf_counter() - t0, backend=backend, method=method,
        time_limit_reached=hit, message=msg, assignment=x, channels_granted=info["granted"].astype(np.int64),
        operator_share=info["share"], total_value=info["total_value"], protection_margin_db=info["margins_db"])


def _solve_max_min(problem: SpectrumProblem, mdl: _Model, t0: float, deadline: float,
                   method: str) -> SpectrumSolution:
    d = problem.demand()
    w_int = np.round(problem.weights() * 1000).astype(np.int64)
    active = [o for o in range(problem.n_operators) if d[o] > 0 and w_int[o] > 0]
    a = {o: int(w_int[o]) * int(round(d[o])) for o in active}  # min share = min G_o / a_o (x 1000)
    q = _lcm_scale(np.array(list(a.values()) or [1]))
    msg = ""
    if q == 0:
        q = 10**9
        msg = "least common multiple too large: minimum share quantised to 1e-9"
    if not active:
        return _solution_stage2(problem, mdl, None, t0, deadline, method, msg)
    z = mdl.m.NewIntVar(0, q * max(int(problem.n_channels * problem.n_cells), 1), "z")
    for o in active:
        mdl.m.Add(z * a[o] <= q * mdl.op_granted(o))
    mdl.m.Maximize(z)
    budget = 0.5 * (deadline - time.perf_counter())
    st, solver = mdl.run(budget)
    failed = _cpsat_failure(problem, st, solver, t0, deadline, method)
    if failed is not None:
        return failed
    z_best = int(solver.Value(z))
    x1 = mdl.value_of(solver)
    stage1_optimal = st == cp_model.OPTIMAL
    bound = float(solver.BestObjectiveBound()) / q * 1000.0
    # stage 2: keep every operator at or above the minimum share, maximise the total value
    mdl.m.Add(z >= z_best)
    coefs, k = _int_coefs(problem.values())
    _set_linear_objective(mdl, coefs)
    mdl.m.ClearHints()
    for i in range(problem.n_cells):
        for c in range(problem.n_channels):
            mdl.m.AddHint(mdl.x[i][c], bool(x1[i, c]))
    st2, solver2 = mdl.run(deadline - time.perf_counter())
    x = mdl.value_of(solver2) if st2 in (cp_model.OPTIMAL, cp_model.FEASIBLE) else x1
    method += "; lexicographic: max-min share, then total value"
    if st2 != cp_model.OPTIMAL:
        msg = (msg + "; " if msg else "") + "second stage (total value) not proven optimal"
    return _solution(problem, x, stage1_optimal, bound, t0, method, msg,
                     hit=(not stage1_optimal) or st2 == cp_model.FEASIBLE)


def _solution_stage2(problem: SpectrumProblem, mdl: _Model, _unused, t0: float, deadline: float, method: str,
                     msg: str) -> SpectrumSolution:
    coefs, _ = _int_coefs(problem.values())
    _set_linear_objective(mdl, coefs)
    st, solver = mdl.run(deadline - time.perf_counter())
    failed = _cpsat_failure(problem, st, solver, t0, deadline, method)
    if failed is not None:
        return failed
    return _solution(problem, mdl.value_of(solver), True, 0.0, t0, method, msg, hit=False)


def _infeasible(problem: SpectrumProblem, t0: float, deadline: float, method: str,
                backend: str = "cp-sat") -> SpectrumSolution:
    """Name the constraint families (and protection points) whose relaxation restores feasibility."""
    fams = ["separation", "incumbent_protection", "exclusion"]

    def feasible_without(name: str) -> bool:
        relaxed = set(name.split("+"))
        st, _ = _Model(problem, relaxed).run(max(0.2 * (deadline - time.perf_counter()), 0.05))
        return st in (cp_model.OPTIMAL, cp_model.FEASIBLE)

    blocking = diagnose_infeasibility(fams, feasible_without)
    out: list[str] = []
    for b in blocking:
        if b == "incumbent_protection":
            pts = [f"incumbent_protection:{pt.name}" for pt in problem.points
                   if feasible_without(f"incumbent_protection:{pt.name}")]
            out.extend(pts or [b])
        else:
            out.append(b)
    out.append("min_channels")  # relaxing the channel minima always restores feasibility (x = 0)
    return SpectrumSolution(status=SolveStatus.INFEASIBLE, wall_time_s=time.perf_counter() - t0, backend=backend,
                            method=method, blocking_constraints=out,
                            message="no assignment meets channels_min with the other constraints")


# ----------------------------------------------------------------------------------------------------------
# HiGHS MILP
# ----------------------------------------------------------------------------------------------------------


class _Milp:
    """The same constraints as :class:`_Model` as a HiGHS MILP over ``x_ic`` (column ``i * C + c``), with the
    protection rows in exact floating point (ratios ``I_ie / T'_e``) instead of integer-scaled."""

    def __init__(self, problem: SpectrumProblem) -> None:
        self.pb = problem
        n, n_ch = problem.n_cells, problem.n_channels
        self.n_x = n * n_ch
        ub = np.ones((n, n_ch))
        ub[np.minimum(problem.channels_max, n_ch) == 0] = 0.0
        if problem.excluded is not None:
            ub[problem.excluded] = 0.0
        rows: list[tuple[np.ndarray, np.ndarray, float, float]] = []
        lo_g = np.zeros(n) if problem.channels_min is None else problem.channels_min.astype(float)
        for i in range(n):
            rows.append((i * n_ch + np.arange(n_ch), np.ones(n_ch), float(lo_g[i]),
                         float(min(problem.channels_max[i], n_ch))))
        if problem.conflict_pairs is not None:
            for (i, j), sep in zip(problem.conflict_pairs, problem.separation, strict=True):
                for a in range(n_ch):
                    for b in range(max(0, a - sep + 1), min(n_ch, a + sep)):
                        rows.append((np.array([i * n_ch + a, j * n_ch + b]), np.ones(2), -INF, 1.0))
        if problem.points:
            prot = problem.protected()
            i_mw = 10.0 ** (problem.interference_dbm / 10.0)
            for e, pt in enumerate(problem.points):
                r = i_mw[:, e] / pt.limit_mw()
                cells = np.flatnonzero((r > 0) & (r <= 1.0))
                for c in np.flatnonzero(prot[e]):
                    ub[r > 1.0, c] = 0.0
                    if r[cells].sum() > 1.0 - _HIGHS_ROW_SAFETY:
                        rows.append((cells * n_ch + c, r[cells], -INF, 1.0 - _HIGHS_ROW_SAFETY))
        self.ub = ub.ravel()
        self.rows = rows

    def build(self, cost: np.ndarray, extra_cols: int = 0) -> highspy.Highs:
        h = new_highs()
        n_x = self.n_x
        h.addVars(n_x, np.zeros(n_x), self.ub)
        h.changeColsIntegrality(n_x, np.arange(n_x, dtype=np.int32),
                                np.full(n_x, highspy.HighsVarType.kInteger))
        if extra_cols:
            h.addVars(extra_cols, np.zeros(extra_cols), np.full(extra_cols, INF))
        h.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), -np.asarray(cost, dtype=float))
        lo = np.array([r[2] for r in self.rows])
        hi = np.array([r[3] for r in self.rows])
        starts = csr_starts(np.array([len(r[0]) for r in self.rows]))
        idx = np.concatenate([r[0] for r in self.rows]).astype(np.int32)
        val = np.concatenate([r[1] for r in self.rows]).astype(float)
        h.addRows(len(self.rows), lo, hi, len(val), starts, idx, val)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 1e-9)
        return h

    def op_row(self, o: int) -> np.ndarray:
        n_ch = self.pb.n_channels
        cells = np.flatnonzero(self.pb.operator == o)
        return (cells[:, None] * n_ch + np.arange(n_ch)[None, :]).ravel()

    def run(self, h: highspy.Highs, time_limit_s: float) -> tuple[str, np.ndarray | None, float | None]:
        run = solve_highs(h, time_limit_s, min_time_s=0.01)
        if run.x is None:
            return run.status, None, None
        x = run.x[: self.n_x] > 0.5
        return run.status, x.reshape(self.pb.n_cells, self.pb.n_channels), -run.mip_dual_bound


def _solve_highs(problem: SpectrumProblem, t0: float, deadline: float,
                 hint: np.ndarray | None = None) -> SpectrumSolution:
    method = f"HiGHS MILP (exact protection rows), fairness {problem.fairness!r}"
    milp = _Milp(problem)
    n_x = milp.n_x
    n_ch = problem.n_channels

    def fail(st: str) -> SpectrumSolution:
        if st == "infeasible":
            return _infeasible(problem, t0, deadline, method, backend="highs")
        return SpectrumSolution(status=SolveStatus.TIME_LIMIT if st == "time_limit" else SolveStatus.ERROR,
                                wall_time_s=time.perf_counter() - t0, backend="highs", method=method,
                                time_limit_reached=st == "time_limit", message=f"HiGHS: {st}")

    if hint is not None and check_assignment(problem, hint)["violations"]:
        hint = None  # an infeasible start would be rejected by HiGHS anyway

    def start(h: highspy.Highs, x: np.ndarray | None) -> None:
        if x is not None:
            h.setSolution(n_x, np.arange(n_x, dtype=np.int32), x.ravel().astype(float))

    integral_values = bool(np.all(problem.values() == np.round(problem.values())))
    if problem.fairness != "max_min":
        if problem.fairness == "weighted_share":
            d = problem.demand()
            per_op = np.where(d > 0, problem.weights() / np.where(d > 0, d, 1.0), 0.0)
            coef = per_op[problem.operator]
        else:
            coef = problem.values()
        h = milp.build(np.repeat(coef, n_ch))
        start(h, hint)
        st, x, bound = milp.run(h, deadline - time.perf_counter())
        if x is None:
            return fail(st)
        if problem.fairness == "none" and integral_values and bound is not None:
            bound = math.floor(bound + 1e-6)  # integral objective
        return _solution(problem, x, False, bound, t0, method, "", hit=st == "feasible", backend="highs")
    # max-min: maximise z with z * w_o D_o <= G_o (z continuous), then the total value at that minimum
    d = problem.demand()
    w = problem.weights()
    active = [o for o in range(problem.n_operators) if d[o] > 0 and w[o] > 0]
    x1: np.ndarray | None = None
    stage1_optimal, m1, bound = True, 0.0, 0.0  # no operator requests a channel: the minimum share is 0
    if active:  # (without a row z would be unbounded)
        cost = np.zeros(n_x + 1)
        cost[n_x] = 1.0
        h = milp.build(cost, extra_cols=1)
        for o in active:
            cols = milp.op_row(o)
            h.addRow(-INF, 0.0, len(cols) + 1, np.concatenate(([n_x], cols)).astype(np.int32),
                     np.concatenate(([w[o] * d[o]], -np.ones(len(cols)))))
        st, x1, bound = milp.run(h, 0.5 * (deadline - time.perf_counter()))
        if x1 is None:
            return fail(st)
        stage1_optimal = st == "optimal"
        m1 = _objective(problem, check_assignment(problem, x1))
    # stage 2: every operator keeps G_o >= ceil(m1 w_o D_o) (exact integers), maximise the total value
    h2 = milp.build(np.repeat(problem.values(), n_ch))
    start(h2, x1)
    for o in active:
        cols = milp.op_row(o)
        need = math.ceil(m1 * w[o] * d[o] - 1e-9)
        h2.addRow(float(need), INF, len(cols), cols.astype(np.int32), np.ones(len(cols)))
    st2, x2, _ = milp.run(h2, deadline - time.perf_counter())
    x = x2 if x2 is not None else x1
    if x is None:
        return fail(st2)
    msg = "" if st2 == "optimal" else "second stage (total value) not proven optimal"
    return _solution(problem, x, stage1_optimal, bound if not stage1_optimal else m1, t0,
                     method + "; lexicographic: max-min share, then total value", msg,
                     hit=(not stage1_optimal) or st2 != "optimal", backend="highs")


register("spectrum", SpectrumProblem, SpectrumSolution, solve_spectrum)
