"""Traffic demand per user and tick: traffic classes and the 24-hour diurnal profile.

Classes (``users.traffic_classes`` in ``agents/catalog.yaml``):
* ``full_buffer``: the UE always has data (ITU-R M.2412 full-buffer evaluations); demand is ``inf`` and the
  ``full_buffer`` flag is set, so the scheduler gives it whatever is left.
* ``ftp3``: FTP model 3 (3GPP TR 36.872 / TR 36.889, REFERENCES.md §5.4, verify): a fixed population, files
  of ``S`` bytes arriving per UE as a Poisson process of rate ``lambda * p(t)`` (busy-hour rate times the
  diurnal profile). Offered rate over a tick: ``N * S * 8 / dt`` with ``N ~ Poisson(lambda p(t) dt)`` (drawn
  in a Numba kernel from the run's generator: inversion of the tick's tabulated CDF, :func:`_poisson_table`,
  or :func:`_poisson` for large means); the
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
def _ptrs_constants(mean):
    """The constants of the PTRS sampler for ``mean`` (>= 10): (sqrt, log, b, a, 1/alpha, v_r)."""
    slam = math.sqrt(mean)
    b = 0.931 + 2.53 * slam
    return slam, math.log(mean), b, -0.059 + 0.02483 * b, 1.1239 + 1.1328 / (b - 3.4), 0.9277 - 3.6224 / (b - 2.0)


@numba.njit(cache=True, inline="always")
def _poisson_with(mean, limit, loglam, b, a, invalpha, vr, key, i, c0):
    """Poisson draw from the (key, i) hash stream, draws ``c0, c0 + 1, ...``, with the per-mean constants
    precomputed (``limit`` = exp(-mean) for the multiplication method below mean 10; the PTRS constants
    above)."""
    if mean <= 0.0:
        return 0.0
    c = c0
    if mean < 10.0:
        prod = 1.0
        k = 0.0
        while True:
            prod *= hash_uniform(key, i, c)
            c += np.uint64(1)
            if prod <= limit:
                return k
            k += 1.0
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
def _poisson(mean, key, i):
    """Poisson draw from the (key, i) hash stream: multiplication method below mean 10, PTRS transformed
    rejection above (W. Hoermann, "The transformed rejection method for generating Poisson random
    variables", Insurance: Mathematics and Economics 12, 1993; the algorithm NumPy uses)."""
    if mean < 10.0:
        return _poisson_with(mean, math.exp(-mean) if mean > 0.0 else 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, key, i,
                             np.uint64(0))
    _, loglam, b, a, invalpha, vr = _ptrs_constants(mean)
    return _poisson_with(mean, 0.0, loglam, b, a, invalpha, vr, key, i, np.uint64(0))


#: Poisson means up to this use inversion with a tabulated CDF and a guide table (:func:`_poisson_table`);
#: above it PTRS (the table grows with the mean and exp(-mean) underflows near 745). A performance setting.
POISSON_TABLE_MAX_MEAN = 200.0


@numba.njit(cache=True)
def _poisson_table(mean):
    """CDF ``P(X <= k)`` of Poisson(``mean``) for k = 0 .. ceil(mean + 12 sqrt(mean)) + 16 (pmf recurrence
    ``p_k = p_{k-1} mean / k``) and its guide table (Chen & Asau 1974; Devroye, *Non-Uniform Random Variate
    Generation*, 1986, ch. III.2.4): ``guide[g]`` = the smallest k with ``cdf[k] > g / len``, so inversion
    starts at most a step or two below the answer. Beyond the table the tail mass is below 1e-30."""
    n = int(math.ceil(mean + 12.0 * math.sqrt(mean))) + 16
    cdf = np.empty(n)
    p = math.exp(-mean)
    c = p
    cdf[0] = c
    for k in range(1, n):
        p *= mean / k
        c += p
        cdf[k] = c
    guide = np.empty(n, np.int64)
    k = 0
    for g in range(n):
        while k < n - 1 and cdf[k] <= g / n:
            k += 1
        guide[g] = k
    return cdf, guide


@numba.njit(cache=True, inline="always")
def _poisson_invert(cdf, guide, u):
    """The smallest k with ``u < cdf[k]`` (inversion), -1 when ``u`` is beyond the table."""
    n = cdf.shape[0]
    k = guide[int(u * n)]
    while k < n and u >= cdf[k]:
        k += 1
    return k if k < n else -1


@numba.njit(cache=True)
def _demand_kernel(tid, active, demand, full_buffer, kind, diurnal, lam, bits, rate, share, p, dt, key,
                   expected):
    # per traffic class: the Poisson mean of the tick and its sampler (the same for all the class's users):
    # inversion of a tabulated CDF (one uniform per user) up to POISSON_TABLE_MAX_MEAN, PTRS above
    m = kind.shape[0]
    mean = np.zeros(m)
    consts = np.zeros((m, 6))
    width = 1
    for j in range(m):
        if kind[j] == TRAFFIC_FTP3:
            mean[j] = lam[j] * (p if diurnal[j] else 1.0) * dt
            if mean[j] <= POISSON_TABLE_MAX_MEAN:
                width = max(width, int(math.ceil(mean[j] + 12.0 * math.sqrt(mean[j]))) + 16)
            if mean[j] >= 10.0:
                _, consts[j, 1], consts[j, 2], consts[j, 3], consts[j, 4], consts[j, 5] = _ptrs_constants(mean[j])
    cdfs = np.ones((m, width))
    guides = np.zeros((m, width), np.int64)
    for j in range(m):
        if kind[j] == TRAFFIC_FTP3 and mean[j] <= POISSON_TABLE_MAX_MEAN:
            cdf, guide = _poisson_table(mean[j])
            cdfs[j, :cdf.shape[0]] = cdf
            guides[j, :cdf.shape[0]] = guide
            consts[j, 0] = cdf.shape[0]
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
                continue
            k = -1.0
            if mean[j] <= 0.0:
                k = 0.0
            elif mean[j] <= POISSON_TABLE_MAX_MEAN:
                nt = int(consts[j, 0])
                k = float(_poisson_invert(cdfs[j, :nt], guides[j, :nt], hash_uniform(key, i, np.uint64(0))))
            if k < 0.0:  # above the table's range (or its tail, probability < 1e-30): PTRS on fresh draws
                k = _poisson_with(mean[j], 0.0, consts[j, 1], consts[j, 2], consts[j, 3], consts[j, 4],
                                  consts[j, 5], key, i, np.uint64(1)) if mean[j] >= 10.0 else \
                    _poisson_with(mean[j], math.exp(-mean[j]), 0.0, 0.0, 0.0, 0.0, 0.0, key, i, np.uint64(1))
            demand[i] = k * bits[j] / dt / 1e6
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
