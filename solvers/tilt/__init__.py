"""``solvers.tilt``: discrete electrical tilts per cell maximising a traffic-weighted objective.

Formulation: REFERENCES.md §6.2 (Siomina, Värbrand, Yuan, IEEE Wireless Commun. 13(6), 2006). The caller supplies
``R_pck`` -- the power (mW) each pixel receives from each cell at each tilt (computed with a tilt-aware pattern,
e.g. TR 36.814 Table A.2.1.1-2, REFERENCES.md §1.5) -- noise per pixel and a traffic weight per pixel. A pixel is
served by its strongest cell; ``SINR_p = S_p / (I_p + N_p)``.

Objectives (``objective``):

* ``"coverage"``: ``sum_p w_p [SINR_p >= gamma and S_p >= RSRP_min]`` -- covered traffic, in the units of
  ``weight``; ties are broken by the log-rate sum (lexicographic, REFERENCES.md §6.2);
* ``"sum_log_rate"``: ``sum_p w_p ln(log2(1 + max(SINR_p, gamma)))`` -- proportional fairness over the Shannon
  spectral efficiency (bps/Hz), floored at the SINR floor so pixels out of coverage stay finite; optionally
  subject to ``min_covered_fraction`` (a hard coverage constraint, family ``min_coverage``: INFEASIBLE when the
  per-pixel coverage bound or complete enumeration proves it unreachable).

``gamma`` defaults to -10 dB, the TR 36.942 Annex A.1 SINR_MIN below which the attenuated Shannon throughput is
zero (REFERENCES.md §4.1).

Methods (``backend``; ``None``/``"auto"`` picks by size):

* ``"enumeration"``: every combination of allowed tilts, exact (small instances: at most 200,000 combinations);
  OPTIMAL with gap 0; auto picks it whenever it fits;
* ``"cp-sat"``: coverage objective only, on request; the pruned, pre-linearised relaxed model of
  :mod:`solvers.tilt._cpsat`, hinted with the local-search result; its configuration is re-evaluated exactly and
  its bound is valid. Measured: proves small instances, but beyond ~10 cells its bound is hardly better than the
  per-pixel relaxation, hence not chosen automatically;
* ``"local-search"``: coordinate descent (each cell in turn moved to its best tilt given the others, evaluated
  exactly through incremental interference updates) from the current tilts, the best uniform tilt and
  ``max_restarts`` random starts, then iterated local search (random kicks of a few cells, kept when not worse).
  Its bound is the per-pixel relaxation: each pixel evaluated at its best serving cell and tilt under the
  weakest interference any configuration can give (ignores the coupling between pixels; valid, often loose).
  An anytime method: it uses the time limit when its kicks (``ils_kicks``) do not finish first.

Kernels: Numba (:mod:`solvers.tilt._kernels`), cached on disk; the first call in a fresh environment compiles them
(a few seconds, counted in ``wall_time_s``).
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import ConfigDict

from solvers._common import SINR_MIN_DB_TR36942, bound_reached, warm_start_field
from solvers.base import (
    Problem,
    ProblemDataError,
    Solution,
    SolveStatus,
    array_type,
    check_shape,
    register,
    relative_gap,
)
from solvers.tilt import _kernels as K
from solvers.tilt._cpsat import solve_cpsat

__all__ = ["TiltProblem", "TiltSolution", "solve_tilt", "evaluate_tilts", "tilt_upper_bound"]

_ENUM_MAX_CONFIGS = 200_000
TIE_EPS = 1e-3
"""Coverage mode: the log-rate tie-breaker ignores pixels where the moving cell's strongest tilt is below 1e-3 of
their interference plus noise (assumption; affects only the order of equal-coverage moves)."""
_ENUM_MAX_WORK = 4e8  # configurations x cells x pixels


class TiltProblem(Problem):
    """Discrete tilt selection. Shapes: ``rx_power_mw (n_cells, n_tilts, n_pixels)``, ``noise_mw`` and
    ``weight (n_pixels,)``, ``tilts_deg (n_tilts,)``, ``allowed (n_cells, n_tilts)``, ``initial_tilt_index
    (n_cells,)``."""

    model_config = ConfigDict(title="tilt")
    kind: ClassVar[str] = "tilt"

    rx_power_mw: array_type(float, 3, min_value=0.0)
    noise_mw: array_type(float, 1, min_value=0.0)
    weight: array_type(float, 1, min_value=0.0)
    tilts_deg: array_type(float, 1)
    objective: Literal["coverage", "sum_log_rate"] = "coverage"
    sinr_min_db: float = SINR_MIN_DB_TR36942
    rsrp_min_dbm: float | None = None
    allowed: array_type(bool, 2) | None = None
    initial_tilt_index: array_type(int, 1) | None = None
    seed: int = 0
    max_restarts: int = 4
    """Random starts of the local search besides the current and the best uniform tilts (assumption: 4;
    kicks from the best local optimum pay off more than further random starts, see bench/solvers_assign.py)."""
    ils_kicks: int | None = None
    """Iterated-local-search kicks after the restarts; default 4 x n_cells (assumption)."""
    min_covered_fraction: float | None = None
    """Objective ``sum_log_rate`` only: a hard constraint, the weighted fraction of covered pixels (SINR >= floor,
    RSRP >= minimum) must reach this value (family ``min_coverage``)."""

    @property
    def n_cells(self) -> int:
        return int(self.rx_power_mw.shape[0])

    @property
    def n_tilts(self) -> int:
        return int(self.rx_power_mw.shape[1])

    @property
    def n_pixels(self) -> int:
        return int(self.rx_power_mw.shape[2])

    def allowed_mask(self) -> np.ndarray:
        if self.allowed is None:
            return np.ones((self.n_cells, self.n_tilts), dtype=bool)
        return self.allowed

    def check(self) -> None:
        n_c, n_k, n_p = self.rx_power_mw.shape
        if n_c < 1 or n_k < 1 or n_p < 1:
            raise ProblemDataError("rx_power_mw", f"expected at least 1 cell, tilt and pixel, found shape "
                                                  f"{self.rx_power_mw.shape}")
        check_shape("noise_mw", self.noise_mw, (n_p,))
        check_shape("weight", self.weight, (n_p,))
        check_shape("tilts_deg", self.tilts_deg, (n_k,))
        check_shape("allowed", self.allowed, (n_c, n_k))
        check_shape("initial_tilt_index", self.initial_tilt_index, (n_c,))
        if (self.noise_mw <= 0).any():
            bad = int(np.flatnonzero(self.noise_mw <= 0)[0])
            raise ProblemDataError(f"noise_mw[{bad}]", f"expected > 0, found {self.noise_mw[bad]}")
        if not math.isfinite(self.sinr_min_db):
            raise ProblemDataError("sinr_min_db", f"expected a finite number, found {self.sinr_min_db}")
        if self.rsrp_min_dbm is not None and not math.isfinite(self.rsrp_min_dbm):
            raise ProblemDataError("rsrp_min_dbm", f"expected a finite number, found {self.rsrp_min_dbm}")
        if self.allowed is not None:
            empty = np.flatnonzero(~self.allowed.any(axis=1))
            if empty.size:
                raise ProblemDataError(f"allowed[{int(empty[0])}]", "expected at least one allowed tilt, "
                                                                     "found none")
        if self.initial_tilt_index is not None:
            t = self.initial_tilt_index
            out = np.flatnonzero((t < 0) | (t >= n_k))
            if out.size:
                i = int(out[0])
                raise ProblemDataError(f"initial_tilt_index[{i}]", f"expected 0..{n_k - 1}, found {t[i]}")
            bad = np.flatnonzero(~self.allowed_mask()[np.arange(n_c), t])
            if bad.size:
                i = int(bad[0])
                raise ProblemDataError(f"initial_tilt_index[{i}]", f"tilt index {t[i]} is not allowed")
        if self.min_covered_fraction is not None:
            if not 0.0 <= self.min_covered_fraction <= 1.0:
                raise ProblemDataError("min_covered_fraction", f"expected 0..1, found {self.min_covered_fraction}")
            if self.objective != "sum_log_rate":
                raise ProblemDataError("min_covered_fraction", "a constraint of objective 'sum_log_rate' only "
                                                               f"(objective is {self.objective!r})")
        if self.max_restarts < 0:
            raise ProblemDataError("max_restarts", f"expected >= 0, found {self.max_restarts}")
        if self.ils_kicks is not None and self.ils_kicks < 0:
            raise ProblemDataError("ils_kicks", f"expected >= 0, found {self.ils_kicks}")


class TiltSolution(Solution):
    """``objective`` is the covered weight (coverage) or the weighted log-rate sum (ln bps/Hz)."""

    kind: str = "tilt"
    tilt_index: array_type(int, 1) | None = None
    tilt_deg: array_type(float, 1) | None = None
    covered_fraction: float | None = None
    """Weighted fraction of pixels with SINR >= floor and RSRP >= minimum."""
    sum_log_rate: float | None = None
    sinr_p5_db: float | None = None
    """5th percentile (traffic-weighted) of the pixels' SINR."""
    initial_objective: float | None = None
    """Objective of ``initial_tilt_index`` (None when not given)."""
    n_restarts: int = 0


# ----------------------------------------------------------------------------------------------------------
# exact evaluation
# ----------------------------------------------------------------------------------------------------------


class _Data:
    """Contiguous arrays and scalar parameters handed to the kernels."""

    def __init__(self, problem: TiltProblem) -> None:
        self.rx = np.ascontiguousarray(problem.rx_power_mw, dtype=np.float64)
        self.noise = np.ascontiguousarray(problem.noise_mw, dtype=np.float64)
        self.w = np.ascontiguousarray(problem.weight, dtype=np.float64)
        self.allowed = np.ascontiguousarray(problem.allowed_mask())
        self.mode = 0 if problem.objective == "coverage" else 1
        self.cap = math.inf
        if problem.min_covered_fraction is not None:
            self.mode = 2
            self.cap = problem.min_covered_fraction * float(problem.weight.sum()) * (1.0 - 1e-12)
        self.gamma = 10.0 ** (problem.sinr_min_db / 10.0)
        self.rsrp_min = -math.inf if problem.rsrp_min_dbm is None else 10.0 ** (problem.rsrp_min_dbm / 10.0)
        self.ln_se_floor = math.log(math.log2(1.0 + self.gamma))
        self.total_w = float(self.w.sum())
        self.coupled = _coupling(self.rx, self.noise)
        self.rmin = np.ascontiguousarray(np.where(self.allowed[:, :, None], self.rx, np.inf).min(axis=1))
        self.rmax = np.ascontiguousarray(np.where(self.allowed[:, :, None], self.rx, -np.inf).max(axis=1))

    def evaluate(self, t: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(capped primary, secondary, SINR per pixel): the comparison key of the search."""
        sinr = np.empty(self.rx.shape[2])
        a, b = K.evaluate_config(self.rx, np.ascontiguousarray(t, dtype=np.int64), self.noise, self.w,
                                 self.mode, self.gamma, self.rsrp_min, self.ln_se_floor, sinr)
        return min(float(a), self.cap), float(b), sinr

    def objective_of(self, key: tuple[float, float]) -> float:
        return key[1] if self.mode == 2 else key[0]


def _coupling(rx: np.ndarray, noise: np.ndarray, near_db: float = 6.0) -> np.ndarray:
    """``coupled[c, c2]``: at ``min(5, ceil(0.1 % of the pixels))`` or more pixels above the noise, both cells'
    strongest tilt is within ``near_db`` of the pixel's strongest cell -- they compete for the same pixels.
    Used only to choose which cells to re-examine after a move (assumption: 6 dB, 5 pixels); restarts always end
    with a full confirming sweep, so local optimality does not depend on it."""
    n_cells, _, n_pix = rx.shape
    strongest = rx.max(axis=1)  # (C, P)
    best = strongest.max(axis=0)
    near = ((strongest >= best[None, :] * 10.0 ** (-near_db / 10.0)) & (best >= noise)[None, :]).astype(float)
    count = near @ near.T
    coupled = count >= max(1, min(5, math.ceil(1e-3 * n_pix)))
    np.fill_diagonal(coupled, True)
    return coupled


def evaluate_tilts(problem: TiltProblem, tilt_index: np.ndarray | list[int]) -> dict[str, Any]:
    """Exact objective and KPIs of one tilt configuration (indices into ``tilts_deg``)."""
    t = np.asarray(tilt_index, dtype=np.int64)
    if t.shape != (problem.n_cells,) or (t < 0).any() or (t >= problem.n_tilts).any():
        raise ProblemDataError("tilt_index", f"expected {problem.n_cells} indices in 0..{problem.n_tilts - 1}, "
                                             f"found {t.tolist()}")
    return _kpis(_Data(problem), t)


def _kpis(d: _Data, t: np.ndarray) -> dict[str, Any]:
    prim, sec, sinr = d.evaluate(t)
    # the other objective's value, for reporting
    covered = (sinr >= d.gamma) & (_serving_power(d, t) >= d.rsrp_min)
    cov_w = float(d.w[covered].sum())
    log_rate = prim if d.mode == 1 else sec
    return {
        "objective": d.objective_of((prim, sec)),
        "covered_w": cov_w,
        "secondary": sec,
        "covered_fraction": cov_w / d.total_w if d.total_w > 0 else 0.0,
        "sum_log_rate": log_rate,
        "sinr_p5_db": _weighted_percentile_db(sinr, d.w, 5.0),
    }


def _serving_power(d: _Data, t: np.ndarray) -> np.ndarray:
    return d.rx[np.arange(d.rx.shape[0]), t, :].max(axis=0)


def _weighted_percentile_db(sinr: np.ndarray, w: np.ndarray, q: float) -> float | None:
    if w.sum() <= 0:
        return None
    order = np.argsort(sinr)
    cw = np.cumsum(w[order])
    i = int(np.searchsorted(cw, q / 100.0 * cw[-1]))
    v = sinr[order[min(i, len(order) - 1)]]
    return float(10.0 * math.log10(v)) if v > 0 else -math.inf


def tilt_upper_bound(problem: TiltProblem) -> float:
    """Per-pixel relaxation bound: each pixel at its best (cell, tilt) under the weakest interference any
    configuration can produce (sum over the other cells of their minimum over allowed tilts). Valid for both
    objectives because the pixel value is non-decreasing in the serving power and non-increasing in the
    interference."""
    d = _Data(problem)
    return _upper_bound(d)


def _upper_bound(d: _Data, kind: str | None = None) -> float:
    """Per-pixel relaxation bound of the coverage (``kind="coverage"``) or log-rate objective (default: the
    problem's objective)."""
    if kind is None:
        kind = "coverage" if d.mode == 0 else "log_rate"
    big = np.where(d.allowed[:, :, None], d.rx, np.inf)
    min_r = big.min(axis=1)  # (C, P)
    tot_min = min_r.sum(axis=0)
    small = np.where(d.allowed[:, :, None], d.rx, -np.inf)
    best_sinr = np.zeros(d.rx.shape[2])
    best_ok = np.zeros(d.rx.shape[2], dtype=bool)
    for c in range(d.rx.shape[0]):
        r = small[c]  # (K, P)
        interf = tot_min - min_r[c]
        sinr = r / (interf + d.noise)[None, :]
        ok = r >= d.rsrp_min
        sinr_ok = np.where(ok, sinr, -np.inf).max(axis=0)
        best_ok |= ok.any(axis=0)
        best_sinr = np.maximum(best_sinr, sinr_ok)
    if kind == "coverage":
        return float(d.w[best_ok & (best_sinr >= d.gamma)].sum())
    lnse = np.full(best_sinr.shape, d.ln_se_floor)
    good = best_ok & (best_sinr > d.gamma)
    lnse[good] = np.log(np.log2(1.0 + best_sinr[good]))
    return float((d.w * lnse).sum())


# ----------------------------------------------------------------------------------------------------------
# methods
# ----------------------------------------------------------------------------------------------------------


def _better(a: tuple[float, float], b: tuple[float, float], tol: float) -> bool:
    """Lexicographic ``a > b`` with an absolute tolerance."""
    return a[0] > b[0] + tol or (a[0] >= b[0] - tol and a[1] > b[1] + tol)


def _enumerate(d: _Data, deadline: float) -> tuple[np.ndarray, tuple[float, float], bool, int]:
    n_cells = d.rx.shape[0]
    n_choices = d.allowed.sum(axis=1).astype(np.int64)
    choices = np.zeros((n_cells, int(n_choices.max())), dtype=np.int64)
    for c in range(n_cells):
        ks = np.flatnonzero(d.allowed[c])
        choices[c, : ks.size] = ks
    total = int(np.prod(n_choices))
    chunk = max(1, int(2e6 // max(n_cells * d.rx.shape[2], 1)))
    best = (-math.inf, -math.inf)
    best_i = 0
    done = 0
    hit = False
    while done < total:
        stop = min(total, done + chunk)
        a, b, i = K.enumerate_range(d.rx, choices, n_choices, done, stop, d.noise, d.w, d.mode, d.gamma,
                                    d.rsrp_min, d.ln_se_floor, d.cap)
        if a > best[0] or (a == best[0] and b > best[1]):
            best, best_i = (float(a), float(b)), int(i)
        done = stop
        if done < total and time.perf_counter() > deadline:
            hit = True
            break
    t = np.empty(n_cells, dtype=np.int64)
    rem = best_i
    for c in range(n_cells):
        t[c] = choices[c, rem % n_choices[c]]
        rem //= n_choices[c]
    return t, best, hit, done


class _Search:
    """Coordinate descent with restarts and iterated-local-search kicks (all moves exactly evaluated)."""

    def __init__(self, d: _Data, rng: np.random.Generator, deadline: float) -> None:
        self.d = d
        self.rng = rng
        self.deadline = deadline
        self.hit = False
        self.tol = 1e-12 * max(d.total_w, 1.0)

    def descend(self, t: np.ndarray, dirty: np.ndarray | None = None,
                confirm: bool = True) -> tuple[np.ndarray, tuple[float, float]]:
        """Coordinate descent: sweeps over the dirty cells (all when ``dirty`` is None) until none is left, then
        (``confirm``) one full sweep, repeated until a full sweep makes no move -- a local optimum."""
        d = self.d
        t = np.ascontiguousarray(t, dtype=np.int64).copy()
        n_cells = d.rx.shape[0]
        dirty = np.ones(n_cells, dtype=bool) if dirty is None else dirty.copy()
        full = bool(dirty.all())
        for _ in range(100 * n_cells + 2):  # guard; every sweep with a move strictly improves
            if time.perf_counter() > self.deadline:
                self.hit = True
                break
            order = self.rng.permutation(n_cells).astype(np.int64)
            moves = K.sweep(d.rx, d.rmin, d.rmax, t, d.allowed, order, dirty, d.coupled, d.noise, d.w, d.mode,
                            d.gamma, d.rsrp_min, d.ln_se_floor, TIE_EPS, self.tol, self.tol, d.cap)
            if moves == 0 and not dirty.any():
                if full or not confirm:
                    break
                dirty[:] = True  # confirm local optimality with one full sweep
                full = True
            else:
                full = False
        a, b, _ = d.evaluate(t)
        return t, (a, b)

    def random_config(self) -> np.ndarray:
        d = self.d
        return np.array([self.rng.choice(np.flatnonzero(d.allowed[c])) for c in range(d.rx.shape[0])],
                        dtype=np.int64)


def _local_search(d: _Data, problem: TiltProblem, start: np.ndarray | None, deadline: float,
                  restarts: int | None = None) -> tuple[np.ndarray, tuple[float, float], bool, int]:
    rng = np.random.default_rng(problem.seed)
    s = _Search(d, rng, deadline)
    n_cells, n_tilts, _ = d.rx.shape
    starts: list[np.ndarray] = []
    if start is not None:
        starts.append(np.asarray(start, dtype=np.int64))
    # best uniform configuration (every cell at the same tilt, where allowed)
    uni_best: tuple[tuple[float, float], np.ndarray] | None = None
    for k in range(n_tilts):
        if d.allowed[:, k].all():
            t = np.full(n_cells, k, dtype=np.int64)
            a, b, _ = d.evaluate(t)
            if uni_best is None or _better((a, b), uni_best[0], s.tol):
                uni_best = ((a, b), t)
    if uni_best is not None:
        starts.append(uni_best[1])
    n_random = problem.max_restarts if restarts is None else restarts
    best_t: np.ndarray | None = None
    best_v = (-math.inf, -math.inf)
    n_done = 0
    for i in range(len(starts) + n_random):
        if time.perf_counter() > deadline and best_t is not None:
            s.hit = True
            break
        t0 = starts[i] if i < len(starts) else s.random_config()
        t, v = s.descend(t0)
        n_done += 1
        if best_t is None or _better(v, best_v, s.tol):
            best_t, best_v = t, v
    assert best_t is not None
    kicks = 4 * n_cells if problem.ils_kicks is None else problem.ils_kicks
    if restarts is not None:
        kicks = 0
    for _ in range(kicks):
        if time.perf_counter() > deadline:
            s.hit = True
            break
        t = best_t.copy()
        m = int(rng.integers(2, min(4, n_cells) + 1)) if n_cells >= 2 else 1
        dirty = np.zeros(n_cells, dtype=bool)
        first = int(rng.integers(n_cells))
        # kick a cell and some of the cells coupled to it (a local perturbation)
        pool = np.flatnonzero(d.coupled[first])
        kicked = np.concatenate(([first], rng.choice(pool, size=min(m - 1, pool.size), replace=False)))
        for c in kicked:
            t[c] = rng.choice(np.flatnonzero(d.allowed[c]))
            dirty |= d.coupled[c]
        t, v = s.descend(t, dirty, confirm=False)
        if not _better(best_v, v, s.tol):  # accept equal or better (plateau moves)
            best_t, best_v = t, v
    if kicks and not s.hit:
        best_t, best_v = s.descend(best_t)  # confirm local optimality of the final configuration
    return best_t, best_v, s.hit, n_done


def random_restart_baseline(problem: TiltProblem, n_restarts: int = 20,
                            seed: int = 1) -> tuple[np.ndarray, float]:
    """Reference for the benchmark: best of ``n_restarts`` coordinate descents from random tilts (no
    uniform start, no kicks). Returns (tilt indices, exact objective)."""
    d = _Data(problem)
    rng = np.random.default_rng(seed)
    s = _Search(d, rng, math.inf)
    best_t, best_v = None, (-math.inf, -math.inf)
    for _ in range(n_restarts):
        t, v = s.descend(s.random_config())
        if best_t is None or _better(v, best_v, s.tol):
            best_t, best_v = t, v
    assert best_t is not None
    return best_t, best_v[0]


# ----------------------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------------------


def _warm_tilts(problem: TiltProblem, warm_start: Solution | dict | None) -> np.ndarray | None:
    raw = warm_start_field(warm_start, "tilt_index")
    if raw is None:
        return problem.initial_tilt_index
    t = np.asarray(raw, dtype=np.int64)
    if t.shape != (problem.n_cells,) or (t < 0).any() or (t >= problem.n_tilts).any() or \
            not problem.allowed_mask()[np.arange(problem.n_cells), t].all():
        raise ProblemDataError("warm_start.tilt_index", f"expected {problem.n_cells} allowed tilt indices, "
                                                        f"found {t.tolist()}")
    return t


def _choose_backend(d: _Data, problem: TiltProblem) -> str:
    n_configs = float(np.prod(d.allowed.sum(axis=1).astype(float)))
    if n_configs <= _ENUM_MAX_CONFIGS and n_configs * problem.n_cells * problem.n_pixels <= _ENUM_MAX_WORK:
        return "enumeration"
    return "local-search"


def solve_tilt(problem: TiltProblem, *, time_limit_s: float = 60.0, backend: str | None = None,
               warm_start: Solution | dict | None = None) -> TiltSolution:
    """Solve a :class:`TiltProblem`; see the module docstring for the methods and what they prove."""
    t_start = time.perf_counter()
    deadline = t_start + 0.97 * time_limit_s  # leave room for the final exact evaluation and the bound
    d = _Data(problem)
    start = _warm_tilts(problem, warm_start)
    chosen = _choose_backend(d, problem) if backend in (None, "auto") else backend
    if chosen not in ("enumeration", "cp-sat", "local-search"):
        raise ProblemDataError("backend", f"expected 'enumeration', 'cp-sat', 'local-search' or None, "
                                          f"found {backend!r}")
    if chosen == "cp-sat" and d.mode != 0:
        raise ProblemDataError("backend", "'cp-sat' supports objective 'coverage' only (the log-rate objective "
                                          "is nonlinear): use 'local-search' or 'enumeration'")
    n_restarts = 0
    hit = False
    bound: float | None
    status = SolveStatus.FEASIBLE
    if d.mode == 2:
        cov_ub = _upper_bound(d, "coverage")
        if cov_ub < d.cap:
            return TiltSolution(
                status=SolveStatus.INFEASIBLE, wall_time_s=time.perf_counter() - t_start, backend=chosen,
                method="per-pixel coverage bound", blocking_constraints=["min_coverage"],
                message=f"no configuration can cover more than {cov_ub / d.total_w:.4f} of the weight "
                        f"(min_covered_fraction {problem.min_covered_fraction})")
    if chosen == "enumeration":
        t, v, hit, n_done = _enumerate(d, deadline)
        method = "exhaustive enumeration of all allowed tilt combinations"
        if hit:
            bound = _upper_bound(d)
            method += f" (stopped after {n_done} configurations; bound from the per-pixel relaxation)"
        else:
            bound = d.objective_of(v)
            status = SolveStatus.OPTIMAL
    elif chosen == "local-search":
        t, v, hit, n_restarts = _local_search(d, problem, start, deadline)
        bound = _upper_bound(d)
        method = ("coordinate descent with exact incremental evaluation, restarts (current, best uniform, "
                  f"{problem.max_restarts} random) and iterated-local-search kicks; bound: per-pixel relaxation")
    else:
        # local search first (a hint and a fallback), then CP-SAT on the relaxed model in the remaining time
        ls_deadline = t_start + 0.25 * time_limit_s
        t_ls, v_ls, hit_ls, n_restarts = _local_search(d, problem, start, ls_deadline,
                                                       restarts=min(problem.max_restarts, 5))
        remaining = deadline - time.perf_counter()
        res = solve_cpsat(d.rx, d.allowed, d.noise, d.w, d.gamma, d.rsrp_min, remaining, t_ls,
                          problem.seed)
        t, v = t_ls, v_ls
        if res.t is not None:
            a, b, _ = d.evaluate(res.t)
            if _better((a, b), v, 1e-12 * max(d.total_w, 1.0)):
                t, v = res.t, (a, b)
        relax_bound = _upper_bound(d)
        bound = relax_bound if res.bound is None else min(res.bound, relax_bound)
        hit = res.status not in ("OPTIMAL", "INFEASIBLE")
        method = (f"CP-SAT on the pruned relaxed model ({res.n_candidates} candidates, {res.n_terms} terms, "
                  f"status {res.status}) hinted by local search; configuration re-evaluated exactly")
    obj_v = d.objective_of(v)
    if status != SolveStatus.OPTIMAL and bound_reached(obj_v, bound):
        status = SolveStatus.OPTIMAL
        bound = obj_v
    kpis = _kpis(d, t)
    if d.mode == 2 and kpis["covered_w"] < d.cap:
        proven = chosen == "enumeration" and not hit
        return TiltSolution(
            status=SolveStatus.INFEASIBLE if proven else (SolveStatus.TIME_LIMIT if hit else SolveStatus.ERROR),
            wall_time_s=time.perf_counter() - t_start, backend=chosen, method=method, time_limit_reached=hit,
            blocking_constraints=["min_coverage"] if proven else [],
            message=(f"best coverage {kpis['covered_fraction']:.4f} < min_covered_fraction "
                     f"{problem.min_covered_fraction}" + ("" if proven else
                                                          "; infeasibility not proven (heuristic search)")))
    init_obj = None
    if problem.initial_tilt_index is not None:
        init_obj = _kpis(d, problem.initial_tilt_index)["objective"]
    return TiltSolution(
        status=status,
        objective=kpis["objective"],
        best_bound=bound,
        gap=relative_gap(kpis["objective"], bound),
        wall_time_s=time.perf_counter() - t_start,
        backend=chosen,
        method=method,
        time_limit_reached=bool(hit),
        message="" if status == SolveStatus.OPTIMAL else "optimality not proven; see best_bound and gap",
        tilt_index=t,
        tilt_deg=problem.tilts_deg[t],
        covered_fraction=kpis["covered_fraction"],
        sum_log_rate=kpis["sum_log_rate"],
        sinr_p5_db=kpis["sinr_p5_db"],
        initial_objective=init_obj,
        n_restarts=n_restarts,
    )


register("tilt", TiltProblem, TiltSolution, solve_tilt)
