"""Traffic: shipped diurnal profiles (derivation reproducible), demand per class, totals follow the profile."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from agents.catalog import load_catalog
from agents.traffic import (
    DATA_DIR,
    DEFAULT_PROFILE,
    DiurnalProfile,
    available_profiles,
    load_diurnal_profile,
    offered_mean_mbps,
    traffic_table,
)
from agents.users import Population

CAT = load_catalog()


def _derive_module():
    spec = importlib.util.spec_from_file_location("derive_diurnal", DATA_DIR / "derive_diurnal.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shipped_hourly_profiles_match_their_derivation():
    derived = _derive_module().derive()
    assert set(available_profiles()) == set(derived) == {"earth_d23_active_users", "orange_fr_mobile_dl"}
    for name, values in derived.items():
        prof = load_diurnal_profile(name)
        assert np.allclose(prof.array, values, atol=5e-5), name
        assert prof.array.max() == 1.0 and prof.source
    # shape facts of both sources: night minimum 04-05 h around 0.13-0.18 of the peak, peak 21-22 h
    for name in derived:
        a = load_diurnal_profile(name).array
        assert int(np.argmin(a)) == 5 and 0.12 < a.min() < 0.16
        assert int(np.argmax(a)) in (21, 22)


def test_hour_lookup_and_validation():
    p = load_diurnal_profile(DEFAULT_PROFILE)
    v = p.values
    assert p.at(0) == v[0] and p.at(3599.9) == v[0] and p.at(3600) == v[1]
    assert p.at(86400 + 7200) == v[2] and p.at(23.5 * 3600) == v[23]
    assert p.mean_over(3000.0, 1200.0) == pytest.approx((600 * v[0] + 600 * v[1]) / 1200)
    assert p.mean_over(5 * 3600.0, 900.0) == pytest.approx(v[5])
    assert p.mean_over(23 * 3600.0, 7200.0) == pytest.approx((v[23] + v[0]) / 2)
    assert p.mean_over(123.0, 86400.0) == pytest.approx(np.mean(v))
    assert p.mean_over(7.0, 0.0) == v[0]
    q = DiurnalProfile.from_values(np.arange(1, 25), source="test ramp")
    assert q.values[-1] == 1.0 and q.values[0] == pytest.approx(1 / 24)
    with pytest.raises(ValueError, match="expected 24 hourly values"):
        DiurnalProfile.from_values([1.0] * 23, source="x")
    with pytest.raises(ValueError, match="hour 3: expected a finite value >= 0"):
        DiurnalProfile("bad", tuple([1.0] * 3 + [-1.0] + [1.0] * 20), "x")
    with pytest.raises(ValueError, match="a source is required"):
        DiurnalProfile("nosrc", tuple([1.0] * 24), " ")
    with pytest.raises(KeyError, match="unknown diurnal profile"):
        load_diurnal_profile("made_up")


def test_ftp3_daily_totals_follow_the_profile():
    """20 000 FTP-3 users over a day of 15-min ticks: hourly offered traffic = N lambda S p(h) within 2 %."""
    n = 20000
    pop = Population.build(CAT, [("pedestrian", n)], (0, 0, 1000, 1000), np.random.default_rng(1))
    rng = np.random.default_rng(2)
    dt = 900.0
    hourly = np.zeros(24)
    for k in range(96):
        t = k * dt
        pop.update_demand(t, dt, rng)
        hourly[int(t // 3600)] += pop.users.demand_mbps.sum() * 1e6 * dt / 8  # bytes in the tick
    tc = CAT.traffic_class("mbb_ftp3")
    prof = pop.profile.array
    expected = n * float(tc.arrival_rate_per_s) * float(tc.file_size_bytes) * 3600.0 * prof
    assert np.all(np.abs(hourly / expected - 1) < 0.02)
    assert np.corrcoef(hourly, prof)[0, 1] > 0.9995


def test_expected_mode_and_classes():
    groups = [("pedestrian", 10), ("iot_meter", 10), ("xr_user", 10)]
    pop = Population.build(CAT, groups, (0, 0, 1000, 1000), np.random.default_rng(1))
    u = pop.users
    t = 21 * 3600.0  # busiest hour of the default profile: p = 1
    pop.update_demand(t, 900.0, np.random.default_rng(0), expected=True)
    assert np.allclose(u.demand_mbps[:10], 0.05 * 500000 * 8 / 1e6)        # lambda S = 0.2 Mbit/s
    assert np.allclose(u.demand_mbps[10:20], 200 * 8 / 7200 / 1e6)          # 200 B every 2 h
    assert np.allclose(u.demand_mbps[20:], 0.25 * 30.0)                     # share x rate
    p5 = pop.profile.values[5]
    pop.update_demand(5 * 3600.0, 900.0, np.random.default_rng(0), expected=True)
    assert np.allclose(u.demand_mbps[:10], 0.2 * p5)
    assert np.allclose(u.demand_mbps[10:20], 200 * 8 / 7200 / 1e6)         # IoT is not diurnal
    assert np.allclose(u.demand_mbps[20:], 7.5 * p5)


def test_xr_session_share_and_full_buffer_and_inactive():
    n = 20000
    pop = Population.build(CAT, [("xr_user", n)], (0, 0, 1000, 1000), np.random.default_rng(1))
    pop.update_demand(21 * 3600.0, 60.0, np.random.default_rng(3))
    d = pop.users.demand_mbps
    assert set(np.unique(d)) <= {0.0, 30.0}
    assert abs(np.mean(d > 0) - 0.25) < 0.015
    pop.users.active[:100] = False
    pop.update_demand(21 * 3600.0, 60.0, np.random.default_rng(3))
    assert np.all(pop.users.demand_mbps[:100] == 0)
    table = traffic_table(CAT)
    fb = table.index("full_buffer")
    assert offered_mean_mbps(table, np.array([fb]), 0.3)[0] == np.inf
    pop.users.traffic[:] = fb
    pop.update_demand(0.0, 60.0, np.random.default_rng(3))
    assert np.all(np.isinf(pop.users.demand_mbps[100:])) and pop.users.full_buffer[100:].all()
    assert not pop.users.full_buffer[:100].any()
    with pytest.raises(ValueError, match="dt_s must be > 0"):
        pop.update_demand(0.0, 0.0, np.random.default_rng(3))


def test_same_seed_same_demand():
    out = []
    for _ in range(2):
        pop = Population.build(CAT, [("pedestrian", 3000), ("xr_user", 300)], (0, 0, 1000, 1000),
                               np.random.default_rng(5))
        rng = np.random.default_rng(6)
        acc = []
        for k in range(8):
            pop.update_demand(k * 900.0, 900.0, rng)
            acc.append(pop.users.demand_mbps.copy())
        out.append(np.concatenate(acc))
    assert np.array_equal(out[0], out[1])


@pytest.mark.parametrize("mean", [0.3, 4.0, 9.99, 10.0, 45.0, 400.0])
def test_poisson_sampler_moments_and_pmf(mean):
    from math import exp, lgamma, log

    from agents.traffic import _poisson

    n = 40000
    draws = np.array([_poisson(mean, np.uint64(2024), i) for i in range(n)])
    assert np.all(draws == np.floor(draws)) and draws.min() >= 0
    se = np.sqrt(mean / n)
    assert abs(draws.mean() - mean) < 5 * se
    assert abs(draws.var() / mean - 1) < 5 * np.sqrt(2 / n) + 0.01
    # pmf at the mode within 5 standard errors
    m = int(np.floor(mean))
    pmf = exp(-mean + m * log(mean) - lgamma(m + 1)) if mean > 0 else 1.0
    assert abs(np.mean(draws == m) - pmf) < 5 * np.sqrt(pmf * (1 - pmf) / n)


@pytest.mark.parametrize("mean", [0.3, 7.2, 45.0, 200.0])
def test_poisson_table_inversion(mean):
    from math import exp, lgamma, log

    from agents.traffic import _poisson_invert, _poisson_table

    cdf, guide = _poisson_table(mean)
    k = np.arange(cdf.size)
    pmf = np.exp(-mean + k * log(mean) - np.array([lgamma(v + 1.0) for v in k]))
    np.testing.assert_allclose(cdf, np.cumsum(pmf), rtol=1e-12)
    assert 1.0 - cdf[-1] < 1e-15
    # the guide table never starts past the answer: inversion = the smallest k with u < cdf[k]
    u = np.random.default_rng(7).random(50000)
    def expected(v):  # -1: beyond the table (u at or above its last CDF value; the sampler then uses PTRS)
        k = np.searchsorted(cdf, v, side="right")
        return np.where(k == cdf.size, -1, k)

    got = np.array([_poisson_invert(cdf, guide, v) for v in u])
    np.testing.assert_array_equal(got, expected(u))
    edge = np.concatenate([cdf[:-1], np.nextafter(cdf[:-1], 0.0)])
    edge = edge[edge < 1.0]  # uniforms are < 1
    np.testing.assert_array_equal([_poisson_invert(cdf, guide, v) for v in edge], expected(edge))
    assert abs(got.mean() - mean) < 5 * np.sqrt(mean / u.size)
    m = int(np.floor(mean))
    pm = exp(-mean + m * log(mean) - lgamma(m + 1))
    assert abs(np.mean(got == m) - pm) < 5 * np.sqrt(pm * (1 - pm) / u.size)


@pytest.mark.parametrize("mean", [0.0, 7.2, 32.4, 150.0, 600.0])
def test_demand_kernel_ftp_counts_are_poisson(mean):
    """The per-tick FTP-3 file counts N (demand x dt / S) have the Poisson mean, variance and mode frequency,
    through the table sampler (mean <= POISSON_TABLE_MAX_MEAN) and PTRS above it; inactive users demand 0."""
    from math import exp, lgamma, log

    from agents.traffic import POISSON_TABLE_MAX_MEAN, TRAFFIC_FTP3, _demand_kernel

    assert (mean > POISSON_TABLE_MAX_MEAN) == (mean == 600.0)
    n, dt, bits = 40000, 900.0, 4e6
    tid = np.zeros(n, np.int16)
    active = np.ones(n, bool)
    active[:10] = False
    demand = np.full(n, -1.0)
    fb = np.ones(n, bool)
    lam = np.array([mean / dt])
    _demand_kernel(tid, active, demand, fb, np.array([TRAFFIC_FTP3], np.int8), np.array([False]), lam,
                   np.array([bits]), np.zeros(1), np.zeros(1), 1.0, dt, np.uint64(99), False)
    assert np.all(demand[:10] == 0.0) and not fb.any()
    k = demand[10:] * dt * 1e6 / bits
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)
    if mean == 0.0:
        assert np.all(k == 0.0)
        return
    m = k.size
    assert abs(k.mean() - mean) < 5 * np.sqrt(mean / m)
    assert abs(k.var() / mean - 1) < 5 * np.sqrt(2 / m) + 0.01
    mode = int(np.floor(mean))
    pm = exp(-mean + mode * log(mean) - lgamma(mode + 1))
    assert abs(np.mean(np.round(k) == mode) - pm) < 5 * np.sqrt(pm * (1 - pm) / m)
