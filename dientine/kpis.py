"""KPIs of a simulation run: per cell and per tick, and for the whole network per tick, as Arrow tables.

Definitions (the same words are used in ``summary.json``, see :func:`summarise`):

* **active user**: a user (UE, including crowd and service-launch users while their event is in force) present in
  the network in the tick; a **demanding user** is an active user that offers traffic in the tick (an FTP user
  with no file in the tick is active but not demanding). Drones are not part of the user KPIs.
* **coverage %** (per tick): share of active users whose downlink SINR is at least the link model's
  ``SINR_MIN`` = -10 dB (3GPP TR 36.942 Annex A.1, REFERENCES.md §4.1: below it the attenuated-Shannon
  throughput is 0). Users of a failed/sleeping network with no serving cell count as not covered.
* **unserved user**: an active user without a serving cell or with SINR below ``SINR_MIN``.
* **user rate**: the rate the scheduler gives a user in the tick (Mbps, the fluid model's carried rate averaged
  over the tick). ``rate_p5_mbps`` and ``rate_median_mbps`` are the 5th percentile and median over demanding
  users (unserved demanding users count with 0).
* **demand / throughput / unsatisfied**: offered, carried and ``offered - carried`` traffic (Mbps).
* **load**: share of the cell's resources in use in the tick (0..1).
* **energy**: input power x tick length; ``energy_kwh`` per tick and cumulated over the run.
* **detections**: intruder drones confirmed by sensing in the tick (a drone counts once, at its first
  confirmation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa

#: Per-cell KPI columns: name -> (Arrow type, unit, meaning).
CELL_COLUMNS: dict[str, tuple[pa.DataType, str, str]] = {
    "tick": (pa.int32(), "", "tick index from 0"),
    "time_s": (pa.float64(), "s", "simulated time at the tick start"),
    "hour": (pa.float32(), "h", "wall-clock hour of day at the tick start, 0..24"),
    "cell": (pa.int32(), "", "cell index"),
    "site": (pa.int32(), "", "site index"),
    "state": (pa.dictionary(pa.int8(), pa.string()), "",
              "cell state at the tick start (on, light_sleep, deep_sleep, off, failed)"),
    "load": (pa.float32(), "", "share of the cell's resources in use"),
    "users": (pa.int32(), "", "users (and served drones) attached to the cell"),
    "throughput_mbps": (pa.float32(), "Mbps", "traffic carried"),
    "demand_mbps": (pa.float32(), "Mbps", "traffic offered by the cell's users"),
    "unsatisfied_mbps": (pa.float32(), "Mbps", "offered minus carried"),
    "power_w": (pa.float32(), "W", "input power of the cell"),
    "energy_kwh": (pa.float32(), "kWh", "input energy during the tick"),
    "tx_power_dbm": (pa.float32(), "dBm", "configured transmit power"),
    "tilt_deg": (pa.float32(), "deg", "electrical downtilt"),
    "health": (pa.float32(), "", "1 - degradation of the worst component (wear model)"),
}

#: Network KPI columns: name -> (Arrow type, unit, meaning).
NETWORK_COLUMNS: dict[str, tuple[pa.DataType, str, str]] = {
    "tick": (pa.int32(), "", "tick index from 0"),
    "time_s": (pa.float64(), "s", "simulated time at the tick start"),
    "hour": (pa.float32(), "h", "wall-clock hour of day at the tick start"),
    "users_active": (pa.int32(), "", "active users"),
    "users_covered": (pa.int32(), "", "active users with SINR >= SINR_MIN"),
    "users_unserved": (pa.int32(), "", "active users without a serving cell or below SINR_MIN"),
    "coverage_pct": (pa.float32(), "%", "100 * users_covered / users_active"),
    "users_demanding": (pa.int32(), "", "active users offering traffic in the tick"),
    "rate_p5_mbps": (pa.float32(), "Mbps", "5th-percentile user rate over demanding users"),
    "rate_median_mbps": (pa.float32(), "Mbps", "median user rate over demanding users"),
    "demand_mbps": (pa.float32(), "Mbps", "traffic offered by all active users"),
    "throughput_mbps": (pa.float32(), "Mbps", "traffic carried"),
    "unsatisfied_mbps": (pa.float32(), "Mbps", "offered minus carried"),
    "power_w": (pa.float32(), "W", "input power of all cells"),
    "energy_kwh": (pa.float32(), "kWh", "input energy during the tick"),
    "energy_kwh_cum": (pa.float64(), "kWh", "input energy since the start"),
    "cells_active": (pa.int32(), "", "cells in the on state"),
    "cells_sleeping": (pa.int32(), "", "cells in a sleep state or off"),
    "cells_failed": (pa.int32(), "", "cells in the failed state"),
    "drones": (pa.int32(), "", "drones airborne"),
    "detections": (pa.int32(), "", "intruder drones first confirmed in this tick"),
    "intruders_detected_cum": (pa.int32(), "", "distinct intruders confirmed since the start"),
    "handovers": (pa.int32(), "", "serving-cell changes of users in this tick"),
}


def _schema(columns: dict[str, tuple[pa.DataType, str, str]]) -> pa.Schema:
    fields = [pa.field(name, typ, metadata={"unit": unit, "description": text})
              for name, (typ, unit, text) in columns.items()]
    return pa.schema(fields)


CELL_SCHEMA = _schema(CELL_COLUMNS)
NETWORK_SCHEMA = _schema(NETWORK_COLUMNS)


def coverage_pct(sinr_db: np.ndarray, serving_cell: np.ndarray, active: np.ndarray, sinr_min_db: float) -> float:
    """Share (%) of active users with a serving cell and SINR >= ``sinr_min_db`` (100 when nobody is active)."""
    n = int(np.count_nonzero(active))
    if n == 0:
        return 100.0
    covered = active & (serving_cell >= 0) & (sinr_db >= sinr_min_db)
    return 100.0 * int(np.count_nonzero(covered)) / n


def rate_percentiles_mbps(rate_mbps: np.ndarray, demanding: np.ndarray) -> tuple[float, float]:
    """(5th percentile, median) of the rates of the users in the ``demanding`` mask (linear interpolation;
    0, 0 when the mask is empty)."""
    r = rate_mbps[demanding]
    if r.size == 0:
        return 0.0, 0.0
    p5, p50 = np.percentile(r, [5.0, 50.0])
    return float(p5), float(p50)


@numba.njit(cache=True)
def user_kpi_counts(active, serving_cell, sinr_db, demand_mbps, rate_mbps, sinr_min_db, out_rate_demanding):
    """One pass over the users: (active users, covered users (a serving cell and SINR >= ``sinr_min_db``),
    demanding users (active with demand > 0)); the rates of the demanding users are copied, in user order, to
    the front of ``out_rate_demanding`` (the same numbers as :func:`coverage_pct` and the mask given to
    :func:`rate_percentiles_mbps`)."""
    n_active = 0
    covered = 0
    n_dem = 0
    for u in range(active.shape[0]):
        if not active[u]:
            continue
        n_active += 1
        if serving_cell[u] >= 0 and sinr_db[u] >= sinr_min_db:
            covered += 1
        if demand_mbps[u] > 0:
            out_rate_demanding[n_dem] = rate_mbps[u]
            n_dem += 1
    return n_active, covered, n_dem


def percentiles_inplace(values: np.ndarray, q_pct: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, q_pct)`` (default ``linear`` method, Hyndman & Fan type 7), bit for bit, for a
    non-empty 1-D float64 array without NaN, without numpy's generic-path overhead. ``values`` is reordered in
    place (one-index partitions): pass a scratch array."""
    n = values.shape[0]
    if n == 0:
        raise ValueError("percentiles_inplace: values is empty")
    picks = []
    for q in q_pct:
        v = (n - 1) * (q / 100.0)  # numpy: (n - 1) * (q / 100)
        if v >= n - 1:  # at or above the last index: the maximum
            picks.append((n - 1, n - 1, 0.0))
        else:
            lo = math.floor(v)
            picks.append((lo, lo + 1, v - lo))
    # the order statistics needed, largest rank first: each is selected in the prefix that holds exactly the
    # values up to it (a one-index partition; the prefix's maximum for the rank just below the previous one),
    # which is much faster than one multi-index partition and gives the same values
    end = n
    for r in sorted({i for p in picks for i in p[:2]}, reverse=True):
        head = values[:end]
        if r == end - 1:
            m = int(head.argmax())
            head[m], head[r] = head[r], head[m]
        else:
            head.partition(r)
        end = r
    out = []
    for lo, hi, t in picks:
        a, b = float(values[lo]), float(values[hi])
        diff = b - a
        out.append(b - diff * (1.0 - t) if t >= 0.5 else a + diff * t)
    return out


_CELL_KEYS = CELL_COLUMNS.keys()
_NETWORK_KEYS = NETWORK_COLUMNS.keys()


def _buffer_dtype(typ: pa.DataType) -> type:
    """Row-buffer dtype of a KPI column: int64 for integer (and dictionary-coded) columns, float64 otherwise."""
    return np.int64 if pa.types.is_integer(typ) or pa.types.is_dictionary(typ) else np.float64


class KpiRecorder:
    """Collects one row per cell and one network row per tick into preallocated NumPy buffers (grown by
    doubling); the Arrow tables are built on demand, when :meth:`cell_table` / :meth:`network_table` are read,
    and cached until the next :meth:`record`."""

    def __init__(self, n_cells: int, state_names: tuple[str, ...], capacity: int = 128):
        self.n_cells = int(n_cells)
        self.state_names = tuple(state_names)
        self._n = 0
        self._cap = max(int(capacity), 1)
        self._cell = {name: np.zeros((self._cap, self.n_cells), dtype=_buffer_dtype(typ))
                      for name, (typ, _, _) in CELL_COLUMNS.items()}
        self._net = np.zeros((self._cap, len(NETWORK_COLUMNS)))
        self._cell_bufs = list(self._cell.values())  # the same buffers in CELL_COLUMNS order
        self._cell_table: pa.Table | None = None
        self._net_table: pa.Table | None = None

    def __len__(self) -> int:
        return self._n

    def _grow(self) -> None:
        self._cap *= 2
        for name, buf in self._cell.items():
            new = np.zeros((self._cap, self.n_cells), dtype=buf.dtype)
            new[:self._n] = buf[:self._n]
            self._cell[name] = new
        new = np.zeros((self._cap, self._net.shape[1]))
        new[:self._n] = self._net[:self._n]
        self._net = new
        self._cell_bufs = list(self._cell.values())

    def record(self, cell: dict[str, np.ndarray | float], network: dict[str, float]) -> None:
        """Append one tick. ``cell`` maps every :data:`CELL_COLUMNS` name to an array of ``n_cells`` values (or a
        scalar broadcast to all cells; ``state`` as integer codes into ``state_names``); ``network`` maps every
        :data:`NETWORK_COLUMNS` name to a scalar."""
        if cell.keys() != _CELL_KEYS:
            missing = [c for c in CELL_COLUMNS if c not in cell]
            extra = [c for c in cell if c not in CELL_COLUMNS]
            raise ValueError(f"KpiRecorder.record cell KPIs: missing {missing}, unknown {extra}")
        if network.keys() != _NETWORK_KEYS:
            missing = [c for c in NETWORK_COLUMNS if c not in network]
            extra = [c for c in network if c not in NETWORK_COLUMNS]
            raise ValueError(f"KpiRecorder.record network KPIs: missing {missing}, unknown {extra}")
        for name, value in cell.items():
            shape = getattr(value, "shape", ())
            if shape != () and shape != (self.n_cells,):
                raise ValueError(f"KpiRecorder.record cell KPI {name!r}: expected shape ({self.n_cells},), "
                                 f"found {shape}")
        self.record_row([cell[k] for k in CELL_COLUMNS], [network[k] for k in NETWORK_COLUMNS])

    def record_row(self, cell: tuple | list, network: tuple | list) -> None:
        """:meth:`record` with the values given in column order (:data:`CELL_COLUMNS`, :data:`NETWORK_COLUMNS`)
        instead of dicts, for a caller that builds every row itself (the simulation tick): each cell value an
        array of ``n_cells`` values or a scalar, each network value a scalar. Only the counts are checked."""
        if len(cell) != len(self._cell_bufs) or len(network) != self._net.shape[1]:
            raise ValueError(f"KpiRecorder.record_row: expected {len(self._cell_bufs)} cell and "
                             f"{self._net.shape[1]} network values, found {len(cell)} and {len(network)}")
        if self._n == self._cap:
            self._grow()
        i = self._n
        for buf, value in zip(self._cell_bufs, cell, strict=True):
            buf[i] = value
        self._net[i] = network
        self._n = i + 1
        self._cell_table = None
        self._net_table = None

    def latest_cell(self) -> dict[str, np.ndarray] | None:
        """The last tick's per-cell KPIs (copies), or None before the first tick."""
        if not self._n:
            return None
        return {name: buf[self._n - 1].copy() for name, buf in self._cell.items()}

    def latest_network(self) -> dict[str, float] | None:
        """The last tick's network KPIs, or None before the first tick."""
        if not self._n:
            return None
        return dict(zip(NETWORK_COLUMNS, self._net[self._n - 1].tolist(), strict=True))

    def cell_table(self) -> pa.Table:
        if self._cell_table is None:
            arrays = []
            for name, (typ, _, _) in CELL_COLUMNS.items():
                values = self._cell[name][:self._n].ravel()
                if name == "state":
                    codes = values.astype(np.int8)
                    arrays.append(pa.DictionaryArray.from_arrays(
                        pa.array(codes, type=pa.int8()), pa.array(list(self.state_names), type=pa.string())))
                else:
                    arrays.append(pa.array(values.astype(typ.to_pandas_dtype()), type=typ))
            self._cell_table = pa.Table.from_arrays(arrays, schema=CELL_SCHEMA)
        return self._cell_table

    def network_table(self) -> pa.Table:
        if self._net_table is None:
            arrays = []
            for j, (typ, _, _) in enumerate(NETWORK_COLUMNS.values()):
                values = self._net[:self._n, j]
                arrays.append(pa.array(values.astype(typ.to_pandas_dtype()), type=typ))
            self._net_table = pa.Table.from_arrays(arrays, schema=NETWORK_SCHEMA)
        return self._net_table


@dataclass(frozen=True)
class SummaryKey:
    unit: str
    meaning: str


#: Stable keys of ``summary.json`` (the regression ``expect:`` bounds refer to them). Do not rename.
SUMMARY_KEYS: dict[str, SummaryKey] = {
    "n_ticks": SummaryKey("", "ticks simulated"),
    "tick_s": SummaryKey("s", "tick length"),
    "n_cells": SummaryKey("", "cells in the network"),
    "n_users": SummaryKey("", "users in the base population (without event users)"),
    "n_drones": SummaryKey("", "drones"),
    "energy_kwh": SummaryKey("kWh", "input energy of all cells over the run"),
    "mean_power_kw": SummaryKey("kW", "mean input power of all cells"),
    "peak_power_kw": SummaryKey("kW", "largest per-tick input power of all cells"),
    "coverage_pct": SummaryKey("%", "covered user-ticks / active user-ticks over the run (SINR >= -10 dB)"),
    "coverage_pct_min": SummaryKey("%", "worst per-tick coverage"),
    "rate_p5_mbps": SummaryKey("Mbps", "mean over ticks of the per-tick 5th-percentile user rate"),
    "rate_p5_mbps_min": SummaryKey("Mbps", "worst per-tick 5th-percentile user rate"),
    "rate_median_mbps": SummaryKey("Mbps", "mean over ticks of the per-tick median user rate"),
    "demand_gb": SummaryKey("GB", "traffic offered over the run (gigabytes)"),
    "throughput_gb": SummaryKey("GB", "traffic carried over the run (gigabytes)"),
    "unsatisfied_demand_pct": SummaryKey("%", "100 * (offered - carried) / offered over the run"),
    "unserved_user_ticks": SummaryKey("", "sum over ticks of unserved active users"),
    "mean_load": SummaryKey("", "mean load over active cells and ticks"),
    "peak_load": SummaryKey("", "largest per-cell per-tick load"),
    "detections": SummaryKey("", "distinct intruder drones confirmed by sensing"),
    "intruders": SummaryKey("", "intruder drones in the scenario"),
    "failures": SummaryKey("", "cell failures (scenario events and wear) that started during the run"),
    "cell_ticks_failed": SummaryKey("", "sum over ticks of cells in the failed state"),
    "cell_ticks_sleeping": SummaryKey("", "sum over ticks of cells asleep or off"),
    "handovers": SummaryKey("", "serving-cell changes of users over the run"),
}


def summarise(network: pa.Table, cell: pa.Table, *, tick_s: float, n_cells: int, n_users: int, n_drones: int,
              intruders: int, failures: int) -> dict[str, float | int]:
    """The run summary (keys :data:`SUMMARY_KEYS`) from the KPI tables."""
    def col(table: pa.Table, name: str) -> np.ndarray:
        return table.column(name).to_numpy().astype(np.float64)

    n_ticks = network.num_rows
    active = col(network, "users_active")
    covered = col(network, "users_covered")
    power = col(network, "power_w")
    demand = col(network, "demand_mbps")
    carried = col(network, "throughput_mbps")
    load = col(cell, "load")
    state = cell.column("state").combine_chunks()
    if len(state):
        names = state.dictionary.to_pylist()
        code = names.index("on") if "on" in names else -1
        is_active = state.indices.to_numpy() == code
    else:
        is_active = np.zeros(0, dtype=bool)
    mb_to_gb = tick_s / 8.0 / 1000.0  # Mbps x s -> Mbit -> MB -> GB
    out: dict[str, float | int] = {
        "n_ticks": n_ticks,
        "tick_s": float(tick_s),
        "n_cells": int(n_cells),
        "n_users": int(n_users),
        "n_drones": int(n_drones),
        "energy_kwh": float(col(network, "energy_kwh").sum()) if n_ticks else 0.0,
        "mean_power_kw": float(power.mean() / 1e3) if n_ticks else 0.0,
        "peak_power_kw": float(power.max() / 1e3) if n_ticks else 0.0,
        "coverage_pct": float(100.0 * covered.sum() / active.sum()) if active.sum() > 0 else 100.0,
        "coverage_pct_min": float(col(network, "coverage_pct").min()) if n_ticks else 100.0,
        "rate_p5_mbps": float(col(network, "rate_p5_mbps").mean()) if n_ticks else 0.0,
        "rate_p5_mbps_min": float(col(network, "rate_p5_mbps").min()) if n_ticks else 0.0,
        "rate_median_mbps": float(col(network, "rate_median_mbps").mean()) if n_ticks else 0.0,
        "demand_gb": float(demand.sum() * mb_to_gb),
        "throughput_gb": float(carried.sum() * mb_to_gb),
        "unsatisfied_demand_pct": float(100.0 * max(demand.sum() - carried.sum(), 0.0) / demand.sum())
        if demand.sum() > 0 else 0.0,
        "unserved_user_ticks": int(col(network, "users_unserved").sum()),
        "mean_load": float(load[is_active].mean()) if is_active.any() else 0.0,
        "peak_load": float(load.max()) if load.size else 0.0,
        "detections": int(network.column("intruders_detected_cum").to_numpy()[-1]) if n_ticks else 0,
        "intruders": int(intruders),
        "failures": int(failures),
        "cell_ticks_failed": int(col(network, "cells_failed").sum()),
        "cell_ticks_sleeping": int(col(network, "cells_sleeping").sum()),
        "handovers": int(col(network, "handovers").sum()),
    }
    if set(out) != set(SUMMARY_KEYS):  # keep the documented key list and the computation in step
        raise RuntimeError(f"summary keys drifted: {sorted(set(out) ^ set(SUMMARY_KEYS))}")
    return out
