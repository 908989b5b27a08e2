"""The sleep-plan MILP of REFERENCES.md 6.1 written in Pyomo and solved by HiGHS (``appsi_highs``, highspy).

A second, independent statement of the same formulation as ``solvers.rru_sleep._model`` (which builds CSR rows
for highspy directly and is much faster to build): the tests check that both give the same optimum. Meant for
small instances; model building in Pyomo dominates beyond a few thousand variables.
"""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.appsi.solvers import Highs

from solvers.rru_sleep.problem import RruSleepProblem


def build_pyomo(p: RruSleepProblem) -> pyo.ConcreteModel:
    """The coupled MILP as a Pyomo model (variables x, w, y, z, u, v, q; objective in Wh)."""
    n_i, n_t, n_k = p.n_cells, p.n_periods, p.n_sleep_levels
    dt = p.period_h
    cand = p.candidates()
    covers = p.covers()
    dem = p.demand_mbps
    sleep_w = p.sleep_power_w()
    entry = p.sleep_entry_wh()
    pairs = [(i, j, t) for t in range(n_t) for i, j in zip(*np.nonzero(cand), strict=True) if dem[j, t] > 0]
    points = [(j, t) for t in range(n_t) for j in range(p.n_points) if dem[j, t] > 0]
    lost_ok = p.max_unserved_fraction is None or p.max_unserved_fraction > 0

    def prev(t: int) -> int | None:
        if t > 0:
            return t - 1
        return n_t - 1 if p.cyclic and n_t > 1 else None

    has_hist = [prev(t) is not None or p.initial_on is not None for t in range(n_t)]

    m = pyo.ConcreteModel()
    m.I, m.T, m.K = pyo.RangeSet(0, n_i - 1), pyo.RangeSet(0, n_t - 1), pyo.RangeSet(0, n_k - 1)
    m.x = pyo.Var(m.I, m.T, domain=pyo.Binary)
    m.w = pyo.Var(m.I, m.T, m.K, domain=pyo.Binary)
    m.y = pyo.Var(pairs, bounds=(0, 1))
    m.z = pyo.Var(points, bounds=(0, 1 if lost_ok else 0))
    m.u = pyo.Var(m.I, m.T, bounds=(0, 1))
    m.v = pyo.Var(m.I, m.T, bounds=(0, 1))
    m.q = pyo.Var(m.I, m.T, m.K, bounds=(0, 1))

    def rho(i: int, t: int) -> pyo.Expression:
        return sum(dem[j, t] / (p.spectral_efficiency_bps_hz[i, j] * p.bandwidth_mhz[i]) * m.y[i, j, t]
                   for (ii, j, tt) in pairs if ii == i and tt == t)

    load = {(i, t): rho(i, t) for i in range(n_i) for t in range(n_t)}
    energy = sum(dt * p.n_trx[i] * (p.p0_w[i] * m.x[i, t] + p.delta_p[i] * p.p_max_w[i] * load[i, t])
                 + sum(dt * sleep_w[i, k] * m.w[i, t, k] for k in range(n_k))
                 for i in range(n_i) for t in range(n_t))
    switching = sum(p.switch_cost_wh * (m.u[i, t] + m.v[i, t]) for i in range(n_i) for t in range(n_t)
                    if has_hist[t])
    entries = sum(entry[i, k] * m.q[i, t, k] for i in range(n_i) for t in range(n_t) for k in range(n_k))
    penalty = sum(dt * p.unserved_penalty_wh_per_mbit * dem[j, t] * m.z[j, t] for (j, t) in points)
    m.obj = pyo.Objective(expr=energy + switching + entries + penalty, sense=pyo.minimize)

    m.c = pyo.ConstraintList()
    for (j, t) in points:
        m.c.add(sum(m.y[i, jj, tt] for (i, jj, tt) in pairs if jj == j and tt == t) + m.z[j, t] == 1)
        m.c.add(sum(m.x[i, t] for i in range(n_i) if covers[i, j]) >= 1)
    for (i, j, t) in pairs:
        m.c.add(m.y[i, j, t] <= m.x[i, t])
    for i in range(n_i):
        for t in range(n_t):
            m.c.add(load[i, t] <= p.rho_max * m.x[i, t])
            m.c.add(m.x[i, t] + sum(m.w[i, t, k] for k in range(n_k)) == 1)
            pt = prev(t)
            if pt is not None:
                m.c.add(m.x[i, t] - m.x[i, pt] == m.u[i, t] - m.v[i, t])
                for k in range(n_k):
                    m.c.add(m.q[i, t, k] >= m.w[i, t, k] - m.w[i, pt, k])
            elif p.initial_on is not None:
                m.c.add(m.x[i, t] - float(p.initial_on[i]) == m.u[i, t] - m.v[i, t])
                for k in range(n_k):
                    m.c.add(m.q[i, t, k] >= m.w[i, t, k] - (0.0 if p.initial_on[i] else m.w[i, t, k]))
            else:
                m.c.add(m.u[i, t] + m.v[i, t] == 0)
                for k in range(n_k):
                    m.c.add(m.q[i, t, k] == 0)
            for dwell, sw, on_side in ((p.min_on_periods, m.u, True), (p.min_off_periods, m.v, False)):
                if dwell <= 1:
                    continue
                taus = [(t - k) % n_t if p.cyclic else t - k for k in range(min(dwell, n_t))]
                taus = [tau for tau in taus if tau >= 0 and has_hist[tau]]
                if taus:
                    lhs = sum(sw[i, tau] for tau in taus)
                    m.c.add(lhs <= (m.x[i, t] if on_side else 1 - m.x[i, t]))
    for i in p.must_stay_on:
        for t in range(n_t):
            m.x[i, t].fix(1)
    if p.max_unserved_fraction is not None and lost_ok:
        for t in range(n_t):
            pts = [(j, tt) for (j, tt) in points if tt == t]
            if pts:
                m.c.add(sum(dem[j, t] * m.z[j, t] for (j, _) in pts) <= p.max_unserved_fraction * dem[:, t].sum())
    return m


def solve_pyomo(p: RruSleepProblem, time_limit_s: float,
                hint_on: np.ndarray | None) -> tuple[np.ndarray | None, float | None, float | None, bool]:
    """Solve with Pyomo + HiGHS: (on (I, T) or None, objective, best bound, time limit reached)."""
    m = build_pyomo(p)
    solver = Highs()
    solver.config.time_limit = max(1e-3, float(time_limit_s))
    solver.config.mip_gap = p.mip_rel_gap
    solver.config.load_solution = False
    solver.highs_options = {"threads": 2}
    if hint_on is not None:
        for (i, t), val in np.ndenumerate(hint_on):
            m.x[i, t].set_value(float(val))
        solver.config.warmstart = True
    res = solver.solve(m)
    hit = res.termination_condition == res.termination_condition.maxTimeLimit
    if res.best_feasible_objective is None:
        return None, None, _finite(res.best_objective_bound), hit
    res.solution_loader.load_vars()
    on = np.array([[round(pyo.value(m.x[i, t])) for t in range(p.n_periods)] for i in range(p.n_cells)], bool)
    return on, float(res.best_feasible_objective), _finite(res.best_objective_bound), hit


def _finite(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None
