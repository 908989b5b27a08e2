"""The simulation over time: a ``mesa.Model`` that steps users, drones and base stations on the radio grid.

:class:`Simulation` owns the run's random generator (Mesa 3: ``mesa.Model(seed=...)`` creates ``self.rng``; the
twin (fields, placement, drones, O2I), population (mobility, traffic, crowds), wear and sensing streams are
sub-streams obtained with ``Generator.spawn`` in a fixed order), the clock and the agents. Users and drones are
arrays (:mod:`agents.users`, :mod:`agents.drones`);
the sites are Mesa agents (:class:`SiteAgent`, one per site, registered in ``model.agents``) that expose their
cells' state; nothing is a Python object per user.

One tick ``k`` covers simulated time ``[k dt, (k + 1) dt)`` (time convention: :mod:`dientine.events`):

1. scenario events that start or end at this tick (crowds join/leave, service launches, site failures and
   repairs, cell sleep/wake);
2. users: crowds, mobility over the tick, demand for the tick (:meth:`agents.users.Population.step`, the diurnal
   profile at the wall-clock hour); drones fly (:func:`agents.drones.step_drones`) and demand their C2 rate;
3. radio: per user the candidates of its pixel's top-K (:func:`dientine.twin.user_candidates`), A3 handover
   (:mod:`agents.handover`; users of a failed or sleeping cell are moved to the best available neighbour at once,
   or stay unserved when none of their top-K cells is available), then SINR and spectral efficiency towards the
   serving cell (:func:`dientine.twin.user_links_fast`) with interference weighted by the *previous* tick's loads
   (a one-tick lag; tick 0 is iterated once to start from consistent loads); drones are evaluated directly at
   their 3-D positions and attach to their best cell. The cells' masks are the tick's
   (:meth:`agents.basestations.BaseStations.tick_masks`): a sleep or wake transition that ends inside the tick
   (milliseconds, REFERENCES §3.2/§3.3) counts as done for the whole tick's association and radio, a waking
   cell's resources being the share of the tick after its wake; steps 3-4 are :meth:`Simulation.tick_pass`
   with a :class:`TickRadio`;
4. scheduling (:func:`agents.scheduler.schedule`) over users and served drones -> per-user rates, cell loads;
   full-buffer users offer what they could take with all of the cell's resources (their demand is unbounded);
5. power: :meth:`agents.basestations.BaseStations.set_traffic` and ``advance`` (EARTH or TR 38.864 power,
   transitions, energy); before that the wear model (:mod:`agents.wear`) ages every unit with the tick's load and
   its failures take the cells down inside the tick;
6. sensing: one ISAC look per tick from every cell that is on (:mod:`agents.sensing`), M-of-N tracks;
7. KPIs per cell and for the network (:mod:`dientine.kpis`).

:func:`run_simulation` runs a scenario to its end and writes ``kpis_cell.parquet``, ``kpis_network.parquet``,
``timeseries.png`` and ``summary.json`` (:mod:`dientine.sim_output`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mesa
import numba
import numpy as np

from agents.drones import step_drones, update_drone_demand
from agents.equipment import CellState
from agents.handover import step_handover
from agents.scheduler import schedule
from agents.sensing import IsacSensing, RadarParams
from agents.wear import WearModel, apply_failures
from dientine.kpis import KpiRecorder, percentiles_inplace, summarise, user_kpi_counts
from dientine.radio.link import SHANNON_36942
from dientine.scenario import Scenario, load_scenario
from dientine.sim_output import plot_timeseries, write_parquet, write_summary
from dientine.twin import (
    Twin,
    rx_cache,
    user_candidates,
    user_candidates_serial,
    user_links_fast,
    user_links_fast_serial,
    user_links_serial,
)

#: Coverage threshold: TR 36.942 Annex A.1 DL SINR_MIN = -10 dB (REFERENCES.md §4.1), the SINR below which the
#: link model gives zero throughput.
SINR_MIN_DB = float(SHANNON_36942["dl"][1])

#: Names of :class:`agents.equipment.CellState` codes as written in the KPI tables.
STATE_NAMES = tuple(s.name.lower() for s in CellState)
_STATE_ALIASES = {"active": CellState.ON, "sleep": CellState.DEEP_SLEEP}

SECONDS_PER_DAY = 86400.0
REPAIR_LEAD_S = 1e-3  # numerical: see _apply_events


#: Stages of a tick, in order, as timed in ``Simulation.stage_s``.
STAGES = ("users", "drones", "radio", "scheduling", "power_wear", "sensing", "kpis")


@numba.njit(cache=True, nogil=True)
def _scheduler_inputs(serving, se, demand, full_buffer, active, bandwidth_hz, scale, out_serving, out_se,
                      out_demand):
    """The users' part (the first ``len(serving)`` entries) of the scheduler's input arrays: serving cell,
    spectral efficiency and demand (0 for inactive users; full-buffer users offer what they could take with all
    of the cell's resources, ``se * B``; the others their demand times ``scale``, 1 in the simulation)."""
    for u in range(serving.shape[0]):
        out_serving[u] = serving[u]
        out_se[u] = se[u]
        if not active[u]:
            out_demand[u] = 0.0
        elif full_buffer[u]:
            out_demand[u] = se[u] * bandwidth_hz / 1e6
        elif scale == 1.0:
            out_demand[u] = demand[u]
        else:
            out_demand[u] = demand[u] * scale


@numba.njit(cache=True, nogil=True)
def _power_inputs(cell_load, avail, can_serve, users, out_load, out_users):
    """The power model's inputs of a tick: per cell the utilisation while it serves, ``min(load / avail, 1)``
    (0 where ``avail`` is 0), and its users (0 on cells that cannot serve)."""
    for c in range(cell_load.shape[0]):
        out_load[c] = min(cell_load[c] / avail[c], 1.0) if avail[c] > 0 else 0.0
        out_users[c] = users[c] if can_serve[c] else 0


@numba.njit(cache=True, nogil=True)
def _drone_pass(served_d, active_d, demand_d, gain, tx, can, rad, load, off, rsrp_off, noise_mw, kind, alpha, smin,
                tmax, thr, eff, n_users, idx, xs, ys, none, zero_o2i, one_o2i, row, best, other, f, mw3, rx_dbm, rx_mw,
                se, served, out_serving, out_sinr, ue_serving, ue_se, ue_demand):
    """The drones' radio of :meth:`TickRadio.drones` in one call: received powers from the gains
    (:func:`dientine.twin.rx_cache`), the best serving-capable cell of each served drone on a 1 x D pseudo-grid
    (:func:`dientine.twin.user_candidates_serial`, no current server, no O2I), its SINR and spectral efficiency
    (:func:`dientine.twin.user_links_serial`), then the drones' entries of the scheduler's inputs (after the
    ``n_users`` users)."""
    for i in range(served_d.shape[0]):
        served[i] = served_d[i] and active_d[i]
    rx_cache(idx, gain, tx, rx_dbm, rx_mw)
    user_candidates_serial(xs, ys, served, 0.0, 0.0, 1.0, xs.shape[0], 1, idx, rx_dbm, can, off, none, rsrp_off,
                           zero_o2i, row, best, f[0], other, f[1], f[2], rx_mw, rad, load, mw3, f[3], idx[:0],
                           rx_dbm[:0], rx_mw[:0])
    for i in range(served.shape[0]):
        out_serving[i] = best[i] if served[i] else -1
    user_links_serial(row, served, out_serving, idx, rx_mw, rad, load, one_o2i, noise_mw, kind, alpha, smin, tmax,
                      thr, eff, out_sinr, se)
    for i in range(served.shape[0]):
        ue_serving[n_users + i] = out_serving[i]
        ue_se[n_users + i] = se[i]
        ue_demand[n_users + i] = demand_d[i] if served[i] else 0.0


class UserRows:
    """The top-K rows of the users' pixels (cells, received powers in dBm and mW) at the positions of the tick at
    ``t_s``, in user order: filled by the candidates kernel of a :class:`TickRadio` whose :attr:`TickRadio.gather`
    they are; another pass at the same positions reads them in user order instead of at random pixels
    (:meth:`TickRadio.users` ``rows``; the same values, so the same results). ``t_s`` is NaN until filled."""

    def __init__(self, n_users: int, top_k: int):
        self.cell = np.full((n_users, top_k), -1, np.int32)
        self.dbm = np.zeros((n_users, top_k), np.float32)
        self.mw = np.zeros((n_users, top_k))
        # user u at the centre of pixel u of a 1 x n grid of unit pixels
        self.xs = np.arange(n_users, dtype=np.float64) + 0.5
        self.ys = np.full(n_users, 0.5)
        self.t_s = float("nan")

    def fresh(self, t_s: float) -> bool:
        """Whether the rows hold the positions of the tick at ``t_s``."""
        return self.t_s == t_s


class TickRadio:
    """Steps 3 and 4 of a tick (module docstring) for the twin's current users and drones: top-K candidates, A3
    handover on a given :class:`agents.handover.HandoverState`, links from the cached powers, the drones' direct
    links, and the scheduler, under given cell masks (``can`` serve, ``rad`` radiate, ``avail`` resource share)
    and previous-tick loads (the interference weights). :meth:`Simulation.step` runs one on the real handover
    state; the closed loop's all-on shadow and plan predictor (:mod:`dientine.loop.shadow`,
    :mod:`dientine.loop.predict`) run their own on copies: the same kernels in the same order. Work and output
    arrays are allocated once and updated in place (``sinr_db``, ``se_bps_hz``, ``rate_mbps``, ...)."""

    def __init__(self, twin: Twin, policy: str, *, parallel: bool | None = None):
        self.twin = twin
        self.policy = policy
        #: the users' kernels: the multi-threaded versions (True), the single-threaded ones (False) or the twin's
        #: choice by population (None, :meth:`dientine.twin.Twin.use_parallel`); the results are the same
        self.parallel = parallel
        #: when set, the candidates kernel also copies the users' top-K rows into it (:class:`UserRows`)
        self.gather: UserRows | None = None
        n, d = twin.users.n, twin.drones.n
        self.n_users = n
        i64, f64 = np.int64, np.float64
        # per user: pixel row, best / best other cell and their RSRPs, the server's RSRP (before handover), the
        # received powers of the three and the load-weighted interference
        self._row, self._best, self._other = np.zeros(n, i64), np.zeros(n, i64), np.zeros(n, i64)
        self._rsrp_best, self._rsrp_other, self.rsrp_serv = np.zeros(n, f64), np.zeros(n, f64), np.zeros(n, f64)
        self._mw3 = np.zeros((n, 3))
        self._interf = np.zeros(n)
        self._prev_serving = np.zeros(n, np.int32)
        self.sinr_db = np.full(n, -np.inf)
        self.se_bps_hz = np.zeros(n)
        self.rate_mbps = np.zeros(n)
        # users then drones, as the scheduler takes them
        self._ue_serving = np.full(n + d, -1, np.int64)
        self._ue_se = np.zeros(n + d)
        self._ue_demand = np.zeros(n + d)
        self.drone_serving = np.full(d, -1, np.int64)
        self.drone_sinr_db = np.full(d, -np.inf)
        self._drone_buf: dict[str, np.ndarray] | None = None
        self.drone_gain: np.ndarray | None = None
        self._bw_cells = np.full(twin.n_cells, float(twin.bandwidth_hz))
        self._no_rows = UserRows(0, twin.topk_cell.shape[1])

    def users(self, ho, active: np.ndarray, can: np.ndarray, rad: np.ndarray, load: np.ndarray, t_s: float,
              dt_s: float, rows: UserRows | None = None) -> dict[str, int]:
        """Candidates, A3 handover of ``ho`` at ``t_s`` (in place) and links of the ``active`` users; returns the
        handover counts. ``rows``: the users' top-K rows gathered at their current positions (:class:`UserRows`),
        read instead of the twin's pixel map."""
        tw = self.twin
        u = tw.users
        par = tw.use_parallel(u.n) if self.parallel is None else self.parallel
        cand = user_candidates if par else user_candidates_serial
        links = user_links_fast if par else user_links_fast_serial
        if rows is not None:
            src = (rows.xs, rows.ys, active, 0.0, 0.0, 1.0, rows.xs.shape[0], 1, rows.cell, rows.dbm)
            mw, out = rows.mw, self._no_rows
        else:
            g = tw.grid
            src = (u.x_m, u.y_m, active, g.x0_m, g.y0_m, g.resolution_m, g.n_cols, g.n_rows, tw.topk_cell,
                   tw.topk_rx_dbm)
            mw, out = tw.topk_rx_mw, (self.gather or self._no_rows)
        cand(*src, can, tw.cells.offset_db, ho.serving_cell, tw.cells.rsrp_offset_db, tw.o2i_db, self._row,
             self._best, self._rsrp_best, self._other, self._rsrp_other, self.rsrp_serv, mw, rad, load, self._mw3,
             self._interf, out.cell, out.dbm, out.mw)
        if out is self.gather:
            out.t_s = t_s
        np.copyto(self._prev_serving, ho.serving_cell)
        counts = step_handover(ho, active, self.rsrp_serv, self._other, self._rsrp_other, t_s, dt_s,
                               tw.population.handover, cell_available=can, best_cell=self._best,
                               check=False)  # arrays built above by the candidates kernel
        kind, alpha, smin, tmax, thr, eff = tw.se_params
        links(active, ho.serving_cell, self._prev_serving, self._best, self._other, self._mw3, self._interf,
              rad, load, tw.o2i_lin, tw.noise_mw, kind, alpha, smin, tmax, thr, eff, self.sinr_db, self.se_bps_hz)
        return counts

    def drones(self, can: np.ndarray, rad: np.ndarray, load: np.ndarray, *, include: bool = True,
               gain: np.ndarray | None = None) -> None:
        """The drones' serving cells and links (direct gains at their 3-D positions, best available cell), into
        the scheduler's drone entries; ``include`` False leaves the drones out (no demand). ``gain``: the
        drones' gains when already computed for these positions and cells (another pass of the same tick; kept
        in :attr:`drone_gain`)."""
        tw = self.twin
        d = tw.drones
        if d.n == 0:
            return
        n = self.n_users
        if not include:
            self._ue_serving[n:] = -1
            self._ue_demand[n:] = 0.0
            return
        gain = tw.drone_gains() if gain is None else gain
        self.drone_gain = gain
        if self._drone_buf is None or self._drone_buf["rx_dbm"].shape != gain.shape:
            # per-drone work arrays, allocated once: one "pixel row" per drone on a 1 x D pseudo-grid with unit
            # pixels (drone i -> row i)
            self._drone_buf = {
                "idx": np.ascontiguousarray(np.broadcast_to(np.arange(tw.n_cells, dtype=np.int32), gain.shape)),
                "xs": np.arange(d.n, dtype=np.float64) + 0.5, "ys": np.full(d.n, 0.5),
                "row": np.zeros(d.n, np.int64), "best": np.zeros(d.n, np.int64), "other": np.zeros(d.n, np.int64),
                "f": np.zeros((4, d.n)), "zero_o2i": np.zeros(d.n), "one_o2i": np.ones(d.n),
                "none": np.full(d.n, -1, np.int64), "rx_dbm": np.empty(gain.shape, np.float32),
                "rx_mw": np.empty(gain.shape, np.float64), "mw3": np.zeros((d.n, 3)), "se": np.zeros(d.n),
                "served": np.zeros(d.n, np.bool_),
            }
            bf = self._drone_buf
            # the kernel's arguments that stay the same from tick to tick (these arrays are updated in place)
            self._drone_args = (bf["idx"], bf["xs"], bf["ys"], bf["none"], bf["zero_o2i"], bf["one_o2i"], bf["row"],
                                bf["best"], bf["other"], bf["f"], bf["mw3"], bf["rx_dbm"], bf["rx_mw"], bf["se"],
                                bf["served"], self.drone_serving, self.drone_sinr_db, self._ue_serving,
                                self._ue_se, self._ue_demand)
        kind, alpha, smin, tmax, thr, eff = tw.se_params
        c = tw.cells
        _drone_pass(d.served, d.active, d.demand_mbps, gain, c.tx_power_dbm, can, rad, load, c.offset_db,
                    c.rsrp_offset_db, tw.noise_mw, kind, alpha, smin, tmax, thr, eff, n, *self._drone_args)

    def schedule(self, ho, active: np.ndarray, avail: np.ndarray, demand_scale: float = 1.0):
        """The scheduler over the users (served by ``ho``; ``active`` ones demand) and the drones set by
        :meth:`drones`, with ``avail`` per cell; sets :attr:`rate_mbps` and returns the scheduler's result."""
        tw = self.twin
        u = tw.users
        _scheduler_inputs(ho.serving_cell, self.se_bps_hz, u.demand_mbps, u.full_buffer, active,
                          tw.bandwidth_hz, float(demand_scale), self._ue_serving, self._ue_se, self._ue_demand)
        # the arrays are built here (right types, shapes and ranges): the scheduler's input checks are skipped
        res = schedule(self._ue_serving, self._ue_se, self._ue_demand, self._bw_cells, avail, n_cells=tw.n_cells,
                       policy=self.policy, check=False)
        self.rate_mbps[:] = res.rate_mbps[: self.n_users]
        return res


class _StageClock:
    """Adds the wall time and the process CPU time since the previous lap to ``wall[stage]`` and ``cpu[stage]``."""

    def __init__(self, wall: dict[str, float], cpu: dict[str, float]):
        self.wall, self.cpu = wall, cpu
        self.t = time.perf_counter()
        self.c = time.process_time()

    def lap(self, stage: str) -> None:
        now, cnow = time.perf_counter(), time.process_time()
        self.wall[stage] += now - self.t
        self.cpu[stage] += cnow - self.c
        self.t, self.c = now, cnow


class SiteAgent(mesa.Agent):
    """One site of the network as a Mesa agent (few objects: sites, not users). ``step`` has nothing to do: the
    model updates every cell as arrays; the agent is the handle a per-site policy or a UI can hold."""

    def __init__(self, model: Simulation, site: int):
        super().__init__(model)
        self.site = int(site)
        self.cells = np.flatnonzero(model.twin.site_id == site)

    @property
    def states(self) -> list[str]:
        return [STATE_NAMES[int(s)] for s in self.model.twin.bs.state[self.cells]]

    def step(self) -> None:  # noqa: D401 - Mesa hook
        return None


class Simulation(mesa.Model):
    """A scenario simulated tick by tick (see module docstring).

    ``seed`` overrides the scenario's seed. The same scenario and seed give identical KPI tables.
    """

    def __init__(self, scenario: Scenario, *, seed: int | None = None, parallel: bool | None = None):
        if scenario.clock is None:
            raise ValueError("clock: the simulation needs a scenario with a 'clock' section")
        run_seed = int(scenario.seed if seed is None else seed)
        super().__init__(seed=run_seed)
        self.scenario = scenario
        self.seed_value = run_seed
        r_twin, self._r_pop, self._r_wear, self._r_sense = self.rng.spawn(4)
        self.twin = Twin(scenario, r_twin, parallel=parallel)
        tw = self.twin
        sim = scenario.simulation
        self.tick_s = tw.tick_s
        self.n_ticks = scenario.clock.n_ticks
        self.tick = 0
        self.time_s = 0.0
        self.wear = WearModel.for_basestations(tw.bs, self._r_wear) if sim.wear else None
        self.sensing = (IsacSensing(RadarParams.from_spec(tw.catalog.drones.sensing, tw.cells.fc_ghz))
                        if sim.sensing and tw.drones.n else None)
        self.kpi = KpiRecorder(tw.n_cells, STATE_NAMES)
        self.failures = 0
        self._intruders_detected = 0
        self._neighbours = self._neighbour_weights()
        tw.bs.tick_s = float(self.tick_s)  # the cells' masks describe the coming tick (sub-tick transitions)
        # the tick's radio and scheduling, its work and output arrays (allocated once, updated in place)
        self.radio = TickRadio(tw, scenario.simulation.scheduler)
        r = self.radio
        self._rsrp_serv = r.rsrp_serv
        self.sinr_db = r.sinr_db
        self.se_bps_hz = r.se_bps_hz
        self.rate_mbps = r.rate_mbps
        self.drone_serving = r.drone_serving
        self.drone_sinr_db = r.drone_sinr_db
        self._cell_load = np.zeros(tw.n_cells)
        self._rate_demanding = np.zeros(tw.users.n)
        self._cell_index = np.arange(tw.n_cells)
        self._sensor_key: tuple[np.ndarray, Any] | None = None
        self._sensor_xyz = np.zeros((0, 3))
        self._ones_cells = np.ones(tw.n_cells)
        self._energy_kwh_cum = 0.0
        self.sites = [SiteAgent(self, s) for s in range(tw.n_sites)]
        self.wall_time_s = 0.0
        #: Wall time and process CPU time spent per stage of the tick, summed over ticks (s); see :data:`STAGES`.
        self.stage_s: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.stage_cpu_s: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        #: Called in every tick once its users and drones have moved and demanded (step 2), before the radio: the
        #: tick's positions, activity and demands are final, the cells' states are those of the tick start. The
        #: closed loop's all-on shadow starts its pass of the tick there (:mod:`dientine.loop.shadow`).
        self.on_tick_inputs: Callable[[], None] | None = None

    # ------------------------------------------------------------------ clock
    @property
    def hour_of_day(self) -> float:
        return ((self.twin.start_s + self.time_s) % SECONDS_PER_DAY) / 3600.0

    @property
    def rsrp_serving_dbm(self) -> np.ndarray:
        """Per user, the RSRP (dBm, O2I included) of its serving cell before this tick's handover (-inf: none)."""
        return self._rsrp_serv

    @property
    def wall_clock_s(self) -> float:
        """Seconds since midnight of day 0 at the current tick start (what diurnal profiles and crowds use)."""
        return self.twin.start_s + self.time_s

    # ------------------------------------------------------------------ control surface (closed loop)
    def set_cell_state(self, cell: int, state: str | int | CellState) -> None:
        """Request a cell state: ``on`` (alias ``active``), ``light_sleep``, ``deep_sleep`` (alias ``sleep``) or
        ``off``; transitions take the equipment's transition time (:mod:`agents.basestations`)."""
        self.twin._check_cell(cell)
        if isinstance(state, str):
            key = state.strip().lower()
            if key in _STATE_ALIASES:
                code = _STATE_ALIASES[key]
            elif key in STATE_NAMES and key != "failed":
                code = CellState[key.upper()]
            else:
                raise ValueError(f"set_cell_state: state for cell {cell}: expected one of on, light_sleep, "
                                 f"deep_sleep, off, found {state!r}")
        else:
            code = CellState(int(state))
        self.twin.bs.request_state([int(cell)], int(code))

    def set_tilt(self, cell: int, deg: float) -> None:
        """Electrical downtilt (degrees below the horizon) of one cell; the gain cache column is recomputed."""
        if not (np.isfinite(deg) and -90.0 <= deg <= 90.0):
            raise ValueError(f"set_tilt: tilt for cell {cell}: expected degrees in [-90, 90], found {deg!r}")
        self.twin.set_tilt(int(cell), float(deg))
        self._neighbours = self._neighbour_weights()

    def set_tx_power(self, cell: int, dbm: float) -> None:
        """Transmit power of one cell (dBm); the top-K candidates are re-ranked."""
        self.twin.set_tx_power(int(cell), float(dbm))
        self._neighbours = self._neighbour_weights()

    def _neighbour_weights(self) -> np.ndarray:
        """W[c, n] = share of cell c's best-server pixels whose second-strongest candidate is n (from the
        top-K map): where c's users go when c is unavailable."""
        tw = self.twin
        w = np.zeros((tw.n_cells, tw.n_cells))
        if tw.topk_cell.shape[1] >= 2:
            first, second = tw.topk_cell[:, 0].astype(np.int64), tw.topk_cell[:, 1].astype(np.int64)
            ok = (first >= 0) & (second >= 0)
            np.add.at(w, (first[ok], second[ok]), 1.0)
        tot = w.sum(axis=1, keepdims=True)
        return np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)

    def cell_kpi_table(self) -> dict[str, np.ndarray]:
        """Latest per-cell KPIs as columns of NumPy arrays (one entry per cell): ``cell``, ``site``, ``hour``
        (wall-clock hour of the last tick), ``state`` (code), ``state_name``, ``load``, ``users``,
        ``throughput_mbps``, ``demand_mbps``, ``unsatisfied_mbps``, ``power_w``, ``tx_power_dbm``, ``tilt_deg``,
        ``health``, and ``neighbour_headroom``: sum over neighbours n of W[c, n] (1 - load_n) over neighbours
        that can serve, W the share of c's best-server pixels whose second-strongest cell is n."""
        tw = self.twin
        last = self.kpi.latest_cell()
        n = tw.n_cells
        if last is None:
            load = np.zeros(n)
            users = np.zeros(n, np.int64)
            zeros = np.zeros(n)
            out = {"hour": np.full(n, self.hour_of_day), "load": load, "users": users, "throughput_mbps": zeros,
                   "demand_mbps": zeros.copy(), "unsatisfied_mbps": zeros.copy(),
                   "power_w": np.asarray(tw.bs.power_w, dtype=np.float64).copy()}
        else:
            out = {k: np.asarray(last[k]).copy() for k in ("hour", "load", "users", "throughput_mbps",
                                                            "demand_mbps", "unsatisfied_mbps", "power_w")}
        serving = tw.bs.serving_mask()
        free = np.where(serving, 1.0 - out["load"], 0.0)
        out.update({
            "cell": np.arange(n), "site": tw.site_id.copy(), "state": tw.bs.state.astype(np.int64).copy(),
            "state_name": np.array([STATE_NAMES[s] for s in tw.bs.state], dtype=object),
            "tx_power_dbm": tw.cells.tx_power_dbm.copy(), "tilt_deg": tw.cells.elec_tilt_deg.copy(),
            "health": self.wear.cell_health() if self.wear is not None else np.ones(n),
            "neighbour_headroom": self._neighbours @ free,
        })
        return out

    # ------------------------------------------------------------------ events
    def _apply_events(self) -> None:
        tw = self.twin
        k = self.tick
        now = self.time_s
        for ev in tw.events:
            e = ev.event
            starts, ends = ev.start_tick == k, ev.end_tick == k
            if e.kind == "site_failure" and starts:
                cells = np.flatnonzero(tw.site_id == e.site)
                # back in service at the first tick starting at or after at + for (else after the equipment's
                # MTTR); the repair instant is put 1 ms before that tick so the repair is integrated by the
                # previous tick's power step and the cells serve from the tick start
                until = (ev.end_tick * self.tick_s if ev.end_tick is not None
                         else now + tw.equipment.repair.mttr_h * 3600.0) - REPAIR_LEAD_S
                tw.bs.fail(cells, until_s=until, at_s=now)
            elif e.kind == "cell_sleep" and starts:
                tw.bs.request_state([e.cell], int(CellState.DEEP_SLEEP))
            elif e.kind == "cell_wake" and starts:
                tw.bs.request_state([e.cell], int(CellState.ON))
            elif e.kind in ("cell_sleep", "cell_wake") and ends:
                tw.bs.request_state([e.cell], int(CellState.ON if e.kind == "cell_sleep" else CellState.DEEP_SLEEP))
        for g in tw.services:
            if g.event.start_tick == k:
                tw.users.active[g.index] = True
                tw.users.ho.detach(g.index)
            if g.event.end_tick == k:
                tw.users.active[g.index] = False
                tw.users.demand_mbps[g.index] = 0.0
                tw.users.ho.detach(g.index)

    # ------------------------------------------------------------------ radio
    def tick_pass(self, radio: TickRadio, ho, active: np.ndarray, can: np.ndarray, rad: np.ndarray,
                  load: np.ndarray, avail: np.ndarray, t_s: float, *, drones: bool = True, demand_scale: float = 1.0,
                  drone_gain: np.ndarray | None = None, rows: UserRows | None = None,
                  clock: _StageClock | None = None):
        """One radio + scheduling pass of a tick (steps 3-4) with ``radio`` on the handover state ``ho``:
        ``load`` (previous-tick PRB utilisation) weights the interference of the radiating cells; returns the
        handover counts and the scheduler's result. The tick itself calls it on the real state; the closed
        loop's shadow and predictor on copies (same kernels, same order, same results for the same inputs);
        ``drone_gain`` reuses the drones' gains of a pass at the same positions (:meth:`TickRadio.drones`),
        ``rows`` the users' top-K rows gathered at the same positions (:class:`UserRows`)."""
        load = np.where(rad, load, 0.0)
        ho_counts = radio.users(ho, active, can, rad, load, t_s, self.tick_s, rows)
        if clock is not None:
            clock.lap("radio")
        radio.drones(can, rad, load, include=drones, gain=drone_gain)
        if clock is not None:
            clock.lap("drones")
        res = radio.schedule(ho, active, avail, demand_scale)
        if clock is not None:
            clock.lap("scheduling")
        return ho_counts, res

    # ------------------------------------------------------------------ tick
    def step(self) -> None:
        """Advance one tick (see module docstring)."""
        if self.tick >= self.n_ticks:
            self.running = False
            return
        tw = self.twin
        bs = tw.bs
        dt = self.tick_s
        entries_failed_before = int(bs.entries[:, CellState.FAILED].sum())
        clock = _StageClock(self.stage_s, self.stage_cpu_s)
        self._apply_events()
        pop = tw.population
        if pop.apply_crowds(self.wall_clock_s, self._r_pop)["joined"]:
            tw.refresh_o2i(np.flatnonzero((tw.users.crowd >= 0) & tw.users.active), self._r_pop)
        pop.step_mobility(dt, self._r_pop)
        pop.update_demand(self.wall_clock_s, dt, self._r_pop)
        for g in tw.services:
            on = tw.users.active[g.index]
            tw.users.demand_mbps[g.index] = np.where(on, g.demand_mbps, 0.0)
        clock.lap("users")
        step_drones(tw.drones, dt)
        update_drone_demand(tw.drones, pop.traffic_table)
        clock.lap("drones")
        if self.on_tick_inputs is not None:
            self.on_tick_inputs()

        state_at_start = bs.state.astype(np.int64)
        can_serve, radiates, avail = bs.tick_masks()  # for this tick: transitions ending inside it count as done
        u = tw.users
        iterations = 2 if self.tick == 0 else 1
        for _ in range(iterations):
            ho, res = self.tick_pass(self.radio, u.ho, u.active, can_serve, radiates, self._cell_load, avail,
                                     self.time_s, clock=clock)
            self._cell_load = np.minimum(np.maximum(res.prb_utilisation, 0.0), 1.0)  # clip to [0, 1]
        users_per_cell = res.n_users
        # the power model's load is the utilisation while the cell serves (a cell waking inside the tick serves
        # the share avail of it); built here: in range, zero on cells that do not serve
        busy = np.empty(tw.n_cells)
        users_on = np.empty(tw.n_cells, np.int64)
        _power_inputs(self._cell_load, avail, can_serve, users_per_cell, busy, users_on)
        bs.set_traffic(busy, users_on, check=False)
        if self.wear is not None:
            wstep = self.wear.step(dt, bs.load)
            apply_failures(bs, self.wear, wstep)
        tick_energy_j = bs.advance(dt)
        self.failures += int(bs.entries[:, CellState.FAILED].sum()) - entries_failed_before
        clock.lap("power_wear")

        new_detections = 0
        if self.sensing is not None:
            self.sensing.advance(self.time_s, dt, tw.drones, self._sensors(), self._r_sense)
            total = len(self.sensing.kpi.detected)
            new_detections = total - self._intruders_detected
            self._intruders_detected = total
        clock.lap("sensing")

        self._record(res, state_at_start, tick_energy_j, ho, new_detections)
        clock.lap("kpis")
        self.tick += 1
        self.time_s = self.tick * dt
        if self.tick >= self.n_ticks:
            self.running = False

    def _sensors(self) -> np.ndarray:
        """(n, 3) positions of the cells that are on (the sensing cells); rebuilt only when the set of cells that
        are on or their positions change."""
        tw = self.twin
        on = tw.bs.state == CellState.ON
        c = tw.cells
        if (self._sensor_key is None or self._sensor_key[1] is not c or not np.array_equal(self._sensor_key[0], on)):
            self._sensor_xyz = np.column_stack([c.x_m[on], c.y_m[on], c.height_m[on]])
            self._sensor_key = (on, c)
        return self._sensor_xyz

    def _record(self, res, state_at_start: np.ndarray, tick_energy_j: np.ndarray, ho: dict[str, int],
                new_detections: int) -> None:
        tw = self.twin
        u = tw.users
        bs = tw.bs
        n_active, covered, n_demanding = user_kpi_counts(u.active, u.ho.serving_cell, self.sinr_db, u.demand_mbps,
                                                         self.rate_mbps, SINR_MIN_DB, self._rate_demanding)
        cov = 100.0 * covered / n_active if n_active else 100.0
        p5, p50 = (percentiles_inplace(self._rate_demanding[:n_demanding], (5.0, 50.0)) if n_demanding
                   else (0.0, 0.0))
        state = state_at_start
        health = bs.health if self.wear is not None else self._ones_cells
        energy_kwh = tick_energy_j / 3.6e6
        hour = self.hour_of_day
        demand = float(res.demand_mbps.sum()) + res.unassigned_demand_mbps
        carried = float(res.served_mbps.sum())
        tick_kwh = float(energy_kwh.sum())
        self._energy_kwh_cum += tick_kwh
        n_state = np.bincount(state, minlength=len(STATE_NAMES)).tolist()
        # one row of each table, in the column order of dientine.kpis.CELL_COLUMNS and NETWORK_COLUMNS
        self.kpi.record_row(
            (self.tick, self.time_s, hour, self._cell_index, tw.site_id, state, bs.load, res.n_users,
             res.served_mbps, res.demand_mbps, res.unsatisfied_mbps, bs.power_w, energy_kwh, tw.cells.tx_power_dbm,
             tw.cells.elec_tilt_deg, health),
            (self.tick, self.time_s, hour, n_active, covered, n_active - covered, cov, n_demanding, p5, p50, demand,
             carried, max(demand - carried, 0.0), float(bs.power_w.sum()), tick_kwh, self._energy_kwh_cum,
             n_state[CellState.ON],
             n_state[CellState.LIGHT_SLEEP] + n_state[CellState.DEEP_SLEEP] + n_state[CellState.OFF],
             n_state[CellState.FAILED], int(np.count_nonzero(tw.drones.active)), new_detections,
             self._intruders_detected, int(ho["handovers"]) + int(ho["forced"])))

    def run(self, n_ticks: int | None = None, progress: bool = False) -> Simulation:
        """Run ``n_ticks`` ticks (default: to the end of the clock). ``progress`` shows a rich progress bar."""
        remaining = self.n_ticks - self.tick
        todo = remaining if n_ticks is None else min(int(n_ticks), remaining)
        t0 = time.perf_counter()
        if progress and todo > 0:
            from rich.progress import Progress  # noqa: PLC0415  (only for interactive runs)

            with Progress(transient=True) as bar:
                task = bar.add_task(f"simulating {self.scenario.name}", total=todo)
                for _ in range(todo):
                    self.step()
                    bar.advance(task)
        else:
            for _ in range(todo):
                self.step()
        self.wall_time_s += time.perf_counter() - t0
        return self

    # ------------------------------------------------------------------ outputs
    @property
    def kpis_cell(self):
        """Per-cell KPIs of every tick so far (pyarrow Table, columns :data:`dientine.kpis.CELL_COLUMNS`)."""
        return self.kpi.cell_table()

    @property
    def kpis_network(self):
        """Network KPIs of every tick so far (pyarrow Table, columns :data:`dientine.kpis.NETWORK_COLUMNS`)."""
        return self.kpi.network_table()

    def summary(self) -> dict[str, float | int]:
        tw = self.twin
        return summarise(self.kpis_network, self.kpis_cell, tick_s=self.tick_s, n_cells=tw.n_cells,
                         n_users=tw.n_users_base, n_drones=tw.drones.n,
                         intruders=int(np.count_nonzero(~tw.drones.registered)), failures=self.failures)


def _json_safe(d: dict) -> dict:
    """NaN/inf are not JSON: write them as null."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def run_simulation(scenario: str | Path | Scenario, out_dir: str | Path, *, progress: bool = True,
                   seed: int | None = None) -> dict[str, Any]:
    """Run a scenario with a clock to its end; write ``kpis_cell.parquet``, ``kpis_network.parquet``,
    ``timeseries.png`` and ``summary.json`` into ``out_dir``; return the summary (keys
    :data:`dientine.kpis.SUMMARY_KEYS`)."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = Simulation(sc, seed=seed)
    model.run(progress=progress)
    summary = model.summary()
    write_parquet(model.kpis_cell, out / "kpis_cell.parquet")
    write_parquet(model.kpis_network, out / "kpis_network.parquet")
    marks = [(model.twin.event_hour(ev), f"{ev.kind} {ev.event.at}") for ev in model.twin.events]
    plot_timeseries(model.kpis_network, out / "timeseries.png", title=f"{sc.name} (seed {model.seed_value})",
                    event_marks=marks)
    write_summary(out / "summary.json", scenario=sc.name, seed=model.seed_value, summary=summary,
                  wall_time_s=time.perf_counter() - t0,
                  extra={"sensing": _json_safe(model.sensing.kpi.summary()) if model.sensing is not None else None})
    return summary
