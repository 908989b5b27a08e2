"""The same-tick all-cells-on counterfactual ("shadow") of the closed loop's QoS measure.

The QoS an action costs is the difference between what the users got and what they *would have got with every
cell on* -- in the same tick, with the same positions, the same demand draws and the same failures. The shadow
computes the second from the twin's cached radio picture (the top-K received powers per pixel,
:func:`dientine.twin.user_candidates` / :func:`~dientine.twin.user_links_fast`), the A3 handover
(:func:`agents.handover.step_handover` on a handover state of its own), the drones' direct links and the
scheduler (:func:`agents.scheduler.schedule`), exactly as :meth:`dientine.sim.Simulation.step` does, but with
the cells the loop switched (asleep, ramping, waking) counted as on for the whole tick (resource share 1; the
other cells keep the real tick's masks and shares, :meth:`agents.basestations.BaseStations.tick_masks`), and
with its own previous-tick cell loads (the interference weights) and handover state. Nothing of the real run is
changed. The pass is :meth:`dientine.sim.Simulation.tick_pass` itself, on a :class:`~dientine.sim.TickRadio` of
the shadow's own; the drones' gains of the real tick are reused (same positions).

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
no cell is under the loop's control, no outcome window needs it and the energy policy's sleep window is over
(the loop's ``keep``: wakes and new sleeps inside one night stay exactly compared). With ``loop.all_on_shadow:
exact`` (the default) it runs on until the real run has caught up with it, or until the energy policy can no
longer start a sleep before the run ends, so every later window is compared exactly. With ``sleep_window`` it
stops after the window, and a later start copies the real state again: if the real run had not caught up with
the shadow when it stopped (serving cells, A3 candidates and timers, loads: e.g. users that stayed on a
neighbour after a wake, which the A3 hysteresis keeps there), that later comparison is against "all on from this
point" and :attr:`AllOnShadow.exact` turns False. Cell-state changes of the protection table, power and tilt
actions are not undone in the shadow (it is the counterfactual of the energy-saving policy's sleep decisions).

Cost: one radio + scheduling pass per tick while it runs (the drones' direct gains included), timed in
:attr:`AllOnShadow.time_s`.
"""

from __future__ import annotations

import time

import numpy as np

from agents.equipment import CellState
from agents.handover import HandoverState
from dientine.kpis import percentiles_inplace, user_kpi_counts
from dientine.sim import SINR_MIN_DB, Simulation, TickRadio

_HO_FIELDS = ("serving_cell", "candidate_cell", "ttt_elapsed_s", "previous_cell", "last_ho_t_s", "ho_count",
              "pingpong_count", "forced_count")
#: Fields of the handover state that decide future handovers (previous cell and last handover time only count
#: ping-pongs): equal in both runs (with equal loads) = the two runs evolve identically from then on.
_HO_DYNAMIC = ("serving_cell", "candidate_cell", "ttt_elapsed_s")


class TickEvaluator:
    """The radio and scheduling of one tick for the twin's current users (positions, demand, activity) under
    given cell masks, a given handover state and given previous-tick loads: :meth:`dientine.sim.Simulation.tick_pass`
    with a :class:`~dientine.sim.TickRadio` of its own (the tick's own code: top-K candidates, A3 handover, links
    from the cached powers, the drones' direct links, the scheduler). Work arrays are allocated once."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.radio = TickRadio(sim.twin, sim.scenario.simulation.scheduler)
        # the pass's outputs per user (the radio's arrays, updated in place)
        self.rate_mbps, self.sinr_db, self.se_bps_hz = self.radio.rate_mbps, self.radio.sinr_db, self.radio.se_bps_hz

    def evaluate(self, ho: HandoverState, can: np.ndarray, rad: np.ndarray, load: np.ndarray, t_s: float, *,
                 avail: np.ndarray | None = None, demand_scale: float = 1.0, drones: bool = True,
                 active: np.ndarray | None = None, drone_gain: np.ndarray | None = None) -> np.ndarray:
        """One radio + scheduling pass; updates ``ho`` (A3 at time ``t_s``) and :attr:`rate_mbps`; returns the
        cells' PRB utilisation (the next pass's interference weights). ``avail`` is the cells' resource share
        (default: 1 where ``can``); ``demand_scale`` multiplies the finite-demand users' demand (a forecast);
        ``drones`` False leaves the drones out (no demand); ``active`` restricts the pass to some of the active
        users (the others get no rate)."""
        act = self.sim.twin.users.active if active is None else active
        av = can.astype(np.float64) if avail is None else avail
        _, res = self.sim.tick_pass(self.radio, ho, act, can, rad, load, av, t_s, drones=drones,
                                    demand_scale=demand_scale, drone_gain=drone_gain)
        return np.minimum(np.maximum(res.prb_utilisation, 0.0), 1.0)


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
        self._pre: tuple[np.ndarray, ...] | None = None
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

    def maybe_stop(self, keep: bool, until_caught_up: bool = False) -> None:
        """Stop when nothing needs the shadow (``keep`` False: no open outcome window) and no cell is under the
        loop's control. If the real run has not caught up with the all-on run by then (serving cells, A3
        candidates and timers, loads), it keeps running with ``until_caught_up`` (loop.all_on_shadow 'exact');
        otherwise it stops and a later start is no longer exact (:attr:`exact`)."""
        if not self.running or keep or self.controlled.any():
            return
        sim = self.sim
        real = sim.twin.users.ho
        last = sim.kpi.latest_cell()
        same = (all(np.array_equal(getattr(real, f), getattr(self.ho, f)) for f in _HO_DYNAMIC)
                and last is not None and np.array_equal(np.asarray(last["load"]), self.load))
        if until_caught_up and not same:
            return  # keep the all-on run going until the real run has caught up: every later start stays exact
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
        can, rad, avail = bs.tick_masks()
        self._pre = (can, rad, self.sim.twin.users.active.copy(), avail)

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
        pre_can, pre_rad, active_before, pre_avail = self._pre
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
        # a loop-controlled cell is on for the whole tick in the all-on run (one waking now serves only after
        # its wake in the real tick); the other cells have the real tick's resource share
        avail = np.where(can, np.where(self.controlled, 1.0, pre_avail), 0.0)
        self.off = can & ~pre_can
        self.controlled &= ~pre_can  # serving again in the real run: no longer different
        # users whose activity changed this tick were detached by the tick (crowds, services): same here
        changed = np.flatnonzero(active_before != u.active)
        if changed.size:
            self.ho.detach(changed)
        for _ in range(2 if k == 0 else 1):  # tick 0 is iterated once to start from consistent loads
            # the drones have not moved since the real tick: its drone gains serve here too
            self.load = self.ev.evaluate(self.ho, can, rad, self.load, k * sim.tick_s, avail=avail,
                                         drone_gain=sim.radio.drone_gain)
        self.ticks += 1
        self.time_s += time.perf_counter() - t0
        return True

    def rate_p5_mbps(self) -> float:
        """5th-percentile rate of the demanding users in the last shadow tick (as the simulation's KPI)."""
        u = self.sim.twin.users
        _, _, n_dem = user_kpi_counts(u.active, self.ho.serving_cell, self.ev.sinr_db, u.demand_mbps,
                                      self.ev.rate_mbps, SINR_MIN_DB, self._rate_dem)
        return float(percentiles_inplace(self._rate_dem[:n_dem], (5.0,))[0]) if n_dem else 0.0
