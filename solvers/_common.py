"""Plumbing shared by :mod:`solvers.power`, :mod:`solvers.spectrum` and :mod:`solvers.tilt`: HiGHS set-up, run
(with the thread-pool retry) and status mapping, CP-SAT set-up, warm-start field look-up, CSR row starts and the
TR 36.942 SINR floor.

(Candidates for :mod:`solvers.base`, kept here while that module has another owner.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
from ortools.sat.python import cp_model

__all__ = ["INF", "HIGHS_THREADS", "SINR_MIN_DB_TR36942", "HighsRun", "new_highs", "run_highs", "solve_highs",
           "cpsat_solver", "warm_start_field", "csr_starts", "bound_reached"]

INF = highspy.kHighsInf

SINR_MIN_DB_TR36942 = -10.0
"""TR 36.942 Annex A.1 DL SINR_MIN (REFERENCES.md §4.1): below it the attenuated Shannon rate is zero."""

HIGHS_THREADS = 2
"""HiGHS thread count. Its thread pool is process-global: every module must ask for the same count (rru_sleep
uses 2, the target machine's cores) or a later model fails to run; :func:`run_highs` recovers if not."""

_MS = highspy.HighsModelStatus
_LIMIT_STATUSES = (_MS.kTimeLimit, _MS.kIterationLimit, _MS.kSolutionLimit, _MS.kInterrupt)
_SOLUTION_FEASIBLE = 2  # HiGHS kSolutionStatusFeasible


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance with the project's thread count."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", HIGHS_THREADS)
    return h


def run_highs(h: highspy.Highs) -> None:
    """``h.run()``, robust to HiGHS' process-global thread pool: once any model in the process has run, a model
    asking for a different ``threads`` value fails with ``kError``/``Not Set``; then reset the pool and retry."""
    if h.run() == highspy.HighsStatus.kError and h.getModelStatus() == _MS.kNotset:
        highspy.Highs.resetGlobalScheduler(True)
        h.run()


@dataclass(frozen=True)
class HighsRun:
    """Outcome of :func:`solve_highs`. ``status``: ``"optimal"``, ``"feasible"`` (a limit stopped the search
    with an incumbent), ``"infeasible"``, ``"time_limit"`` (stopped without one) or ``"error:<HiGHS status>"``;
    ``x`` the column values (None without a feasible solution); ``mip_dual_bound`` HiGHS' MIP dual bound."""

    status: str
    x: np.ndarray | None = None
    mip_dual_bound: float | None = None


def solve_highs(h: highspy.Highs, time_limit_s: float, *, min_time_s: float = 1e-3) -> HighsRun:
    """Run ``h`` for at most ``max(time_limit_s, min_time_s)`` seconds and map HiGHS' model status."""
    h.setOptionValue("time_limit", max(float(time_limit_s), min_time_s))
    run_highs(h)
    st = h.getModelStatus()
    if st in (_MS.kInfeasible, _MS.kUnboundedOrInfeasible):
        return HighsRun("infeasible")
    info = h.getInfo()
    has_sol = info.primal_solution_status == _SOLUTION_FEASIBLE
    if not has_sol:
        return HighsRun("time_limit" if st == _MS.kTimeLimit else "error:" + h.modelStatusToString(st))
    if st == _MS.kOptimal:
        status = "optimal"
    elif st in _LIMIT_STATUSES:
        status = "feasible"
    else:
        return HighsRun("error:" + h.modelStatusToString(st))
    return HighsRun(status, np.asarray(h.getSolution().col_value, dtype=float), float(info.mip_dual_bound))


def cpsat_solver(time_limit_s: float, *, workers: int = 2, seed: int = 0) -> cp_model.CpSolver:
    """A CP-SAT solver with a time limit (at least 0.01 s), ``workers`` search workers and a fixed seed."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(float(time_limit_s), 0.01)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    return solver


def warm_start_field(warm_start: Any, name: str) -> Any:
    """``warm_start[name]`` for a dict, ``warm_start.name`` for a solution object; None when absent."""
    if warm_start is None:
        return None
    if isinstance(warm_start, dict):
        return warm_start.get(name)
    return getattr(warm_start, name, None)


def bound_reached(objective: float, bound: float | None, rtol: float = 1e-9) -> bool:
    """A maximisation's ``objective`` meets its proven upper ``bound`` within ``rtol`` (relative, absolute below
    1): the solution is optimal."""
    return bound is not None and objective >= bound - rtol * max(abs(bound), 1.0)


def csr_starts(row_lengths: np.ndarray) -> np.ndarray:
    """Start offsets (int32) of CSR rows with the given lengths, as HiGHS' ``addRows`` wants them."""
    return np.concatenate(([0], np.cumsum(row_lengths)[:-1])).astype(np.int32)
