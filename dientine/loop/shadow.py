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
the shadow's own; the drones' gains are the real tick's (same positions: reused in line, computed again when
overlapped).

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

Cost: one radio + scheduling pass per tick while it runs (the drones' direct gains included). Over a long run
the exact shadow runs most ticks (users the A3 hysteresis keeps on a neighbour after a wake may never catch up),
so the pass is overlapped with the real tick: the simulation calls :meth:`AllOnShadow._tick_inputs` once the
tick's users and drones have moved and demanded (:attr:`dientine.sim.Simulation.on_tick_inputs`); the shadow then
fixes the tick's all-on masks and hands its pass to a worker thread, which runs it while the
main thread does the real tick's radio, power, wear, sensing and KPIs; :meth:`AllOnShadow.after_step` waits for
it. The pass reads only what the rest of the tick leaves unchanged (positions, activity, demand, the drones, the
cells' configuration and radio caches; the masks are its own arrays) and writes only the shadow's own state (its
handover copy, work arrays and loads); it asks for the drones' gains itself rather than wait for the real tick
(:meth:`dientine.twin.Twin.drone_gains` computes them once per tick for whichever asks first). The kernels it
calls release the GIL (``nogil``: candidates, links, ``rx_cache``, the A3 and scheduler kernels, the drones' gain
kernel), so the two threads run on two cores, and the results are those of the pass run in line after the tick,
bit for bit (no random numbers, the same kernels on the same inputs). It runs in line
with ``overlap`` False, with one CPU for the process (its affinity mask, or ``NUMBA_NUM_THREADS=1`` as in a sweep
worker) and with the twin's parallel user kernels (they use every core already, and their thread pool is not to
be entered from two threads). The plan predictor runs at a decision, when the worker is idle; when the passes
overlap, it uses the multi-threaded user kernels (:mod:`dientine.loop.predict`).
Timing: :attr:`AllOnShadow.time_s` is the wall time the shadow adds to the loop's thread (preparing, waiting for
or running the pass, the comparison columns); :attr:`AllOnShadow.pass_s` and :attr:`AllOnShadow.pass_cpu_s` the
passes' own wall and CPU time.
"""

from __future__ import annotations

import os
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass

import numba
import numpy as np

from agents.equipment import CellState
from agents.handover import HandoverState
from dientine.kpis import percentiles_inplace, user_kpi_counts
from dientine.sim import SINR_MIN_DB, Simulation, TickRadio, UserRows

_HO_FIELDS = ("serving_cell", "candidate_cell", "ttt_elapsed_s", "previous_cell", "last_ho_t_s", "ho_count",
              "pingpong_count", "forced_count")
#: Fields of the handover state that decide future handovers (previous cell and last handover time only count
#: ping-pongs): equal in both runs (with equal loads) = the two runs evolve identically from then on.
_HO_DYNAMIC = ("serving_cell", "candidate_cell", "ttt_elapsed_s")
#: CPUs this process may run on (the overlapped shadow pass needs a second one).
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _two_cpus() -> bool:
    """Whether this process may use two CPUs: two in its affinity mask and ``NUMBA_NUM_THREADS`` not 1 (a sweep
    worker runs one thread, :mod:`dientine.whatif`)."""
    return _CPUS >= 2 and numba.config.NUMBA_NUM_THREADS >= 2


@dataclass
class _Pass:
    """One tick's shadow pass: the all-on masks, the tick's time, the iterations (2 at tick 0), the drones'
    gains when reused from the real tick."""

    can: np.ndarray
    rad: np.ndarray
    avail: np.ndarray
    t_s: float
    iterations: int
    drone_gain: np.ndarray | None = None


class TickEvaluator:
    """The radio and scheduling of one tick for the twin's current users (positions, demand, activity) under
    given cell masks, a given handover state and given previous-tick loads: :meth:`dientine.sim.Simulation.tick_pass`
    with a :class:`~dientine.sim.TickRadio` of its own (the tick's own code: top-K candidates, A3 handover, links
    from the cached powers, the drones' direct links, the scheduler). Work arrays are allocated once. ``parallel``:
    which user kernels (:class:`~dientine.sim.TickRadio`; the same results either way)."""

    def __init__(self, sim: Simulation, *, parallel: bool | None = None):
        self.sim = sim
        self.radio = TickRadio(sim.twin, sim.scenario.simulation.scheduler, parallel=parallel)
        # the pass's outputs per user (the radio's arrays, updated in place)
        self.rate_mbps, self.sinr_db, self.se_bps_hz = self.radio.rate_mbps, self.radio.sinr_db, self.radio.se_bps_hz

    def evaluate(self, ho: HandoverState, can: np.ndarray, rad: np.ndarray, load: np.ndarray, t_s: float, *,
                 avail: np.ndarray | None = None, demand_scale: float = 1.0, drones: bool = True,
                 active: np.ndarray | None = None, drone_gain: np.ndarray | None = None,
                 rows: UserRows | None = None) -> np.ndarray:
        """One radio + scheduling pass; updates ``ho`` (A3 at time ``t_s``) and :attr:`rate_mbps`; returns the
        cells' PRB utilisation (the next pass's interference weights). ``avail`` is the cells' resource share
        (default: 1 where ``can``); ``demand_scale`` multiplies the finite-demand users' demand (a forecast);
        ``drones`` False leaves the drones out (no demand); ``active`` restricts the pass to some of the active
        users (the others get no rate); ``rows``: the users' top-K rows gathered at their current positions
        (:class:`~dientine.sim.UserRows`, read in user order instead of at random pixels; the same results)."""
        act = self.sim.twin.users.active if active is None else active
        av = can.astype(np.float64) if avail is None else avail
        _, res = self.sim.tick_pass(self.radio, ho, act, can, rad, load, av, t_s, drones=drones,
                                    demand_scale=demand_scale, drone_gain=drone_gain, rows=rows)
        return np.minimum(np.maximum(res.prb_utilisation, 0.0), 1.0)


def copy_handover(ho: HandoverState) -> HandoverState:
    """An independent copy of a handover state."""
    return HandoverState(*(getattr(ho, f).copy() for f in _HO_FIELDS))


class AllOnShadow:
    """All-cells-on counterfactual of each tick (module docstring). Call :meth:`before_step` before
    ``Simulation.step`` and :meth:`after_step` after it; :meth:`mark` when the loop requests a cell state."""

    def __init__(self, sim: Simulation, *, overlap: bool | None = None):
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
        #: whether the pass runs in a worker thread overlapped with the rest of the real tick (None: when this
        #: process may use two CPUs, :func:`_two_cpus`); the results are the same either way
        self.overlap = overlap
        #: ticks whose pass ran overlapped
        self.overlapped = 0
        #: wall time the shadow adds to the run (s): preparing the pass (inside the tick), the pass itself when in
        #: line or the wait for it when overlapped, and the loop's comparison columns
        self.time_s = 0.0
        #: of which preparing the pass inside the tick (:meth:`_tick_inputs`) and waiting for the worker
        self.prepare_s = 0.0
        self.wait_s = 0.0
        #: wall and CPU time of the passes themselves (s; CPU of the thread that ran them)
        self.pass_s = 0.0
        self.pass_cpu_s = 0.0
        self.ho: HandoverState | None = None
        #: the all-on run's cell loads after the last shadow tick (its next tick's interference weights)
        self.load = np.zeros(tw.n_cells)
        self._rate_dem = np.zeros(tw.users.n)
        self._pre: tuple[np.ndarray, ...] | None = None
        #: cells on in the last shadow tick that did not serve in the real tick (the policy's doing)
        self.off = np.zeros(tw.n_cells, bool)
        self._caught_up = True  # the real run is the all-on run until the loop first changes a cell
        self._p5 = 0.0
        self._job: _Pass | None = None
        self._worker: ThreadPoolExecutor | None = None  # the thread of the overlapped passes, started on first use
        self._worker_pid = 0
        self._task: Future | None = None  # the tick's pass in the worker
        sim.on_tick_inputs = self._tick_inputs

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
        if self._task is not None:  # a pass left running by a tick that raised: finish it, drop its result
            futures_wait([self._task])
            self._task = None
        self._job = None
        if not self.running:
            self._pre = None
            return
        bs = self.sim.twin.bs
        can, rad, avail = bs.tick_masks()
        self._pre = (can, rad, self.sim.twin.users.active.copy(), avail)

    def _tick_inputs(self) -> None:
        """:attr:`dientine.sim.Simulation.on_tick_inputs`: the tick's users and drones have moved and demanded.
        Prepares the shadow's pass of the tick and, when it overlaps (:attr:`overlap`), starts it in a worker
        thread; :meth:`after_step` joins it (or runs it)."""
        if not self.running or self._pre is None:
            return
        t0 = time.perf_counter()
        sim = self.sim
        # the cells' states at the tick start (the tick's KPI row records the same "state")
        failed = sim.twin.bs.state == int(CellState.FAILED)
        self._job = self._prepare(sim.tick, failed)
        if self.overlap_possible():
            self._task = self.worker().submit(self._run_pass, self._job)
        dt = time.perf_counter() - t0
        self.prepare_s += dt
        self.time_s += dt

    def worker(self) -> ThreadPoolExecutor:
        """The worker thread of the overlapped passes (one thread: calls run one at a time, in order; started on
        first use, ended with the shadow; a forked child, which has the object but not the thread, starts its own)."""
        if self._worker is None or self._worker_pid != os.getpid():
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dientine-loop-worker")
            self._worker_pid = os.getpid()
            weakref.finalize(self, self._worker.shutdown, wait=False)
        return self._worker

    def overlap_possible(self) -> bool:
        """Whether the loop's passes run in the worker thread, overlapped with other work (:attr:`overlap`; not
        with the twin's parallel user kernels, which already use every core and whose thread pool is not to be
        entered from two threads at once)."""
        tw = self.sim.twin
        if tw.use_parallel(tw.users.n):
            return False
        return self.overlap if self.overlap is not None else _two_cpus()

    def _prepare(self, k: int, failed: np.ndarray) -> _Pass:
        """The all-on masks of tick ``k`` (``failed``: the cells failed at its start) and the handover
        detachments of the users whose activity changed; updates :attr:`controlled` and :attr:`off`."""
        sim = self.sim
        u = sim.twin.users
        pre_can, pre_rad, active_before, pre_avail = self._pre
        # scenario cell_sleep / cell_wake events act in both runs and hand the cell back to the scenario
        event_sleep = np.zeros(self.n_cells, bool)
        for ev in sim.twin.events:
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
        # tick 0 is iterated once to start from consistent loads
        return _Pass(can, rad, avail, k * sim.tick_s, 2 if k == 0 else 1)

    def _run_pass(self, job: _Pass) -> None:
        """The shadow's radio + scheduling pass of one tick and its users' 5th-percentile rate (in the worker
        thread when overlapping). It writes only the shadow's own state (handover copy, evaluator arrays,
        :attr:`load`) and reads the tick's inputs, which the rest of the real tick does not change (positions,
        activity, demand, the drones, the cells' configuration and gain caches)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(job.iterations):
            self.load = self.ev.evaluate(self.ho, job.can, job.rad, self.load, job.t_s, avail=job.avail,
                                         drone_gain=job.drone_gain)
        u = self.sim.twin.users
        _, _, n_dem = user_kpi_counts(u.active, self.ho.serving_cell, self.ev.sinr_db, u.demand_mbps,
                                      self.ev.rate_mbps, SINR_MIN_DB, self._rate_dem)
        self._p5 = float(percentiles_inplace(self._rate_dem[:n_dem], (5.0,))[0]) if n_dem else 0.0
        self.pass_s += time.perf_counter() - t0
        self.pass_cpu_s += time.thread_time() - c0

    def after_step(self, cell_row: dict[str, np.ndarray]) -> bool:
        """Evaluate the tick just simulated with every loop-controlled cell on (join the pass started by the
        tick, or run it); returns False when the shadow did not run this tick."""
        if not self.running or self._pre is None:
            self._job = None
            return False
        t0 = time.perf_counter()
        sim = self.sim
        job, self._job = self._job, None
        task, self._task = self._task, None
        if task is not None:
            task.result()  # re-raises the pass's exception
            self.wait_s += time.perf_counter() - t0
            self.overlapped += 1
        else:
            if job is None:  # the simulation did not call the hook: prepare from the tick's recorded states
                job = self._prepare(sim.tick - 1, np.asarray(cell_row["state"]) == int(CellState.FAILED))
            # in line, after the real tick: the drones have not moved since, its drone gains serve here too
            job.drone_gain = sim.radio.drone_gain
            self._run_pass(job)
        self._pre = None
        self.ticks += 1
        self.time_s += time.perf_counter() - t0
        return True

    def rate_p5_mbps(self) -> float:
        """5th-percentile rate of the demanding users in the last shadow tick (as the simulation's KPI)."""
        return self._p5
