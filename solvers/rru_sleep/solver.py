"""Solve the sleep plan (REFERENCES.md 6.1) with HiGHS: decomposition, warm starts and proven bounds.

Method (backend ``"highs"``, the default):

1. *All cells on*, one LP per period (x fixed to 1): the reference energy, and the feasibility test. Switching
   more cells on never removes a feasible assignment, and the all-on plan has no switches, so the problem is
   feasible iff every period's all-on LP is (dwell rows with unknown history are not enforced before period 0).
   An infeasible period is re-solved with each constraint family relaxed (then pairs) to name the blocking ones.
2. *Per-period MILPs* ignoring the coupling: exact when there are no switching costs, sleep-entry energies or
   dwell times. Their proven bounds sum to a valid lower bound of the coupled problem, because every coupling
   term is a non-negative cost or a constraint.
3. With coupling: the per-period plans are repaired into a dwell-feasible plan (only ever switching cells on,
   which keeps every period feasible), improved by *fix-and-optimise* over sliding windows of periods (the
   rest fixed, warm-started with the incumbent), then the *coupled MILP* over the whole horizon is warm-started
   with the best plan for the remaining time; its dual bound, if larger, replaces the sum of step 2.

Backend ``"highs-monolithic"`` hands the coupled MILP to HiGHS as it stands (the benchmark's baseline);
``"pyomo"`` builds the same formulation in Pyomo and solves it with HiGHS (appsi) -- for small instances.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from solvers.base import ProblemDataError, SolveStatus, diagnose_infeasibility, relative_gap
from solvers.rru_sleep import _model
from solvers.rru_sleep.problem import RruSleepProblem, RruSleepSolution

BACKENDS = ("highs", "highs-monolithic", "pyomo")
_LP_FAMILIES = ("coverage", "capacity", "demand")
_MS = highspy.HighsModelStatus


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


def _run(h: highspy.Highs, time_limit_s: float, gap: float, hint: tuple[np.ndarray, np.ndarray] | None = None,
         mip: bool = True) -> _Run:
    h.setOptionValue("time_limit", max(1e-3, float(time_limit_s)))
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


def _sleep_levels(d: _model.Data, on: np.ndarray) -> tuple[np.ndarray, float]:
    """Best sleep level of every sleep run and the plan's sleep energy (incl. entry energies). One level per
    run is optimal because entry energies are non-negative. A run pays its entry energy iff the period before
    it (in the horizon, or ``initial_on`` for period 0) is active; with no history, period 0 pays nothing."""
    n_i, n_t = on.shape
    levels = np.full(on.shape, -1, dtype=np.int64)
    sleep_wh = 0.0
    for i in range(n_i):
        prev = [_prev_state(d, on, i, t) for t in range(n_t)]
        starts = [t for t in range(n_t) if not on[i, t] and prev[t] is not False]
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


def _price_period(d: _model.Data, t: int, on_t: np.ndarray, clock: _Clock, gap: float) -> _PeriodPrice:
    """Exact traffic cost of period t for fixed active cells: the assignment LP."""
    key = (t, on_t.astype(bool).tobytes())
    if key in d.price_cache:
        return d.price_cache[key]
    x_fix = np.zeros((d.n_i, d.n_t))
    x_fix[:, t] = on_t
    m = _model.build(d, [t], coupled=False, integer=False, x_lb=x_fix, x_ub=x_fix)
    r = _run(m.highs, max(clock.left(), 1.0), gap, mip=False)
    if r.values is None or r.status != _MS.kOptimal:
        out = _PeriodPrice(False, math.inf, 0.0, np.zeros(d.n_i), np.full(d.n_j, -1, dtype=np.int64), 0.0)
        d.price_cache[key] = out
        return out
    yv = r.values[m.y_cols[t]]
    pairs = m.y_pairs[t]
    pi, pj = d.pair_i[pairs], d.pair_j[pairs]
    util = np.bincount(pi, weights=yv * d.cap_coef[pairs, t], minlength=d.n_i)
    energy = float((d.on_cost_wh * on_t).sum() + (d.load_cost_wh * util).sum())
    zc = m.z_cols[t]
    pts = np.flatnonzero(d.demand[:, t] > 0)
    unserved = penalty = 0.0
    if len(zc):
        zv = r.values[zc]
        unserved = float((zv * d.demand[pts, t]).sum())
        penalty = float((zv * d.penalty_wh[pts, t]).sum())
    order = np.argsort(yv, kind="stable")
    best_val = np.zeros(d.n_j)
    best_val[pj[order]] = yv[order]
    serving = np.full(d.n_j, -1, dtype=np.int64)
    serving[pj[order]] = pi[order]
    serving[best_val <= 1e-9] = -1
    out = _PeriodPrice(True, energy, penalty, util, serving, unserved)
    if len(d.price_cache) < 4096:
        d.price_cache[key] = out
    return out


def _price(d: _model.Data, on: np.ndarray, clock: _Clock, gap: float) -> _Priced:
    """Exact cost of a fixed on/off plan: one assignment LP per period (cached), sleep levels by run."""
    n_i, n_t = on.shape
    on_b = on.astype(bool)
    periods = [_price_period(d, t, on_b[:, t], clock, gap) for t in range(n_t)]
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


# --------------------------------------------------------------------------------------------- repair
def _repair(d: _model.Data, on: np.ndarray) -> np.ndarray:
    """Smallest-change dwell repair by switching cells on: fill sleep runs shorter than the minimum off time
    and extend active runs shorter than the minimum on time, until both hold (terminates: only adds 'on')."""
    on = on.astype(bool).copy()
    on[d.must_on] = True
    n_i, n_t = on.shape
    for i in range(n_i):
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


def _dwell_ok(d: _model.Data, on: np.ndarray) -> bool:
    return bool((_repair(d, on) == on.astype(bool)).all())


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

    # 1. all cells on: reference energy and feasibility
    all_on = np.ones((d.n_i, d.n_t))
    ref = _price(d, all_on, clock, gap)
    if not ref.feasible:
        return _infeasible(problem, d, clock, backend)
    if backend == "pyomo":
        from solvers.rru_sleep.pyomo_backend import solve_pyomo

        on, obj, bound, hit = solve_pyomo(problem, clock.left(), hint_on)
        return _finish(problem, d, clock, backend, "exact MILP (Pyomo model)", on, bound, hit, ref, obj)
    if backend == "highs-monolithic":
        m = _model.build(d, np.arange(d.n_t), coupled=True)
        hint = None if hint_on is None else (m.x.ravel(), hint_on.astype(float).ravel())
        r = _run(m.highs, clock.left(), gap, hint)
        on = None if r.values is None else np.round(r.values[m.x]).astype(bool)
        return _finish(problem, d, clock, backend, "monolithic MILP", on, r.bound, r.hit_limit, ref, r.objective)

    # 2. per-period MILPs
    coupled = problem.has_coupling() and d.n_t > 1
    on = np.ones((d.n_i, d.n_t), dtype=bool)
    bounds = np.zeros(d.n_t)
    hit = False
    budget_share = 0.5 if coupled else 0.95
    for t in range(d.n_t):
        m = _model.build(d, [t], coupled=False)
        share = clock.left() * budget_share / (d.n_t - t)
        hint_x = hint_on[:, t] if hint_on is not None else np.ones(d.n_i)
        r = _run(m.highs, share, gap, (m.x[:, t], hint_x.astype(float)))
        hit |= r.hit_limit
        if r.values is not None:
            on[:, t] = np.round(r.values[m.x[:, t]]).astype(bool)
        bounds[t] = r.bound if r.bound is not None else -np.inf
    lower = float(bounds.sum()) if np.isfinite(bounds).all() else None
    # the constant sleep-power of idle periods is inside each period's bound; add nothing for coupling (>= 0)
    method = "per-period MILP" + (" (exact: no coupling)" if not coupled else "")
    if not coupled:
        return _finish(problem, d, clock, backend, method, on, lower, hit, ref)

    # 3. repair, fix-and-optimise, coupled MILP
    best_on = _repair(d, on)
    best = _price(d, best_on, clock, gap)
    if hint_on is not None and _dwell_ok(d, hint_on):
        cand = _price(d, hint_on, clock, gap)
        if cand.feasible and cand.objective < best.objective:
            best_on, best = hint_on.astype(bool), cand
    window = max(3, min(6, max(d.min_on, d.min_off) + 2))
    step = max(1, window // 2)
    starts = list(range(0, d.n_t, step))
    improved_any = True
    n_windows = 0
    while improved_any and clock.left() > 0.35 * time_limit_s:
        improved_any = False
        for s in starts:
            if clock.left() <= 0.35 * time_limit_s:
                hit = True
                break
            periods = [(s + k) % d.n_t if d.cyclic else s + k for k in range(window)]
            periods = sorted({p for p in periods if p < d.n_t})
            lb = best_on.astype(float).copy()
            ub = best_on.astype(float).copy()
            lb[:, periods] = 0.0
            ub[:, periods] = 1.0
            m = _model.build(d, periods, coupled=True, x_lb=lb, x_ub=ub)
            hint = (m.x.ravel(), best_on.astype(float).ravel())
            r = _run(m.highs, min(clock.left() - 0.35 * time_limit_s, 0.1 * time_limit_s), gap, hint)
            n_windows += 1
            if r.values is None:
                continue
            cand_on = np.round(r.values[m.x]).astype(bool)
            if (cand_on == best_on).all():
                continue
            cand = _price(d, cand_on, clock, gap)
            if cand.feasible and cand.objective < best.objective - 1e-9 * abs(best.objective):
                best_on, best = cand_on, cand
                improved_any = True
    method = (f"per-period MILP bounds + dwell repair + fix-and-optimise ({n_windows} windows of {window} "
              f"periods)")
    if clock.left() > 0.5:
        m = _model.build(d, np.arange(d.n_t), coupled=True)
        r = _run(m.highs, clock.left(), gap, (m.x.ravel(), best_on.astype(float).ravel()))
        hit |= r.hit_limit
        method += " + coupled MILP warm-started"
        if r.bound is not None and (lower is None or r.bound > lower):
            lower = r.bound
        if r.values is not None:
            cand_on = np.round(r.values[m.x]).astype(bool)
            if not (cand_on == best_on).all():
                cand = _price(d, cand_on, clock, gap)
                if cand.feasible and cand.objective < best.objective:
                    best_on, best = cand_on, cand
    else:
        hit = True
    return _finish(problem, d, clock, backend, method, best_on, lower, hit, ref, priced=best)


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
            objective_hint: float | None = None, priced: _Priced | None = None) -> RruSleepSolution:
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
        utilisation=priced.utilisation, serving_cell=priced.serving, unserved_mbps=priced.unserved_mbps,
        energy_wh=priced.energy_wh, energy_all_on_wh=ref.energy_wh, energy_saving_fraction=saving,
        switch_count=priced.switches, switching_cost_wh=priced.switch_wh,
        message="" if objective_hint is None else f"backend objective {objective_hint:.6g}",
    )


def _infeasible(problem: RruSleepProblem, d: _model.Data, clock: _Clock, backend: str) -> RruSleepSolution:
    """Name the blocking families: re-solve the all-on LP of each infeasible period with families relaxed."""
    ones = np.ones((d.n_i, d.n_t))
    bad: list[int] = []
    for t in range(d.n_t):
        m = _model.build(d, [t], coupled=False, integer=False, x_lb=ones, x_ub=ones)
        if _run(m.highs, max(clock.left(), 1.0), 1e-4, mip=False).status != _MS.kOptimal:
            bad.append(t)

    def feasible_without(name: str) -> bool:
        relax = frozenset(name.split("+"))
        for t in bad:
            m = _model.build(d, [t], coupled=False, integer=False, x_lb=ones, x_ub=ones, relax=relax)
            if _run(m.highs, max(clock.left(), 1.0), 1e-4, mip=False).status != _MS.kOptimal:
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
