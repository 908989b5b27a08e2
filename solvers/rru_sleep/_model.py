"""Vectorised construction of the sleep-plan MILP (REFERENCES.md 6.1) as a HiGHS model (highspy, CSR rows).

One builder serves every use: the per-period MILPs of the decomposition, the coupled day MILP, fix-and-optimise
windows (periods outside the window keep their ``x`` fixed and carry no traffic variables), the per-period LP that
prices a fixed plan, and the relaxed re-solves of the infeasibility diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy import sparse

from solvers.rru_sleep.problem import RruSleepProblem

INF = highspy.kHighsInf


@dataclass
class Data:
    """Problem data flattened to arrays (built once per solve)."""

    n_i: int
    n_j: int
    n_t: int
    n_k: int
    dt_h: float
    pair_i: np.ndarray  # (P,) candidate server of each pair
    pair_j: np.ndarray  # (P,) demand point of each pair
    cap_coef: np.ndarray  # (P, T) utilisation of cell pair_i if it carries all of point pair_j's traffic
    demand: np.ndarray  # (J, T) Mbit/s
    covers: np.ndarray  # (I, J) bool
    on_cost_wh: np.ndarray  # (I,) energy of an active, unloaded cell per period
    load_cost_wh: np.ndarray  # (I,) energy per unit utilisation per period
    sleep_cost_wh: np.ndarray  # (I, K) energy per period in sleep level k
    entry_wh: np.ndarray  # (I, K)
    switch_cost_wh: float
    min_on: int
    min_off: int
    must_on: np.ndarray  # (I,) bool
    initial_on: np.ndarray | None
    cyclic: bool
    rho_max: float
    eps: float | None
    penalty_wh: np.ndarray  # (J, T) objective cost of losing all of point j's traffic in period t
    point_group: np.ndarray  # (J_problem,) aggregated point carrying each of the problem's demand points
    price_cache: dict = field(default_factory=dict)  # (t, active cells) -> priced period (solver.py)
    lp_s: float = 0.0  # longest cold assignment LP seen (solver.py: time-limit bookkeeping)

    @classmethod
    def from_problem(cls, p: RruSleepProblem, aggregate: bool = True) -> Data:
        """Flatten ``p``. ``aggregate``: demand points with the same candidate servers, the same covering cells
        and the same capacity per unit of traffic ``s_ij B_i`` at every candidate become one point carrying
        their summed demand -- exact because traffic is splittable (a split of the sum in proportion to the
        points' demands, and back, keeps every row and the cost; the lost-traffic penalty is per Mbit/s)."""
        cand = p.candidates()
        covers = p.covers()
        rate = np.where(cand, p.spectral_efficiency_bps_hz * p.bandwidth_mhz[:, None], 0.0)  # (I, J)
        demand = p.demand_mbps
        group = np.arange(p.n_points)
        if aggregate and p.n_points > 1:
            key = np.concatenate([cand, covers, rate], axis=0).T  # (J, 3I)
            _, first, group = np.unique(key, axis=0, return_index=True, return_inverse=True)
            group = group.ravel()
            order = np.argsort(first, kind="stable")  # keep the problem's point order among the groups
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            group = rank[group]
            demand = np.zeros((len(first), p.n_periods))
            np.add.at(demand, group, p.demand_mbps)
            keep = first[order]
            cand, covers, rate = cand[:, keep], covers[:, keep], rate[:, keep]
        pair_i, pair_j = np.nonzero(cand)
        cap_coef = demand[pair_j, :] / rate[pair_i, pair_j][:, None]
        must_on = np.zeros(p.n_cells, dtype=bool)
        must_on[list(p.must_stay_on)] = True
        return cls(
            n_i=p.n_cells, n_j=demand.shape[0], n_t=p.n_periods, n_k=p.n_sleep_levels, dt_h=p.period_h,
            pair_i=pair_i.astype(np.int64), pair_j=pair_j.astype(np.int64), cap_coef=cap_coef,
            demand=demand, covers=covers, point_group=group.astype(np.int64),
            on_cost_wh=p.period_h * p.n_trx * p.p0_w,
            load_cost_wh=p.period_h * p.n_trx * p.delta_p * p.p_max_w,
            sleep_cost_wh=p.period_h * p.sleep_power_w(), entry_wh=p.sleep_entry_wh(),
            switch_cost_wh=p.switch_cost_wh, min_on=p.min_on_periods, min_off=p.min_off_periods,
            must_on=must_on, initial_on=None if p.initial_on is None else p.initial_on.copy(),
            cyclic=p.cyclic, rho_max=p.rho_max, eps=p.max_unserved_fraction,
            penalty_wh=p.period_h * p.unserved_penalty_wh_per_mbit * demand,
        )

    def prev(self, t: int) -> int | None:
        """Index of the period before t inside the horizon, None when t = 0 and not cyclic."""
        if t > 0:
            return t - 1
        return self.n_t - 1 if self.cyclic and self.n_t > 1 else None


@dataclass
class _Builder:
    lb: list[np.ndarray] = field(default_factory=list)
    ub: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    rows_r: list[np.ndarray] = field(default_factory=list)
    rows_c: list[np.ndarray] = field(default_factory=list)
    rows_v: list[np.ndarray] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    n_col: int = 0
    n_row: int = 0

    def cols(self, n: int, lb: float | np.ndarray, ub: float | np.ndarray, cost: float | np.ndarray,
             integer: bool) -> np.ndarray:
        idx = np.arange(self.n_col, self.n_col + n)
        self.lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (n,)).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (n,)).copy())
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (n,)).copy())
        self.integer.append(np.full(n, integer))
        self.n_col += n
        return idx

    def rows(self, r_local: np.ndarray, c: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Add len(lo) rows; entries (r_local, c, v) with r_local in [0, len(lo))."""
        n = len(lo)
        if n == 0:
            return
        self.rows_r.append(np.asarray(r_local, dtype=np.int64) + self.n_row)
        self.rows_c.append(np.asarray(c, dtype=np.int64))
        self.rows_v.append(np.asarray(v, dtype=float))
        self.row_lo.append(np.asarray(lo, dtype=float))
        self.row_hi.append(np.asarray(hi, dtype=float))
        self.n_row += n

    def to_highs(self, offset: float, threads: int) -> highspy.Highs:
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_col
        lp.num_row_ = self.n_row
        lp.col_cost_ = np.concatenate(self.cost) if self.cost else np.zeros(0)
        lp.col_lower_ = np.concatenate(self.lb) if self.lb else np.zeros(0)
        lp.col_upper_ = np.concatenate(self.ub) if self.ub else np.zeros(0)
        lp.row_lower_ = np.concatenate(self.row_lo) if self.row_lo else np.zeros(0)
        lp.row_upper_ = np.concatenate(self.row_hi) if self.row_hi else np.zeros(0)
        r = np.concatenate(self.rows_r) if self.rows_r else np.zeros(0, dtype=np.int64)
        c = np.concatenate(self.rows_c) if self.rows_c else np.zeros(0, dtype=np.int64)
        v = np.concatenate(self.rows_v) if self.rows_v else np.zeros(0)
        mat = sparse.csr_matrix((v, (r, c)), shape=(self.n_row, self.n_col))
        mat.sum_duplicates()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
        lp.a_matrix_.index_ = mat.indices.astype(np.int32)
        lp.a_matrix_.value_ = mat.data
        lp.offset_ = float(offset)
        h = highspy.Highs()
        h.silent()
        h.setOptionValue("threads", int(threads))
        h.passModel(lp)
        integer = np.concatenate(self.integer) if self.integer else np.zeros(0, dtype=bool)
        idx = np.flatnonzero(integer).astype(np.int32)
        if len(idx):
            h.changeColsIntegrality(len(idx), idx, np.ones(len(idx), dtype=np.uint8))
        return h


@dataclass
class Model:
    """A built HiGHS model and where its variables live."""

    highs: highspy.Highs
    periods: np.ndarray  # periods carrying traffic variables
    x: np.ndarray  # (I, T) column of x_it
    w: np.ndarray | None  # (I, T, K) columns of the sleep levels (K > 1)
    y_cols: dict[int, np.ndarray]  # period -> (P_t,) columns, for the pairs in y_pairs[t]
    y_pairs: dict[int, np.ndarray]  # period -> (P_t,) pair indices (pairs whose point has demand)
    z_cols: dict[int, np.ndarray]  # period -> (J,) columns or empty
    n_col: int


def build(d: Data, periods: np.ndarray | list[int], *, coupled: bool, integer: bool = True,
          x_lb: np.ndarray | None = None, x_ub: np.ndarray | None = None,
          relax: frozenset[str] = frozenset(), threads: int = 2) -> Model:
    """Build the model. ``periods`` carry traffic (y, z, capacity, coverage, demand rows); when ``coupled``, x
    exists for every period of the horizon with switching, sleep-entry and dwell rows, otherwise only for
    ``periods`` (and each period is independent). ``x_lb``/``x_ub`` (I, T) fix or free x. ``relax`` names
    constraint families to drop: "capacity", "coverage", "demand" (lost traffic allowed without budget or
    penalty), "min_dwell", "must_stay_on". Objective = energy + switching + penalty of the included periods."""
    periods = np.asarray(periods, dtype=np.int64)
    b = _Builder()
    n_i, n_t, n_k = d.n_i, d.n_t, d.n_k
    x_periods = np.arange(n_t) if coupled else periods
    lb = np.zeros((n_i, n_t)) if x_lb is None else x_lb.astype(float).copy()
    ub = np.ones((n_i, n_t)) if x_ub is None else x_ub.astype(float).copy()
    if "must_stay_on" not in relax:
        lb[d.must_on, :] = 1.0
    ub = np.maximum(ub, lb)
    in_y = np.zeros(n_t, dtype=bool)
    in_y[periods] = True
    # energy of x and w only counts in periods with traffic variables (the objective of the included periods)
    x = np.full((n_i, n_t), -1, dtype=np.int64)
    offset = 0.0
    for t in x_periods:
        if n_k == 1:
            cost = (d.on_cost_wh - d.sleep_cost_wh[:, 0]) if in_y[t] else 0.0
            if in_y[t]:
                offset += float(d.sleep_cost_wh[:, 0].sum())
        else:
            cost = d.on_cost_wh if in_y[t] else 0.0
        x[:, t] = b.cols(n_i, lb[:, t], ub[:, t], cost, integer)
    w = None
    if n_k > 1:
        w = np.full((n_i, n_t, n_k), -1, dtype=np.int64)
        for t in x_periods:
            cost = d.sleep_cost_wh.ravel() if in_y[t] else 0.0
            w[:, t, :] = b.cols(n_i * n_k, 0.0, 1.0, cost, integer).reshape(n_i, n_k)
            # x + sum_k w = 1
            r = np.repeat(np.arange(n_i), n_k + 1)
            c = np.concatenate([x[:, t][:, None], w[:, t, :]], axis=1).ravel()
            b.rows(r, c, np.ones(len(c)), np.ones(n_i), np.ones(n_i))

    if coupled:
        _coupling_rows(b, d, x, w, relax)

    y_cols: dict[int, np.ndarray] = {}
    y_pairs: dict[int, np.ndarray] = {}
    z_cols: dict[int, np.ndarray] = {}
    allow_lost = "demand" in relax or d.eps is None or d.eps > 0
    for t in periods:
        t = int(t)
        dem = d.demand[:, t]
        active_pairs = np.flatnonzero(dem[d.pair_j] > 0)
        pi, pj = d.pair_i[active_pairs], d.pair_j[active_pairs]
        coef = d.cap_coef[active_pairs, t]
        # assignment: y <= f x, f = min(1, rho_max / coef) (a point larger than a cell cannot be served by it alone);
        # with x fixed in this period the rows are column bounds (a smaller, faster LP: the pricing LPs)
        f = np.ones(len(pi)) if "capacity" in relax else np.minimum(1.0, d.rho_max / np.maximum(coef, 1e-300))
        x_fixed = bool((lb[:, t] == ub[:, t]).all())
        yc = b.cols(len(active_pairs), 0.0, f * ub[pi, t] if x_fixed else 1.0, d.load_cost_wh[pi] * coef, False)
        y_cols[t], y_pairs[t] = yc, active_pairs
        pts = np.flatnonzero(dem > 0)
        if allow_lost:
            pen = 0.0 if "demand" in relax else d.penalty_wh[pts, t]
            zc = b.cols(len(pts), 0.0, 1.0, pen, False)
        else:
            zc = np.zeros(0, dtype=np.int64)
        z_cols[t] = zc
        # demand: sum_i y_ijt + z_jt = 1 for points with traffic
        row_of_point = np.full(d.n_j, -1, dtype=np.int64)
        row_of_point[pts] = np.arange(len(pts))
        r = np.concatenate([row_of_point[pj], np.arange(len(zc))])
        c = np.concatenate([yc, zc])
        b.rows(r, c, np.ones(len(c)), np.ones(len(pts)), np.ones(len(pts)))
        sel = np.arange(0 if x_fixed else len(yc))
        r = np.repeat(np.arange(len(sel)), 2)
        c = np.stack([yc[sel], x[pi[sel], t]], axis=1).ravel()
        v = np.stack([np.ones(len(sel)), -f[sel]], axis=1).ravel()
        b.rows(r, c, v, np.full(len(sel), -INF), np.zeros(len(sel)))
        if "capacity" not in relax:
            r = np.concatenate([pi, np.arange(n_i)])
            c = np.concatenate([yc, x[:, t]])
            v = np.concatenate([coef, np.full(n_i, -d.rho_max)])
            b.rows(r, c, v, np.full(n_i, -INF), np.zeros(n_i))
        if "coverage" not in relax and len(pts):
            cov_i, cov_p = np.nonzero(d.covers[:, pts])
            b.rows(cov_p, x[cov_i, t], np.ones(len(cov_i)), np.ones(len(pts)), np.full(len(pts), INF))
        if len(zc) and "demand" not in relax and d.eps is not None:
            b.rows(np.zeros(len(zc)), zc, dem[pts], np.array([-INF]), np.array([d.eps * dem.sum()]))
    h = b.to_highs(offset, threads)
    return Model(h, periods, x, w, y_cols, y_pairs, z_cols, b.n_col)


def _coupling_rows(b: _Builder, d: Data, x: np.ndarray, w: np.ndarray | None, relax: frozenset[str]) -> None:
    """Switching u/v, sleep-level entries q and minimum on/off dwell rows over the whole horizon."""
    n_i, n_t, n_k = d.n_i, d.n_t, d.n_k
    u = np.full((n_i, n_t), -1, dtype=np.int64)
    v = np.full((n_i, n_t), -1, dtype=np.int64)
    entry_single = d.entry_wh[:, 0] if n_k == 1 else np.zeros(n_i)
    for t in range(n_t):
        p = d.prev(t)
        if p is None and d.initial_on is None:
            continue  # no history: no switch counted in period 0
        u[:, t] = b.cols(n_i, 0.0, 1.0, d.switch_cost_wh, False)
        v[:, t] = b.cols(n_i, 0.0, 1.0, d.switch_cost_wh + entry_single, False)
        # x_t - x_prev - u + v = 0
        ar = np.arange(n_i)
        if p is not None:
            r = np.repeat(ar, 4)
            c = np.stack([x[:, t], x[:, p], u[:, t], v[:, t]], axis=1).ravel()
            val = np.tile([1.0, -1.0, -1.0, 1.0], n_i)
            b.rows(r, c, val, np.zeros(n_i), np.zeros(n_i))
        else:
            init = d.initial_on.astype(float)
            r = np.repeat(ar, 3)
            c = np.stack([x[:, t], u[:, t], v[:, t]], axis=1).ravel()
            val = np.tile([1.0, -1.0, 1.0], n_i)
            b.rows(r, c, val, init, init)
        if n_k > 1 and w is not None and d.entry_wh.any():
            # q_itk >= w_itk - w_prev,k  (entering level k); previous state active when initial_on is True
            q = b.cols(n_i * n_k, 0.0, 1.0, d.entry_wh.ravel(), False).reshape(n_i, n_k)
            rr = np.arange(n_i * n_k)
            if p is not None:
                r = np.repeat(rr, 3)
                c = np.stack([q.ravel(), w[:, t, :].ravel(), w[:, p, :].ravel()], axis=1).ravel()
                val = np.tile([1.0, -1.0, 1.0], n_i * n_k)
                b.rows(r, c, val, np.zeros(n_i * n_k), np.full(n_i * n_k, INF))
            else:
                # history: an initially active cell pays the entry; an initially sleeping one keeps its level
                was_on = np.repeat(d.initial_on, n_k)
                sel = np.flatnonzero(was_on)
                r = np.repeat(np.arange(len(sel)), 2)
                c = np.stack([q.ravel()[sel], w[:, t, :].ravel()[sel]], axis=1).ravel()
                val = np.tile([1.0, -1.0], len(sel))
                b.rows(r, c, val, np.zeros(len(sel)), np.full(len(sel), INF))
    if "min_dwell" in relax:
        return
    for dwell, sw, sign in ((d.min_on, u, 1.0), (d.min_off, v, -1.0)):
        if dwell <= 1:
            continue
        length = min(dwell, n_t)
        for t in range(n_t):
            taus = [(t - k) % n_t if d.cyclic else t - k for k in range(length)]
            taus = [tau for tau in taus if tau >= 0 and sw[0, tau] >= 0]
            if not taus:
                continue
            # on: sum u <= x  ->  sum u - x <= 0 ; off: sum v <= 1 - x  ->  sum v + x <= 1
            cols = np.concatenate([sw[:, taus], x[:, t][:, None]], axis=1)
            vals = np.concatenate([np.ones((n_i, len(taus))), np.full((n_i, 1), -sign)], axis=1)
            r = np.repeat(np.arange(n_i), len(taus) + 1)
            hi = np.zeros(n_i) if sign > 0 else np.ones(n_i)
            b.rows(r, cols.ravel(), vals.ravel(), np.full(n_i, -INF), hi)
