"""Traffic demand per user and tick: traffic classes and the 24-hour diurnal profile.

Classes (``users.traffic_classes`` in ``agents/catalog.yaml``):
* ``full_buffer``: the UE always has data (ITU-R M.2412 full-buffer evaluations); demand is ``inf`` and the
  ``full_buffer`` flag is set, so the scheduler gives it whatever is left.
* ``ftp3``: FTP model 3 (3GPP TR 36.872 / TR 36.889, REFERENCES.md §5.4, verify): a fixed population, files
  of ``S`` bytes arriving per UE as a Poisson process of rate ``lambda * p(t)`` (busy-hour rate times the
  diurnal profile). Offered rate over a tick: ``N * S * 8 / dt`` with ``N ~ Poisson(lambda p(t) dt)``; the
  mean offered load per UE is ``lambda p(t) S`` (REFERENCES.md §5.4, "offered load per cell = N_UE lambda S").
* ``cbr``: constant bit rate ``rate_mbps`` or ``payload_bytes * 8 / period_s`` (periodic IoT reports,
  3GPP TR 45.820 Annex E, verify); not diurnal unless the class says so.
* ``xr``: a UE is in an XR session with probability ``active_share * p(t)`` each tick and then demands
  ``rate_mbps`` (TR 38.838 rates, verify).

Diurnal profile ``p(h)``: 24 hourly values, busiest hour 1.0, piecewise constant over each hour, repeating
daily. Shipped profiles (``dientine/data/diurnal_hourly.csv``, provenance in ``dientine/data/README.md``):
``earth_d23_active_users`` (EARTH D2.3 daily profile, the default) and ``orange_fr_mobile_dl`` (Orange France
mobile downlink 2013, Feknous et al. 2014). A scenario may pass its own 24 values with their source.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[1] / "dientine" / "data"
HOURLY_CSV = DATA_DIR / "diurnal_hourly.csv"
DEFAULT_PROFILE = "earth_d23_active_users"
SECONDS_PER_DAY = 86400.0

TRAFFIC_FULL_BUFFER = 0
TRAFFIC_FTP3 = 1
TRAFFIC_CBR = 2
TRAFFIC_XR = 3
TRAFFIC_CODES = {"full_buffer": TRAFFIC_FULL_BUFFER, "ftp3": TRAFFIC_FTP3, "cbr": TRAFFIC_CBR,
                 "xr": TRAFFIC_XR}
_PROFILE_SOURCES = {
    "earth_d23_active_users": "EARTH project D2.3 daily traffic profile (Auer et al. 2011 framework), digitised "
                              "by tmc-calc/mob-traffic-ds; hourly means, peak 1 (dientine/data/README.md)",
    "orange_fr_mobile_dl": "Orange France mobile downstream traffic 2013 (Feknous et al., ISCC 2014), digitised by "
                           "tmc-calc/mob-traffic-ds; hourly means, peak 1 (dientine/data/README.md)",
}


@dataclass(frozen=True)
class DiurnalProfile:
    """24 hourly relative loads (busiest hour = 1.0) with their provenance."""

    name: str
    values: tuple[float, ...]
    source: str

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if v.shape != (24,):
            raise ValueError(f"diurnal profile '{self.name}': expected 24 hourly values, found {v.size}")
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            bad = int(np.flatnonzero(~np.isfinite(v) | (v < 0))[0])
            raise ValueError(f"diurnal profile '{self.name}': hour {bad}: expected a finite value >= 0, "
                             f"found {v[bad]!r}")
        if v.max() <= 0:
            raise ValueError(f"diurnal profile '{self.name}': all 24 values are zero")
        if not self.source.strip():
            raise ValueError(f"diurnal profile '{self.name}': a source is required (no invented profiles)")

    @classmethod
    def from_values(cls, values, source: str, name: str = "scenario") -> DiurnalProfile:
        """A scenario-supplied profile; values are rescaled so the busiest hour is 1.0."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (24,):
            raise ValueError(f"diurnal profile '{name}': expected 24 hourly values, found {v.size}")
        peak = float(np.max(v)) if v.size else 0.0
        if not np.isfinite(peak) or peak <= 0:
            raise ValueError(f"diurnal profile '{name}': expected positive finite values, found max {peak!r}")
        return cls(name, tuple(float(x) for x in v / peak), source)

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)

    def hour_of(self, t_s: float) -> int:
        return int(np.floor((t_s % SECONDS_PER_DAY) / 3600.0)) % 24

    def at(self, t_s: float) -> float:
        """Relative load at time ``t_s`` seconds after midnight of day 0 (piecewise constant per hour)."""
        return self.values[self.hour_of(t_s)]

    def mean(self) -> float:
        return float(np.mean(self.values))


@lru_cache(maxsize=4)
def _read_hourly(path: str) -> dict[str, tuple[float, ...]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if [int(r["hour"]) for r in rows] != list(range(24)):
        raise ValueError(f"{path}: expected rows for hours 0..23")
    names = [k for k in rows[0] if k != "hour"]
    return {n: tuple(float(r[n]) for r in rows) for n in names}


def available_profiles() -> list[str]:
    return sorted(_read_hourly(str(HOURLY_CSV)))


def load_diurnal_profile(name: str = DEFAULT_PROFILE) -> DiurnalProfile:
    """A shipped profile by name (see ``dientine/data/README.md`` for provenance)."""
    table = _read_hourly(str(HOURLY_CSV))
    if name not in table:
        raise KeyError(f"unknown diurnal profile '{name}'; shipped: {sorted(table)}")
    return DiurnalProfile(name, table[name], _PROFILE_SOURCES.get(name, f"{HOURLY_CSV} column {name}"))


@dataclass(frozen=True)
class TrafficTable:
    """Per-traffic-class parameters as arrays indexed by traffic id (see :func:`traffic_table`)."""

    names: tuple[str, ...]
    kind: np.ndarray            # int8 TRAFFIC_*
    diurnal: np.ndarray         # bool
    ftp_rate_per_s: np.ndarray  # busy-hour file arrival rate per UE
    ftp_file_bits: np.ndarray
    rate_mbps: np.ndarray       # cbr / xr rate
    active_share: np.ndarray    # xr busy-hour session share

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown traffic class '{name}'; known: {list(self.names)}") from None


def traffic_table(catalog) -> TrafficTable:
    """Build the array table from a :class:`agents.catalog.Catalog`."""
    names = tuple(catalog.users.traffic_classes)
    n = len(names)
    kind = np.zeros(n, np.int8)
    diurnal = np.zeros(n, bool)
    lam = np.zeros(n)
    bits = np.zeros(n)
    rate = np.zeros(n)
    share = np.zeros(n)
    for j, name in enumerate(names):
        tc = catalog.users.traffic_classes[name]
        kind[j] = TRAFFIC_CODES[tc.kind]
        diurnal[j] = tc.diurnal
        if tc.kind == "ftp3":
            lam[j] = float(tc.arrival_rate_per_s)
            bits[j] = 8.0 * float(tc.file_size_bytes)
        elif tc.kind == "cbr":
            rate[j] = (float(tc.rate_mbps) if tc.rate_mbps is not None
                       else 8.0 * float(tc.payload_bytes) / float(tc.period_s) / 1e6)
        elif tc.kind == "xr":
            rate[j] = float(tc.rate_mbps)
            share[j] = float(tc.active_share)
    return TrafficTable(names, kind, diurnal, lam, bits, rate, share)


def offered_mean_mbps(table: TrafficTable, traffic_id: np.ndarray, profile_value: float) -> np.ndarray:
    """Expected offered rate per user (Mbit/s) at relative load ``profile_value``; ``inf`` for full buffer."""
    tid = np.asarray(traffic_id)
    scale = np.where(table.diurnal[tid], profile_value, 1.0)
    k = table.kind[tid]
    out = np.empty(tid.shape, np.float64)
    out[:] = np.where(k == TRAFFIC_FTP3, table.ftp_rate_per_s[tid] * table.ftp_file_bits[tid] / 1e6 * scale, 0.0)
    out += np.where(k == TRAFFIC_CBR, table.rate_mbps[tid] * scale, 0.0)
    out += np.where(k == TRAFFIC_XR, table.rate_mbps[tid] * np.minimum(table.active_share[tid] * scale, 1.0), 0.0)
    out[k == TRAFFIC_FULL_BUFFER] = np.inf
    return out


def update_demand(users, t_s: float, dt_s: float, rng: np.random.Generator, table: TrafficTable,
                  profile: DiurnalProfile, *, expected: bool = False) -> None:
    """Set ``users.demand_mbps`` (and ``users.full_buffer``) for the tick ``[t_s, t_s + dt_s)``.

    Inactive users demand 0. ``expected=True`` gives the mean offered rate (no randomness)."""
    if not np.isfinite(dt_s) or dt_s <= 0:
        raise ValueError(f"update_demand: dt_s must be > 0, found {dt_s!r}")
    p = profile.at(t_s)
    tid = users.traffic
    active = users.active
    demand = users.demand_mbps
    if expected:
        demand[:] = offered_mean_mbps(table, tid, p)
    else:
        k = table.kind[tid]
        scale = np.where(table.diurnal[tid], p, 1.0)
        demand[:] = 0.0
        ftp = np.flatnonzero((k == TRAFFIC_FTP3) & active)
        if ftp.size:
            lam = table.ftp_rate_per_s[tid[ftp]] * scale[ftp] * dt_s
            files = rng.poisson(lam)
            demand[ftp] = files * table.ftp_file_bits[tid[ftp]] / dt_s / 1e6
        cbr = k == TRAFFIC_CBR
        demand[cbr] = table.rate_mbps[tid[cbr]] * scale[cbr]
        xr = np.flatnonzero((k == TRAFFIC_XR) & active)
        if xr.size:
            on = rng.random(xr.size) < np.minimum(table.active_share[tid[xr]] * scale[xr], 1.0)
            demand[xr] = np.where(on, table.rate_mbps[tid[xr]], 0.0)
        demand[k == TRAFFIC_FULL_BUFFER] = np.inf
    users.full_buffer[:] = (table.kind[tid] == TRAFFIC_FULL_BUFFER) & active
    demand[~active] = 0.0
