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
out of the prediction (their C2 demand is small; the measurement includes them). The all-on pass runs in the
loop's worker thread while the plan's passes run (when the shadow's passes overlap, :mod:`dientine.loop.shadow`):
it has its own handover copy and work arrays (the shadow's evaluator), the plan's passes theirs; same results.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from agents.equipment import CellState
from dientine.loop.shadow import AllOnShadow, TickEvaluator, copy_handover
from dientine.sim import Simulation


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
        # the all-on pass uses the shadow's evaluator (work arrays): the predictor's passes run at a decision,
        # before the tick and its shadow pass, and use nothing of it afterwards; the plan's passes have their own,
        # as the all-on pass may run in the loop's worker thread meanwhile (shadow.overlap)
        self.ev_all = shadow.ev
        self.ev_plan = TickEvaluator(sim)
        self._ref_task: Future | None = None
        #: all-on passes run in the worker thread
        self.overlapped = 0
        self.time_s = 0.0
        self.passes = 0
        self._short_all: np.ndarray | None = None
        self._serv_all: np.ndarray | None = None
        self._dem: np.ndarray | None = None
        self._ok: np.ndarray | None = None

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
        self._short_all = self._serv_all = None
        job = (ho, can, rad, load, scale)
        self._sync()
        if sh.overlap_possible():  # in the worker thread while predict() runs the plan's passes
            self._ref_task = sh.worker().submit(self._all_on_pass, job)
            self.overlapped += 1
        else:
            self._all_on_pass(job)
        self.passes += 1
        self.time_s += time.perf_counter() - t0

    def _all_on_pass(self, job: tuple) -> None:
        ho, can, rad, load, scale = job
        self.ev_all.evaluate(ho, can, rad, load, self.sim.time_s, demand_scale=scale, drones=False,
                             active=self._active)
        self._short_all = np.maximum(self._dem - self.ev_all.rate_mbps, 0.0)
        self._serv_all = ho.serving_cell.astype(np.int64)

    def _sync(self) -> None:
        """Wait for the all-on pass when it runs in the worker thread."""
        task, self._ref_task = self._ref_task, None
        if task is not None:
            task.result()  # re-raises the pass's exception

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
        load1 = self.ev_plan.evaluate(ho, can_t, rad_t, load0, sim.time_s, avail=avail_t, demand_scale=scale,
                                      drones=False, active=act)
        load1 = np.where(self._zone, load1, load0)
        short_t = np.maximum(self._dem - self.ev_plan.rate_mbps, 0.0)
        can_s = (serving | waking) & ~sleep & ~failed
        rad_s = (radiating | waking) & ~sleep & ~failed
        self.ev_plan.evaluate(ho, can_s, rad_s, load1, sim.time_s + sim.tick_s, demand_scale=scale, drones=False,
                              active=act)
        short_s = np.maximum(self._dem - self.ev_plan.rate_mbps, 0.0)
        self.passes += 2
        self._sync()
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
