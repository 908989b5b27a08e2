"""The same-tick all-cells-on counterfactual ("shadow") of the closed loop's QoS measure.

The QoS an action costs is the difference between what the users got and what they *would have got with every
cell on* -- in the same tick, with the same positions, the same demand draws and the same failures. The shadow
computes the second from the twin's cached radio picture (the top-K received powers per pixel,
:func:`dientine.twin.user_candidates` / :func:`~dientine.twin.user_links_fast`), the A3 handover
(:func:`agents.handover.step_handover` on a handover state of its own), the drones' direct links and the
scheduler (:func:`agents.scheduler.schedule`), exactly as :meth:`dientine.sim.Simulation.step` does, but with
the cells the loop switched (asleep, ramping, waking) counted as on, and with its own previous-tick cell loads
(the interference weights) and handover state. Nothing of the real run is changed.

Why it is exact: the population's random stream (mobility, demand, crowds, O2I) never reads a cell state, so
the users' positions and demands of a tick are the same in the loop run and in a run without decisions; the
shadow repeats the tick's radio and scheduling for those users with the all-on masks. The state masks of the
all-on run are the real ones except for the cells the loop controls (:meth:`AllOnShadow.mark`): a failed cell
is failed in both runs (a site failure starting at a tick is read from the tick's recorded state), a scenario
``cell_sleep`` / ``cell_wake`` event acts in both (and hands the cell back to the scenario). Wear failures
depend on the cells' loads, so with ``simulation.wear`` on they may differ between the two runs; the shadow
uses the real run's failures (the same-tick comparison isolates the loop's radio effect).

Activity: the shadow starts the first time the loop changes a cell, copying the real handover state and the
last tick's loads (before that instant the real run *is* the all-on run, so the copy is exact), and stops when
no cell is under the loop's control and no outcome window needs it. A later start copies the real state again;
if the real run had not caught up with the shadow when it stopped (serving cells, A3 candidates and timers,
loads: e.g. users that stayed on a neighbour after a wake, which the A3 hysteresis keeps there), that later
comparison is against "all on from this point" and :attr:`AllOnShadow.exact` turns False. Cell-state changes
of the protection table, power and tilt actions are not undone in the shadow (it is the counterfactual of the
energy-saving policy's sleep decisions).

Cost: one radio + scheduling pass per tick while it runs (the drones' direct gains included), timed in
:attr:`AllOnShadow.time_s`.
"""

from __future__ import annotations

import time

import numpy as np

from agents.equipment import CellState
from agents.handover import HandoverState, step_handover
from agents.scheduler import schedule
from dientine import twin as tk  # the twin's radio kernels, as the tick calls them
from dientine.kpis import percentiles_inplace, user_kpi_counts
from dientine.sim import SINR_MIN_DB, Simulation

_HO_FIELDS = ("serving_cell", "candidate_cell", "ttt_elapsed_s", "previous_cell", "last_ho_t_s", "ho_count",
              "pingpong_count", "forced_count")
#: Fields of the handover state that decide future handovers (previous cell and last handover time only count
#: ping-pongs): equal in both runs (with equal loads) = the two runs evolve identically from then on.
_HO_DYNAMIC = ("serving_cell", "candidate_cell", "ttt_elapsed_s")


class TickEvaluator:
    """The radio and scheduling of one tick for the twin's current users (positions, demand, activity) under
    given cell masks, a given handover state and given previous-tick loads: the same kernels, in the same order,
    as :meth:`dientine.sim.Simulation.step` (top-K candidates, A3 handover, links from the cached powers, the
    drones' direct links, the scheduler). Work arrays are allocated once."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        tw = sim.twin
        n, d = tw.users.n, tw.drones.n
        # per-user outputs of the candidate kernel (pixel row, best / best other cell, their RSRPs, the server's
        # RSRP, received powers of the three and the load-weighted interference), links and rates
        i64, f64 = np.int64, np.float64
        work = {"_row": i64, "_best": i64, "_rsrp_best": f64, "_other": i64, "_rsrp_other": f64,
                "_rsrp_serv": f64, "_interf": f64, "se_bps_hz": f64, "rate_mbps": f64}
        for name, dtype in work.items():
            setattr(self, name, np.zeros(n, dtype))
        self._mw3 = np.zeros((n, 3))
        self._prev_serving = np.zeros(n, np.int32)
        self.sinr_db = np.full(n, -np.inf)
        # users then drones, as the scheduler takes them
        self._ue_serving = np.full(n + d, -1, np.int64)
        self._ue_se, self._ue_demand = np.zeros(n + d), np.zeros(n + d)

    def evaluate(self, ho: HandoverState, can: np.ndarray, rad: np.ndarray, load: np.ndarray, t_s: float, *,
                 demand_scale: float = 1.0, drones: bool = True, active: np.ndarray | None = None) -> np.ndarray:
        """One radio + scheduling pass; updates ``ho`` (A3 at time ``t_s``) and :attr:`rate_mbps`; returns the
        cells' PRB utilisation (the next pass's interference weights). ``demand_scale`` multiplies the
        finite-demand users' demand (a forecast); ``drones`` False leaves the drones out (no demand);
        ``active`` restricts the pass to some of the active users (the others get no rate)."""
        load = np.where(rad, load, 0.0)
        act = self.sim.twin.users.active if active is None else active
        self._radio_users(ho, t_s, can, rad, load, act)
        d_serv, d_se = self._radio_drones(can, rad, load) if drones else (None, None)
        res = self._schedule(ho, can, d_serv, d_se, demand_scale, act)
        self.rate_mbps[:] = res.rate_mbps[: self.rate_mbps.shape[0]]
        return np.clip(res.prb_utilisation, 0.0, 1.0)

    def _radio_users(self, ho: HandoverState, t_s: float, can: np.ndarray, rad: np.ndarray, load: np.ndarray,
                     active: np.ndarray) -> None:
        sim = self.sim
        tw = sim.twin
        u = tw.users
        g = tw.grid
        par = tw.use_parallel(u.n)
        cand = tk.user_candidates if par else tk.user_candidates_serial
        links = tk.user_links_fast if par else tk.user_links_fast_serial
        cand(u.x_m, u.y_m, active, g.x0_m, g.y0_m, g.resolution_m, g.n_cols, g.n_rows, tw.topk_cell,
             tw.topk_rx_dbm, can, tw.cells.offset_db, ho.serving_cell, tw.cells.rsrp_offset_db, tw.o2i_db,
             self._row, self._best, self._rsrp_best, self._other, self._rsrp_other, self._rsrp_serv, tw.topk_rx_mw,
             rad, load, self._mw3, self._interf)
        np.copyto(self._prev_serving, ho.serving_cell)
        step_handover(ho, active, self._rsrp_serv, self._other, self._rsrp_other, t_s, sim.tick_s,
                      tw.population.handover, cell_available=can, best_cell=self._best)
        kind, alpha, smin, tmax, thr, eff = tw.se_params
        links(active, ho.serving_cell, self._prev_serving, self._best, self._other, self._mw3, self._interf,
              rad, load, tw.o2i_lin, tw.noise_mw, kind, alpha, smin, tmax, thr, eff, self.sinr_db, self.se_bps_hz)

    def _radio_drones(self, can: np.ndarray, rad: np.ndarray, load: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The drones' serving cells and spectral efficiencies under the masks (as the tick's drone radio:
        direct gains at their positions, best available cell)."""
        tw = self.sim.twin
        d = tw.drones
        if d.n == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        gain = tw.drone_gains()
        idx = np.ascontiguousarray(np.broadcast_to(np.arange(tw.n_cells, dtype=np.int32), gain.shape))
        rx_dbm = np.empty(gain.shape, np.float32)
        rx_mw = np.empty(gain.shape, np.float64)
        served = d.served & d.active
        tk.rx_cache(idx, gain, tw.cells.tx_power_dbm, rx_dbm, rx_mw)
        row = np.zeros(d.n, np.int64)
        best = np.zeros(d.n, np.int64)
        other = np.zeros(d.n, np.int64)
        f = np.zeros((4, d.n))
        tk.user_candidates_serial(np.arange(d.n, dtype=np.float64) + 0.5, np.full(d.n, 0.5), served, 0.0, 0.0, 1.0,
                                  d.n, 1, idx, rx_dbm, can, tw.cells.offset_db, np.full(d.n, -1, np.int64),
                                  tw.cells.rsrp_offset_db, np.zeros(d.n), row, best, f[0], other, f[1], f[2],
                                  rx_mw, rad, load, np.zeros((d.n, 3)), f[3])
        serving = np.where(served, best, -1)
        kind, alpha, smin, tmax, thr, eff = tw.se_params
        sinr = np.full(d.n, -np.inf)
        se = np.zeros(d.n)
        tk.user_links_serial(row, served, serving, idx, rx_mw, rad, load, np.ones(d.n), tw.noise_mw, kind, alpha,
                             smin, tmax, thr, eff, sinr, se)
        return serving, se

    def _schedule(self, ho: HandoverState, can: np.ndarray, d_serv: np.ndarray | None, d_se: np.ndarray | None,
                  demand_scale: float, active: np.ndarray):
        sim = self.sim
        tw = sim.twin
        u = tw.users
        n = u.n
        d = tw.drones
        self._ue_serving[:n] = ho.serving_cell
        self._ue_se[:n] = self.se_bps_hz
        dem = self._ue_demand[:n]
        np.copyto(dem, u.demand_mbps)
        if demand_scale != 1.0:
            dem *= demand_scale
        fb = u.full_buffer
        if fb.any():
            dem[fb] = self.se_bps_hz[fb] * tw.bandwidth_hz / 1e6
        dem[~active] = 0.0
        if d.n:
            if d_serv is None:
                self._ue_serving[n:] = -1
                self._ue_demand[n:] = 0.0
            else:
                served = d.served & d.active
                self._ue_serving[n:] = d_serv
                self._ue_se[n:] = d_se
                np.copyto(self._ue_demand[n:], np.where(served, d.demand_mbps, 0.0))
        return schedule(self._ue_serving, self._ue_se, self._ue_demand, tw.bandwidth_hz, can.astype(np.float64),
                        n_cells=tw.n_cells, policy=sim.scenario.simulation.scheduler)


def copy_handover(ho: HandoverState) -> HandoverState:
    """An independent copy of a handover state."""
    return HandoverState(*(getattr(ho, f).copy() for f in _HO_FIELDS))


class AllOnShadow:
    """All-cells-on counterfactual of each tick (module docstring). Call :meth:`before_step` before
    ``Simulation.step`` and :meth:`after_step` after it; :meth:`mark` when the loop requests a cell state."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        tw = sim.twin
        self.n_cells = tw.n_cells
        self.ev = TickEvaluator(sim)
        #: cells whose state the loop set (counted as on in the all-on run unless failed)
        self.controlled = np.zeros(tw.n_cells, bool)
        self.running = False
        #: False once the shadow was restarted from a real state that may differ from the all-on run's
        self.exact = True
        self.starts = 0
        self.ticks = 0
        self.time_s = 0.0
        self.ho: HandoverState | None = None
        #: the all-on run's cell loads after the last shadow tick (its next tick's interference weights)
        self.load = np.zeros(tw.n_cells)
        self._rate_dem = np.zeros(tw.users.n)
        self._pre: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: cells on in the last shadow tick that did not serve in the real tick (the policy's doing)
        self.off = np.zeros(tw.n_cells, bool)
        self._caught_up = True  # the real run is the all-on run until the loop first changes a cell

    @property
    def rate_mbps(self) -> np.ndarray:
        """Per-user rates of the last shadow tick (Mbit/s)."""
        return self.ev.rate_mbps

    @property
    def sinr_db(self) -> np.ndarray:
        return self.ev.sinr_db

    # ------------------------------------------------------------------ control
    def mark(self, cells: np.ndarray | list[int]) -> None:
        """The loop is about to change the state of ``cells`` (call *before* ``set_cell_state``): starts the
        shadow (copying the real run's state) if it is not running."""
        idx = np.asarray(cells, np.int64)
        if idx.size == 0:
            return
        if not self.running:
            self._start()
        self.controlled[idx] = True

    def _start(self) -> None:
        sim = self.sim
        self.ho = copy_handover(sim.twin.users.ho)
        last = sim.kpi.latest_cell()
        self.load = np.asarray(last["load"], np.float64).copy() if last is not None else np.zeros(self.n_cells)
        if not self._caught_up:
            self.exact = False
        self.running = True
        self.starts += 1

    def maybe_stop(self, keep: bool) -> None:
        """Stop when nothing needs the shadow (``keep`` False: no open outcome window) and no cell is under the
        loop's control. If the real run has not caught up with the all-on run by then (serving cells, A3
        candidates and timers, loads), a later start is no longer exact (:attr:`exact`)."""
        if not self.running or keep or self.controlled.any():
            return
        sim = self.sim
        real = sim.twin.users.ho
        last = sim.kpi.latest_cell()
        same = (all(np.array_equal(getattr(real, f), getattr(self.ho, f)) for f in _HO_DYNAMIC)
                and last is not None and np.array_equal(np.asarray(last["load"]), self.load))
        self._caught_up = same
        self.running = False
        self.ho = None
        self.off[:] = False

    # ------------------------------------------------------------------ per tick
    def before_step(self) -> None:
        """Record the masks the coming tick's radio will see (after the loop's requests of this tick)."""
        if not self.running:
            self._pre = None
            return
        bs = self.sim.twin.bs
        self._pre = (bs.serving_mask(), bs.interfering_mask(), self.sim.twin.users.active.copy())

    def after_step(self, cell_row: dict[str, np.ndarray]) -> bool:
        """Evaluate the tick just simulated with every loop-controlled cell on; returns False when the shadow
        did not run this tick."""
        if not self.running or self._pre is None:
            return False
        t0 = time.perf_counter()
        sim = self.sim
        tw = sim.twin
        u = tw.users
        k = sim.tick - 1  # the tick just simulated
        pre_can, pre_rad, active_before = self._pre
        failed = np.asarray(cell_row["state"]) == int(CellState.FAILED)
        # scenario cell_sleep / cell_wake events act in both runs and hand the cell back to the scenario
        event_sleep = np.zeros(self.n_cells, bool)
        for ev in tw.events:
            e = ev.event
            if e.kind not in ("cell_sleep", "cell_wake"):
                continue
            starts, ends = ev.start_tick == k, ev.end_tick == k
            if starts or ends:
                self.controlled[e.cell] = False
                if (e.kind == "cell_sleep") == starts:
                    event_sleep[e.cell] = True
        can = (pre_can | self.controlled) & ~failed & ~event_sleep
        rad = (pre_rad | self.controlled) & ~failed
        self.off = can & ~pre_can
        self.controlled &= ~pre_can  # serving again in the real run: no longer different
        # users whose activity changed this tick were detached by the tick (crowds, services): same here
        changed = np.flatnonzero(active_before != u.active)
        if changed.size:
            self.ho.detach(changed)
        for _ in range(2 if k == 0 else 1):  # tick 0 is iterated once to start from consistent loads
            self.load = self.ev.evaluate(self.ho, can, rad, self.load, k * sim.tick_s)
        self.ticks += 1
        self.time_s += time.perf_counter() - t0
        return True

    def rate_p5_mbps(self) -> float:
        """5th-percentile rate of the demanding users in the last shadow tick (as the simulation's KPI)."""
        u = self.sim.twin.users
        _, _, n_dem = user_kpi_counts(u.active, self.ho.serving_cell, self.ev.sinr_db, u.demand_mbps,
                                      self.ev.rate_mbps, SINR_MIN_DB, self._rate_dem)
        return float(percentiles_inplace(self._rate_dem[:n_dem], (5.0,))[0]) if n_dem else 0.0
