"""Base stations as arrays: sites, sectors, cells and RRUs with their states, transitions, load and energy.

One entry per cell (sector carrier) in structure-of-arrays form. Each cell belongs to a site (``site_id``) and
is radiated by one RRU (``rru_id``; by default one RRU per cell). A cell's state is one of
:class:`~agents.equipment.CellState` (ON, LIGHT_SLEEP, DEEP_SLEEP, OFF, FAILED).

State machine
  * :meth:`BaseStations.request_state` starts a transition. It takes the equipment's transition time
    (:meth:`agents.power.PowerTable.transition_time_s`: wake time of the source + entry time of the target).
    While a transition is pending the cell keeps its old state code but serves nobody and draws its old
    state's zero-load power; when the transition completes the target's extra entry energy is charged once
    (TR 38.864 §5.1 accounting, REFERENCES §3.2). A new request replaces a pending one (no refund).
  * :meth:`BaseStations.fail` takes cells down (now or at a time inside the next tick) until a repair time;
    requests made while failed are remembered and applied after the repair (the cell comes back ON, then
    transitions to the remembered state).
  * Masks of a tick (sub-tick transitions). The masks describe the coming tick ``[time_s, time_s + tick_s)``
    (``tick_s``: the horizon, set by the simulation to its tick; 0 = this instant). A transition that completes
    inside the tick (``remaining_s < tick_s``) puts the cell in its target state for the tick's association
    and radio: the catalog's sleep transitions take milliseconds (light sleep 6 ms, deep sleep 50 ms in total:
    3GPP TR 38.864 Table 5.1-1, REFERENCES §3.2/§3.3) against a tick of minutes, so a cell entering sleep
    neither serves nor radiates in that tick (its users go to neighbours at once), and a waking cell serves
    and radiates, with :meth:`available_fraction` ``(tick_s - remaining_s) / tick_s`` (it serves only after
    the wake). A transition longer than the tick keeps the instantaneous rule: a cell in transition serves
    nobody; an ON cell ramping down radiates. Energy is integrated event by event by :meth:`advance` in every
    case (the ramp at the old state's power, the entry energy once at the transition's end).
  * Only ON cells (for the tick) serve users (:meth:`serving_mask`); the same cells radiate
    (:meth:`interfering_mask`), plus an ON cell whose transition into sleep is longer than the tick.
  * :meth:`set_traffic` takes each cell's PRB utilisation (from :mod:`agents.scheduler`) and user count and
    refuses traffic on a cell that does not serve: sleeping, off and failed cells carry no users.
  * :meth:`advance` integrates power over a tick, event by event (transition ends, failures, repairs inside
    the tick), and accumulates energy in joules (``energy_j``; ``energy_kwh()``).

One tick in the simulation, in this order::

    bs.request_state(cells, target)                      # decisions (sleep / wake / off)
    mask = bs.serving_mask()                              # associate users only to serving cells (tick_s)
    res = agents.scheduler.schedule(serving, se, demand, bandwidth_hz, bs.available_fraction())
    bs.set_traffic(res.prb_utilisation, res.n_users)
    step = wear.step(dt_s, bs.load, ambient_c, cell_cycles=bs.tick_cycles)   # agents.wear.WearModel
    agents.wear.apply_failures(bs, wear, step)            # failures inside this tick, repairs after MTTR
    bs.advance(dt_s)                                      # power, energy, transitions, repairs
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from agents.equipment import N_STATES, CellState, EquipmentSpec, get_equipment
from agents.power import PowerModelName, PowerTable, Tr38864Table, build_power_table

__all__ = ["BaseStations", "CellState", "NO_PENDING"]

NO_PENDING = -1
#: Cell states as the kernels compare them (integer codes of :class:`CellState`).
_ON = int(CellState.ON)
_FAILED = int(CellState.FAILED)


class BaseStationError(ValueError):
    """Bad input to the base-station arrays; the message names the argument and the offending cells."""


def _cells_text(mask: np.ndarray, limit: int = 10) -> str:
    idx = np.flatnonzero(mask)
    more = f" (+{idx.size - limit} more)" if idx.size > limit else ""
    return f"{idx[:limit].tolist()}{more}"


@numba.njit(cache=True)
def _advance_kernel(dt_s, t0_s, state, pending, remaining_s, time_in_state_s, desired, fail_at_s,
                    failed_until_s, load, p_idle_w, p_slope_w, state_power_w, entry_energy_j, entry_time_s,
                    wake_time_s, energy_j, time_total_s, entries):
    """Integrate every cell's power over [t0_s, t0_s + dt_s), handling events in time order; returns the
    energy of the tick per cell."""
    n = state.shape[0]
    tick_e = np.zeros(n)
    for c in range(n):
        t = 0.0
        e = 0.0
        guard = 0
        while t < dt_s and guard < 64:
            guard += 1
            s = state[c]
            p = state_power_w[c, s]
            if s == _ON:
                p = p_idle_w[c] + p_slope_w[c] * load[c]
            # next event inside the tick
            t_next = dt_s
            kind = 0  # 0 none, 1 transition end, 2 failure, 3 repair
            if s == _FAILED:
                tr = failed_until_s[c] - t0_s
                if tr <= t_next:
                    t_next = max(tr, t)
                    kind = 3
            else:
                tf = fail_at_s[c] - t0_s
                if tf < t_next:
                    t_next = max(tf, t)
                    kind = 2
                if pending[c] >= 0:
                    te = t + remaining_s[c]
                    if te < t_next or (te == t_next and kind == 0):
                        t_next = te
                        kind = 1
            seg = t_next - t
            e += p * seg
            time_total_s[c, s] += seg
            time_in_state_s[c] += seg
            if pending[c] >= 0 and s != _FAILED:
                remaining_s[c] -= seg
            t = t_next
            if kind == 1:
                tgt = pending[c]
                state[c] = tgt
                pending[c] = -1
                remaining_s[c] = 0.0
                time_in_state_s[c] = 0.0
                e += entry_energy_j[c, tgt]
                entries[c, tgt] += 1
                if tgt != 0:  # a cell waking into ON keeps the load it was given for the rest of the tick
                    load[c] = 0.0
            elif kind == 2:
                if pending[c] >= 0:
                    desired[c] = pending[c]
                else:
                    desired[c] = s
                state[c] = _FAILED
                pending[c] = -1
                remaining_s[c] = 0.0
                time_in_state_s[c] = 0.0
                fail_at_s[c] = np.inf
                entries[c, 4] += 1
                load[c] = 0.0
            elif kind == 3:
                state[c] = _ON
                time_in_state_s[c] = 0.0
                entries[c, 0] += 1
                failed_until_s[c] = np.nan
                load[c] = 0.0
                d = desired[c]
                if d != 0:
                    pending[c] = d
                    remaining_s[c] = entry_time_s[c, d]
        if t < dt_s:  # more than 64 events in one tick (not expected): rest of the tick in the current state
            s = state[c]
            p = p_idle_w[c] + p_slope_w[c] * load[c] if s == 0 else state_power_w[c, s]
            e += p * (dt_s - t)
            time_total_s[c, s] += dt_s - t
            time_in_state_s[c] += dt_s - t
        tick_e[c] = e
        energy_j[c] += e
    return tick_e


@numba.njit(cache=True, inline="always")
def _tick_rule(c, state, pending, remaining_s, dt):
    """The coming tick's rule for cell ``c`` (:meth:`BaseStations._tick_view`): whether it is ON for the tick (its
    state, or the target of a pending transition ending inside the tick, unless failed), whether it serves (ON and
    without a pending transition, or waking inside the tick), and whether a transition ends inside the tick."""
    none = pending[c] == NO_PENDING
    fast = (not none) and remaining_s[c] < dt and state[c] != _FAILED
    eff = pending[c] if fast else state[c]
    on = eff == _ON
    return on, on and (none or fast), fast


@numba.njit(cache=True)
def _tick_masks_kernel(state, pending, remaining_s, dt, out_serving, out_on, out_avail):
    """:meth:`BaseStations.tick_masks` in one pass: per cell, the state for the coming tick of ``dt`` (the target
    of a pending transition that ends inside it, unless failed), ON for it (``out_on``), serving (ON and without
    a pending transition, or waking inside the tick) and the serving share of the tick (``(dt - remaining) / dt``
    for a cell waking inside it, 1 for the other serving cells, 0 otherwise)."""
    for c in range(state.shape[0]):
        on, serving, fast = _tick_rule(c, state, pending, remaining_s, dt)
        out_on[c] = on
        out_serving[c] = serving
        if not serving:
            out_avail[c] = 0.0
        elif fast:
            out_avail[c] = (dt - remaining_s[c]) / dt
        else:
            out_avail[c] = 1.0


@numba.njit(cache=True)
def _advance_all(dt_s, t0_s, tick_s, state, pending, remaining_s, time_in_state_s, desired, fail_at_s,
                 failed_until_s, load, p_idle_w, p_slope_w, state_power_w, entry_energy_j, entry_time_s, wake_time_s,
                 energy_j, time_total_s, entries, n_users, out_power_w, out_cycles):
    """:meth:`BaseStations.advance` after its checks: :func:`_advance_kernel`, then the tick's mean power, the
    entries into light sleep, deep sleep or off during the tick, and no users on cells that do not serve the
    coming tick (:func:`_tick_masks_kernel` with horizon ``tick_s``). Returns the tick's energy per cell."""
    n = state.shape[0]
    for c in range(n):
        out_cycles[c] = entries[c, 1] + entries[c, 2] + entries[c, 3]
    tick_e = _advance_kernel(dt_s, t0_s, state, pending, remaining_s, time_in_state_s, desired, fail_at_s,
                             failed_until_s, load, p_idle_w, p_slope_w, state_power_w, entry_energy_j, entry_time_s,
                             wake_time_s, energy_j, time_total_s, entries)
    for c in range(n):
        out_power_w[c] = tick_e[c] / dt_s
        out_cycles[c] = entries[c, 1] + entries[c, 2] + entries[c, 3] - out_cycles[c]
        if not _tick_rule(c, state, pending, remaining_s, tick_s)[1]:
            n_users[c] = 0
    return tick_e


class BaseStations:
    """Cells, their sites, sectors and RRUs, as arrays (see module docstring).

    Parameters
    ----------
    site_id : per cell, the index of its site (0..n_sites-1), e.g. ``CellTable.site_id`` of the layout.
    equipment : one :class:`EquipmentSpec` for every cell, or a sequence of specs indexed by ``equipment_index``.
    rru_id : per cell, the RRU radiating it (default: one RRU per cell).
    power_model : ``"earth"`` (default) or ``"tr38864"`` (see :mod:`agents.power`).
    start_s : the clock at construction.
    """

    def __init__(self, site_id: np.ndarray, equipment: EquipmentSpec | Sequence[EquipmentSpec],
                 equipment_index: np.ndarray | None = None, rru_id: np.ndarray | None = None,
                 power_model: PowerModelName = "earth", tr38864: Tr38864Table | None = None,
                 start_s: float = 0.0):
        site_id = np.asarray(site_id, dtype=np.int64)
        if site_id.ndim != 1 or site_id.size == 0:
            raise BaseStationError(f"site_id: expected a non-empty 1-D array, found shape {site_id.shape}")
        if site_id.min() < 0:
            raise BaseStationError(f"site_id: negative site index at cells {_cells_text(site_id < 0)}")
        n = site_id.size
        self.specs: tuple[EquipmentSpec, ...] = (
            (equipment,) if isinstance(equipment, EquipmentSpec) else tuple(equipment))
        if not self.specs:
            raise BaseStationError("equipment: expected at least one EquipmentSpec")
        eq = np.zeros(n, dtype=np.int64) if equipment_index is None else np.asarray(equipment_index, np.int64)
        if eq.shape != (n,):
            raise BaseStationError(f"equipment_index: expected shape ({n},), found {eq.shape}")
        rru = np.arange(n, dtype=np.int64) if rru_id is None else np.asarray(rru_id, dtype=np.int64)
        if rru.shape != (n,) or rru.min() < 0:
            raise BaseStationError(f"rru_id: expected {n} indices >= 0, found shape {rru.shape}")
        first_site = np.full(int(rru.max()) + 1, -1, dtype=np.int64)
        first_site[rru[::-1]] = site_id[::-1]  # the site of each RRU's first cell
        mixed = first_site[rru] != site_id
        if mixed.any():
            c = int(np.flatnonzero(mixed)[0])
            raise BaseStationError(f"rru_id: RRU {rru[c]} radiates cells of several sites "
                                   f"{sorted({int(first_site[rru[c]]), int(site_id[c])})}")
        self.site_id = site_id
        self.rru_id = rru
        self.equipment_index = eq
        # sector = rank of the cell among its site's cells, in cell order
        self.sector = np.zeros(n, dtype=np.int64)
        counts: dict[int, int] = {}
        for c, s in enumerate(site_id.tolist()):
            self.sector[c] = counts.get(s, 0)
            counts[s] = self.sector[c] + 1
        self.power_table: PowerTable = build_power_table(self.specs, eq, power_model, tr38864)
        self.time_s = float(start_s)
        self.state = np.zeros(n, dtype=np.int8)
        self.pending = np.full(n, NO_PENDING, dtype=np.int8)
        self.remaining_s = np.zeros(n)
        self.time_in_state_s = np.zeros(n)
        self.desired = np.zeros(n, dtype=np.int8)
        self.fail_at_s = np.full(n, np.inf)
        self.failed_until_s = np.full(n, np.nan)
        self.load = np.zeros(n)
        self.n_users = np.zeros(n, dtype=np.int64)
        self.power_w = self.power_table.power_w(self.state, self.load)
        self.energy_j = np.zeros(n)
        self.tick_energy_j = np.zeros(n)
        self.time_in_state_total_s = np.zeros((n, N_STATES))
        self.entries = np.zeros((n, N_STATES), dtype=np.int64)
        self.tick_cycles = np.zeros(n, dtype=np.int64)  # entries into sleep/off during the last tick
        self.health = np.ones(n)  # lowest component health (1 - degradation) per cell, set by agents.wear
        #: horizon of the masks (s): the coming tick's length (set by the simulation); 0 = this instant
        self.tick_s = 0.0

    @classmethod
    def from_catalog(cls, site_id: np.ndarray, equipment: str, overrides: dict | None = None,
                     power_model: PowerModelName = "earth", start_s: float = 0.0,
                     rru_id: np.ndarray | None = None) -> BaseStations:
        """All cells with one catalog equipment entry (``agents/catalog.yaml``), with assumption overrides."""
        return cls(site_id, get_equipment(equipment, overrides), rru_id=rru_id, power_model=power_model,
                   start_s=start_s)

    # ------------------------------------------------------------------------------ topology
    @property
    def n_cells(self) -> int:
        return int(self.site_id.size)

    @property
    def n_sites(self) -> int:
        return int(self.site_id.max()) + 1

    @property
    def n_rrus(self) -> int:
        return int(self.rru_id.max()) + 1

    def cells_of_site(self, site: int) -> np.ndarray:
        return np.flatnonzero(self.site_id == site)

    def cells_of_rru(self, rru: int) -> np.ndarray:
        return np.flatnonzero(self.rru_id == rru)

    # ------------------------------------------------------------------------------ masks
    def _tick_view(self, dt_s: float | None) -> tuple[np.ndarray, np.ndarray, float]:
        """The state each cell is in for the coming tick of ``dt_s`` (default :attr:`tick_s`): its target when
        its pending transition ends inside the tick, else its current state; and the mask of those transitions."""
        dt = self.tick_s if dt_s is None else float(dt_s)
        fast = (self.pending != NO_PENDING) & (self.remaining_s < dt) & (self.state != CellState.FAILED)
        if not fast.any():
            return self.state, fast, dt
        return np.where(fast, self.pending, self.state), fast, dt

    def tick_masks(self, dt_s: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`serving_mask`, :meth:`interfering_mask` and :meth:`available_fraction` of the coming tick in
        one call (one pass, :func:`_tick_masks_kernel`; new arrays)."""
        dt = self.tick_s if dt_s is None else float(dt_s)
        n = self.state.shape[0]
        serving, on, avail = np.empty(n, np.bool_), np.empty(n, np.bool_), np.empty(n)
        _tick_masks_kernel(self.state, self.pending, self.remaining_s, dt, serving, on, avail)
        return serving, on, avail

    def tick_state(self, dt_s: float | None = None) -> np.ndarray:
        """Per cell, the state it is in for the coming tick (a copy): the target of a transition that ends inside
        it, else the current state (module docstring)."""
        return self._tick_view(dt_s)[0].copy()

    def serving_mask(self, dt_s: float | None = None) -> np.ndarray:
        """Cells that can carry users in the coming tick of ``dt_s`` (default :attr:`tick_s`; module docstring):
        ON for the tick -- ON without a pending transition, or waking into ON inside the tick."""
        eff, fast, _ = self._tick_view(dt_s)
        return (eff == CellState.ON) & ((self.pending == NO_PENDING) | fast)

    def interfering_mask(self, dt_s: float | None = None) -> np.ndarray:
        """Cells that radiate in the coming tick: ON for the tick, or ON and ramping down into a sleep state
        that the tick does not reach (a transition longer than the tick)."""
        eff, _, _ = self._tick_view(dt_s)
        return eff == CellState.ON

    def available_fraction(self, dt_s: float | None = None) -> np.ndarray:
        """Share of each cell's resources the scheduler may use in the coming tick: 1 for serving cells,
        ``(dt - remaining_s) / dt`` for a cell that wakes into ON inside the tick, 0 otherwise."""
        return self.tick_masks(dt_s)[2]

    def transition_time_s(self, target: int) -> np.ndarray:
        """Per cell, how long a request to move to ``target`` now would take (the pending transition's remaining
        time when it already goes there; 0 for a cell already in ``target`` without a pending change)."""
        pt = self.power_table
        idx = np.arange(self.n_cells)
        out = pt.wake_time_s[idx, self.state.astype(np.int64)] + pt.entry_time_s[:, int(target)]
        out = np.where((self.state == target) & (self.pending == NO_PENDING), 0.0, out)
        return np.where(self.pending == target, self.remaining_s, out)

    def rru_state(self) -> np.ndarray:
        """State of each RRU: the 'most awake' state of its cells (lowest code; ON wins)."""
        out = np.full(self.n_rrus, CellState.FAILED, dtype=np.int8)
        np.minimum.at(out, self.rru_id, self.state)
        return out

    # ------------------------------------------------------------------------------ commands
    def _cells(self, cells: np.ndarray | Sequence[int] | int, what: str) -> np.ndarray:
        idx = np.atleast_1d(np.asarray(cells, dtype=np.int64))
        bad = (idx < 0) | (idx >= self.n_cells)
        if bad.any():
            raise BaseStationError(f"{what}: cell indices {idx[bad][:10].tolist()} outside [0, {self.n_cells - 1}]")
        return idx

    def request_state(self, cells: np.ndarray | Sequence[int] | int, target: int | np.ndarray) -> None:
        """Ask ``cells`` to move to ``target`` (a CellState other than FAILED; scalar or per cell)."""
        idx = self._cells(cells, "request_state.cells")
        tgt = np.broadcast_to(np.asarray(target, dtype=np.int64), idx.shape).copy()
        bad = (tgt < 0) | (tgt >= CellState.FAILED)
        if bad.any():
            raise BaseStationError(f"request_state.target: expected ON, LIGHT_SLEEP, DEEP_SLEEP or OFF "
                                   f"(0..3), found {tgt[bad][:10].tolist()} (use fail() for failures)")
        failed = self.state[idx] == CellState.FAILED
        self.desired[idx[failed]] = tgt[failed]
        live, tgt = idx[~failed], tgt[~failed]
        same = self.state[live] == tgt
        # back to the current state: cancel any pending transition
        self.pending[live[same]] = NO_PENDING
        self.remaining_s[live[same]] = 0.0
        live, tgt = live[~same], tgt[~same]
        changed = self.pending[live] != tgt
        live, tgt = live[changed], tgt[changed]
        pt = self.power_table
        frm = self.state[live].astype(np.int64)
        self.pending[live] = tgt
        self.remaining_s[live] = pt.wake_time_s[live, frm] + pt.entry_time_s[live, tgt]
        self.load[live] = 0.0
        self.n_users[live] = 0

    def fail(self, cells: np.ndarray | Sequence[int] | int, until_s: float | np.ndarray,
             at_s: float | np.ndarray | None = None) -> None:
        """Take ``cells`` down from ``at_s`` (default: now) until ``until_s`` (absolute seconds). A failure at a
        time inside the next tick is applied by :meth:`advance` at that instant. A cell already failed keeps the
        later repair time."""
        idx = self._cells(cells, "fail.cells")
        until = np.broadcast_to(np.asarray(until_s, dtype=np.float64), idx.shape)
        at = np.broadcast_to(np.asarray(self.time_s if at_s is None else at_s, dtype=np.float64), idx.shape)
        if np.any(~np.isfinite(until)) or np.any(until < at):
            raise BaseStationError(f"fail.until_s: expected finite times >= at_s, found {until.tolist()[:10]}")
        for c, a, u in zip(idx.tolist(), at.tolist(), until.tolist(), strict=True):
            if self.state[c] == CellState.FAILED:
                self.failed_until_s[c] = max(self.failed_until_s[c], u)
                continue
            if a <= self.time_s:
                self.desired[c] = self.pending[c] if self.pending[c] != NO_PENDING else self.state[c]
                self.state[c] = CellState.FAILED
                self.pending[c] = NO_PENDING
                self.remaining_s[c] = 0.0
                self.time_in_state_s[c] = 0.0
                self.entries[c, CellState.FAILED] += 1
                self.load[c] = 0.0
                self.n_users[c] = 0
                self.failed_until_s[c] = u
            else:
                self.fail_at_s[c] = min(self.fail_at_s[c], a)
                self.failed_until_s[c] = u if np.isnan(self.failed_until_s[c]) else max(self.failed_until_s[c], u)

    def set_traffic(self, load: np.ndarray, n_users: np.ndarray | None = None, *, check: bool = True) -> None:
        """Set this tick's PRB utilisation per cell (in [0, 1]) and user count; non-serving cells must carry 0.
        ``check=False`` skips the input checks: for a caller that built ``load`` (float64, in [0, 1], 0 on cells
        that do not serve) and ``n_users`` (int64) itself, as the simulation tick does."""
        if not check:
            self.load = load
            self.n_users = n_users
            return
        load = np.asarray(load, dtype=np.float64)
        if load.shape != (self.n_cells,):
            raise BaseStationError(f"set_traffic.load: expected shape ({self.n_cells},), found {load.shape}")
        bad = ~np.isfinite(load) | (load < 0) | (load > 1 + 1e-9)
        if bad.any():
            raise BaseStationError(f"set_traffic.load: expected values in [0, 1], found "
                                   f"{load[bad][:5].tolist()} at cells {_cells_text(bad)}")
        users = np.zeros(self.n_cells, np.int64) if n_users is None else np.asarray(n_users, dtype=np.int64)
        if users.shape != (self.n_cells,) or np.any(users < 0):
            raise BaseStationError(f"set_traffic.n_users: expected {self.n_cells} counts >= 0")
        idle = ~self.serving_mask()
        carrying = idle & ((load > 0) | (users > 0))
        if carrying.any():
            raise BaseStationError(f"set_traffic: cells {_cells_text(carrying)} do not serve (sleep, off, failed "
                                   f"or in transition) but were given load or users")
        self.load = np.minimum(load, 1.0)
        self.n_users = users

    # ------------------------------------------------------------------------------ time
    def advance(self, dt_s: float) -> np.ndarray:
        """Integrate power over ``[time_s, time_s + dt_s)``; returns the tick's energy per cell (J).
        ``power_w`` becomes the tick's mean power per cell."""
        if not np.isfinite(dt_s) or dt_s <= 0:
            raise BaseStationError(f"advance.dt_s: expected a positive finite number, found {dt_s!r}")
        pt = self.power_table
        n = self.state.shape[0]
        self.power_w = np.empty(n)
        self.tick_cycles = np.empty(n, np.int64)
        self.tick_energy_j = _advance_all(
            float(dt_s), self.time_s, float(self.tick_s), self.state, self.pending, self.remaining_s,
            self.time_in_state_s, self.desired, self.fail_at_s, self.failed_until_s, self.load, pt.p_idle_w,
            pt.p_slope_w, pt.state_power_w, pt.entry_energy_j, pt.entry_time_s, pt.wake_time_s, self.energy_j,
            self.time_in_state_total_s, self.entries, self.n_users, self.power_w, self.tick_cycles)
        self.time_s += float(dt_s)
        return self.tick_energy_j

    # ------------------------------------------------------------------------------ read-outs
    def energy_kwh(self) -> float:
        """Total energy of all cells since construction, kWh (1 kWh = 3.6e6 J)."""
        return float(self.energy_j.sum()) / 3.6e6

    def site_power_w(self) -> np.ndarray:
        """Mean power of each site over the last tick (sum of its cells)."""
        return np.bincount(self.site_id, weights=self.power_w, minlength=self.n_sites)

    def summary(self) -> dict[str, float]:
        """Network totals after the last tick: energy (kWh), mean power (W) and cells per state."""
        counts = np.bincount(self.state.astype(np.int64), minlength=N_STATES)
        out = {"energy_kwh": self.energy_kwh(), "power_w": float(self.power_w.sum()),
               "n_serving": float(self.serving_mask().sum())}
        for st in CellState:
            out[f"n_{st.name.lower()}"] = float(counts[st])
        return out

    def instantaneous_power_w(self) -> np.ndarray:
        """Power each cell draws at this instant in its current state and load (no tick averaging)."""
        return self.power_table.power_w(self.state, self.load)

