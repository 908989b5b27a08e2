"""Predicted QoS effect of a sleep plan before it is applied (the loop's predictive QoS guard).

The plan's MILP (:mod:`solvers.rru_sleep`) checks capacity on a reduced, static model; what the outcome window
will measure is the twin's own tick against the all-cells-on tick (:mod:`dientine.loop.shadow`). The guard
therefore runs the twin's tick itself on the current users (positions, activity and demand of the last tick,
the finite demand scaled to the coming interval's forecast and the plan's safety margin) with
:class:`~dientine.loop.shadow.TickEvaluator`, from the real handover state and loads:

* **all on** -- every cell the loop controls on (one pass from the shadow's state when it runs, else the real
  one);
* **transition tick** -- the plan's tick as the cells' masks will show it after its requests
  (:meth:`agents.basestations.BaseStations.serving_mask`, sub-tick transitions): a cell whose transition into
  sleep ends inside the tick (the catalog's milliseconds) neither serves nor radiates, one whose transition is
  longer stops serving but still radiates at its last load; a cell woken inside the tick serves and radiates
  with the share of the tick after its wake, one whose wake is longer neither serves nor radiates; the
  interference weights are the last tick's loads;
* **steady tick** -- the plan in force (a second pass, interference from the transition pass's loads).

The QoS lost by a tick is the users' shortfall minus their all-on shortfall over the all-on demand of the area
(the cells off and their neighbours), as :func:`dientine.outcomes.paired_loss` measures it afterwards; the
window's prediction is ``(L_transition + (W - 1) L_steady) / W`` for a window of ``W`` ticks. Drones are left
out of the prediction (their C2 demand is small; the measurement includes them).

The passes run at a decision, between two ticks, when the loop's worker thread is idle (the shadow's pass of a
tick starts inside the tick and is joined at its end, :mod:`dientine.loop.shadow`). When the loop uses a second
CPU (the shadow's passes overlap) they therefore use the multi-threaded user kernels
(:class:`~dientine.sim.TickRadio` ``parallel``: the candidates and links kernels split the users between the
cores; every user's values are computed as in the single-threaded kernels, so the results are the same bit for
bit); otherwise the single-threaded ones. The all-on pass and the plan's passes have their own handover copies
and work arrays. The users have not moved since the last tick, whose candidates kernel copied their pixels' top-K
rows into :attr:`PlanPredictor.rows` (:meth:`PlanPredictor.gather`, :class:`~dientine.sim.UserRows`): the passes
read those in user order instead of looking the rows up again at random pixels (the same values, the same
results).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from agents.equipment import CellState
from dientine.loop.shadow import AllOnShadow, TickEvaluator, copy_handover
from dientine.sim import Simulation, UserRows


@dataclass(frozen=True)
class Prediction:
    """Predicted QoS lost (percentage points of the area's all-on demand)."""

    window_pct: float
    transition_pct: float
    steady_pct: float
    #: per cell: QoS lost in its area (the cell and its neighbours) in the transition and the steady tick
    cell_transition_pct: np.ndarray
    cell_steady_pct: np.ndarray


class PlanPredictor:
    """Runs the passes of the module docstring; :attr:`time_s` and :attr:`passes` count the work."""

    def __init__(self, sim: Simulation, shadow: AllOnShadow, neighbours: np.ndarray):
        self.sim = sim
        self.shadow = shadow
        self.neighbours = neighbours.astype(np.float64)
        self._nb = neighbours
        #: the user kernels of the passes: multi-threaded when the loop uses a second CPU (the shadow's passes
        #: overlap, :meth:`AllOnShadow.overlap_possible`; module docstring), else the twin's choice
        self.parallel = True if shadow.overlap_possible() else None
        self.ev_all = TickEvaluator(sim, parallel=self.parallel)
        self.ev_plan = TickEvaluator(sim, parallel=self.parallel)
        #: the users' top-K rows, gathered by the tick before a decision (:meth:`gather`)
        self.rows = UserRows(sim.twin.users.n, sim.twin.topk_cell.shape[1])
        self.time_s = 0.0
        self.passes = 0
        self._short_all: np.ndarray | None = None
        self._serv_all: np.ndarray | None = None
        self._dem: np.ndarray | None = None
        self._ok: np.ndarray | None = None
        self._rows = None

    def gather(self, on: bool) -> None:
        """Whether the coming tick's candidates kernel copies the users' top-K rows into :attr:`rows` (call before
        each tick: on for the tick before a decision that may predict). Every pass of the decision then reads them
        in user order instead of at random pixels (the users do not move between the tick and the decision)."""
        self.sim.radio.gather = self.rows if on else None

    def _demand(self, scale: float) -> tuple[np.ndarray, np.ndarray]:
        u = self.sim.twin.users
        n = u.n
        d = u.demand_mbps[:n]
        ok = u.active[:n] & ~u.full_buffer[:n] & (d > 0) & np.isfinite(d)
        return np.where(ok, d * scale, 0.0), ok

    def reference(self, scale: float, plan: np.ndarray) -> None:
        """The all-on pass (call once per decision, before :meth:`predict`). Only the users of the zone a plan
        within ``plan`` can touch are evaluated (served, now or with every cell on, by a cell of ``plan`` or a
        neighbour of one -- the cells that take the sleeping cells' users -- or a neighbour of those, where a
        user pushed past the first ring lands); the other users keep their radio and their cells' loads are the
        last tick's (they enter only as interference)."""
        t0 = time.perf_counter()
        sim = self.sim
        bs = sim.twin.bs
        sh = self.shadow
        u = sim.twin.users
        failed = bs.state == int(CellState.FAILED)
        ctrl = sh.controlled if sh.running else np.zeros(bs.n_cells, bool)
        can = (bs.serving_mask() | ctrl) & ~failed
        rad = (bs.interfering_mask() | ctrl) & ~failed
        asleep_now = ~bs.serving_mask() & ~bs.interfering_mask() & ~failed
        zone = self._nb[self._nb[plan | asleep_now].any(axis=0)].any(axis=0)
        self._zone = zone
        real_srv = u.ho.serving_cell
        ho = copy_handover(sh.ho if sh.running else u.ho)
        all_srv = ho.serving_cell
        self._active = u.active & ((zone[np.maximum(real_srv, 0)] & (real_srv >= 0))
                                   | (zone[np.maximum(all_srv, 0)] & (all_srv >= 0)) | (real_srv < 0))
        last = sim.kpi.latest_cell()
        self._load0 = np.asarray(last["load"], np.float64)
        load = sh.load if sh.running else self._load0
        self._dem, self._ok = self._demand(scale)
        self._ok &= self._active
        self._dem = np.where(self._ok, self._dem, 0.0)
        # the users' top-K rows at their current positions, when the last tick gathered them (:meth:`gather`)
        rows = self.rows if sim.tick > 0 and self.rows.fresh((sim.tick - 1) * sim.tick_s) else None
        self._rows = rows
        self.ev_all.evaluate(ho, can, rad, load, sim.time_s, demand_scale=scale, drones=False, active=self._active,
                             rows=rows)
        self._short_all = np.maximum(self._dem - self.ev_all.rate_mbps, 0.0)
        self._serv_all = ho.serving_cell.astype(np.int64)
        self.passes += 1
        self.time_s += time.perf_counter() - t0

    def predict(self, sleep: np.ndarray, new: np.ndarray, scale: float, window_ticks: int) -> Prediction:
        """Predicted loss of the plan that leaves ``sleep`` cells asleep, ``new`` of them entering sleep now (the
        other cells asleep now but not in ``sleep`` are woken)."""
        if self._dem is None:
            raise RuntimeError("PlanPredictor.predict: call reference() first")
        t0 = time.perf_counter()
        sim = self.sim
        bs = sim.twin.bs
        failed = bs.state == int(CellState.FAILED)
        serving = bs.serving_mask()
        radiating = bs.interfering_mask()
        asleep_now = ~serving & ~radiating & ~failed
        waking = asleep_now & ~sleep
        ho = copy_handover(sim.twin.users.ho)
        load0 = self._load0
        act = self._active
        # the transition tick (module docstring): which transitions end inside it
        dt = sim.tick_s
        t_sleep = bs.transition_time_s(int(CellState.DEEP_SLEEP))
        t_wake = bs.transition_time_s(int(CellState.ON))
        gone = new & (t_sleep < dt)  # asleep for the tick
        woken = waking & (t_wake < dt)  # serving after its wake
        can_t = (serving & ~new & ~sleep) | woken
        rad_t = (radiating & ~gone) | woken
        avail_t = np.where(woken, (dt - t_wake) / dt, can_t.astype(np.float64))
        rows = self._rows
        load1 = self.ev_plan.evaluate(ho, can_t, rad_t, load0, sim.time_s, avail=avail_t, demand_scale=scale,
                                      drones=False, active=act, rows=rows)
        load1 = np.where(self._zone, load1, load0)
        short_t = np.maximum(self._dem - self.ev_plan.rate_mbps, 0.0)
        can_s = (serving | waking) & ~sleep & ~failed
        rad_s = (radiating | waking) & ~sleep & ~failed
        self.ev_plan.evaluate(ho, can_s, rad_s, load1, sim.time_s + sim.tick_s, demand_scale=scale, drones=False,
                              active=act, rows=rows)
        short_s = np.maximum(self._dem - self.ev_plan.rate_mbps, 0.0)
        self.passes += 2
        ok = self._ok
        srv = ok & (self._serv_all >= 0)
        s = self._serv_all[srv]
        n_cells = bs.n_cells
        dem_c = np.bincount(s, weights=self._dem[srv], minlength=n_cells)
        diff_t = np.where(ok, short_t - self._short_all, 0.0)
        diff_s = np.where(ok, short_s - self._short_all, 0.0)
        loss_t_c = np.bincount(s, weights=diff_t[srv], minlength=n_cells)
        loss_s_c = np.bincount(s, weights=diff_s[srv], minlength=n_cells)
        nb = self.neighbours
        area_dem = nb @ dem_c
        with np.errstate(invalid="ignore", divide="ignore"):
            cell_t = np.where(area_dem > 0, 100.0 * (nb @ loss_t_c) / area_dem, 0.0)
            cell_s = np.where(area_dem > 0, 100.0 * (nb @ loss_s_c) / area_dem, 0.0)
        off = sleep | waking | new
        if off.any():
            area = self._nb[off].any(axis=0)
            dem_area = float(dem_c[area].sum())
        else:
            dem_area = float(self._dem.sum())
        l_t = 100.0 * float(diff_t.sum()) / dem_area if dem_area > 0 else 0.0
        l_s = 100.0 * float(diff_s.sum()) / dem_area if dem_area > 0 else 0.0
        w = max(int(window_ticks), 1)
        self.time_s += time.perf_counter() - t0
        return Prediction((l_t + (w - 1) * l_s) / w, l_t, l_s, cell_t, cell_s)
