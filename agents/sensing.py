"""ISAC sensing: sensing-enabled cells detect drones with a radar-equation SNR, false alarms, M-of-N tracks.

Radar equation (monostatic, coherent processing over ``cpi_s``; e.g. Richards, *Fundamentals of Radar Signal
Processing*, ch. 2, the radar range equation with time-bandwidth integration gain ``B T_cpi``):

    SNR = P_t G^2 lambda^2 sigma / ((4 pi)^3 R^4 k T_0 B F L) * (B T_cpi)

``P_t`` transmit power, ``G`` antenna gain (element + array, the beam pointing at the target), ``lambda = c /
f_c`` (c = 3.0e8 m/s, REFERENCES.md §0), ``sigma`` the target's mean RCS, ``R`` the 3-D range, ``k`` Boltzmann's
constant (exact, SI 2019), ``T_0`` reference temperature, ``B`` bandwidth, ``F`` noise figure, ``L`` losses.
Parameters and their provenance: ``drones.sensing`` in ``agents/catalog.yaml``.

Detector: square-law, single look, Swerling-1 target (exponentially distributed RCS from look to look):
``P_D = P_FA ** (1 / (1 + SNR))`` (Richards, ch. 6, Swerling 1 single-pulse result). The target's mean RCS is
the 3GPP Rel-19 small-UAV component A with a per-drone log-normal offset (component B2's std), drawn once per
drone in :func:`agents.drones.build_drones`; the look-to-look fluctuation is Swerling 1's.

False alarms: each sensing cell has ``N_res = (R_max / (c / 2B)) * angle_cells`` resolution cells per look and
one look per tick; the number of false alarms is Poisson with mean ``P_FA N_res``, placed uniformly in the
horizontal disc of radius ``R_max`` around the cell at a height uniform in [0, 300 m] (the TR 36.777 aerial
range).

Fusion and tracking: a drone is detected in a tick if at least one sensing cell within ``R_max`` detects it
(centralised fusion); its reported position is the truth plus Gaussian noise (``position_error_m`` per axis).
Detections are associated to tracks greedily by distance within a gate ``gate_m + v_max dt``; a track is
confirmed when it has ``M`` hits in its last ``N`` looks (M-of-N logic, Blackman, *Multiple-Target Tracking
with Radar Applications*, 1986) and deleted after ``N`` looks without a hit (confirmed) or ``N`` looks without
confirmation (tentative). KPIs: intruders (unregistered drones) detected vs missed, false tracks (confirmed
tracks made mostly of false alarms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

C_M_S = 3.0e8                 # REFERENCES.md §0 project convention
K_BOLTZMANN = 1.380649e-23    # J/K, exact (SI 2019)
FALSE_ALARM_CEILING_M = 300.0  # TR 36.777 aerial UE height range (REFERENCES.md §2)


@dataclass(frozen=True)
class RadarParams:
    tx_power_dbm: float
    antenna_gain_dbi: float
    array_gain_db: float
    noise_figure_db: float
    temperature_k: float
    bandwidth_hz: float
    cpi_s: float
    losses_db: float
    pfa: float
    max_range_m: float
    angle_cells: int
    position_error_m: float
    gate_m: float
    confirm_m: int
    confirm_n: int
    fc_ghz: float

    def __post_init__(self) -> None:
        if not self.fc_ghz > 0:
            raise ValueError(f"RadarParams.fc_ghz must be > 0, found {self.fc_ghz!r}")
        if not 0 < self.pfa < 1:
            raise ValueError(f"RadarParams.pfa must be in (0, 1), found {self.pfa!r}")
        if not 1 <= self.confirm_m <= self.confirm_n:
            raise ValueError(f"RadarParams: need 1 <= confirm_m <= confirm_n, found {self.confirm_m} of "
                             f"{self.confirm_n}")

    @classmethod
    def from_spec(cls, spec, fc_ghz: float) -> RadarParams:
        """From a :class:`agents.catalog.SensingSpec` and the carrier frequency."""
        return cls(float(spec.tx_power_dbm), float(spec.antenna_gain_dbi), float(spec.array_gain_db),
                   float(spec.noise_figure_db), float(spec.temperature_k), float(spec.bandwidth_mhz) * 1e6,
                   float(spec.cpi_s), float(spec.losses_db), float(spec.pfa), float(spec.max_range_m),
                   int(float(spec.angle_cells)), float(spec.position_error_m), float(spec.gate_m),
                   int(float(spec.confirm_m)), int(float(spec.confirm_n)), float(fc_ghz))

    @property
    def range_resolution_m(self) -> float:
        return C_M_S / (2.0 * self.bandwidth_hz)

    @property
    def n_resolution_cells(self) -> float:
        return self.max_range_m / self.range_resolution_m * self.angle_cells

    @property
    def false_alarms_per_look(self) -> float:
        return self.pfa * self.n_resolution_cells


def radar_snr_db(range_m, rcs_dbsm, p: RadarParams) -> np.ndarray:
    """Monostatic radar-equation SNR (dB) after coherent integration (module docstring)."""
    r = np.asarray(range_m, dtype=np.float64)
    if np.any(r <= 0) or not np.all(np.isfinite(r)):
        raise ValueError("radar_snr_db: ranges must be finite and > 0 m")
    lam = C_M_S / (p.fc_ghz * 1e9)
    g_db = p.antenna_gain_dbi + p.array_gain_db
    return ((p.tx_power_dbm - 30.0) + 2.0 * g_db + 20.0 * np.log10(lam) + np.asarray(rcs_dbsm, np.float64)
            - 30.0 * np.log10(4.0 * np.pi) - 40.0 * np.log10(r)
            - 10.0 * np.log10(K_BOLTZMANN * p.temperature_k * p.bandwidth_hz) - p.noise_figure_db - p.losses_db
            + 10.0 * np.log10(p.bandwidth_hz * p.cpi_s))


def pd_swerling1(snr_db, pfa: float) -> np.ndarray:
    """Single-look detection probability of a Swerling-1 target, square-law detector: Pfa^(1/(1+SNR))."""
    snr = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    return pfa ** (1.0 / (1.0 + snr))


def radar_constant_db(p: RadarParams) -> float:
    """The range- and RCS-independent part of :func:`radar_snr_db` (dB): SNR = this + RCS - 40 log10 R."""
    lam = C_M_S / (p.fc_ghz * 1e9)
    g_db = p.antenna_gain_dbi + p.array_gain_db
    return ((p.tx_power_dbm - 30.0) + 2.0 * g_db + 20.0 * np.log10(lam) - 30.0 * np.log10(4.0 * np.pi)
            - 10.0 * np.log10(K_BOLTZMANN * p.temperature_k * p.bandwidth_hz) - p.noise_figure_db - p.losses_db
            + 10.0 * np.log10(p.bandwidth_hz * p.cpi_s))


@numba.njit(cache=True)
def _looks_kernel(sensor_xyz, x, y, z, rcs_dbsm, act, const_db, pfa, max_range_m, u, hit):
    """One look of every sensor at every active drone: ``hit[j]`` = some sensor within ``max_range_m`` detects
    drone ``act[j]``, detection when ``u[s, j] < P_D``. Same numbers as :func:`radar_snr_db` and
    :func:`pd_swerling1` (ranges below 1 m count as 1 m, as in :meth:`IsacSensing.detect`), rearranged:
    SNR = K_j / R^4 with K_j = 10^((const + RCS_j) / 10), P_D = exp(ln(P_FA) / (1 + SNR))."""
    ln_pfa = np.log(pfa)
    r2_max = max_range_m * max_range_m
    for j in range(act.shape[0]):
        d = act[j]
        k = 10.0 ** ((const_db + rcs_dbsm[d]) / 10.0)
        found = False
        for s in range(sensor_xyz.shape[0]):
            dx = x[d] - sensor_xyz[s, 0]
            dy = y[d] - sensor_xyz[s, 1]
            dz = z[d] - sensor_xyz[s, 2]
            r2 = max(dx * dx + dy * dy + dz * dz, 1.0)
            if r2 > r2_max:
                continue
            if u[s, j] < np.exp(ln_pfa / (1.0 + k / (r2 * r2))):
                found = True
                break  # the other sensors' uniforms were drawn already; nothing else depends on them
        hit[j] = found


@numba.njit(cache=True)
def _greedy_pairs_kernel(t_idx, d_idx, n_tracks, n_det, out_t, out_d):
    t_free = np.ones(n_tracks, np.bool_)
    d_free = np.ones(n_det, np.bool_)
    left = min(n_tracks, n_det)
    n = 0
    for j in range(t_idx.shape[0]):
        ti = t_idx[j]
        di = d_idx[j]
        if t_free[ti] and d_free[di]:
            t_free[ti] = False
            d_free[di] = False
            out_t[n] = ti
            out_d[n] = di
            n += 1
            if n == left:  # every track or every detection is taken: nothing left to match
                break
    return n


@numba.njit(cache=True)
def _associate_kernel(tpos, pos, gate_m, out_t, out_d):
    """Greedy nearest-first association of tracks (rows of ``tpos``) and detections (rows of ``pos``) within
    ``gate_m``: candidate pairs in (distance, track, detection) order (a stable sort of the row-major pairs by
    distance), then :func:`_greedy_pairs_kernel`. Returns the number of pairs written to ``out_t``/``out_d``."""
    nt, nd = tpos.shape[0], pos.shape[0]
    t_idx = np.empty(nt * nd, np.int64)
    d_idx = np.empty(nt * nd, np.int64)
    dist = np.empty(nt * nd)
    m = 0
    for t in range(nt):
        for j in range(nd):
            dx = pos[j, 0] - tpos[t, 0]
            dy = pos[j, 1] - tpos[t, 1]
            dz = pos[j, 2] - tpos[t, 2]
            r = np.sqrt(dx * dx + dy * dy + dz * dz)
            if r <= gate_m:
                t_idx[m] = t
                d_idx[m] = j
                dist[m] = r
                m += 1
    if m == 0:
        return 0
    order = np.argsort(dist[:m], kind="mergesort")
    return _greedy_pairs_kernel(t_idx[:m][order], d_idx[:m][order], nt, nd, out_t, out_d)


def _greedy_pairs(t_idx: np.ndarray, d_idx: np.ndarray, n_tracks: int, n_det: int) -> list[tuple[int, int]]:
    """Greedy one-to-one association: walk the candidate (track, detection) pairs in the given order (nearest
    first) and keep a pair when neither its track nor its detection is taken yet."""
    k = min(n_tracks, n_det)
    out_t = np.empty(k, np.int64)
    out_d = np.empty(k, np.int64)
    n = _greedy_pairs_kernel(t_idx.astype(np.int64), d_idx.astype(np.int64), n_tracks, n_det, out_t, out_d)
    return list(zip(out_t[:n].tolist(), out_d[:n].tolist(), strict=True))


@dataclass
class _Track:
    tid: int
    pos: np.ndarray
    hits: list[bool]
    votes: dict[int, int]
    confirmed: bool = False
    born_t_s: float = 0.0
    lead: int = -2  # the current majority truth (see truth); -2: not computed yet

    def vote(self, who: int) -> None:
        """Count one detection of ``who`` (drone index or -1) for this track."""
        n = self.votes.get(who, 0) + 1
        self.votes[who] = n
        if self.lead != -2:
            best = self.votes[self.lead]
            if n > best or (n == best and who < self.lead):
                self.lead = who

    def truth(self) -> int:
        """The majority truth of the track's detections (ties: the lowest id), -1 for none. Counts only grow,
        so the running maximum kept by :meth:`vote` equals the maximum over all votes."""
        if not self.votes:
            return -1
        if self.lead == -2:
            self.lead = max(self.votes.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        return self.lead


@dataclass
class TrackList:
    """The tracks after one tick (arrays of equal length)."""

    track_id: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    z_m: np.ndarray
    confirmed: np.ndarray
    truth: np.ndarray     # drone index or -1 (false alarm)
    n_detections: int
    n_false_alarms: int


@dataclass
class SensingKPIs:
    intruders: set[int] = field(default_factory=set)
    detected: dict[int, float] = field(default_factory=dict)   # intruder -> first confirmation time
    false_tracks: set[int] = field(default_factory=set)
    confirmed_tracks: set[int] = field(default_factory=set)
    detections: int = 0
    false_alarms: int = 0

    def summary(self) -> dict[str, float]:
        n = len(self.intruders)
        det = len(self.detected)
        return {"intruders": n, "intruders_detected": det, "intruders_missed": n - det,
                "detection_ratio": det / n if n else float("nan"), "false_tracks": len(self.false_tracks),
                "confirmed_tracks": len(self.confirmed_tracks), "detections": self.detections,
                "false_alarms": self.false_alarms}


class IsacSensing:
    """Detections, M-of-N tracks and KPIs over a run."""

    def __init__(self, params: RadarParams):
        self.p = params
        self.tracks: list[_Track] = []
        self.next_id = 0
        self.kpi = SensingKPIs()
        self._const_db = float(radar_constant_db(params))
        self._fa_per_look = float(params.false_alarms_per_look)

    def detect(self, drones, sensor_xyz: np.ndarray, rng: np.random.Generator):
        """One look of every sensing cell. Returns (positions (k, 3), truth ids (k,))."""
        p = self.p
        sensor_xyz = np.asarray(sensor_xyz, dtype=np.float64).reshape(-1, 3)
        act = np.flatnonzero(drones.active)
        dpos = np.column_stack([drones.x_m[act], drones.y_m[act], drones.z_m[act]])
        hit = np.zeros(act.size, bool)
        if sensor_xyz.shape[0] and act.size:
            u = rng.random((sensor_xyz.shape[0], act.size))  # one uniform per (sensor, drone) look
            _looks_kernel(sensor_xyz, drones.x_m, drones.y_m, drones.z_m, drones.rcs_dbsm, act, self._const_db,
                          p.pfa, p.max_range_m, u, hit)
        det_pos = dpos[hit] + p.position_error_m * rng.standard_normal((int(hit.sum()), 3))
        det_truth = act[hit]
        n_fa = rng.poisson(self._fa_per_look, size=sensor_xyz.shape[0]) if sensor_xyz.shape[0] else []
        fa = []
        n_fa = np.asarray(n_fa, dtype=np.int64)
        for s in np.flatnonzero(n_fa).tolist():  # sensors with false alarms, in sensor order
            k = int(n_fa[s])
            r = p.max_range_m * np.sqrt(rng.random(k))
            phi = 2 * np.pi * rng.random(k)
            fa.append(np.column_stack([sensor_xyz[s, 0] + r * np.cos(phi), sensor_xyz[s, 1] + r * np.sin(phi),
                                       FALSE_ALARM_CEILING_M * rng.random(k)]))
        if not fa:  # the usual look: no false alarm
            return det_pos, det_truth.astype(np.int64)
        fa_pos = np.concatenate(fa)
        pos = np.concatenate([det_pos, fa_pos])
        truth = np.concatenate([det_truth, np.full(fa_pos.shape[0], -1)]).astype(np.int64)
        return pos, truth

    def update_tracks(self, pos: np.ndarray, truth: np.ndarray, t_s: float, gate_m: float) -> None:
        p = self.p
        pairs: list[tuple[int, int]] = []
        if self.tracks and pos.shape[0]:
            # all track-detection distances at once; candidate pairs in (distance, track, detection) order
            tpos = np.array([tr.pos for tr in self.tracks], dtype=np.float64).reshape(-1, 3)
            k = min(len(self.tracks), pos.shape[0])
            out_t = np.empty(k, np.int64)
            out_d = np.empty(k, np.int64)
            n = _associate_kernel(tpos, np.ascontiguousarray(pos, dtype=np.float64), float(gate_m), out_t, out_d)
            pairs = list(zip(out_t[:n].tolist(), out_d[:n].tolist(), strict=True))
        t_used, d_used = set(), set()
        truth_l = truth.tolist()
        for ti, di in pairs:
            t_used.add(ti)
            d_used.add(di)
            tr = self.tracks[ti]
            tr.pos = pos[di].copy()
            tr.hits.append(True)
            tr.vote(truth_l[di])
        for ti, tr in enumerate(self.tracks):
            if ti not in t_used:
                tr.hits.append(False)
            del tr.hits[:-p.confirm_n]
        for di in range(pos.shape[0]):
            if di not in d_used:
                self.tracks.append(_Track(self.next_id, pos[di].copy(), [True], {truth_l[di]: 1}, False, t_s,
                                          truth_l[di]))
                self.next_id += 1
        keep = []
        for tr in self.tracks:
            if not tr.confirmed and sum(tr.hits) >= p.confirm_m:
                tr.confirmed = True
            if tr.confirmed:
                if len(tr.hits) >= p.confirm_n and not any(tr.hits):
                    continue
            elif len(tr.hits) >= p.confirm_n and sum(tr.hits) < p.confirm_m:
                continue
            keep.append(tr)
        self.tracks = keep

    def step(self, t_s: float, dt_s: float, drones, sensor_xyz: np.ndarray,
             rng: np.random.Generator) -> TrackList:
        """One tick: look, associate, confirm/delete, update KPIs. ``sensor_xyz``: (n, 3) positions of the
        cells with sensing enabled (site x, y and antenna height). Returns the tracks after the tick."""
        n_det, n_fa = self.advance(t_s, dt_s, drones, sensor_xyz, rng)
        n = len(self.tracks)
        return TrackList(
            np.array([t.tid for t in self.tracks], np.int64),
            np.array([t.pos[0] for t in self.tracks]) if n else np.zeros(0),
            np.array([t.pos[1] for t in self.tracks]) if n else np.zeros(0),
            np.array([t.pos[2] for t in self.tracks]) if n else np.zeros(0),
            np.array([t.confirmed for t in self.tracks], bool),
            np.array([t.truth() for t in self.tracks], np.int64),
            n_det, n_fa)

    def advance(self, t_s: float, dt_s: float, drones, sensor_xyz: np.ndarray,
                rng: np.random.Generator) -> tuple[int, int]:
        """:meth:`step` without building the track list (what a simulation tick needs); returns the tick's
        (detections of drones, false alarms)."""
        if not np.isfinite(dt_s) or dt_s < 0:
            raise ValueError(f"IsacSensing.step: dt_s must be >= 0, found {dt_s!r}")
        pos, truth = self.detect(drones, sensor_xyz, rng)
        gate = self.p.gate_m + drones.max_speed_mps() * dt_s
        self.update_tracks(pos, truth, t_s, gate)
        k = self.kpi
        k.intruders.update(int(i) for i in np.flatnonzero(~drones.registered & drones.active))
        n_fa = int(np.count_nonzero(truth < 0))
        k.detections += int(truth.size) - n_fa
        k.false_alarms += n_fa
        for tr in self.tracks:
            if not tr.confirmed:
                continue
            k.confirmed_tracks.add(tr.tid)
            who = tr.truth()
            if who < 0:
                k.false_tracks.add(tr.tid)
            elif not drones.registered[who] and who not in k.detected:
                k.detected[who] = float(t_s)
        return int(truth.size) - n_fa, n_fa
