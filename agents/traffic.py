"""Traffic demand per user and tick: traffic classes and the 24-hour diurnal profile.

Classes (``users.traffic_classes`` in ``agents/catalog.yaml``):
* ``full_buffer``: the UE always has data (ITU-R M.2412 full-buffer evaluations); demand is ``inf`` and the
  ``full_buffer`` flag is set, so the scheduler gives it whatever is left.
* ``ftp3``: FTP model 3 (3GPP TR 36.872 / TR 36.889, REFERENCES.md §5.4, verify): a fixed population, files
  of ``S`` bytes arriving per UE as a Poisson process of rate ``lambda * p(t)`` (busy-hour rate times the
  diurnal profile). Offered rate over a tick: ``N * S * 8 / dt`` with ``N ~ Poisson(lambda p(t) dt)`` (drawn
  in a Numba kernel from the run's generator, :func:`_poisson`); the
  mean offered load per UE is ``lambda p(t) S`` (REFERENCES.md §5.4, "offered load per cell = N_UE lambda S").
* ``cbr``: constant bit rate ``rate_mbps`` or ``payload_bytes * 8 / period_s`` (periodic IoT reports,
  3GPP TR 45.820 Annex E, verify); not diurnal unless the class says so.
* ``xr``: a UE is in an XR session with probability ``active_share * p(t)`` each tick and then demands
  ``rate_mbps`` (TR 38.838 rates, verify).

Diurnal profile ``p(h)``: 24 hourly values, busiest hour 1.0, piecewise constant over each hour, repeating
daily; a tick uses the profile's mean over ``[t, t + dt)``. Shipped profiles (``dientine/data/diurnal_hourly.csv``,
provenance in ``dientine/data/README.md``):
``earth_d23_active_users`` (EARTH D2.3 daily profile, the default) and ``orange_fr_mobile_dl`` (Orange France
mobile downlink 2013, Feknous et al. 2014). A scenario may pass its own 24 values with their source.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np

from agents.mobility import hash_uniform, tick_key

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

    def _integral(self, t_s: float) -> float:
        """Integral of p from 0 to t_s (seconds x relative load)."""
        v = self.values
        days = np.floor(t_s / SECONDS_PER_DAY)
        rest = t_s - days * SECONDS_PER_DAY
        h = min(int(rest // 3600.0), 23)
        return float(days * sum(v) * 3600.0 + sum(v[:h]) * 3600.0 + v[h] * (rest - 3600.0 * h))

    def mean_over(self, t_s: float, dt_s: float) -> float:
        """Mean relative load over the tick ``[t_s, t_s + dt_s)`` (exact for ticks that straddle hours)."""
        if dt_s <= 0:
            return self.at(t_s)
        return (self._integral(t_s + dt_s) - self._integral(t_s)) / dt_s


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


@numba.njit(cache=True)
def _poisson(mean, key, i):
    """Poisson draw from the (key, i) hash stream: multiplication method below mean 10, PTRS transformed
    rejection above (W. Hoermann, "The transformed rejection method for generating Poisson random
    variables", Insurance: Mathematics and Economics 12, 1993; the algorithm NumPy uses)."""
    if mean <= 0.0:
        return 0.0
    c = np.uint64(0)
    if mean < 10.0:
        limit = math.exp(-mean)
        prod = 1.0
        k = 0.0
        while True:
            prod *= hash_uniform(key, i, c)
            c += np.uint64(1)
            if prod <= limit:
                return k
            k += 1.0
    slam = math.sqrt(mean)
    loglam = math.log(mean)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = hash_uniform(key, i, c) - 0.5
        v = hash_uniform(key, i, c + np.uint64(1))
        c += np.uint64(2)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + mean + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)) <= (
                -mean + k * loglam - math.lgamma(k + 1.0)):
            return k


@numba.njit(cache=True)
def _demand_kernel(tid, active, demand, full_buffer, kind, diurnal, lam, bits, rate, share, p, dt, key,
                   expected):
    for i in range(tid.shape[0]):
        if not active[i]:
            demand[i] = 0.0
            full_buffer[i] = False
            continue
        j = tid[i]
        scale = p if diurnal[j] else 1.0
        kd = kind[j]
        full_buffer[i] = kd == TRAFFIC_FULL_BUFFER
        if kd == TRAFFIC_FTP3:
            if expected:
                demand[i] = lam[j] * scale * bits[j] / 1e6
            else:
                demand[i] = _poisson(lam[j] * scale * dt, key, i) * bits[j] / dt / 1e6
        elif kd == TRAFFIC_CBR:
            demand[i] = rate[j] * scale
        elif kd == TRAFFIC_XR:
            q = min(share[j] * scale, 1.0)
            if expected:
                demand[i] = rate[j] * q
            else:
                demand[i] = rate[j] if hash_uniform(key, i, np.uint64(0)) < q else 0.0
        else:
            demand[i] = np.inf


def update_demand(users, t_s: float, dt_s: float, rng: np.random.Generator, table: TrafficTable,
                  profile: DiurnalProfile, *, expected: bool = False) -> None:
    """Set ``users.demand_mbps`` (and ``users.full_buffer``) for the tick ``[t_s, t_s + dt_s)``.

    Inactive users demand 0. ``expected=True`` gives the mean offered rate (no randomness). Random draws
    come from one key per call drawn from ``rng`` (see :mod:`agents.mobility`)."""
    if not np.isfinite(dt_s) or dt_s <= 0:
        raise ValueError(f"update_demand: dt_s must be > 0, found {dt_s!r}")
    key = tick_key(rng)
    _demand_kernel(users.traffic, users.active, users.demand_mbps, users.full_buffer, table.kind,
                   table.diurnal, table.ftp_rate_per_s, table.ftp_file_bits, table.rate_mbps, table.active_share,
                   float(profile.mean_over(t_s, dt_s)), float(dt_s), key, bool(expected))
