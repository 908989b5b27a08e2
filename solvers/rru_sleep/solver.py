"""Solve the sleep plan (REFERENCES.md 6.1) with HiGHS: decomposition, warm starts and proven bounds.

Method (backend ``"highs"``, the default), period by period, busiest first, sharing the time limit. Demand
points with the same candidate servers, covering cells and rates are merged first (exact: traffic is
splittable; ``_model.Data.from_problem``).

1. *All cells on*, the assignment LP (x fixed to 1): the reference energy and the feasibility test. Waking more
   cells never removes a feasible assignment and the all-on plan has no switches, so the problem is feasible
   iff every period's all-on LP is (dwell rows with unknown history are not enforced before period 0). An
   infeasible period is re-solved with each constraint family relaxed (then pairs) to name the blocking ones.
   Plans with x fixed are priced on a model where ``y <= f x`` are column bounds (:class:`_HourLP`, warm).
2. The same LP with x relaxed to [0, 1]: a valid lower bound of the period.
3. A start plan (:func:`_lp_start`): an LP dive (wake the most-open fractional cell, re-solve warm, until the
   relaxation is integral), the greedy sleep heuristic (:func:`_greedy_period`), then close moves and swap chains
   (:func:`_chain_search`: chains of swaps and closes whose steps alone may cost energy) with the exact
   assignment LP while they lower the energy.
4. The period's own LP-based branch and bound (:class:`_Tree`) from the relaxation's basis, that plan as the
   incumbent, best bound first, with LP dives from the best node as its primal heuristic; further passes resume
   the trees of the periods with the largest open gap while time remains.

Without coupling (no switching cost, sleep-entry energy or dwell time > 1) this is exact: the sum of the
periods' proven bounds is the bound. With coupling, that sum is still a valid lower bound (coupling only adds
non-negative costs and constraints); the per-period plans are repaired into a dwell-feasible plan (only waking
cells, which keeps every period feasible), improved by an exact per-cell local search (:func:`_day_search`: flip
a short run or a run's end, keep dwell times, price the touched periods), then by *fix-and-optimise* over
windows of a few periods (the rest fixed, warm-started with the incumbent), and small instances also get the
*coupled MILP* warm-started with the best plan, whose dual bound replaces the sum when larger.

Not done, and why: a Lagrangian relaxation of the demand rows gives per-cell problems whose y are continuous --
their convex hull is the LP's (integrality property), so the bound equals the LP bound; with the LP duals as
multipliers, relaxing only the demand rows of points shared by regions of cells (3-6 regions) also gave exactly
the LP bound (measured on the busiest hour, 57 cells). Branching on the number of active cells moved the
busiest hour's LP bound by < 0.1 % (the LP already opens ~34.0 cells). Capacity cardinality cuts (cells of a
neighbourhood >= the fewest that can carry the points only it serves, exact by MILP): none violated on the busiest
hour -- a point's 5 candidates span ~40 cells' neighbourhoods, so few points are inside any small set, and 35 cells
are needed in all against 36 open in the optimum: the gap is cost, not feasibility. Single-cell flow covers add
nothing (a cell's capacity and assignment rows scale with x: the LP is that cell's convex hull). HiGHS' own MILP
(cuts, strong branching) is the slower route here; see :class:`_Tree`.

Backend ``"highs-monolithic"`` hands the coupled MILP to HiGHS as it stands (the benchmark's baseline);
``"pyomo"`` builds the same formulation in Pyomo and solves it with HiGHS (appsi) -- for small instances.
Every reported objective is re-derived from the plan (assignment LPs or the solver's own assignment, sleep
levels by run), so the status, objective and bound do not depend on which path found the plan.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

from solvers.base import ProblemDataError, SolveStatus, diagnose_infeasibility, relative_gap
from solvers.rru_sleep import _model
from solvers.rru_sleep.problem import RruSleepProblem, RruSleepSolution

BACKENDS = ("highs", "highs-monolithic", "pyomo")
_LP_FAMILIES = ("coverage", "capacity", "demand")
_MS = highspy.HighsModelStatus
INF = highspy.kHighsInf
#: Coupled instances with at most this many (pair, period) traffic variables also get the whole-horizon MILP
#: (warm-started); bigger ones rely on the per-period bounds and fix-and-optimise windows.
_SMALL_COUPLED_PAIRS = 4000
#: The greedy start tries this many least-loaded cells per step (a speed/quality knob of the heuristic only).
_GREEDY_WIDTH = 12
#: The start's swap moves pair each of this many most-open sleeping cells (LP relaxation) with each of this many
#: least-open active ones (a speed/quality knob of the heuristic only; 64 warm LPs, ~0.25 s on 57 cells). Measured,
#: 57 x 500, after the close moves: 18 h 17 603 -> 17 573 Wh, 12 h 16 224 -> 16 212 Wh, 21 h unchanged.
_SWAP_WIDTH = 8
#: A swap chain (:func:`_chain_search`) is at most this many moves long and keeps this many of the cheapest
#: non-improving plans of each step to extend (a speed/quality knob of the heuristic only). Measured, 57 x 500,
#: busiest hour (21 h): the single swaps stop at 18 708.7 Wh; the optimum 18 681.9 is 4 + 5 cells away, two swaps
#: (+12.5 Wh, then -23.6 Wh) reach 18 697.6.
_CHAIN_DEPTH = 2
_CHAIN_BEAM = 2
#: Share of a period's time budget spent on its start plan (LP relaxation, dive, greedy, close moves, swap chains)
#: before the branch and bound, for a multi-period horizon and for a single period. The tree finds few plans of its
#: own, so the start plan is mostly what it must prove: measured, 57 cells x 500 points, busiest hour, load 1: the
#: start without swap chains reaches 18 708.7 Wh (optimum 18 681.9) in 0.37-0.46 s, in 0.8-1.2 s at load 5 on
#: 2 cores; the chains then reach 18 697.6, 18 693.7, 18 687.5 Wh at ~0.83, ~0.96, ~1.1 s. Single period, 2 s: share
#: 0.45 -> 18 697.6 / 18 607.5 (gap 0.48 %), 0.6 -> 18 687.5 / 18 600.9 (0.46 %); hours 18 h, 12 h unchanged
#: within noise (0.86-0.93 %, 0.83-0.87 % before the tree's further passes).
_START_SHARE = 0.35
_START_SHARE_SINGLE = 0.6
#: ... but an unfinished LP dive or close-move descent may continue up to this share of the period's time (the
#: start plan is the incumbent the branch and bound must prove; a loaded machine slows every LP).
_START_HARD_SHARE = 0.7
#: The LP dive wakes this share of the fractional cells (the most open ones, at least one) per re-solve.
_DIVE_STEP = 0.05
#: Share of the time limit kept, for a coupled horizon, for the dwell repair, the per-cell local search and the
#: fix-and-optimise windows after the per-period phase.
_COUPLED_RESERVE = 0.2
#: A further pass resumes a period's branch and bound only with time for at least this many of its longest node LPs.
_MIN_NODES = 4
#: Start plans from the LP relaxation: cells with x >= each threshold active (kept when feasible and cheaper).
_ROUND_THRESHOLDS = (0.5, 0.3)
#: Share of the time left after the per-period phase and the dwell repair given to the per-cell local search
#: (:func:`_day_search`) before the fix-and-optimise windows.
_SEARCH_SHARE = 0.85
#: An LP value within this of 0 or 1 counts as integral (HiGHS' default MIP integrality tolerance).
_INT_TOL = 1e-6
#: Share of a period's branch-and-bound time spent on LP dives (its primal heuristic; an assumption, weakly measured:
#: on the 57 x 500 hours 21 h, 18 h, 12 h the dives found no better plan in 2-3 s -- the start plan's swaps did;
#: day gap 0.81 % with 0.25 vs 0.87 % with 0 in single 60 s runs, before a fix to the dive-time accounting).
_DIVE_SHARE = 0.25


class _Clock:
    def __init__(self, limit_s: float) -> None:
        self.t0 = time.perf_counter()
        self.limit_s = limit_s
        self.hit = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return max(0.0, self.limit_s - self.elapsed())


@dataclass
class _Run:
    status: highspy.HighsModelStatus
    objective: float | None
    bound: float | None
    values: np.ndarray | None
    hit_limit: bool


def _set_limit(h: highspy.Highs, seconds: float) -> None:
    """Let the next ``h.run()`` take at most ``seconds``: HiGHS compares its time limit with the instance's run
    clock, which keeps counting across re-solves of the same model (warm LP re-solves would otherwise stop at once)."""
    h.setOptionValue("time_limit", h.getRunTime() + max(1e-3, float(seconds)) if seconds < INF else INF)


def _run(h: highspy.Highs, time_limit_s: float, gap: float, hint: tuple[np.ndarray, np.ndarray] | None = None,
         mip: bool = True, options: dict | None = None) -> _Run:
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    _set_limit(h, time_limit_s)
    if mip:
        h.setOptionValue("mip_rel_gap", float(gap))
    if hint is not None and len(hint[0]):
        h.setSolution(len(hint[0]), hint[0].astype(np.int32), hint[1].astype(np.float64))
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    has_sol = info.primal_solution_status == 2
    obj = float(info.objective_function_value) if has_sol else None
    if mip:
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    else:
        bound = obj if status == _MS.kOptimal else None
    values = np.asarray(h.getSolution().col_value) if has_sol else None
    hit = status in (_MS.kTimeLimit, _MS.kInterrupt)
    return _Run(status, obj, bound, values, hit)


# --------------------------------------------------------------------------------------------- plan pricing
@dataclass
class _Priced:
    feasible: bool
    energy_wh: float
    penalty_wh: float
    switch_wh: float
    switches: int
    levels: np.ndarray  # (I, T) sleep level, -1 active
    utilisation: np.ndarray  # (I, T)
    serving: np.ndarray  # (J, T)
    unserved_mbps: np.ndarray  # (T,)

    @property
    def objective(self) -> float:
        return self.energy_wh + self.penalty_wh + self.switch_wh


def _sleep_levels(d: _model.Data, on: np.ndarray, cells: list[int] | None = None) -> tuple[np.ndarray, float]:
    """Best sleep level of every sleep run and the plan's sleep energy (incl. entry energies). One level per
    run is optimal because entry energies are non-negative. A run pays its entry energy iff the period before
    it (in the horizon, or ``initial_on`` for period 0) is active; with no history, period 0 pays nothing."""
    n_i, n_t = on.shape
    levels = np.full(on.shape, -1, dtype=np.int64)
    sleep_wh = 0.0
    for i in range(n_i) if cells is None else cells:
        prev = [_prev_state(d, on, i, t) for t in range(n_t)]
        starts = [t for t in range(n_t)
                  if not on[i, t] and (prev[t] is not False or (t == 0 and not d.cyclic))]
        if not starts and not on[i].any():
            starts = [0]  # cyclic cell asleep all day
        for s in starts:
            run, t = [], s
            for _ in range(n_t):
                run.append(t)
                t += 1
                if t == n_t:
                    if not d.cyclic:
                        break
                    t = 0
                if on[i, t] or t == s or t in starts:
                    break
            pays = prev[s] is True
            cost = d.sleep_cost_wh[i] * len(run) + (d.entry_wh[i] if pays else 0.0)
            k = int(np.argmin(cost))
            levels[i, run] = k
            sleep_wh += float(cost[k])
    return levels, sleep_wh


def _prev_state(d: _model.Data, on: np.ndarray, i: int, t: int) -> bool | None:
    p = d.prev(t)
    if p is not None:
        return bool(on[i, p])
    return None if d.initial_on is None else bool(d.initial_on[i])


@dataclass
class _PeriodPrice:
    feasible: bool
    energy_wh: float
    penalty_wh: float
    utilisation: np.ndarray
    serving: np.ndarray
    unserved_mbps: float
    exact: bool = True  # False: an assignment reused from a subset of the active cells (not re-optimised)


def _period_from_values(d: _model.Data, t: int, m: _model.Model, values: np.ndarray,
                        on_t: np.ndarray) -> _PeriodPrice:
    """Traffic cost, utilisation and serving cells of period t from a solved model's column values."""
    yv = np.clip(values[m.y_cols[t]], 0.0, 1.0)
    pairs = m.y_pairs[t]
    pi, pj = d.pair_i[pairs], d.pair_j[pairs]
    util = np.bincount(pi, weights=yv * d.cap_coef[pairs, t], minlength=d.n_i)
    energy = float((d.on_cost_wh * on_t).sum() + (d.load_cost_wh * util).sum())
    zc = m.z_cols[t]
    pts = np.flatnonzero(d.demand[:, t] > 0)
    unserved = penalty = 0.0
    if len(zc):
        zv = np.clip(values[zc], 0.0, 1.0)
        unserved = float((zv * d.demand[pts, t]).sum())
        penalty = float((zv * d.penalty_wh[pts, t]).sum())
    order = np.argsort(yv, kind="stable")
    best_val = np.zeros(d.n_j)
    best_val[pj[order]] = yv[order]
    serving = np.full(d.n_j, -1, dtype=np.int64)
    serving[pj[order]] = pi[order]
    serving[best_val <= 1e-9] = -1
    return _PeriodPrice(True, energy, penalty, util, serving, unserved)


def _remember(d: _model.Data, t: int, on_t: np.ndarray, price: _PeriodPrice) -> None:
    key = (t, on_t.astype(bool).tobytes())
    old = d.price_cache.get(key)
    if old is None or price.energy_wh + price.penalty_wh < old.energy_wh + old.penalty_wh:
        d.price_cache[key] = price


def _price_period(d: _model.Data, t: int, on_t: np.ndarray, clock: _Clock, gap: float,
                  allow_subset: bool = False) -> _PeriodPrice:
    """Exact traffic cost of period t for fixed active cells: the assignment LP."""
    key = (t, on_t.astype(bool).tobytes())
    if key in d.price_cache:
        return d.price_cache[key]
    # (nearly) out of time: a known assignment of a subset of these cells stays feasible when more cells are on (they
    # idle), priced as is instead of solving the LP (an upper estimate of the LP optimum, still exact for it)
    on_b = on_t.astype(bool)
    best_sub: _PeriodPrice | None = None
    use_subset = allow_subset or clock.left() <= 2.0 * d.lp_s
    for (tt, raw), price in (d.price_cache.items() if use_subset else ()):
        if tt != t or not price.feasible:
            continue
        sub = np.frombuffer(raw, dtype=bool)
        if (sub <= on_b).all() and (best_sub is None or price.energy_wh + price.penalty_wh
                                    < best_sub.energy_wh + best_sub.penalty_wh):
            best_sub = _PeriodPrice(True, price.energy_wh + float(d.on_cost_wh[on_b & ~sub].sum()),
                                    price.penalty_wh, price.utilisation, price.serving, price.unserved_mbps,
                                    exact=False)
    if best_sub is not None:
        d.price_cache[key] = best_sub
        return best_sub
    x_fix = np.zeros((d.n_i, d.n_t))
    x_fix[:, t] = on_t
    m = _model.build(d, [t], coupled=False, integer=False, x_lb=x_fix, x_ub=x_fix)
    r = _run(m.highs, INF, gap, mip=False)  # pricing a plan is always finished: it is what we report
    if r.values is None or r.status != _MS.kOptimal:
        out = _PeriodPrice(False, math.inf, 0.0, np.zeros(d.n_i), np.full(d.n_j, -1, dtype=np.int64), 0.0)
        d.price_cache[key] = out
        return out
    out = _period_from_values(d, t, m, r.values, on_t.astype(bool))
    if len(d.price_cache) < 4096:
        d.price_cache[key] = out
    return out


def _price(d: _model.Data, on: np.ndarray, clock: _Clock, gap: float, allow_subset: bool = False) -> _Priced:
    """Exact cost of a fixed on/off plan: one assignment LP per period (cached), sleep levels by run."""
    n_i, n_t = on.shape
    on_b = on.astype(bool)
    periods = [_price_period(d, t, on_b[:, t], clock, gap, allow_subset) for t in range(n_t)]
    feasible = all(p.feasible for p in periods)
    energy = sum(p.energy_wh for p in periods) if feasible else math.inf
    levels, sleep_wh = _sleep_levels(d, on_b)
    switches = _count_switches(d, on_b)
    return _Priced(feasible, energy + sleep_wh, sum(p.penalty_wh for p in periods),
                   d.switch_cost_wh * switches, switches, levels,
                   np.stack([p.utilisation for p in periods], axis=1),
                   np.stack([p.serving for p in periods], axis=1),
                   np.array([p.unserved_mbps for p in periods]))


def _count_switches(d: _model.Data, on: np.ndarray) -> int:
    n = 0
    for t in range(on.shape[1]):
        p = d.prev(t)
        if p is not None:
            n += int((on[:, t] != on[:, p]).sum())
        elif d.initial_on is not None:
            n += int((on[:, t] != d.initial_on).sum())
    return n


# --------------------------------------------------------------------------------------------- greedy start
def _greedy_period(d: _model.Data, t: int, deadline_s: float = math.inf) -> np.ndarray:
    """A feasible plan for period t, fast (a start-plan candidate; the branch and bound improves it and proves
    the bound). Assignment heuristic: every point to its best active candidate (smallest utilisation per unit
    of traffic); an overloaded cell keeps the share that fits and passes the rest of each point to that point's
    next active candidate, for as many rounds as there are candidates -- a feasible assignment if no cell ends
    above rho_max. Starting from all cells on, cells are put to sleep one at a time, least loaded first, while
    that assignment stays feasible and the energy drops, or until ``deadline_s`` (``time.perf_counter()``)."""
    dem = d.demand[:, t]
    pts = np.flatnonzero(dem > 0)
    on = np.ones(d.n_i, dtype=bool)
    if len(pts) == 0:
        on[:] = d.must_on
        return on
    sel = np.isin(d.pair_j, pts)
    pi, pj, coef = d.pair_i[sel], d.pair_j[sel], d.cap_coef[sel, t]
    order = np.lexsort((coef, pj))
    pi, pj, coef = pi[order], pj[order], coef[order]
    local = np.searchsorted(pts, pj)
    n_k = int(np.bincount(local, minlength=len(pts)).max())
    rank = np.arange(len(pj)) - np.searchsorted(pj, pj)
    cand = np.full((len(pts), n_k), d.n_i, dtype=np.int64)  # n_i = padding "cell", never active
    cc = np.zeros((len(pts), n_k))
    cand[local, rank] = pi
    cc[local, rank] = coef
    cover_ok = d.covers[:, pts]
    sleep = d.sleep_cost_wh.min(axis=1)
    rows = np.arange(len(pts))

    def evaluate(mask: np.ndarray) -> tuple[float, np.ndarray]:
        act = np.append(mask, False)[cand]  # (P, K)
        if not act.any(axis=1).all() or not (cover_ok & mask[:, None]).any(axis=0).all():
            return np.inf, np.zeros(d.n_i)
        share = np.zeros(cand.shape)
        share[rows, np.argmax(act, axis=1)] = 1.0
        # next active candidate column after column k, per point (n_k = none)
        nxt = np.full(cand.shape, n_k, dtype=np.int64)
        following = np.full(len(pts), n_k, dtype=np.int64)
        for k in range(n_k - 1, -1, -1):
            nxt[:, k] = following
            following = np.where(act[:, k], k, following)
        for _ in range(n_k + 1):
            load = np.bincount(cand.ravel(), weights=(share * cc).ravel(), minlength=d.n_i + 1)[: d.n_i]
            over = load > d.rho_max * (1 + 1e-9)
            if not over.any():
                return float((d.on_cost_wh * mask).sum() + (d.load_cost_wh * load).sum() + sleep[~mask].sum()), load
            keep = np.append(np.where(over, d.rho_max / np.maximum(load, 1e-300), 1.0), 1.0)[cand]
            excess = share * (1.0 - keep)
            share *= keep
            for k in range(n_k):
                has = (excess[:, k] > 0) & (nxt[:, k] < n_k)
                if (excess[:, k] > 1e-12).any() and not has[excess[:, k] > 1e-12].all():
                    return np.inf, load  # a point's traffic would be pushed past its last candidate
                share[rows[has], nxt[has, k]] += excess[has, k]
        return np.inf, np.zeros(d.n_i)

    current, load = evaluate(on)
    if not np.isfinite(current):
        return on  # the heuristic cannot place the traffic even with every cell on: leave it to the LP dive
    while time.perf_counter() < deadline_s:  # best of the _GREEDY_WIDTH least-loaded active cells
        order_i = [int(i) for i in np.argsort(load, kind="stable") if on[i] and not d.must_on[i]]
        best_i, best_c, best_load = -1, current, load
        for i in order_i[:_GREEDY_WIDTH]:
            if time.perf_counter() >= deadline_s:
                break
            on[i] = False
            c, new_load = evaluate(on)
            on[i] = True
            if c < best_c - 1e-9:
                best_i, best_c, best_load = i, c, new_load
        if best_i < 0:
            return on
        on[best_i] = False
        current, load = best_c, best_load
    return on


def _reference_lp(d: _model.Data, t: int, clock: _Clock, model: tuple | None = None) -> _PeriodPrice | None:
    """The all-on assignment LP of period t within what is left of the solve: its price (cached; infeasible
    means the period, hence the problem, is infeasible), or None when the time limit stopped it."""
    if model is None:
        ones_f = np.ones((d.n_i, d.n_t))
        m = _model.build(d, [t], coupled=False, integer=False, x_lb=ones_f, x_ub=ones_f)
        _set_limit(m.highs, clock.left())

        def solve_with(on: np.ndarray, limited: bool = False) -> float:
            m.highs.run()
            ok = m.highs.getModelStatus() == _MS.kOptimal
            return m.highs.getInfo().objective_function_value if ok else np.inf
    else:
        m, solve_with = model
    ones = np.ones(d.n_i, dtype=bool)
    t_lp = time.perf_counter()
    if not np.isfinite(solve_with(ones, limited=False)):
        if m.highs.getModelStatus() in (_MS.kTimeLimit, _MS.kInterrupt):
            clock.hit = True
            return None
        bad = _PeriodPrice(False, np.inf, 0.0, np.zeros(d.n_i), np.full(d.n_j, -1, dtype=np.int64), 0.0)
        return bad
    d.lp_s = max(d.lp_s, time.perf_counter() - t_lp)  # what one cold assignment LP costs here
    ref = _period_from_values(d, t, m, np.asarray(m.highs.getSolution().col_value), ones)
    _remember(d, t, ones, ref)
    return ref


class _HourLP:
    """Period t's assignment LP with x fixed, re-solved warm as cells toggle: y <= f x are column bounds here,
    so a toggle changes only bounds (dual simplex restarts from the last basis: a few ms per plan)."""

    def __init__(self, d: _model.Data, t: int) -> None:
        x_on = np.zeros((d.n_i, d.n_t))
        x_on[:, t] = 1.0
        self.d, self.t = d, t
        self.model = _model.build(d, [t], coupled=False, integer=False, x_lb=x_on, x_ub=x_on)
        self.highs = self.model.highs
        self.y_pi = d.pair_i[self.model.y_pairs[t]]
        self.y_cols = self.model.y_cols[t].astype(np.int32)
        self.y_ub_on = np.asarray(self.highs.getLp().col_upper_)[self.y_cols]
        self.x_cols = self.model.x[:, t].astype(np.int32)

    def solve(self, on: np.ndarray, limit_s: float) -> float:
        """LP objective with cells ``on`` active (inf when infeasible or stopped by ``limit_s``)."""
        on_f = (on | self.d.must_on).astype(float)
        h = self.highs
        h.changeColsBounds(len(self.x_cols), self.x_cols, on_f, on_f)
        h.changeColsBounds(len(self.y_cols), self.y_cols, np.zeros(len(self.y_cols)), self.y_ub_on * on_f[self.y_pi])
        _set_limit(h, limit_s)
        h.run()
        return h.getInfo().objective_function_value if h.getModelStatus() == _MS.kOptimal else np.inf

    def price(self, on: np.ndarray, clock: _Clock) -> _PeriodPrice | None:
        """Exact traffic price of the period for active cells ``on`` (cached); None when the time limit stops it."""
        key = (self.t, on.astype(bool).tobytes())
        cached = self.d.price_cache.get(key)
        if cached is not None and cached.exact:
            return cached
        if not np.isfinite(self.solve(on, clock.left())):
            if self.highs.getModelStatus() in (_MS.kTimeLimit, _MS.kInterrupt):
                return None
            out = _PeriodPrice(False, math.inf, 0.0, np.zeros(self.d.n_i), np.full(self.d.n_j, -1, dtype=np.int64), 0.0)
        else:
            out = _period_from_values(self.d, self.t, self.model, np.asarray(self.highs.getSolution().col_value),
                                      on.astype(bool))
        _remember(self.d, self.t, on, out)
        return out


def _lp_start(d: _model.Data, t: int, start: np.ndarray | None, budget_s: float, clock: _Clock,
              hard_s: float | None = None) -> tuple[_PeriodPrice | None, np.ndarray, float, float, _Root | None]:
    """Period t's start plan and LP bound, with LPs re-solved warm (dual simplex) as x bounds change:

    1. the LP relaxation (x in [0, 1], interior point + crossover, cold): the period's bound; its x rounded up,
       with the same assignment, is a feasible plan; so are x >= each of ``_ROUND_THRESHOLDS`` when their
       assignment LP (:class:`_HourLP`) is feasible;
    2. LP dive: wake the most-open fractional cells (``_DIVE_STEP``), re-solve, until the relaxation is integral;
    3. ``start`` (default :func:`_greedy_period`) priced by its assignment LP; the cheapest plan so far is kept;
    4. local search: put active cells to sleep one at a time, least loaded first, keeping each move that
       lowers the energy; when none does, the best swap of a most-open sleeping cell (relaxation) for a least-open
       active one, or a chain of such swaps and closes (:func:`_chain_search`, within ``budget_s``); until no move
       helps or the time is spent;
    5. every cell on: the all-on reference, warm (a feasible relaxation implies a feasible all-on period; an
       infeasible one is confirmed by the all-on LP, which then names the period infeasible).

    Every LP gets at most what is left of the whole solve (``clock``): when the all-on reference does not finish
    in time the all-on price is None (no plan is known for the period); when the relaxation does not finish, the
    bound is -inf (reported as no bound). The dive and the close moves may run past ``budget_s`` until they finish,
    up to ``hard_s`` (default ``budget_s``): they are the plan (on a loaded machine an unfinished dive left the
    threshold rounding, 6 % above the optimum of a midday hour). Returns (all-on price, plan, plan objective,
    LP-relaxation bound, the solved relaxation for :class:`_Tree` or None) and caches the prices of both plans."""
    t_end = time.perf_counter() + budget_s
    t_hard = time.perf_counter() + max(budget_s, budget_s if hard_s is None else hard_s)
    m = _model.build(d, [t], coupled=False, integer=False, x_lb=np.zeros((d.n_i, d.n_t)),
                     x_ub=np.ones((d.n_i, d.n_t)))
    h = m.highs
    cols = m.x[:, t].astype(np.int32)
    ones = np.ones(d.n_i, dtype=bool)
    lo = np.where(d.must_on, 1.0, 0.0)

    # plans are priced on a second model with x fixed, where y <= f x are column bounds (a smaller, faster LP)
    hour = _HourLP(d, t)
    mf, hf = hour.model, hour.highs

    def solve_with(on: np.ndarray, limited: bool = True) -> float:
        # the reference and the start plan get what is left of the whole solve; local-search moves the start budget
        left = clock.left()
        return hour.solve(on, min(left, t_hard - time.perf_counter()) if limited else left)

    def last_solved(on: np.ndarray) -> _PeriodPrice:
        # the plan ``on`` as the fixed-plan LP just priced it (its solution's assignment and utilisation)
        return _period_from_values(d, t, mf, np.asarray(hf.getSolution().col_value), on)

    ref = d.price_cache.get((t, ones.tobytes()))
    # not done by _reference_lp: solve it here, after the relaxation (warm, from the local search's last basis); a
    # feasible relaxation implies a feasible all-on period (x = 1 keeps its y, z feasible)
    need_ref = ref is None or not ref.exact or not ref.feasible
    h.changeColsBounds(d.n_i, cols, lo, np.ones(d.n_i))  # LP relaxation: a valid bound, the branch and bound's root
    _set_limit(h, clock.left())  # unfinished: no LP bound and no branch and bound
    h.setOptionValue("solver", "ipm")  # cold: interior point + crossover (300 cells: 1.8 s CPU, dual simplex 20 s)
    h.run()
    h.setOptionValue("solver", "choose")  # warm re-solves from the crossover basis: dual simplex
    relaxed_ok = h.getModelStatus() == _MS.kOptimal
    clock.hit |= h.getModelStatus() in (_MS.kTimeLimit, _MS.kInterrupt)
    lp_bound = h.getInfo().objective_function_value if relaxed_ok else -np.inf
    sleep_min = d.sleep_cost_wh.min(axis=1)
    if relaxed_ok:  # rounding the relaxation's x up keeps its (y, z) feasible: a valid plan, priced as is
        rv = np.asarray(h.getSolution().col_value)
        on = (rv[cols] > 1e-7) | d.must_on
        best = _period_from_values(d, t, m, rv, on)
        root = _Root(m, h.getBasis(), rv[cols].copy(), float(lp_bound))
    else:
        root = None
        if need_ref:
            ref = _reference_lp(d, t, clock, (mf, solve_with))
            if ref is None or not ref.feasible:
                return ref, ones, np.inf, -np.inf, None
            need_ref = False
        on, best = ones.copy(), ref
    current = best.energy_wh + best.penalty_wh + float(sleep_min[~on].sum())
    if relaxed_ok:  # threshold rounding: cheap (one fixed-x LP each), and the fallback when the dive runs out of time
        for theta in _ROUND_THRESHOLDS:
            cand = (rv[cols] >= theta) | d.must_on
            c = solve_with(cand)
            if c < current - 1e-9:
                on, current = cand, c
                best = last_solved(on)
    if relaxed_ok:  # LP dive: wake the most-open fractional cells, re-solve warm, until the relaxation is integral
        lo_dive, x_lp = lo.copy(), rv[cols]
        while time.perf_counter() < t_hard:
            frac = np.flatnonzero((x_lp > 1e-6) & (x_lp < 1 - 1e-6))
            if not len(frac):
                dive_on = (x_lp > 0.5) | d.must_on
                c = h.getInfo().objective_function_value
                if c < current - 1e-9:  # an integral relaxation is the plan's exact price (its y optimal for x)
                    on, current = dive_on, c
                    best = _period_from_values(d, t, m, np.asarray(h.getSolution().col_value), on)
                break
            lo_dive[frac[np.argsort(-x_lp[frac], kind="stable")[: max(1, int(_DIVE_STEP * len(frac)))]]] = 1.0
            h.changeColsBounds(d.n_i, cols, lo_dive, np.ones(d.n_i))
            _set_limit(h, min(clock.left(), t_hard - time.perf_counter()))
            h.run()
            if h.getModelStatus() != _MS.kOptimal:
                break
            x_lp = np.asarray(h.getSolution().col_value)[cols]
    # the greedy is cheap next to an LP on 57 cells, not on hundreds: it shares the start budget
    cand = (_greedy_period(d, t, t_end) if start is None else start.astype(bool)) | d.must_on
    if not (cand == on).all():
        c = solve_with(cand, limited=False)
        if c < current - 1e-9:
            on, current = cand, c
            best = last_solved(on)
    # close moves until none improves, then swap chains; after chain moves the full close pass is redone only once
    # the chains stop improving (it prices every active cell: ~0.1 s on 57 cells)
    improved, closes_due, closes_stale = True, True, False
    while improved and time.perf_counter() < t_hard:
        improved = False
        if closes_due:  # close moves, least loaded first, until none improves
            for i in [int(i) for i in np.argsort(best.utilisation, kind="stable") if on[i] and not d.must_on[i]]:
                if time.perf_counter() >= t_hard:
                    break
                on[i] = False
                c = solve_with(on)
                if c < current - 1e-9:
                    current, improved = c, True
                    best = last_solved(on)
                    break
                on[i] = True
            if improved or not relaxed_ok:
                continue
        # swap chains guided by the relaxation (:func:`_chain_search`): the best improving swap, or a chain of
        # non-improving swaps / closes that ends below the incumbent
        found = _chain_search(solve_with, on, current, rv[cols], d.must_on, t_end)
        if found is not None:
            on, current, improved, closes_due, closes_stale = found[0], found[1], True, False, True
            solve_with(on, limited=False)
            best = last_solved(on)
        elif closes_stale:
            improved, closes_due, closes_stale = True, True, False
    _remember(d, t, on, best)
    if need_ref:
        ref = _reference_lp(d, t, clock, (mf, solve_with))
        if ref is None or not ref.feasible:
            return ref, ones, np.inf, -np.inf, None
    return ref, on, float(current), float(lp_bound), root


def _chain_search(evaluate: Callable[[np.ndarray], float], on: np.ndarray, value: float, x_rel: np.ndarray,
                  must_on: np.ndarray, stop_s: float, width: int = _SWAP_WIDTH, depth: int = _CHAIN_DEPTH,
                  beam: int = _CHAIN_BEAM) -> tuple[np.ndarray, float] | None:
    """Swap chains (an ejection chain / beam search over single moves): from plan ``on`` of cost ``value``, the
    moves of a plan are the swaps of one of its ``width`` most-open sleeping cells (``x_rel``: the LP relaxation)
    with one of its ``width`` least-open active ones, and closing one of those active cells. Step 1 tries all moves
    of ``on`` (the cheapest improving plan wins, as single swaps); each further step extends the ``beam`` cheapest
    plans priced in the step before (none of which improves), up to ``depth`` moves from ``on``, and stops at the
    first plan cheaper than ``value``; a plan is priced once. Returns that plan and its cost, or None: none within
    ``depth`` moves, or ``time.perf_counter()`` reached ``stop_s`` before one was priced. ``evaluate(plan)`` is the
    plan's exact cost (inf: infeasible or stopped). A chain reaches plans that single moves miss because each step
    alone costs energy (busiest hour, 57 cells: wake one cell and close another, +12.5 Wh; then another swap,
    -23.6 Wh)."""
    target = value - 1e-9 * max(1.0, abs(value))  # cheaper than ``value`` beyond rounding
    seen = {on.tobytes()}
    frontier = [on]
    order_open = np.argsort(-x_rel, kind="stable")
    order_closed = np.argsort(x_rel, kind="stable")
    for level in range(depth):
        priced: list[tuple[float, int, np.ndarray]] = []
        for plan in frontier:
            wake = [int(k) for k in order_open if not plan[k]][:width]
            close = [int(i) for i in order_closed if plan[i] and not must_on[i]][:width]
            for k in [-1] + wake:
                for i in close:
                    if time.perf_counter() >= stop_s:  # out of time: the best improving plan priced, if any
                        best = min(priced, key=lambda e: (e[0], e[1]), default=None)
                        return (best[2], best[0]) if best and best[0] < target else None
                    cand = plan.copy()
                    cand[i] = False
                    if k >= 0:
                        cand[k] = True
                    key = cand.tobytes()
                    if key in seen:
                        continue
                    seen.add(key)
                    c = evaluate(cand)
                    if math.isfinite(c):
                        if level and c < target:
                            return cand, c  # a chain's first plan below ``value`` ends it
                        priced.append((c, len(seen), cand))
        if not priced:
            return None
        priced.sort(key=lambda e: (e[0], e[1]))
        if priced[0][0] < target:
            return priced[0][2], priced[0][0]
        frontier = [e[2] for e in priced[:beam]]
    return None


@dataclass
class _Root:
    """A period's solved LP relaxation (x in [0, 1]), kept for :class:`_Tree`: model, optimal basis, x, value."""

    model: _model.Model
    basis: highspy.HighsBasis
    x: np.ndarray
    value: float


class _Tree:
    """LP-based branch and bound on one period's x, best bound first, resumable (later passes continue it).

    Each node is the LP relaxation with some x fixed to 0 or 1 (column bounds of the relaxation's own model),
    re-solved by dual simplex from its parent's basis. Branching on the most fractional x (closest to 0.5, ties to
    the lowest index). Valid bound: the smallest LP value among the open nodes, or the incumbent if smaller -- a
    node whose LP value reaches the incumbent is dropped, since none of its plans can beat it. A node whose LP
    optimum has every x integral is a plan, priced exactly by that LP (its y, z are optimal for those x): a new
    incumbent when cheaper.

    Why not HiGHS' MILP on the same model: its root cuts and strong branching spend seconds per node here; measured,
    57 cells x 500 points, busiest hour, optimal plan given: HiGHS 18 565-18 580 Wh after 1.2 s (2 nodes), this tree
    18 625-18 631 Wh after 1.3 s (21-25 nodes; optimum 18 681.9, LP 18 537.0). The LP gap is a chain of cells
    half-opened in two alternating phases (each cell exactly full in its phase): cuts on a few cells do not see it,
    fixing one cell of the chain does.
    """

    def __init__(self, d: _model.Data, t: int, root: _Root, on: np.ndarray, objective: float) -> None:
        self.d, self.t, self.m = d, t, root.model
        self.highs = root.model.highs
        self.cols = root.model.x[:, t].astype(np.int32)
        self.on, self.ub = on.astype(bool).copy(), float(objective)
        lo = np.where(d.must_on, 1.0, 0.0)
        self.heap: list[tuple] = [(root.value, 0, lo, np.ones(d.n_i), root.x, root.basis)]
        self.count = 1
        self.nodes = 0
        self.improved = False
        self.lp_s = 0.0  # longest node LP so far
        self.dives = self.dives_found = 0
        self.dive_s = self.tree_s = 0.0  # time in dives, time in the tree (dives included) before this run
        self.t_run: float | None = None  # start of the current run

    def bound(self) -> float:
        """The proven lower bound: the smallest open node's LP value, or the incumbent's value."""
        return min(self.ub, self.heap[0][0]) if self.heap else self.ub

    def _solve(self, lo: np.ndarray, hi: np.ndarray, basis: highspy.HighsBasis | None, limit_s: float) -> float | None:
        """LP value with x in [lo, hi] (inf: infeasible), None when stopped by the time limit."""
        h = self.highs
        if basis is not None:
            h.setBasis(basis)
        h.changeColsBounds(self.d.n_i, self.cols, lo, hi)
        _set_limit(h, limit_s)
        t0 = time.perf_counter()
        h.run()
        self.lp_s = max(self.lp_s, time.perf_counter() - t0)
        status = h.getModelStatus()
        if status == _MS.kOptimal:
            return float(h.getInfo().objective_function_value)
        return None if status in (_MS.kTimeLimit, _MS.kInterrupt) else math.inf

    def _dive(self, lo: np.ndarray, hi: np.ndarray, basis: highspy.HighsBasis, stop_s: float, clock: _Clock,
              guided: bool = False) -> None:
        """Primal heuristic: from a node, fix x one at a time (the fractional x closest to 0 or 1, rounded; or,
        ``guided``, the fractional x closest to the incumbent's value, fixed to it), re-solving warm, until the LP
        is integral -- a plan priced exactly by that LP, kept when cheaper than the incumbent -- or infeasible, or
        no better than the incumbent (then nothing is kept)."""
        d = self.d
        lo, hi = lo.copy(), hi.copy()
        self.highs.setBasis(basis)
        while True:
            left = min(stop_s - clock.elapsed(), clock.left())
            if left <= 0.0:
                return
            value = self._solve(lo, hi, None, left)
            if value is None or value >= self.ub:
                return
            if not math.isfinite(value):
                return
            values = np.asarray(self.highs.getSolution().col_value)
            x = values[self.cols]
            frac = np.flatnonzero((x > _INT_TOL) & (x < 1.0 - _INT_TOL))
            if not len(frac):
                on_t = (x > 0.5) | d.must_on
                self.on, self.ub, self.improved = on_t, value, True
                _remember(d, self.t, on_t, _period_from_values(d, self.t, self.m, values, on_t))
                self.dives_found += 1
                return
            if guided:  # towards the incumbent: the fractional x closest to its value there, fixed to it
                i = int(frac[np.argmin(np.abs(x[frac] - self.on[frac]))])
                up = bool(self.on[i])
            else:
                i = int(frac[np.argmin(np.minimum(x[frac], 1.0 - x[frac]))])
                up = bool(x[i] >= 0.5)
            if up:
                lo[i] = 1.0
            else:
                hi[i] = 0.0

    def run(self, stop_s: float, clock: _Clock, gap: float) -> bool:
        """Explore until ``clock`` reaches ``stop_s`` seconds or the gap is at most ``gap``. True when finished
        (the bound is the incumbent's value within ``gap``, or the tree is empty)."""
        self.t_run = time.perf_counter()
        try:
            return self._explore(stop_s, clock, gap)
        finally:
            self.tree_s += time.perf_counter() - self.t_run
            self.t_run = None

    def _explore(self, stop_s: float, clock: _Clock, gap: float) -> bool:
        d = self.d
        while self.heap:
            if self.ub - self.bound() <= gap * abs(self.ub):
                return True
            left = min(stop_s - clock.elapsed(), clock.left())
            if left <= 0.0:
                return False
            node = heapq.heappop(self.heap)
            value, _, lo, hi, x, basis = node
            if value >= self.ub:
                self.heap.clear()
                return True
            frac = np.flatnonzero((x > _INT_TOL) & (x < 1.0 - _INT_TOL))
            if not len(frac):  # only the root can be integral here (children are checked when solved)
                if value < self.ub:
                    self.on, self.ub, self.improved = (x > 0.5) | d.must_on, value, True
                continue
            if self.nodes and self.dive_s <= _DIVE_SHARE * (self.tree_s + time.perf_counter() - self.t_run):
                t_dive = time.perf_counter()
                self._dive(lo, hi, basis, stop_s, clock, guided=self.dives % 2 == 1)
                self.dives += 1
                self.dive_s += time.perf_counter() - t_dive
            i = int(frac[np.argmin(np.abs(x[frac] - 0.5))])
            children = []
            for fix in (1.0, 0.0) if x[i] >= 0.5 else (0.0, 1.0):
                c_lo, c_hi = lo.copy(), hi.copy()
                c_lo[i] = c_hi[i] = fix
                c_val = self._solve(c_lo, c_hi, basis, min(stop_s - clock.elapsed(), clock.left()))
                if c_val is None:  # out of time: the node goes back unexplored (its children are redone later)
                    heapq.heappush(self.heap, node)
                    return False
                if c_val >= self.ub:
                    continue
                values = np.asarray(self.highs.getSolution().col_value)
                c_x = values[self.cols]
                if ((c_x > _INT_TOL) & (c_x < 1.0 - _INT_TOL)).any():
                    children.append((c_val, c_lo, c_hi, c_x, self.highs.getBasis()))
                else:  # an integral node: a plan, priced exactly by its LP
                    on_t = (c_x > 0.5) | d.must_on
                    self.on, self.ub, self.improved = on_t, c_val, True
                    _remember(d, self.t, on_t, _period_from_values(d, self.t, self.m, values, on_t))
            self.nodes += 1
            for child in children:
                self.count += 1
                heapq.heappush(self.heap, (child[0], self.count) + child[1:])
        return True


# --------------------------------------------------------------------------------------------- repair
def _repair(d: _model.Data, on: np.ndarray, cells: list[int] | None = None) -> np.ndarray:
    """Smallest-change dwell repair by switching cells on: fill sleep runs shorter than the minimum off time
    and extend active runs shorter than the minimum on time, until both hold (terminates: only adds 'on')."""
    on = on.astype(bool).copy()
    on[d.must_on] = True
    n_i, n_t = on.shape
    for i in range(n_i) if cells is None else cells:
        for _ in range(2 * n_t + 2):
            changed = False
            for t in range(n_t):
                p = d.prev(t)
                prev = (None if d.initial_on is None else bool(d.initial_on[i])) if p is None else bool(on[i, p])
                if prev is None or prev == on[i, t]:
                    continue
                need = d.min_on if on[i, t] else d.min_off
                for k in range(1, min(need, n_t)):
                    tt = t + k
                    if tt >= n_t:
                        if not d.cyclic:
                            break
                        tt -= n_t
                    if on[i, tt] != on[i, t]:
                        # short active run: extend it; short sleep run: wake the cell from its first period
                        on[i, tt if on[i, t] else t] = True
                        changed = True
                        break
            if not changed:
                break
    return on


def _dwell_ok(d: _model.Data, on: np.ndarray, cells: list[int] | None = None) -> bool:
    return bool((_repair(d, on, cells) == on.astype(bool)).all())


def _cell_switches(d: _model.Data, row: np.ndarray, i: int) -> int:
    n = 0
    for t in range(len(row)):
        p = d.prev(t)
        if p is not None:
            n += int(row[t] != row[p])
        elif d.initial_on is not None:
            n += int(row[t] != bool(d.initial_on[i]))
    return n


def _runs(d: _model.Data, row: np.ndarray) -> list[list[int]]:
    """Maximal runs of equal state of one cell's row, as period lists (a cyclic horizon joins the ends)."""
    n_t = len(row)
    starts = [t for t in range(n_t) if t == 0 or row[t] != row[t - 1]]
    if d.cyclic and len(starts) > 1 and row[0] == row[-1]:
        starts = starts[1:]
    runs = []
    for k, s0 in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else (starts[0] + n_t if d.cyclic else n_t)
        runs.append([t % n_t for t in range(s0, end)])
    return runs


def _day_search(d: _model.Data, on: np.ndarray, clock: _Clock, stop_s: float, max_flip: int = 4) -> tuple[
        np.ndarray, int]:
    """Local search on a dwell-feasible horizon plan with exact pricing: for one cell at a time (least loaded
    first), flip a whole run (of at most ``max_flip`` periods), the first/last period of a run or a window of the
    longer dwell time inside a longer run, keep the plan dwell-feasible, price
    the touched periods with their warm assignment LPs (:class:`_HourLP`) and keep every move that lowers
    traffic + sleep + switching cost. Stops when a sweep over all cells finds nothing or ``clock`` reaches
    ``stop_s`` seconds. Returns the plan and the number of moves kept."""
    on = on.astype(bool).copy()
    hours: dict[int, _HourLP] = {}

    def hour_price(t: int, on_t: np.ndarray) -> _PeriodPrice | None:
        if t not in hours:
            hours[t] = _HourLP(d, t)
        return hours[t].price(on_t, clock)

    def cell_cost(i: int, row: np.ndarray) -> float:
        m = on.copy()
        m[i] = row
        return _sleep_levels(d, m, [i])[1] + d.switch_cost_wh * _cell_switches(d, row, i)

    width = max(d.min_on, d.min_off)  # a window flipped inside a long run: the shortest dwell-feasible one
    load = np.zeros(d.n_i)
    for t in range(d.n_t):
        cached = d.price_cache.get((t, on[:, t].tobytes()))
        if cached is not None and cached.feasible:
            load += cached.utilisation
    moves = 0
    improved = True
    while improved and clock.elapsed() < stop_s:
        improved = False
        for i in [int(i) for i in np.argsort(load, kind="stable")]:  # least loaded cells first
            if d.must_on[i] or clock.elapsed() >= stop_s:
                continue
            tried: set[tuple[int, ...]] = set()
            while clock.elapsed() < stop_s:
                runs = _runs(d, on[i])
                flips = [r for r in runs if len(r) <= max_flip] + [[r[0]] for r in runs if len(r) > 1] + \
                        [[r[-1]] for r in runs if len(r) > 1] + \
                        [r[k:k + width] for r in runs if len(r) > max_flip for k in range(1, len(r) - width)]
                flips = [f for f in flips if tuple(sorted(f)) not in tried]
                if not flips:
                    break
                flip = flips[0]
                tried.add(tuple(sorted(flip)))
                row = on[i].copy()
                row[flip] = ~row[flip]
                m = on.copy()
                m[i] = row
                if not _dwell_ok(d, m, [i]):
                    continue
                delta = cell_cost(i, row) - cell_cost(i, on[i])
                ok = True
                for t in flip:
                    old, new = hour_price(t, on[:, t]), hour_price(t, m[:, t])
                    if old is None or new is None or not new.feasible:
                        ok = False
                        break
                    delta += new.energy_wh + new.penalty_wh - old.energy_wh - old.penalty_wh
                if ok and delta < -1e-9 * max(1.0, abs(delta)):
                    on[i] = row
                    moves += 1
                    improved = True
                    tried.clear()
    return on, moves


# --------------------------------------------------------------------------------------------- main
def solve_rru_sleep(problem: RruSleepProblem, *, time_limit_s: float = 60.0, backend: str | None = None,
                    warm_start: RruSleepSolution | dict | None = None) -> RruSleepSolution:
    """Solve ``problem``; see the module docstring for the method. ``warm_start``: a previous solution (or a
    dict with ``"on"``, an (I, T) 0/1 array) used as the first incumbent."""
    backend = backend or "highs"
    if backend not in BACKENDS:
        raise ProblemDataError("backend", f"expected one of {BACKENDS}, found {backend!r}")
    clock = _Clock(time_limit_s)
    d = _model.Data.from_problem(problem)
    gap = problem.mip_rel_gap
    hint_on = _warm_on(warm_start, d)

    if backend in ("pyomo", "highs-monolithic"):
        all_on = np.ones((d.n_i, d.n_t))
        ref = _price(d, all_on, clock, gap)
        if not ref.feasible:
            return _infeasible(problem, d, clock, backend)
        if backend == "pyomo":
            from solvers.rru_sleep.pyomo_backend import solve_pyomo

            on, obj, bound, hit = solve_pyomo(problem, clock.left(), hint_on)
            return _finish(problem, d, clock, backend, "exact MILP (Pyomo model)", on, bound, hit, ref, obj)
        m = _model.build(d, np.arange(d.n_t), coupled=True)
        hint = None if hint_on is None else (m.x.ravel(), hint_on.astype(float).ravel())
        r = _run(m.highs, clock.left(), gap, hint)
        on = None if r.values is None else np.round(r.values[m.x]).astype(bool)
        if on is not None:
            for t in range(d.n_t):
                _remember(d, t, on[:, t], _period_from_values(d, t, m, r.values, on[:, t]))
        return _finish(problem, d, clock, backend, "monolithic MILP", on, r.bound, r.hit_limit, ref, r.objective)

    # per period, busiest first: all-on reference LP, LP dive + greedy + local search start, branch and bound;
    # then further passes on the periods with the largest open gap while time remains
    coupled = problem.has_coupling() and d.n_t > 1
    small = int((d.demand[d.pair_j, :] > 0).sum()) <= _SMALL_COUPLED_PAIRS
    on = np.ones((d.n_i, d.n_t), dtype=bool)
    bounds = np.full(d.n_t, -np.inf)
    upper = np.full(d.n_t, np.inf)
    ref_periods: list[_PeriodPrice | None] = [None] * d.n_t
    trees: dict[int, _Tree] = {}
    hit = False
    period_gap = gap * (0.5 if coupled else 1.0)
    reserve = (_COUPLED_RESERVE if coupled else 0.0) * time_limit_s  # repair and fix-and-optimise windows
    order = [int(t) for t in np.argsort(-d.demand.sum(axis=0), kind="stable")]
    # every period's all-on reference first: the feasibility test, and a fallback plan for every period (the
    # first period's is solved by _lp_start, which warm-starts its LP relaxation from it)
    for t in order[1:]:
        ref_periods[t] = _reference_lp(d, t, clock)
        if ref_periods[t] is None:
            return _out_of_time(problem, d, clock, backend, ref_periods)
        if not ref_periods[t].feasible:
            return _infeasible(problem, d, clock, backend)
    for k, t in enumerate(order):
        share = max(0.0, clock.left() - reserve) / (d.n_t - k)
        if k > 0 and clock.left() <= 1e-3:  # out of time: this period stays all on (priced by its reference), no bound
            hit = True
            upper[t] = ref_periods[t].energy_wh + ref_periods[t].penalty_wh
            continue
        t_start = clock.elapsed()
        start = None if hint_on is None else hint_on[:, t]
        start_share = _START_SHARE if d.n_t > 1 else _START_SHARE_SINGLE
        ref_t, hint_x, hint_obj, lp_bound, root = _lp_start(d, t, start, start_share * share, clock,
                                                            _START_HARD_SHARE * share)
        if ref_t is None:
            return _out_of_time(problem, d, clock, backend, ref_periods)
        if not ref_t.feasible:
            return _infeasible(problem, d, clock, backend)
        ref_periods[t] = ref_t
        on[:, t], upper[t], bounds[t] = hint_x, hint_obj, lp_bound
        if root is None:  # the relaxation did not finish: no bound beyond it, the start plan stays
            hit = True
            continue
        # branch and bound from the relaxation, the start plan as the incumbent
        trees[t] = _Tree(d, t, root, hint_x, hint_obj)
        hit |= not trees[t].run(t_start + share, clock, period_gap)
        on[:, t], upper[t] = trees[t].on, trees[t].ub
        bounds[t] = max(lp_bound, trees[t].bound())
    ref = _Priced(True, sum(p.energy_wh for p in ref_periods), sum(p.penalty_wh for p in ref_periods), 0.0, 0,
                  np.full((d.n_i, d.n_t), -1, dtype=np.int64), np.stack([p.utilisation for p in ref_periods], 1),
                  np.stack([p.serving for p in ref_periods], 1), np.array([p.unserved_mbps for p in ref_periods]))
    passes = 1
    while clock.left() - reserve > max(0.3, 0.02 * time_limit_s):
        open_gap = np.where(np.isfinite(upper) & np.isfinite(bounds), upper - bounds, np.inf)
        todo = [int(t) for t in np.argsort(-open_gap, kind="stable")
                if open_gap[t] > period_gap * max(abs(upper[t]), 1e-9) and int(t) in trees]
        if not todo:
            break
        passes += 1
        todo = todo[: max(1, len(todo) // 2)]
        for k, t in enumerate(todo):
            share = max(0.0, clock.left() - reserve) / (len(todo) - k)
            if share < _MIN_NODES * trees[t].lp_s:
                break
            trees[t].run(clock.elapsed() + share, clock, period_gap)
            on[:, t], upper[t] = trees[t].on, trees[t].ub
            bounds[t] = max(bounds[t], trees[t].bound())
    hit |= clock.hit or bool(np.any(upper - bounds > period_gap * np.abs(upper)))
    lower = float(bounds.sum()) if np.isfinite(bounds).all() else None
    # the sum of per-period bounds is valid for the coupled problem: coupling only adds costs and constraints
    method = f"per-period LP branch and bound ({passes} pass{'es' if passes > 1 else ''})"
    if not coupled:
        return _finish(problem, d, clock, backend, method + ", exact: no coupling", on, lower, hit, ref)

    # 3. dwell repair, fix-and-optimise windows, and (small instances) the coupled MILP warm-started
    best_on = _repair(d, on)
    best = _price(d, best_on, clock, gap, allow_subset=True)  # repair only wakes cells: reuse assignments
    stages = f"per-period plans {upper.sum():.6g} Wh, bound {bounds.sum():.6g}; repaired {best.objective:.6g}"
    if hint_on is not None and _dwell_ok(d, hint_on):
        cand = _price(d, hint_on, clock, gap)
        if cand.feasible and cand.objective < best.objective:
            best_on, best = hint_on.astype(bool), cand
    final_reserve = 0.5 * reserve if small else 0.0
    search_stop = clock.elapsed() + _SEARCH_SHARE * (clock.left() - final_reserve)
    search_on, n_moves = _day_search(d, best_on, clock, search_stop)
    if n_moves:
        cand = _price(d, search_on, clock, gap)
        if cand.feasible and cand.objective < best.objective:
            best_on, best = search_on, cand
    stages += f"; {n_moves} local-search moves -> {best.objective:.6g}"
    method += f" + dwell repair + exact per-cell local search ({n_moves} moves)"
    window = max(3, min(6, max(d.min_on, d.min_off) + 1))
    n_windows = 0
    changed = np.flatnonzero((best_on != on).any(axis=0))  # periods the repair touched first
    starts = [int(t) for t in changed] + [t for t in range(0, d.n_t, max(1, window // 2)) if t not in changed]
    improved_any = True
    while improved_any and clock.left() > final_reserve + 0.5:
        improved_any = False
        for s0 in starts:
            budget = clock.left() - final_reserve
            if budget <= 0.5:
                hit = True
                break
            first = max(0, s0 - window // 2) if not d.cyclic else s0 - window // 2
            periods = sorted({(first + k) % d.n_t for k in range(window)} if d.cyclic
                             else {p for p in range(first, first + window) if p < d.n_t})
            lb = best_on.astype(float).copy()
            ub = best_on.astype(float).copy()
            lb[:, periods] = 0.0
            ub[:, periods] = 1.0
            m = _model.build(d, periods, coupled=True, x_lb=lb, x_ub=ub)
            r = _run(m.highs, min(budget, max(1.0, 0.1 * time_limit_s)), period_gap,
                     (m.x.ravel(), best_on.astype(float).ravel()))
            n_windows += 1
            if r.values is None:
                continue
            cand_on = np.round(r.values[m.x]).astype(bool)
            if (cand_on == best_on).all() or not _dwell_ok(d, cand_on):
                continue
            for tt in periods:
                _remember(d, tt, cand_on[:, tt], _period_from_values(d, tt, m, r.values, cand_on[:, tt]))
            cand = _price(d, cand_on, clock, gap)
            if cand.feasible and cand.objective < best.objective - 1e-9 * abs(best.objective):
                best_on, best = cand_on, cand
                improved_any = True
        starts = list(range(d.n_t))
    method += f" + fix-and-optimise ({n_windows} windows of {window} periods)"
    if small and clock.left() > 0.2:
        m = _model.build(d, np.arange(d.n_t), coupled=True)
        r = _run(m.highs, clock.left(), gap, (m.x.ravel(), best_on.astype(float).ravel()))
        hit |= r.hit_limit
        method += " + coupled MILP warm-started"
        if r.bound is not None and (lower is None or r.bound > lower):
            lower = r.bound
        if r.values is not None:
            cand_on = np.round(r.values[m.x]).astype(bool)
            if _dwell_ok(d, cand_on):
                for tt in range(d.n_t):
                    _remember(d, tt, cand_on[:, tt], _period_from_values(d, tt, m, r.values, cand_on[:, tt]))
                best = _price(d, best_on, clock, gap)  # the MILP's assignment may improve the reused ones
                cand = _price(d, cand_on, clock, gap)
                if cand.feasible and cand.objective < best.objective:
                    best_on, best = cand_on, cand
    for t in range(d.n_t):  # re-optimise reused assignments while time remains (only lowers the objective)
        key = (t, best_on[:, t].tobytes())
        entry = d.price_cache.get(key)
        if entry is not None and not entry.exact and clock.left() > 1.5 * d.lp_s:
            del d.price_cache[key]
            exact = _price_period(d, t, best_on[:, t], clock, gap)
            if exact.energy_wh + exact.penalty_wh > entry.energy_wh + entry.penalty_wh:
                d.price_cache[key] = entry
    best = _price(d, best_on, clock, gap)
    all_on = _price(d, np.ones((d.n_i, d.n_t)), clock, gap)  # cached: the all-on reference LPs
    if all_on.feasible and _dwell_ok(d, np.ones((d.n_i, d.n_t))) and best.objective > all_on.objective:
        best_on, best = np.ones((d.n_i, d.n_t), dtype=bool), all_on  # never worse than all cells on
        method += " (fell back to all cells on)"
    return _finish(problem, d, clock, backend, method, best_on, lower, hit, ref, priced=best, note=stages)


def _warm_on(warm_start: RruSleepSolution | dict | None, d: _model.Data) -> np.ndarray | None:
    if warm_start is None:
        return None
    on = warm_start.on if isinstance(warm_start, RruSleepSolution) else warm_start.get("on")
    if on is None:
        return None
    arr = np.asarray(on)
    if arr.shape != (d.n_i, d.n_t):
        raise ProblemDataError("warm_start.on", f"expected shape {(d.n_i, d.n_t)}, found {arr.shape}")
    return arr.astype(bool)


def _finish(problem: RruSleepProblem, d: _model.Data, clock: _Clock, backend: str, method: str,
            on: np.ndarray | None, bound: float | None, hit: bool, ref: _Priced,
            objective_hint: float | None = None, priced: _Priced | None = None, note: str = "") -> RruSleepSolution:
    if on is None:
        return RruSleepSolution(status=SolveStatus.TIME_LIMIT if hit else SolveStatus.ERROR,
                                best_bound=bound, wall_time_s=clock.elapsed(), backend=backend, method=method,
                                time_limit_reached=hit, energy_all_on_wh=ref.energy_wh,
                                message="no feasible plan found" + (" within the time limit" if hit else ""))
    on = on.astype(bool)
    if priced is None:
        priced = _price(d, on, clock, problem.mip_rel_gap)
    if not priced.feasible:
        return RruSleepSolution(status=SolveStatus.ERROR, wall_time_s=clock.elapsed(), backend=backend,
                                method=method, message="the solver's plan failed re-pricing (numerical issue)")
    obj = priced.objective
    if bound is not None:
        bound = min(bound, obj)  # numerical noise: a bound never exceeds a feasible objective
    gap = relative_gap(obj, bound)
    optimal = gap is not None and gap <= problem.mip_rel_gap + 1e-9
    status = SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE
    saving = 1.0 - priced.energy_wh / ref.energy_wh if ref.energy_wh > 0 else 0.0
    return RruSleepSolution(
        status=status, objective=obj, best_bound=bound, gap=gap, wall_time_s=clock.elapsed(), backend=backend,
        method=method, time_limit_reached=bool(hit and not optimal), on=on, sleep_level=priced.levels,
        utilisation=priced.utilisation, serving_cell=priced.serving[d.point_group], unserved_mbps=priced.unserved_mbps,
        energy_wh=priced.energy_wh, energy_all_on_wh=ref.energy_wh, energy_saving_fraction=saving,
        switch_count=priced.switches, switching_cost_wh=priced.switch_wh,
        message=note if objective_hint is None else f"backend objective {objective_hint:.6g}",
    )


def _out_of_time(problem: RruSleepProblem, d: _model.Data, clock: _Clock, backend: str,
                 ref_periods: list[_PeriodPrice | None]) -> RruSleepSolution:
    """The time limit ran out before every period's all-on reference LP finished: no plan is known to be
    feasible for every period (and the problem's feasibility is unknown), so no plan is reported."""
    done = [t for t, r in enumerate(ref_periods) if r is not None]
    return RruSleepSolution(
        status=SolveStatus.TIME_LIMIT, wall_time_s=clock.elapsed(), backend=backend,
        method="per-period LP branch and bound (stopped in the first pass)", time_limit_reached=True,
        message=f"time limit {clock.limit_s:g} s reached after {len(done)} of {d.n_t} periods' reference LPs: "
                f"no plan covering every period yet")


def _infeasible(problem: RruSleepProblem, d: _model.Data, clock: _Clock, backend: str) -> RruSleepSolution:
    """Name the blocking families: re-solve the all-on LP of each infeasible period with families relaxed."""
    ones = np.ones((d.n_i, d.n_t))
    bad: list[int] = []
    for t in range(d.n_t):
        m = _model.build(d, [t], coupled=False, integer=False, x_lb=ones, x_ub=ones)
        if _run(m.highs, INF, 1e-4, mip=False).status != _MS.kOptimal:
            bad.append(t)

    def feasible_without(name: str) -> bool:
        relax = frozenset(name.split("+"))
        for t in bad:
            m = _model.build(d, [t], coupled=False, integer=False, x_lb=ones, x_ub=ones, relax=relax)
            if _run(m.highs, INF, 1e-4, mip=False).status != _MS.kOptimal:
                return False
        return True

    blocking = diagnose_infeasibility(_LP_FAMILIES, feasible_without)
    shown = ", ".join(str(t) for t in bad[:10]) + (" ..." if len(bad) > 10 else "")
    return RruSleepSolution(
        status=SolveStatus.INFEASIBLE, wall_time_s=clock.elapsed(), backend=backend,
        method="all-on LP per period + relaxation of each constraint family",
        blocking_constraints=blocking,
        message=f"even with every cell on, periods [{shown}] are infeasible; relaxing {blocking or 'no family'} "
                f"restores feasibility",
    )
