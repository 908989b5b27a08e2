"""ISAC sensing: radar equation, Swerling-1 detection, false alarms, M-of-N tracks, intruder KPIs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.catalog import load_catalog
from agents.drones import build_drones
from agents.sensing import IsacSensing, RadarParams, pd_swerling1, radar_snr_db

CAT = load_catalog()
P = RadarParams.from_spec(CAT.drones.sensing, fc_ghz=3.5)


def test_radar_equation_by_hand():
    # linear-domain evaluation of P_t G^2 lambda^2 sigma T_cpi / ((4 pi)^3 R^4 k T0 F L)
    pt = 10 ** ((43 - 30) / 10)
    g = 10 ** ((8 + 10) / 10)
    lam = 3e8 / 3.5e9
    sigma = 10 ** (-12.81 / 10)
    kt0 = 1.380649e-23 * 290
    f, loss = 10 ** 0.5, 10 ** 0.3
    r = 1000.0
    snr = pt * g**2 * lam**2 * sigma * 1e-3 / ((4 * math.pi) ** 3 * r**4 * kt0 * f * loss)
    assert radar_snr_db(r, -12.81, P) == pytest.approx(10 * math.log10(snr), abs=1e-9)
    assert radar_snr_db(r, -12.81, P) == pytest.approx(27.850, abs=1e-3)
    # R^-4: doubling the range costs 12.04 dB; sigma enters linearly
    assert radar_snr_db(2 * r, -12.81, P) - radar_snr_db(r, -12.81, P) == pytest.approx(-40 * math.log10(2))
    assert radar_snr_db(r, -2.81, P) - radar_snr_db(r, -12.81, P) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="ranges must be finite and > 0"):
        radar_snr_db(0.0, 0.0, P)


def test_swerling1_detection_probability():
    assert pd_swerling1(-300.0, 1e-6) == pytest.approx(1e-6)        # no signal: Pd = Pfa
    assert pd_swerling1(10.0, 1e-6) == pytest.approx(1e-6 ** (1 / 11))  # 0.2848
    assert pd_swerling1(10.0, 1e-6) == pytest.approx(0.284804, abs=1e-6)
    snr = np.linspace(-10, 40, 51)
    assert np.all(np.diff(pd_swerling1(snr, 1e-6)) > 0)
    assert pd_swerling1(40.0, 1e-6) > 0.998


def test_false_alarm_rate_matches_pfa_times_resolution_cells():
    p = RadarParams.from_spec(CAT.with_overrides({"sensing.pfa": 1e-4}).drones.sensing, 3.5)
    # 1500 m / 1.5 m range cells x 16 angle cells = 16 000 cells -> 1.6 false alarms per look
    assert p.n_resolution_cells == pytest.approx(16000) and p.false_alarms_per_look == pytest.approx(1.6)
    d = build_drones(CAT, [], (0, 0, 1000, 1000), np.random.default_rng(0))
    s = IsacSensing(p)
    rng = np.random.default_rng(1)
    sensors = np.array([[0, 0, 25.0], [500, 500, 25.0]])
    n = 0
    for _ in range(500):
        pos, truth = s.detect(d, sensors, rng)
        n += pos.shape[0]
        assert np.all(truth == -1)
        assert np.all(np.hypot(pos[:, 0][:, None] - sensors[:, 0], pos[:, 1][:, None] - sensors[:, 1]).min(1)
                      <= 1500 + 1e-9)
    assert abs(n / 500 - 3.2) < 4 * math.sqrt(3.2 / 500)


def _one_intruder(x, y, z=100.0):
    d = build_drones(CAT, [("intruder_drone", 1)], (-5000, -5000, 10000, 10000), np.random.default_rng(0))
    d.x_m[:], d.y_m[:], d.z_m[:] = x, y, z
    d.speed_mps[:] = 0.0
    return d


def test_m_of_n_confirmation_and_intruder_kpis():
    s = IsacSensing(P)
    d = _one_intruder(100.0, 0.0)        # ~140 m from the sensor: SNR ~ 57 dB, Pd ~ 1
    rng = np.random.default_rng(2)
    sensors = np.array([[0.0, 0.0, 25.0]])
    confirmed = [bool(s.step(t, 1.0, d, sensors, rng).confirmed.any()) for t in range(5)]
    assert confirmed[:2] == [False, False] and confirmed[2]   # 3-of-5: confirmed at the 3rd look
    k = s.kpi.summary()
    assert k["intruders"] == 1 and k["intruders_detected"] == 1 and k["intruders_missed"] == 0
    assert s.kpi.detected[0] == 2.0
    # far outside the sensing range: never detected -> missed
    s2 = IsacSensing(P)
    far = _one_intruder(4000.0, 4000.0)
    for t in range(20):
        s2.step(t, 1.0, far, sensors, rng)
    assert s2.kpi.summary()["intruders_missed"] == 1 and s2.kpi.detections == 0


def test_track_deletion_and_false_tracks():
    s = IsacSensing(P)
    det = np.array([[10.0, 10.0, 50.0]])
    fa = np.array([-1])
    for t in range(3):
        s.update_tracks(det, fa, float(t), gate_m=50.0)
    assert len(s.tracks) == 1 and s.tracks[0].confirmed and s.tracks[0].truth() == -1
    none = np.zeros((0, 3))
    for t in range(3, 3 + P.confirm_n - 1):
        s.update_tracks(none, np.zeros(0, int), float(t), gate_m=50.0)
    assert len(s.tracks) == 1                # 3 hits in the last 5 looks still
    s.update_tracks(none, np.zeros(0, int), 10.0, gate_m=50.0)
    assert s.tracks == []                    # N looks without a hit: deleted
    # a tentative track that cannot reach M hits in N looks is dropped
    s.update_tracks(det, fa, 20.0, gate_m=50.0)
    for t in range(4):
        s.update_tracks(none, np.zeros(0, int), 21.0 + t, gate_m=50.0)
    assert s.tracks == []
    # KPI: a confirmed track made of false alarms counts as a false track
    s3 = IsacSensing(P)
    d = build_drones(CAT, [], (0, 0, 1000, 1000), np.random.default_rng(0))
    for t in range(3):
        s3.update_tracks(det, fa, float(t), gate_m=50.0)
    s3.step(3.0, 1.0, d, np.zeros((0, 3)), np.random.default_rng(0))
    assert s3.kpi.summary()["false_tracks"] == 1


def test_gate_separates_two_drones_and_runs_reproducibly():
    def run(seed):
        d = build_drones(CAT, [("delivery_drone", 4), ("intruder_drone", 3)], (-800, -800, 1600, 1600),
                         np.random.default_rng(seed))
        from agents.drones import step_drones
        s = IsacSensing(P)
        rng = np.random.default_rng(seed + 1)
        sensors = np.array([[0, 0, 25.0], [400, 400, 25.0]])
        for t in range(120):
            step_drones(d, 1.0)
            tl = s.step(float(t), 1.0, d, sensors, rng)
        return s.kpi.summary(), tl

    (k1, t1), (k2, t2) = run(4), run(4)
    assert k1 == k2 and np.array_equal(t1.x_m, t2.x_m)
    assert k1["intruders"] == 3 and k1["intruders_detected"] == 3 and k1["false_tracks"] == 0
    assert set(t1.truth[t1.confirmed]) == set(range(7))   # one confirmed track per drone


def test_looks_kernel_matches_radar_equation_and_swerling1():
    """The per-look kernel of IsacSensing.detect against radar_snr_db + pd_swerling1 on the same uniforms."""
    from agents.sensing import _looks_kernel, radar_constant_db

    rng = np.random.default_rng(3)
    ns, nd = 9, 40
    sensors = np.column_stack([rng.uniform(0, 3000, ns), rng.uniform(0, 3000, ns), rng.uniform(20, 40, ns)])
    x, y, z = rng.uniform(0, 3000, nd), rng.uniform(0, 3000, nd), rng.uniform(30, 300, nd)
    x[0], y[0], z[0] = sensors[0]  # on top of a sensor: range clamped to 1 m
    rcs = rng.normal(-12.81, 3.0, nd)
    act = np.flatnonzero(rng.random(nd) < 0.8)
    r = np.maximum(np.sqrt((x[act][None] - sensors[:, :1]) ** 2 + (y[act][None] - sensors[:, 1:2]) ** 2
                           + (z[act][None] - sensors[:, 2:]) ** 2), 1.0)
    pd = np.where(r <= P.max_range_m, pd_swerling1(radar_snr_db(r, rcs[act][None], P), P.pfa), 0.0)
    assert 0.05 < np.mean(pd > 0.5) < 0.95  # a mix of sure, unlikely and out-of-range looks
    for _ in range(20):
        u = rng.random((ns, act.size))
        hit = np.zeros(act.size, bool)
        _looks_kernel(sensors, x, y, z, rcs, act, radar_constant_db(P), P.pfa, P.max_range_m, u, hit)
        close = np.abs(u - pd) < 1e-12  # rearranged arithmetic: only exact ties may differ
        np.testing.assert_array_equal(hit[~close.any(0)], (u < pd).any(0)[~close.any(0)])


def test_association_kernel_matches_sorted_greedy_walk():
    """Tracks-to-detections association in one kernel = distances, stable sort of the gated pairs by
    distance, greedy walk (ties between equal distances resolved by (track, detection) order)."""
    from agents.sensing import _associate_kernel, _greedy_pairs

    rng = np.random.default_rng(5)
    for trial in range(30):
        nt, nd = rng.integers(1, 12), rng.integers(1, 12)
        tpos = rng.integers(0, 6, (nt, 3)).astype(float) * 10.0  # a lattice: many equal distances
        pos = rng.integers(0, 6, (nd, 3)).astype(float) * 10.0
        gate = 25.0
        d = np.sqrt(((pos[None] - tpos[:, None]) ** 2).sum(2))
        t_idx, d_idx = np.nonzero(d <= gate)
        order = np.argsort(d[t_idx, d_idx], kind="stable")
        want = _greedy_pairs(t_idx[order], d_idx[order], nt, nd) if t_idx.size else []
        out_t, out_d = np.empty(min(nt, nd), np.int64), np.empty(min(nt, nd), np.int64)
        n = _associate_kernel(tpos, pos, gate, out_t, out_d)
        assert list(zip(out_t[:n].tolist(), out_d[:n].tolist(), strict=True)) == want, trial
