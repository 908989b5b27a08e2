"""The twin: network arrays (cells, base stations) + population arrays (users, drones) + grid + gain cache.

"The grid is the cache" (DESIGN.md): the static path gain of every pixel centre to every cell (transmit power
excluded, :func:`dientine.radio.maps.gain_map_dense`) is computed once per network configuration and kept as a
dense ``[pixels, cells]`` float32 matrix when it fits in :data:`DENSE_CACHE_MAX_BYTES` (the 57-cell city at
10 m: 18 MB), from which the top-K candidate cells per pixel (ranked by gain + transmit power) are derived.
Changing a cell's tilt recomputes only that cell's column and re-derives the top-K; changing a transmit power
re-ranks the top-K; changing a cell's state or load costs nothing (they enter the per-tick serving kernel).
Without the dense matrix (very large areas) the top-K map is recomputed in full on a tilt change.

Per tick, ground users look up the top-K of their pixel (:func:`user_candidates`, :func:`user_links`); the
pixel gains are those of an outdoor point at 1.5 m (TR 38.901 outdoor h_UT). Indoor users add their own O2I
loss (:func:`dientine.radio.o2i.o2i_loss_db`, low-loss model with σ_P) to every link, which lowers signal and
interference alike, so only the noise term changes their SINR. Drones (aerial, few) are evaluated directly at
their 3-D position every tick (dense gains over all cells, TR 36.777 Annex B above 22.5 m).

The per-user kernels here are Numba, over the top-K map of :mod:`dientine.radio`:

* :func:`user_candidates`: best serving-capable cell, best cell other than the current server and their RSRP,
  and the RSRP of the current server (what the A3 handover of :mod:`agents.handover` needs);
* :func:`user_links`: SINR and spectral efficiency of each user towards its serving cell, interference from
  every radiating cell in its top-K weighted by that cell's load (the interference of cells outside the top-K
  is ignored, as in :mod:`dientine.radio.maps`). The received powers of the top-K entries are cached per pixel
  (dBm and mW) with the gains, so a tick costs O(K) compares and multiply-adds per user, no exponentials.

Live telemetry (:class:`TelemetryMixin`): :meth:`Twin.ingest_telemetry` takes measured per-cell KPIs, applies
measured transmit power and cell state to the twin, and :meth:`Twin.telemetry_overlay` puts the measured KPIs
that are in force (newer than the model's latest tick, younger than ``telemetry_max_age_s``) into the per-cell
KPI table the closed loop decides on.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from agents.basestations import BaseStations
from agents.catalog import Catalog, load_catalog
from agents.drones import DroneArrays, build_drones
from agents.equipment import CellState, EquipmentSpec
from agents.handover import HandoverParams
from agents.traffic import DiurnalProfile, load_diurnal_profile
from agents.users import CrowdEvent, Population
from dientine.events import ScheduledEvent, schedule_events
from dientine.network import build_network, grid_for
from dientine.radio import kernels as rk
from dientine.radio import maps as radio_maps
from dientine.radio.constants import H_UT_MAX_AV_M, H_UT_RANGE_38901_M, family_of
from dientine.radio.link import se_parameters, thermal_noise_dbm
from dientine.radio.maps import gain_map_dense, gain_map_topk
from dientine.radio.network_arrays import PointArrays
from dientine.radio.o2i import o2i_loss_db
from dientine.radio.shadowing import SiteFields, build_site_fields
from dientine.scenario import Scenario

#: Largest dense gain cache kept in memory (bytes); a configuration choice of the twin, not a model constant.
DENSE_CACHE_MAX_BYTES = 512 * 1024**2

#: Height (m) of the pixel evaluation points: TR 38.901 Table 7.4.1-1 / §7.8 outdoor h_UT 1.5 m.
PIXEL_HEIGHT_M = 1.5

LN10_10 = math.log(10.0) / 10.0


class TwinError(ValueError):
    """The scenario cannot be turned into a twin; the message names the scenario field."""


# ----------------------------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _pixel_of(x, y, x0, y0, res, n_cols, n_rows):
    col = int(math.floor((x - x0) / res))
    row = int(math.floor((y - y0) / res))
    col = min(max(col, 0), n_cols - 1)
    row = min(max(row, 0), n_rows - 1)
    return row * n_cols + col


@numba.njit(cache=True, nogil=True)
def _drone_points(x, y, z, h_lo, h_hi, x0, y0, res, n_cols, n_rows, out_pix):
    """Pixels of the points (as :meth:`dientine.grid.Grid.pixel_index`) into ``out_pix``; returns whether every
    coordinate is finite and every height in ``[h_lo, h_hi]`` (the checks of
    :class:`~dientine.radio.network_arrays.PointArrays` and its ``validate_for`` for outdoor points)."""
    ok = True
    for i in range(x.shape[0]):
        if not (np.isfinite(x[i]) and np.isfinite(y[i]) and z[i] >= h_lo and z[i] <= h_hi):
            ok = False
        col = min(max(int(math.floor((x[i] - x0) / res)), 0), n_cols - 1) if np.isfinite(x[i]) else 0
        row = min(max(int(math.floor((y[i] - y0) / res)), 0), n_rows - 1) if np.isfinite(y[i]) else 0
        out_pix[i] = row * n_cols + col
    return ok


@numba.njit(cache=True, nogil=True)
def rx_cache(cell_index, gain, tx, out_dbm, out_mw):
    """Received power (transmit power + gain) of every top-K entry, in dBm (float32) and mW (float64)."""
    for p in range(cell_index.shape[0]):
        for k in range(cell_index.shape[1]):
            c = cell_index[p, k]
            if c < 0:
                out_dbm[p, k] = -np.inf
                out_mw[p, k] = 0.0
            else:
                v = tx[c] + gain[p, k]
                out_dbm[p, k] = v
                out_mw[p, k] = math.exp(v * LN10_10)


@intrinsic
def _prefetch_row(typingctx, arr, row):
    """Hint the CPU to fetch the cache line holding ``arr[row, 0]`` (a 2-D array) into all cache
    levels (LLVM ``llvm.prefetch``: read, high locality, data); no effect on results. The per-user kernels look up
    rows of the top-K map at random pixels, so their time is memory latency; fetching the rows of the user a few
    iterations ahead overlaps those waits."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(row, types.Integer)):
        return None
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx, zero], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


#: How many users ahead the pixel-lookup kernel prefetches (a performance setting, measured on this machine).
PREFETCH_USERS_AHEAD = 8


def _make_candidates(parallel):
    rng_ = prange if parallel else range

    def candidates(x, y, active, x0, y0, res, n_cols, n_rows, cell_index, rx_dbm, can_serve, off, serving,
                   rsrp_off, o2i_db, out_row, out_best, out_rsrp_best, out_other, out_rsrp_other,
                   out_rsrp_serving, rx_mw, radiates, load, out_mw3, out_interf_mw, rows_cell, rows_dbm, rows_mw):
        """Per active user: its pixel row, the best serving-capable cell (max RSRP + offset), the best such cell
        other than ``serving[u]`` and the RSRP (dBm) of each and of the current server (-inf if the server is not
        in the pixel's top-K or cannot serve). For :func:`user_links_fast`, also the received powers (mW, no O2I)
        of those three cells in ``out_mw3[u] = (best, other, current)`` (0 if none) and the load-weighted sum of
        the received powers of all radiating top-K cells in ``out_interf_mw[u]``. With ``rows_cell`` of one row per
        user (else of none), each active user's top-K row (cells, received powers in dBm and mW) is also copied
        into ``rows_cell[u]``, ``rows_dbm[u]``, ``rows_mw[u]``: another pass over the same positions can then read
        them in user order, as a 1 x n grid of unit pixels (user u at x = u + 0.5, y = 0.5)."""
        n = x.shape[0]
        gather = rows_cell.shape[0] > 0
        for u in rng_(n):
            v = u + PREFETCH_USERS_AHEAD
            if v < n and active[v]:
                q = _pixel_of(x[v], y[v], x0, y0, res, n_cols, n_rows)
                _prefetch_row(cell_index, q)
                _prefetch_row(rx_dbm, q)
                _prefetch_row(rx_mw, q)
            if not active[u]:
                out_row[u] = -1
                out_best[u] = -1
                out_other[u] = -1
                continue
            p = _pixel_of(x[u], y[u], x0, y0, res, n_cols, n_rows)
            out_row[u] = p
            s = serving[u]
            b = -1
            bm = -np.inf
            brx = -np.inf
            o = -1
            om = -np.inf
            orx = -np.inf
            srx = -np.inf
            bmw = 0.0
            omw = 0.0
            smw = 0.0
            w = 0.0
            shift = rsrp_off - o2i_db[u]
            for k in range(cell_index.shape[1]):
                c = cell_index[p, k]
                if gather:
                    rows_cell[u, k] = c
                    rows_dbm[u, k] = rx_dbm[p, k]
                    rows_mw[u, k] = rx_mw[p, k]
                if c < 0:
                    continue
                if radiates[c]:
                    w += load[c] * rx_mw[p, k]
                if not can_serve[c]:
                    continue
                rx = rx_dbm[p, k] + shift
                m = rx + off[c]
                if c == s:
                    srx = rx
                    smw = rx_mw[p, k]
                if m > bm:
                    bm = m
                    brx = rx
                    b = c
                    bmw = rx_mw[p, k]
                if c != s and m > om:
                    om = m
                    orx = rx
                    o = c
                    omw = rx_mw[p, k]
            out_mw3[u, 0] = bmw
            out_mw3[u, 1] = omw
            out_mw3[u, 2] = smw
            out_interf_mw[u] = w
            out_best[u] = b
            out_rsrp_best[u] = brx
            out_other[u] = o
            out_rsrp_other[u] = orx
            out_rsrp_serving[u] = srx

    return candidates


def _make_links(parallel):
    rng_ = prange if parallel else range

    def links(row, active, serving, cell_index, rx_mw, radiates, load, o2i_lin, noise_mw, kind, alpha, smin, tmax,
              thr, eff, out_sinr, out_se):
        """SINR (dB) and spectral efficiency (bps/Hz) of each active user towards ``serving[u]``: signal S = the
        server's received power; interference I = sum over the other radiating cells of the pixel's top-K of
        load x received power (cached in mW, no exponentials per tick); O2I loss L divides signal and
        interference alike, so SINR = S / (I + L N) (``o2i_lin`` = L, linear). A user without a server, or whose
        server is not in its pixel's top-K or does not radiate, gets -inf and 0."""
        for u in rng_(row.shape[0]):
            s = serving[u]
            if not active[u] or s < 0 or not radiates[s]:
                out_sinr[u] = -np.inf
                out_se[u] = 0.0
                continue
            p = row[u]
            sig = -1.0
            interf = 0.0
            for k in range(cell_index.shape[1]):
                c = cell_index[p, k]
                if c < 0:
                    continue
                if c == s:
                    sig = rx_mw[p, k]
                elif radiates[c]:
                    interf += load[c] * rx_mw[p, k]
            if sig <= 0.0:
                out_sinr[u] = -np.inf
                out_se[u] = 0.0
                continue
            lin = sig / (interf + noise_mw * o2i_lin[u])
            sinr = 10.0 * math.log10(lin)
            out_sinr[u] = sinr
            out_se[u] = rk.spectral_efficiency_scalar(sinr, lin, kind, alpha, smin, tmax, thr, eff)

    return links


def _make_links_fast(parallel):
    rng_ = prange if parallel else range

    def links_fast(active, serving, prev_serving, best, other, mw3, interf_mw, radiates, load, o2i_lin, noise_mw,
                   kind, alpha, smin, tmax, thr, eff, out_sinr, out_se):
        """As :func:`user_links`, but from what :func:`user_candidates` stored, without touching the pixel rows
        again: after the A3 handover the server is the previous one, the best or the best other cell, whose
        received power is in ``mw3``; interference = ``interf_mw`` minus the server's own load-weighted term."""
        for u in rng_(serving.shape[0]):
            s = serving[u]
            if not active[u] or s < 0 or not radiates[s]:
                out_sinr[u] = -np.inf
                out_se[u] = 0.0
                continue
            if s == prev_serving[u]:
                sig = mw3[u, 2]
            elif s == other[u]:
                sig = mw3[u, 1]
            elif s == best[u]:
                sig = mw3[u, 0]
            else:
                sig = 0.0
            if sig <= 0.0:
                out_sinr[u] = -np.inf
                out_se[u] = 0.0
                continue
            interf = max(interf_mw[u] - load[s] * sig, 0.0)
            lin = sig / (interf + noise_mw * o2i_lin[u])
            sinr = 10.0 * math.log10(lin)
            out_sinr[u] = sinr
            out_se[u] = rk.spectral_efficiency_scalar(sinr, lin, kind, alpha, smin, tmax, thr, eff)

    return links_fast


user_candidates = numba.njit(parallel=True, cache=True)(_make_candidates(True))
user_candidates_serial = numba.njit(cache=True, nogil=True)(_make_candidates(False))
user_links = numba.njit(parallel=True, cache=True)(_make_links(True))
user_links_serial = numba.njit(cache=True, nogil=True)(_make_links(False))
user_links_fast = numba.njit(parallel=True, cache=True)(_make_links_fast(True))
user_links_fast_serial = numba.njit(cache=True, nogil=True)(_make_links_fast(False))

#: Below this many users the serial kernels are used (thread start-up dominates); a performance setting.
PARALLEL_MIN_USERS = 200_000


# ----------------------------------------------------------------------------------------------- builders
def diurnal_profile(scenario: Scenario) -> DiurnalProfile:
    tp = scenario.simulation.traffic_profile
    if tp.values is not None:
        return DiurnalProfile.from_values(tp.values, tp.source or "", name=f"{scenario.name}:traffic_profile")
    try:
        return load_diurnal_profile(tp.name)
    except KeyError as exc:
        raise TwinError(f"simulation.traffic_profile.name: {exc.args[0]}") from None


def handover_params(scenario: Scenario) -> HandoverParams:
    ho = scenario.simulation.handover
    kw = {k: v for k, v in (("hysteresis_db", ho.hysteresis_db), ("time_to_trigger_s", ho.time_to_trigger_s))
          if v is not None}
    try:
        return HandoverParams(**kw)
    except ValueError as exc:
        raise TwinError(f"simulation.handover: {exc}") from None


@dataclass
class ServiceGroup:
    """Users of a ``service_launch`` event: indices into the user arrays and their constant demand."""

    event: ScheduledEvent
    index: np.ndarray
    demand_mbps: float


# ----------------------------------------------------------------------------------------------- telemetry
#: Per-cell KPIs a twin accepts as telemetry: name -> (KPI-table column, lowest, highest, factor to the column's
#: unit). ``load`` is the share of the cell's resources in use (the simulation's PRB utilisation, :mod:`dientine.kpis`);
#: ``prb_util_pct`` is the same measure in percent, as operations systems report PRB usage. ``tx_power_dbm`` has the
#: range :meth:`Twin.set_tx_power` accepts.
TELEMETRY_KPIS: dict[str, tuple[str, float, float, float]] = {
    "load": ("load", 0.0, 1.0, 1.0),
    "prb_util_pct": ("load", 0.0, 100.0, 0.01),
    "users": ("users", 0.0, math.inf, 1.0),
    "throughput_mbps": ("throughput_mbps", 0.0, math.inf, 1.0),
    "demand_mbps": ("demand_mbps", 0.0, math.inf, 1.0),
    "unsatisfied_mbps": ("unsatisfied_mbps", 0.0, math.inf, 1.0),
    "power_w": ("power_w", 0.0, math.inf, 1.0),
    "health": ("health", 0.0, 1.0, 1.0),
    "tx_power_dbm": ("tx_power_dbm", -30.0, 80.0, 1.0),
}

#: Measured cell states, in the order of the state codes (:class:`agents.equipment.CellState`).
TELEMETRY_STATES: tuple[str, ...] = tuple(s.name.lower() for s in CellState)

#: Oldest telemetry (s, twin clock) that still overrides the model's KPIs: an assumption (one 15-minute tick of the
#: bundled day scenarios); per twin in ``Twin.telemetry_max_age_s``.
TELEMETRY_MAX_AGE_S = 900.0

_TM_COLUMNS = tuple(dict.fromkeys(col for col, *_ in TELEMETRY_KPIS.values()))


class TelemetryError(ValueError):
    """A telemetry record does not fit the twin; ``field`` is its path inside the record (``kpis.load``),
    ``index`` the record's position in the batch."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"records[{index}]{'.' if field else ''}{field}: {message}")
        self.index = index
        self.field = field
        self.message = message


def _is_number(v: Any) -> bool:
    """A real number, NumPy scalars included (``np.float32(0.5)``, ``np.int64(5)``); not a bool."""
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


@dataclass
class _Measured:
    """One validated telemetry record: cell index, twin time, KPI-table values, state code (-1: none)."""

    cell: int
    time_s: float
    values: dict[str, float]
    state: int


class TelemetryMixin:
    """Live telemetry of a :class:`Twin` (methods of the twin; the state lives there).

    **What a record is.** ``{"cell": 3, "time_s": 5400.0, "kpis": {"load": 0.42, ...}, "state": "on"}``: the cell
    index (or ``"cell_id"``, its decimal text), the measurement time on the twin's clock (seconds since the
    scenario's start, as the ``time_s`` of the KPI tables; default: the twin's current time, :attr:`now_s`),
    measured KPIs (:data:`TELEMETRY_KPIS`) and optionally the measured cell state (:data:`TELEMETRY_STATES`).
    A batch is checked whole first (an error names ``records[i].kpis.load`` and what was expected), then applied.

    **What it changes.** Per cell and KPI the newest measurement is kept. Configuration and state are applied to
    the twin at once, so the radio model follows: a measured ``tx_power_dbm`` that differs from the configured
    one calls :meth:`set_tx_power`; a measured state other than the twin's is requested from the base stations
    (``on``/sleep/``off`` with the equipment's transition time, :meth:`agents.basestations.BaseStations.request_state`;
    ``failed`` takes the cell down until ``time + telemetry_max_age_s``, extended by every new ``failed`` report).
    Traffic KPIs (``load``, ``users``, throughput, demand, unsatisfied demand, power, health) do not steer the
    simulation itself; they override the model's values in the per-cell KPI table that decisions read
    (:meth:`telemetry_overlay`, called by the closed loop on the table of each decision epoch).

    **Precedence.** A measured value replaces the model's when it is newer than the model's latest tick (its
    time is at or after that tick's start: a measurement of the same or a later period beats a simulation of it)
    and not older than ``telemetry_max_age_s`` (default :data:`TELEMETRY_MAX_AGE_S`) at the time the table is
    read; otherwise the model's value stands. Where ``load`` or the state is measured, ``neighbour_headroom`` is
    recomputed from the overlaid loads; where demand or throughput is measured without ``unsatisfied_mbps``,
    that is ``max(demand - throughput, 0)`` of the overlaid values.
    """

    n_cells: int
    tick_s: float
    bs: BaseStations
    cells: object
    topk_cell: np.ndarray

    def _init_telemetry(self) -> None:
        self.telemetry_max_age_s = TELEMETRY_MAX_AGE_S
        self.telemetry_records = 0
        self._tm_value: dict[str, np.ndarray] | None = None
        self._tm_time: dict[str, np.ndarray] = {}
        self._tm_state = np.full(self.n_cells, -1, np.int64)
        self._tm_state_time = np.full(self.n_cells, -np.inf)
        self._nbr_key: np.ndarray | None = None
        self._nbr_w: np.ndarray | None = None

    @property
    def now_s(self) -> float:
        """The twin's clock: seconds since the scenario's start (advanced by the base stations every tick)."""
        return float(self.bs.time_s)

    def _cell_of(self, i: int, r: Mapping[str, Any]) -> int:
        if "cell" in r and "cell_id" in r:
            raise TelemetryError(i, "cell", "give 'cell' (index) or 'cell_id' (its text), not both")
        key = "cell" if "cell" in r else "cell_id"
        raw = r.get(key)
        cell: int | None = None
        if isinstance(raw, int | np.integer) and not isinstance(raw, bool):
            cell = int(raw)
        elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():  # not "²" or "٣"
            cell = int(raw.strip())
        if cell is None or not 0 <= cell < self.n_cells:
            raise TelemetryError(i, key, f"expected a cell index in [0, {self.n_cells - 1}], found {raw!r}")
        return cell

    def validate_telemetry(self, records: Sequence[Mapping[str, Any]], *, now_s: float | None = None
                           ) -> list[_Measured]:
        """Check a batch of records (see :class:`TelemetryMixin`); raise :class:`TelemetryError` at the first bad
        field; return them parsed. Changes nothing."""
        now = self.now_s if now_s is None else float(now_s)
        out = []
        for i, r in enumerate(records):
            if not isinstance(r, Mapping):
                raise TelemetryError(i, "", f"expected a mapping with cell, kpis, time_s, state; found {type(r)}")
            unknown = sorted(set(r) - {"cell", "cell_id", "time_s", "kpis", "state"})
            if unknown:
                raise TelemetryError(i, unknown[0], "unknown field; a record has cell (or cell_id), time_s, kpis, "
                                                    "state")
            cell = self._cell_of(i, r)
            t = r.get("time_s")
            if t is None:
                t = now
            elif not _is_number(t) or not math.isfinite(t) or t > now:
                raise TelemetryError(i, "time_s", f"expected a time in seconds on the twin's clock, at most its "
                                                  f"current time {now:g}, found {t!r}")
            kpis = r.get("kpis") or {}
            if not isinstance(kpis, Mapping):
                raise TelemetryError(i, "kpis", f"expected a mapping of KPI name to number, found {type(kpis)}")
            state = r.get("state")
            if not kpis and state is None:
                raise TelemetryError(i, "kpis", "a record needs measured kpis or a state")
            if "load" in kpis and "prb_util_pct" in kpis:
                raise TelemetryError(i, "kpis.prb_util_pct", "give load (0..1) or prb_util_pct (0..100), not both")
            values: dict[str, float] = {}
            for name, v in kpis.items():
                spec = TELEMETRY_KPIS.get(name)
                if spec is None:
                    raise TelemetryError(i, f"kpis.{name}", f"unknown KPI; known: {', '.join(TELEMETRY_KPIS)}")
                col, lo, hi, factor = spec
                if not _is_number(v) or not math.isfinite(v) or not lo <= v <= hi:
                    rng = f"[{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
                    raise TelemetryError(i, f"kpis.{name}", f"expected a finite number {rng}, found {v!r}")
                if name == "users" and float(v) != int(v):
                    raise TelemetryError(i, "kpis.users", f"expected a whole number of users, found {v!r}")
                values[col] = float(v) * factor
            code = -1
            if state is not None:
                if state not in TELEMETRY_STATES:
                    raise TelemetryError(i, "state", f"expected one of {', '.join(TELEMETRY_STATES)}, found {state!r}")
                code = TELEMETRY_STATES.index(state)
            out.append(_Measured(cell, float(t), values, code))
        return out

    def ingest_telemetry(self, records: Sequence[Mapping[str, Any]], *, now_s: float | None = None,
                         dry_run: bool = False) -> int:
        """Validate a batch of measured per-cell KPIs and apply it (see :class:`TelemetryMixin`): all records or
        none. ``dry_run`` only validates. Returns the number of records."""
        parsed = self.validate_telemetry(records, now_s=now_s)
        if dry_run:
            return len(parsed)
        if self._tm_value is None:
            self._tm_value = {c: np.full(self.n_cells, np.nan) for c in _TM_COLUMNS}
            self._tm_time = {c: np.full(self.n_cells, -np.inf) for c in _TM_COLUMNS}
        now = self.now_s if now_s is None else float(now_s)
        for m in parsed:
            c = m.cell
            for col, v in m.values.items():
                if m.time_s >= self._tm_time[col][c]:
                    self._tm_value[col][c] = v
                    self._tm_time[col][c] = m.time_s
                    if col == "tx_power_dbm" and v != float(self.cells.tx_power_dbm[c]):
                        self.set_tx_power(c, v)
            if m.state >= 0 and m.time_s >= self._tm_state_time[c]:
                self._tm_state[c] = m.state
                self._tm_state_time[c] = m.time_s
                self._apply_measured_state(c, m.state, max(m.time_s, now))
        self.telemetry_records += len(parsed)
        return len(parsed)

    def _apply_measured_state(self, cell: int, code: int, t_s: float) -> None:
        bs = self.bs
        if code == CellState.FAILED:
            bs.fail([cell], until_s=max(t_s, bs.time_s) + self.telemetry_max_age_s)
        elif not (int(bs.state[cell]) == code and bs.pending[cell] < 0):
            bs.request_state([cell], code)

    def telemetry_in_force(self, *, now_s: float | None = None, model_time_s: float | None = None
                           ) -> dict[str, np.ndarray]:
        """Per KPI-table column (and ``state``), the cells whose measured value overrides the model's now (see
        :class:`TelemetryMixin`, "Precedence"). ``model_time_s`` is the start of the model's latest tick
        (default: one tick before ``now_s``; none before the first tick)."""
        if self._tm_value is None and not (self._tm_state >= 0).any():
            return {}
        now = self.now_s if now_s is None else float(now_s)
        if model_time_s is None:
            model_time_s = self.bs.time_s - self.tick_s if self.bs.time_s > 0 else -np.inf
        oldest = max(model_time_s, now - self.telemetry_max_age_s)
        out = {col: t >= oldest for col, t in self._tm_time.items()}
        out["state"] = (self._tm_state >= 0) & (self._tm_state_time >= oldest)
        return {k: v for k, v in out.items() if v.any()}

    def neighbour_weights(self) -> np.ndarray:
        """W[c, n] = share of cell c's best-server pixels whose second-strongest candidate is n (from the top-K
        map; recomputed when the map changes): where c's users go when c is unavailable."""
        if self._nbr_key is not self.topk_cell:
            first = self.topk_cell[:, 0].astype(np.int64)
            second = self.topk_cell[:, 1].astype(np.int64) if self.topk_cell.shape[1] >= 2 else -first - 1
            ok = (first >= 0) & (second >= 0)
            w = np.bincount(first[ok] * self.n_cells + second[ok], minlength=self.n_cells ** 2)
            w = w.reshape(self.n_cells, self.n_cells).astype(np.float64)
            tot = w.sum(axis=1, keepdims=True)
            self._nbr_w = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)
            self._nbr_key = self.topk_cell
        return self._nbr_w

    def telemetry_overlay(self, kpi: dict[str, np.ndarray], *, now_s: float | None = None,
                          model_time_s: float | None = None) -> dict[str, np.ndarray]:
        """The per-cell KPI table ``kpi`` (:meth:`dientine.sim.Simulation.cell_kpi_table`) with the measured
        values in force (see :class:`TelemetryMixin`); ``kpi`` itself unchanged (returned as is without telemetry).
        """
        force = self.telemetry_in_force(now_s=now_s, model_time_s=model_time_s)
        if not force:
            return kpi
        out = dict(kpi)
        for col, mask in force.items():
            if col == "state" or col not in out:
                continue
            arr = np.array(out[col], copy=True)
            arr[mask] = self._tm_value[col][mask].astype(arr.dtype)
            out[col] = arr
        none = np.zeros(self.n_cells, bool)
        traffic = force.get("demand_mbps", none) | force.get("throughput_mbps", none)
        if "unsatisfied_mbps" in out and traffic.any():
            derive = traffic & ~force.get("unsatisfied_mbps", none)
            uns = np.array(out["unsatisfied_mbps"], copy=True)
            uns[derive] = np.maximum(np.asarray(out["demand_mbps"])[derive]
                                     - np.asarray(out["throughput_mbps"])[derive], 0.0)
            out["unsatisfied_mbps"] = uns
        if "state" in force and "state" in out:
            m = force["state"]
            state = np.array(out["state"], copy=True)
            state[m] = self._tm_state[m]
            out["state"] = state
            if "state_name" in out:
                names = np.array(out["state_name"], dtype=object, copy=True)
                names[m] = [TELEMETRY_STATES[s] for s in self._tm_state[m]]
                out["state_name"] = names
        if "neighbour_headroom" in out and "load" in out:
            serving = (np.asarray(out["state"]) == CellState.ON) & (self.bs.pending < 0)
            free = np.where(serving, 1.0 - np.clip(np.asarray(out["load"], np.float64), 0.0, 1.0), 0.0)
            out["neighbour_headroom"] = self.neighbour_weights() @ free
        return out


# ----------------------------------------------------------------------------------------------- twin
class Twin(TelemetryMixin):
    """Network + population + grid + clock state of one run (see module docstring).

    ``rng`` is the run's generator; the twin spawns its own sub-streams from it (fields, population, drones,
    O2I) in a fixed order, so the same seed gives the same twin.
    """

    def __init__(self, scenario: Scenario, rng: np.random.Generator, *, parallel: bool | None = None):
        if scenario.clock is None:
            raise TwinError("clock: a simulation needs a 'clock' section")
        self.scenario = scenario
        self.clock = scenario.clock
        self.tick_s = float(scenario.clock.tick)
        self.start_s = float(scenario.clock.start_s)
        sim = scenario.simulation
        r_fields, r_pop, r_drones, r_o2i = rng.spawn(4)

        # ------------------------------------------------------------------ catalog and equipment
        try:
            self.catalog: Catalog = load_catalog(overrides=dict(sim.catalog_overrides) or None)
        except (ValueError, KeyError) as exc:
            raise TwinError(f"simulation.catalog_overrides: {exc}") from None
        eq_name = scenario.network.equipment
        if eq_name not in self.catalog.equipment:
            raise TwinError(f"network.equipment: unknown equipment {eq_name!r}; "
                            f"known: {sorted(self.catalog.equipment)}")
        spec = self.catalog.equipment[eq_name]
        if not isinstance(spec, EquipmentSpec):
            raise TwinError(f"network.equipment: catalog entry {eq_name!r} did not validate as EquipmentSpec")
        try:
            self.equipment: EquipmentSpec = (spec.with_overrides(dict(sim.equipment_overrides))
                                             if sim.equipment_overrides else spec)
        except ValueError as exc:
            raise TwinError(f"simulation.equipment_overrides: {exc}") from None

        # ------------------------------------------------------------------ network
        net = build_network(scenario.network, load=0.0)
        self.layout = net.table
        self.grid = grid_for(scenario, net.table)
        self.cells = net.cells
        self.n_cells = self.cells.n_cells
        self.site_id = self.layout.site_id
        self.n_sites = self.layout.n_sites
        self.wrap_offsets_m = self.layout.wrap_offsets_m
        self.bs = BaseStations(self.site_id, self.equipment, power_model=sim.power_model, start_s=0.0)
        self.noise_dbm = float(thermal_noise_dbm(self.cells.bandwidth_hz, scenario.network.ue_noise_figure_db))
        self.noise_mw = 10.0 ** (self.noise_dbm / 10.0)
        self.se_params = se_parameters(sim.se_model, None)
        self.bandwidth_hz = float(self.cells.occupied_bandwidth_hz)
        self.top_k = min(int(sim.top_k), self.n_cells)
        self.parallel = parallel
        self.fields: SiteFields = build_site_fields(self.grid, self.n_sites, scenario.network.carrier.scenario,
                                                    r_fields)
        self._pixels = PointArrays.from_grid(self.grid, PIXEL_HEIGHT_M)
        self.dense_gain_db: np.ndarray | None = None
        self.topk_cell: np.ndarray
        self.topk_gain_db: np.ndarray
        self.gain_builds = 0
        self._build_gain_cache()

        # ------------------------------------------------------------------ events and population
        self.events = schedule_events(scenario)
        self._check_event_targets()
        users_groups, drone_groups = [], []
        for i, entry in enumerate(scenario.population):
            try:
                kind = self.catalog.kind_of(entry.archetype)
            except KeyError as exc:
                raise TwinError(f"population[{i}].archetype: {exc.args[0]}") from None
            if kind == "drone":
                drone_groups.append((entry.archetype, entry.count))
            elif kind == "user":
                users_groups.append((entry.archetype, entry.count))
            else:
                raise TwinError(f"population[{i}].archetype: {entry.archetype!r} is equipment, not a user or drone")
            if entry.traffic is not None and kind == "user":
                expected = self.catalog.user_class(entry.archetype).traffic
                if entry.traffic != expected:
                    raise TwinError(f"population[{i}].traffic: archetype {entry.archetype!r} uses traffic "
                                    f"{expected!r}; per-group traffic overrides are not supported, found "
                                    f"{entry.traffic!r}")
        self.n_users_base = sum(c for _, c in users_groups)
        default_arch = users_groups[0][0] if users_groups else "pedestrian"
        crowds = []
        services: list[tuple[ScheduledEvent, int, str]] = []
        for ev in self.events:
            e = ev.event
            if e.kind == "crowd":
                end = ev.end_tick * self.tick_s if ev.end_tick is not None else self.clock.duration
                at = self.start_s + ev.start_tick * self.tick_s
                crowds.append(CrowdEvent(at_s=at, duration_s=max(self.start_s + end - at, self.tick_s),
                                         where=e.where.model_dump(), users=int(e.users),
                                         archetype=e.archetype or default_arch))
            elif e.kind == "service_launch":
                services.append((ev, int(e.users), e.archetype or default_arch))
        groups = list(users_groups) + [(arch, n) for _, n, arch in services]
        try:
            self.population = Population.build(self.catalog, groups, self.grid, r_pop, crowds=crowds,
                                               profile=diurnal_profile(scenario), handover=handover_params(scenario))
        except (ValueError, KeyError) as exc:
            raise TwinError(f"population/events: {exc}") from None
        self.users = self.population.users
        self.services: list[ServiceGroup] = []
        start = self.n_users_base
        for ev, n, _ in services:
            idx = np.arange(start, start + n)
            start += n
            self.users.active[idx] = False
            where = ev.event.where
            if where is not None:
                self._place_in_disc(idx, where.x_m, where.y_m, where.radius_m, r_pop)
            self.services.append(ServiceGroup(ev, idx, float(ev.event.demand_mbps)))
        self.is_service = np.zeros(self.users.n, bool)
        for g in self.services:
            self.is_service[g.index] = True
        self.o2i_db = o2i_loss_db(self.cells.fc_ghz, self.users.indoor, 0.0, loss_model="low", rng=r_o2i)
        self.o2i_db = np.ascontiguousarray(np.maximum(self.o2i_db, 0.0))
        self.o2i_lin = 10.0 ** (self.o2i_db / 10.0)
        self.drones: DroneArrays = build_drones(self.catalog, drone_groups, self.grid, r_drones)
        self._drone_args_cells = None
        # drone_gains may run on two threads at once (the loop's all-on shadow overlaps the tick): its per-
        # configuration caches are built and read under this lock
        self._drone_lock = threading.Lock()
        self._drone_args_tail: tuple = ()
        # per-drone arguments of the gain kernel (pixels, outdoor flags, zero O2I) and the height range the
        # points are checked against; set by the first drone_gains of a network configuration
        self._drone_pix = np.zeros(0, np.int64)
        self._drone_indoor = np.zeros(0, np.bool_)
        self._drone_o2i = np.zeros(0)
        # the last gains (read-only) and the configuration and positions they are for: a second call at the same
        # positions (the shadow's pass and the real tick's, one each per tick) returns them
        self._drone_last: tuple | None = None
        self._drone_h_range = (0.0, 0.0)
        self._init_telemetry()

    # ------------------------------------------------------------------ gain cache
    def _build_gain_cache(self) -> None:
        n_p, n_c = self.grid.n_pixels, self.n_cells
        par = True if self.parallel is None else self.parallel
        if n_p * n_c * 4 <= DENSE_CACHE_MAX_BYTES:
            self.dense_gain_db = gain_map_dense(self.cells, self._pixels, self.fields,
                                                wrap_offsets_m=self.wrap_offsets_m, parallel=par)
            self._derive_topk()
        else:
            self.dense_gain_db = None
            self.topk_cell, self.topk_gain_db = gain_map_topk(
                self.cells, self._pixels, self.fields, self.top_k, wrap_offsets_m=self.wrap_offsets_m,
                rank_offset_db=self.cells.tx_power_dbm, parallel=par)
            self._refresh_rx()
        self.gain_builds += 1

    def _derive_topk(self) -> None:
        """Top-K cells per pixel from the dense cache, ranked by gain + transmit power (strongest first)."""
        g = self.dense_gain_db
        key = g + self.cells.tx_power_dbm.astype(np.float32)[None, :]
        k = self.top_k
        if k < self.n_cells:
            idx = np.argpartition(-key, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(self.n_cells), key.shape).copy()
        order = np.argsort(-np.take_along_axis(key, idx, axis=1), axis=1, kind="stable")
        idx = np.take_along_axis(idx, order, axis=1)
        self.topk_cell = np.ascontiguousarray(idx, dtype=np.int32)
        self.topk_gain_db = np.ascontiguousarray(np.take_along_axis(g, idx, axis=1), dtype=np.float32)
        self._refresh_rx()

    def _refresh_rx(self) -> None:
        """Received power per top-K entry (tx + gain), in dBm and mW: recomputed on every power/tilt change."""
        self.topk_rx_dbm = np.empty(self.topk_cell.shape, np.float32)
        self.topk_rx_mw = np.empty(self.topk_cell.shape, np.float64)
        rx_cache(self.topk_cell, self.topk_gain_db, self.cells.tx_power_dbm, self.topk_rx_dbm, self.topk_rx_mw)

    def set_tilt(self, cell: int, elec_tilt_deg: float) -> None:
        """Electrical downtilt of one cell; recomputes that cell's gain column (or the whole top-K map)."""
        self._check_cell(cell)
        tilt = self.cells.elec_tilt_deg.copy()
        tilt[cell] = float(elec_tilt_deg)
        self.cells = dataclasses.replace(self.cells, elec_tilt_deg=tilt)
        if self.dense_gain_db is not None:
            one = dataclasses.replace(
                self.cells, **{f: getattr(self.cells, f)[cell:cell + 1] for f in (
                    "x_m", "y_m", "height_m", "azimuth_deg", "mech_tilt_deg", "elec_tilt_deg", "tx_power_dbm",
                    "active", "load", "offset_db", "site_index")})
            col = gain_map_dense(one, self._pixels, self.fields, wrap_offsets_m=self.wrap_offsets_m,
                                 parallel=True if self.parallel is None else self.parallel)
            self.dense_gain_db[:, cell] = col[:, 0]
            self._derive_topk()
            self.gain_builds += 1
        else:
            self._build_gain_cache()

    def set_tx_power(self, cell: int, tx_power_dbm: float) -> None:
        """Transmit power of one cell; re-ranks the top-K candidates (gains exclude power)."""
        self._check_cell(cell)
        if not (math.isfinite(tx_power_dbm) and -30.0 <= tx_power_dbm <= 80.0):
            raise ValueError(f"set_tx_power: tx_power_dbm for cell {cell}: expected a number in [-30, 80], "
                             f"found {tx_power_dbm!r}")
        tx = self.cells.tx_power_dbm.copy()
        tx[cell] = float(tx_power_dbm)
        self.cells = dataclasses.replace(self.cells, tx_power_dbm=tx)
        if self.dense_gain_db is not None:
            self._derive_topk()
        else:
            self._build_gain_cache()

    def _check_cell(self, cell: int) -> None:
        if not (isinstance(cell, int | np.integer) and 0 <= int(cell) < self.n_cells):
            raise ValueError(f"cell: expected an index in [0, {self.n_cells - 1}], found {cell!r}")

    def _check_event_targets(self) -> None:
        for ev in self.events:
            e = ev.event
            if e.kind == "site_failure" and e.site >= self.n_sites:
                raise TwinError(f"events[{ev.index}].site: expected a site index in [0, {self.n_sites - 1}], "
                                f"found {e.site}")
            if e.kind in ("cell_sleep", "cell_wake") and e.cell >= self.n_cells:
                raise TwinError(f"events[{ev.index}].cell: expected a cell index in [0, {self.n_cells - 1}], "
                                f"found {e.cell}")
            if e.kind == "crowd" and e.archetype is not None and self.catalog.kind_of(e.archetype) != "user":
                raise TwinError(f"events[{ev.index}].archetype: {e.archetype!r} is not a user archetype")

    def _place_in_disc(self, idx: np.ndarray, x_m: float, y_m: float, r_m: float, rng: np.random.Generator):
        """Uniform in a disc (r = R sqrt(u)), clipped to the area."""
        x0, y0, w, h = self.users.area
        r = r_m * np.sqrt(rng.random(idx.size))
        phi = 2.0 * np.pi * rng.random(idx.size)
        self.users.x_m[idx] = np.clip(x_m + r * np.cos(phi), x0, np.nextafter(x0 + w, x0))
        self.users.y_m[idx] = np.clip(y_m + r * np.sin(phi), y0, np.nextafter(y0 + h, y0))

    # ------------------------------------------------------------------ per-tick radio helpers
    def use_parallel(self, n: int) -> bool:
        return n >= PARALLEL_MIN_USERS if self.parallel is None else self.parallel

    def drone_gains(self) -> np.ndarray:
        """Dense path gains [drones, cells] at the drones' current 3-D positions (direct evaluation).
        Thread-safe (the closed loop's shadow calls it from its worker thread while the tick runs). The array is
        read-only: a call at the same positions and configuration returns the same one."""
        d = self.drones
        with self._drone_lock:
            last = self._drone_last
            if (last is not None and last[0] is self.cells and np.array_equal(last[1], d.x_m)
                    and np.array_equal(last[2], d.y_m) and np.array_equal(last[3], d.z_m)):
                return last[4]
            out = self._drone_gains()
            out.flags.writeable = False
            self._drone_last = (self.cells, d.x_m.copy(), d.y_m.copy(), d.z_m.copy(), out)
            return out

    def _drone_gains(self) -> np.ndarray:
        d = self.drones
        if self._drone_args_cells is self.cells and d.n == self._drone_pix.shape[0]:
            # per tick: one pass checks the points (what PointArrays and validate_for check for outdoor aerial
            # points: finite coordinates, heights in the scenario's range) and finds their pixels
            # (Grid.pixel_index); on a bad point the general path below raises its error
            g = self.fields.grid
            lo, hi = self._drone_h_range
            if _drone_points(d.x_m, d.y_m, d.z_m, lo, hi, g.x0_m, g.y0_m, g.resolution_m, g.n_cols, g.n_rows,
                             self._drone_pix):
                out = np.empty((d.n, self.n_cells), np.float32)
                n_bad = rk.gain_dense_serial(d.x_m, d.y_m, d.z_m, self._drone_indoor, self._drone_o2i,
                                             self._drone_pix, *self._drone_args_tail, out)
                radio_maps._raise_if_bad(n_bad, self.cells)
                return out
        pts = PointArrays(d.x_m, d.y_m, d.z_m)
        if self._drone_args_cells is not self.cells:
            # the cell-side kernel arguments (antenna groups, rotations, tilts, fields) change only with the
            # network configuration (set_tilt / set_tx_power replace ``self.cells``): built once per configuration
            # by the same code path as gain_map_dense, which also validates the points
            self._drone_args_tail = radio_maps._kernel_args(self.cells, pts, self.fields, self.wrap_offsets_m)[6:]
            self._drone_args_cells = self.cells
            fam = family_of(self.cells.scenario)
            self._drone_h_range = (float(H_UT_RANGE_38901_M[fam][0]), float(H_UT_MAX_AV_M[fam]))
        else:
            pts.validate_for(self.cells.scenario)
        pix = self.fields.grid.pixel_index(pts.x_m, pts.y_m)
        self._drone_pix, self._drone_indoor, self._drone_o2i = pix, pts.indoor, pts.o2i_loss_db
        out = np.empty((pts.n_points, self.n_cells), np.float32)
        n_bad = rk.gain_dense_serial(pts.x_m, pts.y_m, pts.height_m, pts.indoor, pts.o2i_loss_db, pix,
                                     *self._drone_args_tail, out)
        radio_maps._raise_if_bad(n_bad, self.cells)
        return out

    def event_hour(self, ev: ScheduledEvent) -> float:
        return ev.start_tick * self.tick_s / 3600.0

    def refresh_o2i(self, idx: np.ndarray, rng: np.random.Generator) -> None:
        """Draw the O2I loss of users ``idx`` again (crowd users are placed, indoor or not, when they join)."""
        loss = o2i_loss_db(self.cells.fc_ghz, self.users.indoor[idx], 0.0, loss_model="low", rng=rng)
        self.o2i_db[idx] = np.maximum(loss, 0.0)
        self.o2i_lin[idx] = 10.0 ** (self.o2i_db[idx] / 10.0)

