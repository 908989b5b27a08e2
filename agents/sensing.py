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
def _looks_positions_kernel(sensor_xyz, x, y, z, rcs_dbsm, act, const_db, pfa, max_range_m, u, hit, out_pos,
                            out_truth):
    """:func:`_looks_kernel`, then the true positions and indices of the detected drones (in ``act`` order) at the
    front of ``out_pos``/``out_truth``; returns how many."""
    _looks_kernel(sensor_xyz, x, y, z, rcs_dbsm, act, const_db, pfa, max_range_m, u, hit)
    k = 0
    for j in range(act.shape[0]):
        if hit[j]:
            d = act[j]
            out_pos[k, 0] = x[d]
            out_pos[k, 1] = y[d]
            out_pos[k, 2] = z[d]
            out_truth[k] = d
            k += 1
    return k


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
    ``gate_m``: the walk of :func:`_greedy_pairs_kernel` over the candidate pairs in (distance, track,
    detection) order. Done without sorting the pairs: each round takes the smallest (distance, track, detection)
    pair whose track and detection are both free, which is the pair the walk keeps next (the pairs it skips
    have a taken end). Returns the number of pairs written to ``out_t``/``out_d``, in walk order."""
    nt, nd = tpos.shape[0], pos.shape[0]
    dist = np.empty((nt, nd))
    for t in range(nt):
        for j in range(nd):
            dx = pos[j, 0] - tpos[t, 0]
            dy = pos[j, 1] - tpos[t, 1]
            dz = pos[j, 2] - tpos[t, 2]
            r = np.sqrt(dx * dx + dy * dy + dz * dz)
            dist[t, j] = r if r <= gate_m else np.inf
    t_free = np.ones(nt, np.bool_)
    d_free = np.ones(nd, np.bool_)
    n = 0
    for _ in range(min(nt, nd)):
        bt = -1
        bj = -1
        br = np.inf
        for t in range(nt):
            if not t_free[t]:
                continue
            for j in range(nd):
                if d_free[j] and dist[t, j] < br:  # strict: the first pair in (track, detection) order wins ties
                    br = dist[t, j]
                    bt = t
                    bj = j
        if bt < 0:  # no free pair within the gate
            break
        t_free[bt] = False
        d_free[bj] = False
        out_t[n] = bt
        out_d[n] = bj
        n += 1
    return n


def _greedy_pairs(t_idx: np.ndarray, d_idx: np.ndarray, n_tracks: int, n_det: int) -> list[tuple[int, int]]:
    """Greedy one-to-one association: walk the candidate (track, detection) pairs in the given order (nearest
    first) and keep a pair when neither its track nor its detection is taken yet. The definition
    :func:`_associate_kernel` reproduces without sorting (the tests check one against the other)."""
    k = min(n_tracks, n_det)
    out_t = np.empty(k, np.int64)
    out_d = np.empty(k, np.int64)
    n = _greedy_pairs_kernel(t_idx.astype(np.int64), d_idx.astype(np.int64), n_tracks, n_det, out_t, out_d)
    return list(zip(out_t[:n].tolist(), out_d[:n].tolist(), strict=True))


@numba.njit(cache=True)
def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


@numba.njit(cache=True)
def _keep_track_arrays(t, hits, looks, conf, confirm_m, confirm_n):
    """M-of-N logic on track ``t``'s last looks (``hits``: a bit per look, bit 0 the latest; ``looks``: how many
    are kept, at most N): confirm it at ``confirm_m`` hits; False (delete) after ``confirm_n`` looks without a
    hit (confirmed) or without confirmation (tentative)."""
    if conf[t]:
        return looks[t] < confirm_n or hits[t] != 0
    if _popcount(hits[t]) >= confirm_m:
        conf[t] = True
        return True
    return looks[t] < confirm_n


@numba.njit(cache=True)
def _copy_track(src, dst, tid, pos, hits, looks, conf, born, lead, votes):
    tid[dst] = tid[src]
    pos[dst, 0] = pos[src, 0]
    pos[dst, 1] = pos[src, 1]
    pos[dst, 2] = pos[src, 2]
    hits[dst] = hits[src]
    looks[dst] = looks[src]
    conf[dst] = conf[src]
    born[dst] = born[src]
    lead[dst] = lead[src]
    for j in range(votes.shape[1]):
        votes[dst, j] = votes[src, j]


@numba.njit(cache=True)
def _update_tracks_kernel(n, tid, pos, hits, looks, conf, born, lead, votes, det_pos, det_truth, t_s, gate_m,
                          confirm_m, confirm_n, next_id):
    """One look of the tracker on the track arrays (the first ``n`` rows live; room for ``n + len(det_pos)``):
    greedy nearest-first association (:func:`_associate_kernel`), a hit (position, vote for the detection's
    truth) for each matched track and a miss for the others, the last N looks kept, confirmation or deletion
    (:func:`_keep_track_arrays`, rows compacted in order), then a new track for each unmatched detection, in
    detection order. ``votes[t, w + 1]`` counts the detections of truth ``w`` (-1: false alarm); ``lead[t]`` is
    the majority truth (ties: the lowest id). Returns (tracks, next id)."""
    n_det = det_pos.shape[0]
    matched = np.zeros(n, np.bool_)
    d_used = np.zeros(n_det, np.bool_)
    if n and n_det:
        k = min(n, n_det)
        out_t = np.empty(k, np.int64)
        out_d = np.empty(k, np.int64)
        m = _associate_kernel(pos[:n], det_pos, gate_m, out_t, out_d)
        for q in range(m):
            t, d = out_t[q], out_d[q]
            matched[t] = True
            d_used[d] = True
            pos[t, 0] = det_pos[d, 0]
            pos[t, 1] = det_pos[d, 1]
            pos[t, 2] = det_pos[d, 2]
            who = det_truth[d]
            votes[t, who + 1] += 1
            v = votes[t, who + 1]
            best = votes[t, lead[t] + 1]
            if v > best or (v == best and who < lead[t]):
                lead[t] = who
    window = (1 << confirm_n) - 1
    w = 0
    for t in range(n):
        hits[t] = ((hits[t] << 1) | (1 if matched[t] else 0)) & window
        looks[t] = min(looks[t] + 1, confirm_n)
        if _keep_track_arrays(t, hits, looks, conf, confirm_m, confirm_n):
            if w != t:
                _copy_track(t, w, tid, pos, hits, looks, conf, born, lead, votes)
            w += 1
    for d in range(n_det):
        if d_used[d]:
            continue
        tid[w] = next_id
        next_id += 1
        pos[w, 0] = det_pos[d, 0]
        pos[w, 1] = det_pos[d, 1]
        pos[w, 2] = det_pos[d, 2]
        hits[w] = 1
        looks[w] = 1
        conf[w] = False
        born[w] = t_s
        who = det_truth[d]
        for j in range(votes.shape[1]):
            votes[w, j] = 0
        votes[w, who + 1] = 1
        lead[w] = who
        if _keep_track_arrays(w, hits, looks, conf, confirm_m, confirm_n):
            w += 1
    return w, next_id


@dataclass
class _Track:
    """One track as an object (:attr:`IsacSensing.tracks` builds these from the track arrays)."""

    tid: int
    pos: np.ndarray
    hits: list[bool]
    votes: dict[int, int]
    confirmed: bool = False
    born_t_s: float = 0.0
    lead: int = -1  # the majority truth of the votes (kept by _update_tracks_kernel)

    def truth(self) -> int:
        """The majority truth of the track's detections (ties: the lowest id), -1 for a false alarm or none."""
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
        if params.confirm_n > 62:
            raise ValueError(f"RadarParams.confirm_n: at most 62 looks are kept per track, found {params.confirm_n}")
        self.p = params
        self.next_id = 0
        self.kpi = SensingKPIs()
        # the tracks as arrays (the first _n rows live; see _update_tracks_kernel); read them with .tracks
        self._n = 0
        self._tid = np.zeros(0, np.int64)
        self._pos = np.zeros((0, 3))
        self._hits = np.zeros(0, np.int64)
        self._looks = np.zeros(0, np.int64)
        self._conf = np.zeros(0, np.bool_)
        self._born = np.zeros(0)
        self._lead = np.zeros(0, np.int64)
        self._votes = np.zeros((0, 1), np.int64)
        self._const_db = float(radar_constant_db(params))
        self._fa_per_look = float(params.false_alarms_per_look)
        # work arrays of detect (per active drone), reallocated when the number of active drones changes
        self._hit = np.zeros(0, np.bool_)
        self._det_pos = np.zeros((0, 3))
        self._det_truth = np.zeros(0, np.int64)

    def detect(self, drones, sensor_xyz: np.ndarray, rng: np.random.Generator):
        """One look of every sensing cell. Returns (positions (k, 3), truth ids (k,))."""
        p = self.p
        sensor_xyz = np.asarray(sensor_xyz, dtype=np.float64).reshape(-1, 3)
        act = np.flatnonzero(drones.active)
        n_s = sensor_xyz.shape[0]
        if self._hit.shape[0] != act.size:
            self._hit = np.zeros(act.size, np.bool_)
            self._det_pos = np.zeros((act.size, 3))
            self._det_truth = np.zeros(act.size, np.int64)
        k = 0
        if n_s and act.size:
            u = rng.random((n_s, act.size))  # one uniform per (sensor, drone) look
            k = _looks_positions_kernel(sensor_xyz, drones.x_m, drones.y_m, drones.z_m, drones.rcs_dbsm, act,
                                        self._const_db, p.pfa, p.max_range_m, u, self._hit, self._det_pos,
                                        self._det_truth)
        det_pos = self._det_pos[:k] + p.position_error_m * rng.standard_normal((k, 3))
        det_truth = self._det_truth[:k]
        if not n_s:
            return det_pos, det_truth.astype(np.int64)
        n_fa = rng.poisson(self._fa_per_look, size=n_s)
        fa_sensors = np.flatnonzero(n_fa)
        if not fa_sensors.size:  # the usual look: no false alarm
            return det_pos, det_truth.astype(np.int64)
        counts = n_fa[fa_sensors].tolist()
        pos = np.empty((k + sum(counts), 3))
        pos[:k] = det_pos
        truth = np.full(pos.shape[0], -1, np.int64)
        truth[:k] = det_truth
        row = k
        for s, m in zip(fa_sensors.tolist(), counts, strict=True):  # sensors with false alarms, in sensor order
            r = p.max_range_m * np.sqrt(rng.random(m))
            phi = 2 * np.pi * rng.random(m)
            pos[row:row + m, 0] = sensor_xyz[s, 0] + r * np.cos(phi)
            pos[row:row + m, 1] = sensor_xyz[s, 1] + r * np.sin(phi)
            pos[row:row + m, 2] = FALSE_ALARM_CEILING_M * rng.random(m)
            row += m
        return pos, truth

    @property
    def tracks(self) -> list[_Track]:
        """The current tracks as objects, oldest first (a snapshot built from the track arrays)."""
        out = []
        for t in range(self._n):
            h, k = int(self._hits[t]), int(self._looks[t])
            votes = {w - 1: int(c) for w, c in enumerate(self._votes[t].tolist()) if c}
            out.append(_Track(int(self._tid[t]), self._pos[t].copy(), [bool(h >> j & 1) for j in range(k - 1, -1, -1)],
                              votes, bool(self._conf[t]), float(self._born[t]), int(self._lead[t])))
        return out

    def _reserve(self, n_rows: int, n_who: int) -> None:
        """Room for ``n_rows`` tracks and truths -1 .. ``n_who`` - 2 (capacity doubles)."""
        cap, width = self._tid.shape[0], self._votes.shape[1]
        if n_rows <= cap and n_who <= width:
            return
        cap = max(cap, 1)
        while cap < n_rows:
            cap *= 2
        width = max(width, n_who)
        n = self._n

        def grown(a, shape):
            b = np.zeros(shape, a.dtype)
            if a.ndim == 1:
                b[:n] = a[:n]
            else:
                b[:n, :a.shape[1]] = a[:n]
            return b

        self._tid, self._hits, self._looks = (grown(a, cap) for a in (self._tid, self._hits, self._looks))
        self._conf, self._born, self._lead = (grown(a, cap) for a in (self._conf, self._born, self._lead))
        self._pos = grown(self._pos, (cap, 3))
        self._votes = grown(self._votes, (cap, width))

    def update_tracks(self, pos: np.ndarray, truth: np.ndarray, t_s: float, gate_m: float) -> None:
        """One look of the tracker with detections ``pos`` (k, 3) of truths ``truth`` (drone index, -1 false
        alarm) at ``t_s``: association within ``gate_m``, M-of-N confirmation and deletion, new tracks."""
        p = self.p
        det = np.ascontiguousarray(pos, dtype=np.float64).reshape(-1, 3)
        who = np.ascontiguousarray(truth, dtype=np.int64)
        self._reserve(self._n + det.shape[0], int(who.max()) + 2 if who.size else 1)
        self._n, self.next_id = _update_tracks_kernel(
            self._n, self._tid, self._pos, self._hits, self._looks, self._conf, self._born, self._lead, self._votes,
            det, who, float(t_s), float(gate_m), int(p.confirm_m), int(p.confirm_n), int(self.next_id))

    def step(self, t_s: float, dt_s: float, drones, sensor_xyz: np.ndarray,
             rng: np.random.Generator) -> TrackList:
        """One tick: look, associate, confirm/delete, update KPIs. ``sensor_xyz``: (n, 3) positions of the
        cells with sensing enabled (site x, y and antenna height). Returns the tracks after the tick."""
        n_det, n_fa = self.advance(t_s, dt_s, drones, sensor_xyz, rng)
        n = self._n
        return TrackList(self._tid[:n].copy(), self._pos[:n, 0].copy(), self._pos[:n, 1].copy(),
                         self._pos[:n, 2].copy(), self._conf[:n].copy(), self._lead[:n].copy(), n_det, n_fa)

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
        k.intruders.update(np.flatnonzero(~drones.registered & drones.active).tolist())
        n_fa = int(np.count_nonzero(truth < 0))
        k.detections += int(truth.size) - n_fa
        k.false_alarms += n_fa
        n = self._n
        conf = self._conf[:n]
        if conf.any():
            tids, lead = self._tid[:n][conf], self._lead[:n][conf]
            k.confirmed_tracks.update(tids.tolist())
            k.false_tracks.update(tids[lead < 0].tolist())
            registered = None
            for who in lead[lead >= 0].tolist():  # track order
                if who not in k.detected:
                    if registered is None:
                        registered = drones.registered.tolist()
                    if not registered[who]:
                        k.detected[who] = float(t_s)
        return int(truth.size) - n_fa, n_fa
