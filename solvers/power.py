"""``solvers.power``: transmit power control with fixed association (REFERENCES.md §6.3).

Data: cells ``c`` with transmit power ``p_c`` (W), receivers (pixels, UEs, demand points) ``q`` served by
``serving_cell[q]``, linear power gains ``g_qc`` (antenna gains minus path loss, as a ratio) and noise ``N_q`` (W).

* ``mode="min_power"`` -- the linear-power LP (Foschini--Miljanic):
  ``min sum_c cost_c(p_c)`` s.t. ``p_s g_qs >= gamma_q (sum_{c != s} p_c g_qc + N_q)`` (SINR target),
  ``p_s g_qs >= RSRP_min,q`` (coverage), ``P_min,c <= p_c <= P_max,c``. With one receiver per cell it is
  feasible (without the power cap) iff the spectral radius of ``diag(gamma) F``, ``F_ij = g_ij / g_ii``
  (i != j), is below 1 -- reported as ``spectral_radius``.
* ``mode="max_min_sinr"`` -- the largest common target ``t`` (dB) with ``SINR_q >= t + offset_q``
  (``offset_q = sinr_target_db``, default 0), by bisection on ``t`` with the LP as the exact feasibility test
  (REFERENCES.md §6.3, the GP-free route); ``best_bound`` is the smallest target proven infeasible.
* ``mode="discrete"`` -- each cell picks one level ``P_max,c * 10^(l/10)``, ``l`` in ``levels_db``
  (default 0 to -6 dB in 1 dB steps, REFERENCES.md §6.3): a MILP (one-hot binaries) solved by HiGHS.

Objectives: ``"total_w"`` -- ``sum_c p_c``; ``"earth_w"`` -- EARTH input power ``sum_c N_TRX,c (P0_c +
Delta_p,c p_c)`` (Auer et al., IEEE Wireless Commun. 18(5), 2011, Table 2; REFERENCES.md §3.1), linear in ``p``
so the problem stays an LP; ``p_c`` plays the role of EARTH's P_out. Defaults are the macro row (N_TRX 6,
P0 130 W, Delta_p 4.7).

Numerics: every SINR row is divided by ``g_qs``. A coefficient ``gamma g_qc / g_qs`` below 1e-9 is not passed to
HiGHS (which would drop it silently) but folded into the right-hand side at ``P_max,c`` (conservative: the
solution still meets the exact constraint); without ``p_max_w`` it is kept. The returned powers are checked
against the exact constraints (``max_violation_db``).

Backend: highspy directly (the model is a dense block of rows; Pyomo would dominate the time).
"""

from __future__ import annotations

import math
import time
from typing import ClassVar, Literal

import highspy
import numpy as np
from pydantic import ConfigDict

from solvers._common import INF, SINR_MIN_DB_TR36942, csr_starts, new_highs, solve_highs
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

__all__ = ["PowerProblem", "PowerSolution", "solve_power", "spectral_radius", "sinr_db"]

EARTH_MACRO_N_TRX = 6
EARTH_MACRO_P0_W = 130.0
EARTH_MACRO_DELTA_P = 4.7
"""EARTH macro BS (Auer et al. 2011, Table 2; REFERENCES.md §3.1)."""

DEFAULT_LEVELS_DB = (0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0)
"""Discrete power steps, 0 to -6 dB in 1 dB steps (REFERENCES.md §6.3)."""

SINR_MAX_DB_TR36942 = 22.05
"""TR 36.942 Annex A.1 DL: below SINR_MIN_DB_TR36942 (-10 dB, :mod:`solvers._common`) the rate is 0, above
SINR_MAX it saturates at 4.4 bps/Hz (REFERENCES.md §4.1); the default max-min search bracket."""

_SMALL_COEF = 1e-9
_FEAS_RTOL = 1e-6


class PowerProblem(Problem):
    """Power control problem. Shapes: ``gain (n_points, n_cells)``, ``serving_cell``, ``noise_w``,
    ``sinr_target_db``, ``rsrp_min_dbm`` ``(n_points,)``; ``p_min_w``, ``p_max_w`` and the EARTH parameters
    ``(n_cells,)``."""

    model_config = ConfigDict(title="power")
    kind: ClassVar[str] = "power"

    gain: array_type(float, 2, min_value=0.0)
    serving_cell: array_type(int, 1)
    noise_w: array_type(float, 1, min_value=0.0)
    sinr_target_db: array_type(float, 1) | None = None
    """min_power/discrete: SINR floor per receiver; max_min_sinr: offset added to the common target."""
    rsrp_min_dbm: array_type(float, 1) | None = None
    """Floor on the serving cell's received power ``p_s g_qs`` (dBm) per receiver."""
    p_min_w: array_type(float, 1, min_value=0.0) | None = None
    p_max_w: array_type(float, 1, min_value=0.0) | None = None
    """Power cap per cell; None = uncapped (min_power only)."""
    mode: Literal["min_power", "max_min_sinr", "discrete"] = "min_power"
    objective: Literal["total_w", "earth_w"] = "total_w"
    earth_n_trx: array_type(float, 1, min_value=0.0) | None = None
    earth_p0_w: array_type(float, 1, min_value=0.0) | None = None
    earth_delta_p: array_type(float, 1, min_value=0.0) | None = None
    levels_db: array_type(float, 1, max_value=0.0) | None = None
    """Discrete levels relative to ``p_max_w`` (dB, <= 0); default 0..-6 dB."""
    sinr_search_min_db: float = SINR_MIN_DB_TR36942
    sinr_search_max_db: float = SINR_MAX_DB_TR36942
    sinr_tolerance_db: float = 0.01
    """Bisection stops when the bracket is narrower (assumption: 0.01 dB)."""

    @property
    def n_points(self) -> int:
        return int(self.gain.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.gain.shape[1])

    def check(self) -> None:
        n_q, n_c = self.gain.shape
        if n_q < 1 or n_c < 1:
            raise ProblemDataError("gain", f"expected at least one receiver and one cell, found shape "
                                           f"{self.gain.shape}")
        for name in ("serving_cell", "noise_w", "sinr_target_db", "rsrp_min_dbm"):
            check_shape(name, getattr(self, name), (n_q,))
        for name in ("p_min_w", "p_max_w", "earth_n_trx", "earth_p0_w", "earth_delta_p"):
            check_shape(name, getattr(self, name), (n_c,))
        s = self.serving_cell
        bad = np.flatnonzero((s < 0) | (s >= n_c))
        if bad.size:
            i = int(bad[0])
            raise ProblemDataError(f"serving_cell[{i}]", f"expected a cell index 0..{n_c - 1}, found {s[i]}")
        g_s = self.gain[np.arange(n_q), s]
        bad = np.flatnonzero(g_s <= 0)
        if bad.size:
            i = int(bad[0])
            raise ProblemDataError(f"gain[{i},{int(s[i])}]", "expected the serving gain > 0, found 0")
        bad = np.flatnonzero(self.noise_w <= 0)
        if bad.size:
            i = int(bad[0])
            raise ProblemDataError(f"noise_w[{i}]", f"expected > 0, found {self.noise_w[i]}")
        if self.p_min_w is not None and self.p_max_w is not None:
            bad = np.flatnonzero(self.p_min_w > self.p_max_w)
            if bad.size:
                i = int(bad[0])
                raise ProblemDataError(f"p_min_w[{i}]", f"expected <= p_max_w[{i}] = {self.p_max_w[i]}, "
                                                        f"found {self.p_min_w[i]}")
        if self.mode in ("discrete", "max_min_sinr") and self.p_max_w is None:
            raise ProblemDataError("p_max_w", f"required by mode {self.mode!r}")
        if self.mode == "min_power" and self.sinr_target_db is None and self.rsrp_min_dbm is None:
            raise ProblemDataError("sinr_target_db", "mode 'min_power' needs sinr_target_db or rsrp_min_dbm")
        if self.levels_db is not None and self.levels_db.size == 0:
            raise ProblemDataError("levels_db", "expected at least one level")
        for name in ("sinr_search_min_db", "sinr_search_max_db", "sinr_tolerance_db"):
            if not math.isfinite(getattr(self, name)):
                raise ProblemDataError(name, f"expected a finite number, found {getattr(self, name)}")
        if self.sinr_search_min_db >= self.sinr_search_max_db:
            raise ProblemDataError("sinr_search_max_db", f"expected > sinr_search_min_db "
                                                         f"({self.sinr_search_min_db}), found "
                                                         f"{self.sinr_search_max_db}")
        if self.sinr_tolerance_db <= 0:
            raise ProblemDataError("sinr_tolerance_db", f"expected > 0, found {self.sinr_tolerance_db}")

    def earth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.n_cells
        n_trx = np.full(n, float(EARTH_MACRO_N_TRX)) if self.earth_n_trx is None else self.earth_n_trx
        p0 = np.full(n, EARTH_MACRO_P0_W) if self.earth_p0_w is None else self.earth_p0_w
        dp = np.full(n, EARTH_MACRO_DELTA_P) if self.earth_delta_p is None else self.earth_delta_p
        return n_trx, p0, dp

    def levels(self) -> np.ndarray:
        return np.asarray(DEFAULT_LEVELS_DB if self.levels_db is None else self.levels_db, dtype=float)


class PowerSolution(Solution):
    """``objective``: total transmit power (W), EARTH input power (W), or for max_min_sinr the achieved
    common SINR target (dB)."""

    kind: str = "power"
    power_w: array_type(float, 1) | None = None
    level_index: array_type(int, 1) | None = None
    total_power_w: float | None = None
    input_power_w: float | None = None
    """EARTH input power of the chosen powers (always reported)."""
    sinr_target_db: float | None = None
    """max_min_sinr: the common target the powers meet."""
    min_sinr_margin_db: float | None = None
    """Smallest ``SINR_q - target_q`` (dB) over the constrained receivers."""
    max_violation_db: float | None = None
    """Largest shortfall of an exact SINR/RSRP constraint (dB), 0 when all hold."""
    spectral_radius: float | None = None
    """rho(diag(gamma) F) when every cell serves exactly one receiver, else None."""
    n_lp_solves: int = 0


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------


def sinr_db(problem: PowerProblem, power_w: np.ndarray) -> np.ndarray:
    """Exact SINR (dB) of every receiver for cell powers ``power_w``."""
    p = np.asarray(power_w, dtype=float)
    rx = problem.gain * p[None, :]
    q = np.arange(problem.n_points)
    sig = rx[q, problem.serving_cell].copy()
    rx[q, problem.serving_cell] = 0.0  # explicit sum over the others: no cancellation
    interf = rx.sum(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(sig / (interf + problem.noise_w))


def spectral_radius(problem: PowerProblem, sinr_target_db: np.ndarray | None = None) -> float | None:
    """``rho(diag(gamma) F)``, ``F_ij = g_ij / g_ii`` (i != j) for the one-receiver-per-cell case (receiver
    of cell i = the receiver it serves); None if the association is not one-to-one or there is no target."""
    target = problem.sinr_target_db if sinr_target_db is None else sinr_target_db
    if target is None or problem.n_points != problem.n_cells:
        return None
    s = problem.serving_cell
    if np.unique(s).size != problem.n_cells:
        return None
    order = np.argsort(s)  # row i <- the receiver served by cell i
    g = problem.gain[order]  # (cells, cells): g[i, j] = gain from cell j to cell i's receiver
    gamma = 10.0 ** (np.asarray(target, dtype=float)[order] / 10.0)
    f = g / np.diag(g)[:, None]
    np.fill_diagonal(f, 0.0)
    return float(np.max(np.abs(np.linalg.eigvals(gamma[:, None] * f))))


class _Lp:
    """The SINR/RSRP rows and bounds, rebuilt for a target vector and a set of relaxed families."""

    def __init__(self, problem: PowerProblem) -> None:
        self.pb = problem
        n_q, n_c = problem.gain.shape
        q = np.arange(n_q)
        self.g_s = problem.gain[q, problem.serving_cell]
        self.ratio = problem.gain / self.g_s[:, None]  # g_qc / g_qs
        self.ratio[q, problem.serving_cell] = 0.0
        self.nz = problem.noise_w / self.g_s

    def cost(self) -> tuple[np.ndarray, float]:
        pb = self.pb
        if pb.objective == "total_w":
            return np.ones(pb.n_cells), 0.0
        n_trx, p0, dp = pb.earth()
        return n_trx * dp, float((n_trx * p0).sum())

    def bounds(self, relaxed: set[str]) -> tuple[np.ndarray, np.ndarray]:
        pb = self.pb
        lb = np.zeros(pb.n_cells) if pb.p_min_w is None or "p_min" in relaxed else pb.p_min_w.copy()
        ub = np.full(pb.n_cells, INF) if pb.p_max_w is None or "p_max" in relaxed else pb.p_max_w.copy()
        if pb.rsrp_min_dbm is not None and "rsrp_min" not in relaxed:
            need = 10.0 ** ((pb.rsrp_min_dbm - 30.0) / 10.0) / self.g_s  # W
            req = np.zeros(pb.n_cells)
            np.maximum.at(req, pb.serving_cell, need)
            lb = np.maximum(lb, req)
        return lb, ub

    def sinr_rows(self, target_db: np.ndarray | None, ub: np.ndarray) -> tuple | None:
        """CSR rows ``p_s - sum gamma g_qc/g_qs p_c >= gamma N_q / g_qs`` for the receivers with a target."""
        if target_db is None:
            return None
        pb = self.pb
        gamma = 10.0 ** (np.asarray(target_db, dtype=float) / 10.0)
        coef = gamma[:, None] * self.ratio  # (Q, C) >= 0
        rhs = gamma * self.nz
        small = (coef > 0) & (coef < _SMALL_COEF) & np.isfinite(ub)[None, :]
        if small.any():
            rhs = rhs + (np.where(small, coef, 0.0) * np.where(np.isfinite(ub), ub, 0.0)[None, :]).sum(axis=1)
            coef = np.where(small, 0.0, coef)
        vals = -coef
        vals[np.arange(pb.n_points), pb.serving_cell] = 1.0
        mask = vals != 0.0
        starts = csr_starts(mask.sum(axis=1))
        idx = np.nonzero(mask)[1].astype(np.int32)
        return starts, idx, vals[mask], rhs

    def solve(self, target_db: np.ndarray | None, relaxed: set[str], time_limit_s: float,
              levels: np.ndarray | None = None) -> tuple[str, np.ndarray | None, np.ndarray | None, float | None,
                                                         float | None]:
        """Returns (status, powers, level index, objective, bound). status: optimal/infeasible/time_limit/
        feasible/error."""
        pb = self.pb
        n_c = pb.n_cells
        lb, ub = self.bounds(relaxed)
        if (lb > ub + 1e-12).any():
            return "infeasible", None, None, None, None
        cost, const = self.cost()
        h = new_highs()
        h.addVars(n_c, lb, ub)
        h.changeColsCost(n_c, np.arange(n_c, dtype=np.int32), cost)
        rows = self.sinr_rows(None if "sinr_target" in relaxed else target_db, ub)
        if rows is not None:
            starts, idx, vals, rhs = rows
            h.addRows(len(rhs), rhs, np.full(len(rhs), INF), len(vals), starts, idx, vals)
        n_l = 0
        if levels is not None:
            # one-hot level binaries x_cl and p_c = sum_l P_max,c 10^(l/10) x_cl
            n_l = levels.size
            pw = pb.p_max_w[:, None] * 10.0 ** (levels[None, :] / 10.0)  # (C, L)
            ok = (pw >= lb[:, None] - 1e-12) & (pw <= ub[:, None] + 1e-12)
            h.addVars(n_c * n_l, np.zeros(n_c * n_l), ok.ravel().astype(float))
            h.changeColsIntegrality(n_c * n_l, np.arange(n_c, n_c + n_c * n_l, dtype=np.int32),
                                    np.full(n_c * n_l, highspy.HighsVarType.kInteger))
            for c in range(n_c):
                xs = np.arange(n_c + c * n_l, n_c + (c + 1) * n_l, dtype=np.int32)
                h.addRow(1.0, 1.0, n_l, xs, np.ones(n_l))
                h.addRow(0.0, 0.0, n_l + 1, np.concatenate(([c], xs)).astype(np.int32),
                         np.concatenate(([1.0], -pw[c])))
            h.setOptionValue("mip_rel_gap", 1e-9)
            h.setOptionValue("mip_abs_gap", 1e-9)
        run = solve_highs(h, time_limit_s)
        if run.x is None:
            return run.status, None, None, None, None
        x = run.x
        p = x[:n_c].clip(min=0.0)
        lev = None
        if levels is not None:
            lev = x[n_c:].reshape(n_c, n_l).argmax(axis=1).astype(np.int64)
            p = pb.p_max_w * 10.0 ** (levels[lev] / 10.0)
        obj = float(cost @ p + const)
        if levels is not None:
            bound = run.mip_dual_bound + const
        else:
            bound = obj
        return run.status, p, lev, obj, bound


def _check_exact(problem: PowerProblem, p: np.ndarray, target_db: np.ndarray | None) -> tuple[float, float | None]:
    """(largest shortfall in dB, smallest SINR margin in dB) of the exact constraints."""
    viol = 0.0
    margin = None
    if target_db is not None:
        s = sinr_db(problem, p)
        m = s - target_db
        margin = float(m.min())
        viol = max(viol, float(-m.min()))
    if problem.rsrp_min_dbm is not None:
        q = np.arange(problem.n_points)
        rx = problem.gain[q, problem.serving_cell] * p[problem.serving_cell]
        with np.errstate(divide="ignore"):
            rsrp = 10.0 * np.log10(rx) + 30.0
        viol = max(viol, float((problem.rsrp_min_dbm - rsrp).max()))
    return max(viol, 0.0), margin


def _families(problem: PowerProblem, target_db: np.ndarray | None) -> list[str]:
    fams = []
    if target_db is not None:
        fams.append("sinr_target")
    if problem.rsrp_min_dbm is not None:
        fams.append("rsrp_min")
    if problem.p_max_w is not None:
        fams.append("p_max")
    if problem.p_min_w is not None:
        fams.append("p_min")
    if problem.mode == "discrete":
        fams.append("discrete_levels")
    return fams


def _diagnose(lp: _Lp, problem: PowerProblem, target_db: np.ndarray | None, time_limit_s: float) -> list[str]:
    fams = _families(problem, target_db)
    levels = problem.levels() if problem.mode == "discrete" else None

    def feasible_without(name: str) -> bool:
        relaxed = set(name.split("+"))
        lev = None if "discrete_levels" in relaxed else levels
        st = lp.solve(target_db, relaxed, time_limit_s, lev)[0]
        return st in ("optimal", "feasible")

    return diagnose_infeasibility(fams, feasible_without)


def _earth_input(problem: PowerProblem, p: np.ndarray) -> float:
    n_trx, p0, dp = problem.earth()
    return float((n_trx * (p0 + dp * p)).sum())


# ----------------------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------------------


def solve_power(problem: PowerProblem, *, time_limit_s: float = 60.0, backend: str | None = None,
                warm_start: Solution | dict | None = None) -> PowerSolution:
    """Solve a :class:`PowerProblem` (see the module docstring). ``backend``: None or ``"highs"``;
    ``warm_start`` is accepted and unused (the LPs solve from scratch in milliseconds)."""
    t0 = time.perf_counter()
    if backend not in (None, "auto", "highs"):
        raise ProblemDataError("backend", f"expected 'highs' or None, found {backend!r}")
    lp = _Lp(problem)
    deadline = t0 + time_limit_s
    if problem.mode == "max_min_sinr":
        return _solve_max_min(problem, lp, t0, deadline)
    target = problem.sinr_target_db
    levels = problem.levels() if problem.mode == "discrete" else None
    st, p, lev, obj, bound = lp.solve(target, set(), time_limit_s, levels)
    rho = spectral_radius(problem)
    backend_name = "highs"
    method = "LP (linear power, fixed association)" if levels is None else "MILP (one-hot power levels)"
    common = dict(wall_time_s=time.perf_counter() - t0, backend=backend_name, method=method,
                  spectral_radius=rho, n_lp_solves=1)
    if st == "infeasible":
        remaining = max(deadline - time.perf_counter(), 0.1)
        blocking = _diagnose(lp, problem, target, remaining)
        msg = "no power vector meets the constraints"
        if rho is not None and rho >= 1.0:
            msg += f"; spectral radius of diag(gamma)F = {rho:.4g} >= 1: the SINR targets are infeasible at " \
                   "any power"
        common["wall_time_s"] = time.perf_counter() - t0
        return PowerSolution(status=SolveStatus.INFEASIBLE, blocking_constraints=blocking, message=msg,
                             **common)
    if st == "time_limit":
        return PowerSolution(status=SolveStatus.TIME_LIMIT, time_limit_reached=True,
                             message="time limit before a feasible solution", **common)
    if st.startswith("error") or p is None:
        return PowerSolution(status=SolveStatus.ERROR, message=f"HiGHS: {st}", **common)
    viol, margin = _check_exact(problem, p, target)
    status = SolveStatus.OPTIMAL if st == "optimal" else SolveStatus.FEASIBLE
    return PowerSolution(
        status=status, objective=obj, best_bound=bound, gap=relative_gap(obj, bound),
        time_limit_reached=st == "feasible", power_w=p, level_index=lev, total_power_w=float(p.sum()),
        input_power_w=_earth_input(problem, p), min_sinr_margin_db=margin, max_violation_db=viol,
        message="" if viol <= 1e-6 else f"exact check: constraints violated by up to {viol:.3g} dB", **common)


def _solve_max_min(problem: PowerProblem, lp: _Lp, t0: float, deadline: float) -> PowerSolution:
    offset = np.zeros(problem.n_points) if problem.sinr_target_db is None else problem.sinr_target_db
    lo, hi = problem.sinr_search_min_db, problem.sinr_search_max_db
    n = 0
    best: tuple[float, np.ndarray] | None = None
    hit = False

    def feasible(t: float) -> np.ndarray | None:
        nonlocal n, hit
        n += 1
        st, p, _, _, _ = lp.solve(offset + t, set(), max(deadline - time.perf_counter(), 1e-3))
        if st == "time_limit":
            hit = True
        return p if st in ("optimal", "feasible") else None

    p_hi = feasible(hi)
    if p_hi is not None:
        best = (hi, p_hi)
        bound = hi
        method = ("bisection on the common SINR target (LP feasibility); feasible at the bracket top "
                  "sinr_search_max_db, where the TR 36.942 rate saturates: higher targets are not sought")
    else:
        p_lo = feasible(lo)
        if p_lo is None:
            blocking = _diagnose(lp, problem, offset + lo, max(deadline - time.perf_counter(), 0.1))
            return PowerSolution(status=SolveStatus.INFEASIBLE, wall_time_s=time.perf_counter() - t0,
                                 backend="bisection+highs", method="bisection", blocking_constraints=blocking,
                                 time_limit_reached=hit, n_lp_solves=n,
                                 message=f"no power vector reaches the bracket bottom {lo} dB")
        best = (lo, p_lo)
        while hi - lo > problem.sinr_tolerance_db:
            if time.perf_counter() > deadline:
                hit = True
                break
            mid = 0.5 * (lo + hi)
            p_mid = feasible(mid)
            if p_mid is not None:
                lo, best = mid, (mid, p_mid)
            else:
                hi = mid
        bound = hi
        method = "bisection on the common SINR target with the LP feasibility test"
    t_best, p = best
    # minimum-power vector at the found target (already the LP optimum at that target)
    viol, margin = _check_exact(problem, p, offset + t_best)
    status = SolveStatus.OPTIMAL if bound - t_best <= problem.sinr_tolerance_db + 1e-12 else SolveStatus.FEASIBLE
    return PowerSolution(
        status=status, objective=t_best, best_bound=bound, gap=relative_gap(t_best, bound),
        wall_time_s=time.perf_counter() - t0, backend="bisection+highs", method=method,
        time_limit_reached=hit, power_w=p, total_power_w=float(p.sum()), input_power_w=_earth_input(problem, p),
        sinr_target_db=t_best, min_sinr_margin_db=margin, max_violation_db=viol,
        spectral_radius=spectral_radius(problem, offset + t_best), n_lp_solves=n,
        message=f"optimal within the {problem.sinr_tolerance_db} dB bisection tolerance"
        if status == SolveStatus.OPTIMAL else "bisection stopped early; see best_bound")


register("power", PowerProblem, PowerSolution, solve_power)
