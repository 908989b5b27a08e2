"""Wear: REFERENCES §7.2 test vectors, Weibull sampling statistics, exact tick-wise failure sampling, degradation
and telemetry, repair after MTTR, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.basestations import BaseStations
from agents.equipment import CellState, get_equipment
from agents.wear import (
    WearError,
    WearModel,
    annual_failure_probability,
    apply_failures,
    arrhenius_af,
    capacitor_life_10c_rule_h,
    fan_life_at_temp_h,
    ph_multiplier,
    sample_weibull_h,
    weibull_eta_from_l10,
    weibull_hazard_per_h,
    weibull_l10,
    weibull_mttf,
    weibull_reliability,
)

MACRO = get_equipment("macro_rru")


@pytest.mark.parametrize(("beta", "eta", "ratio", "hazard"), [
    (1.0, 711_842, 9.49, 1.405e-6),
    (1.12, 559_333, 7.15, 1.499e-6),
    (2.0, 231_059, 2.73, 1.873e-6),
    (3.0, 158_794, 1.89, 1.873e-6),
])
def test_weibull_vectors_from_l10(beta, eta, ratio, hazard):
    e = weibull_eta_from_l10(75_000.0, beta)
    assert round(e) == eta
    assert round(weibull_mttf(e, beta) / 75_000.0, 2) == ratio
    assert float(weibull_hazard_per_h(50_000.0, e, beta)) == pytest.approx(hazard, rel=5e-4)
    assert weibull_l10(e, beta) == pytest.approx(75_000.0)
    assert float(weibull_reliability(75_000.0, e, beta)) == pytest.approx(0.9)


def test_temperature_rules_and_annual_probability():
    assert fan_life_at_temp_h(75_000.0, 40.0, 60.0) == pytest.approx(33_333.33, rel=1e-6)
    assert capacitor_life_10c_rule_h(5_000.0, 105.0, 65.0) == pytest.approx(80_000.0)
    assert round(annual_failure_probability(150_000.0), 4) == 0.0567
    # hand value: E_a = 0.7 eV, 40 -> 60 degC: exp(0.7/8.617e-5 (1/313.15 - 1/333.15)) = 4.746
    assert arrhenius_af(0.7, 40.0, 60.0) == pytest.approx(4.746, rel=1e-3)


def test_catalog_fan_proportional_hazards_reproduce_the_fan_rule():
    fan = MACRO.reliability.fan
    assert fan.scale_eta_h == pytest.approx(559_333, rel=1e-6)  # L10 75 000 h, beta 1.12
    m = float(ph_multiplier(fan.b_temp_per_c, 60.0, fan.t_ref_c, fan.b_load, 0.0))
    eta_60 = fan.scale_eta_h * m ** (-1.0 / fan.beta)
    assert weibull_l10(eta_60, fan.beta) == pytest.approx(33_333.33, rel=1e-6)
    psu = MACRO.reliability.psu
    assert psu.scale_eta_h == pytest.approx(150_000.0)  # beta 1: eta = MTBF


def test_weibull_sampling_matches_mean_and_l10():
    rng = np.random.default_rng(20261123)
    n = 40_000
    for beta in (1.0, 1.12, 3.0):
        eta = weibull_eta_from_l10(75_000.0, beta)
        t = sample_weibull_h(rng, eta, beta, n)
        mean = weibull_mttf(eta, beta)
        sd = eta * math.sqrt(math.gamma(1 + 2 / beta) - math.gamma(1 + 1 / beta) ** 2)
        assert abs(t.mean() - mean) < 4 * sd / math.sqrt(n)
        frac = float(np.mean(t <= 75_000.0))
        assert abs(frac - 0.1) < 4 * math.sqrt(0.09 / n)


def _rru_fleet(n: int, beta: float, mtbf_h: float, seed: int, fan_rise_c: float = 15.0):
    spec = MACRO.with_overrides({"reliability.pa_rf.beta": beta, "reliability.pa_rf.mtbf_h": mtbf_h,
                                 "reliability.wear.fan_failure_temp_rise_c": fan_rise_c})
    site = np.arange(n)  # one cell per site, each its own RRU
    return WearModel(site, site, np.zeros(n, int), [spec], np.random.default_rng(seed)), spec


def _first_failures(model: WearModel, comp: int, dt_s: float, load: float, ticks: int) -> np.ndarray:
    first = np.full(model.n_units, np.nan)
    for _ in range(ticks):
        st = model.step(dt_s, np.full(model.n_cells, load), ambient_c=25.0)
        for u, tf in zip(st.failed_units, st.failure_time_s, strict=True):
            if np.isnan(first[u]):
                first[u] = tf
    sel = model.unit_component == comp
    return first[sel] / 3600.0


@pytest.mark.parametrize("load", [0.0, 1.0])
def test_tickwise_sampling_is_exact_weibull_with_proportional_hazards(load):
    """Coarse ticks (100 h) with conditional inversion still give the continuous Weibull: mean and L10."""
    n, beta, mtbf = 3000, 3.0, 1000.0
    model, spec = _rru_fleet(n, beta, mtbf, seed=7, fan_rise_c=0.0)
    pa = spec.reliability.pa_rf
    temp = 25.0 + pa.self_heating_c * load
    m = float(ph_multiplier(pa.b_temp_per_c, temp, pa.t_ref_c, pa.b_load, load))
    eta = pa.scale_eta_h * m ** (-1.0 / beta)
    t = _first_failures(model, 2, 100 * 3600.0, load, ticks=int(3 * eta / 100) + 2)
    assert not np.any(np.isnan(t))
    mean = weibull_mttf(eta, beta)
    sd = eta * math.sqrt(math.gamma(1 + 2 / beta) - math.gamma(1 + 1 / beta) ** 2)
    assert abs(t.mean() - mean) < 4 * sd / math.sqrt(n)
    assert abs(np.mean(t <= weibull_l10(eta, beta)) - 0.1) < 4 * math.sqrt(0.09 / n)
    # failure instants are not quantised to tick ends
    assert np.mean(np.isclose(t % 100.0, 0.0)) < 0.01


def test_rul_label_is_exact_under_constant_covariates():
    # constant covariates: no fan-wear heating (which would change the PA temperature over time)
    model, _ = _rru_fleet(50, 2.0, 500.0, seed=3, fan_rise_c=0.0)
    st0 = model.step(3600.0, np.full(50, 0.3))
    rul0 = st0.rul_h.copy()
    alive0 = ~st0.failed & (model.unit_component == 2)  # the short-lived PA units
    first = np.full(model.n_units, np.nan)
    for _ in range(3000):
        st = model.step(3600.0, np.full(50, 0.3))
        for u, tf in zip(st.failed_units, st.failure_time_s, strict=True):
            if np.isnan(first[u]):
                first[u] = tf
        if not np.isnan(first[alive0]).any():
            break
    np.testing.assert_allclose((first[alive0] - 3600.0) / 3600.0, rul0[alive0], rtol=1e-9, atol=1e-6)


def test_degradation_reaches_threshold_at_failure_and_telemetry():
    model, spec = _rru_fleet(200, 3.0, 300.0, seed=5)
    prev = model.degradation.copy()
    prev_failed = model.failed.copy()
    seen_fail = np.zeros(model.n_units, bool)
    resid = []
    for _ in range(40):
        st = model.step(3600.0 * 10, np.full(200, 0.5))
        newly = np.zeros(model.n_units, bool)
        newly[st.failed_units] = True
        ok = ~newly & ~st.failed & ~prev_failed  # repaired units restart at D = 0
        assert np.all(st.degradation[ok] >= prev[ok] - 1e-15)  # monotone while alive
        assert np.all(st.degradation[st.failed] == 1.0) and np.all(st.health[st.failed] == 0.0)
        assert np.all((st.health >= 0) & (st.health <= 1))
        seen_fail |= newly
        resid.append(st.signal_observed - st.signal_true)
        prev = st.degradation.copy()
        prev_failed = st.failed.copy()
    assert seen_fail.sum() > 50
    pa = model.unit_component == 2
    # PA current at failure: nominal x 1.3 + per_load x load
    tel = spec.reliability.pa_rf.telemetry
    failed_pa = pa & model.failed
    np.testing.assert_allclose(st.signal_true[failed_pa], tel.nominal * tel.failure_ratio + tel.per_load * 0.5)
    r = np.concatenate([x[pa] for x in resid])
    assert abs(r.mean()) < 4 * tel.noise_sd / math.sqrt(r.size)
    assert r.std() == pytest.approx(tel.noise_sd, rel=0.05)


def test_fan_telemetry_and_heating():
    bs = BaseStations(np.zeros(3, int), MACRO)
    model = WearModel.for_basestations(bs, np.random.default_rng(1))
    assert model.unit_channel.tolist() == ["fan_rpm", "psu_ripple_mv", "pa_current_a", "pa_current_a",
                                           "pa_current_a"]
    fan = MACRO.reliability.fan
    model.degradation[0] = 1.0  # a fully worn fan
    st = model.step(60.0, np.zeros(3), ambient_c=30.0)
    assert st.signal_true[0] == pytest.approx(0.85 * fan.telemetry.nominal)
    # every unit of the site sees the fan-loss temperature rise
    np.testing.assert_allclose(st.temperature_true_c, 30.0 + MACRO.reliability.wear.fan_failure_temp_rise_c)
    assert model.cell_health().shape == (3,)


def test_failure_takes_cells_down_until_mttr_repair():
    spec = MACRO.with_overrides({"reliability.pa_rf.mtbf_h": 20.0})
    bs = BaseStations(np.zeros(3, int), spec)
    model = WearModel.for_basestations(bs, np.random.default_rng(8))
    for _ in range(200):
        load = np.where(bs.serving_mask(), 0.4, 0.0)
        bs.set_traffic(load)
        st = model.step(3600.0, load)
        cells = apply_failures(bs, model, st)
        bs.advance(3600.0)
        if cells.size:
            break
    assert cells.size == 1
    c = int(cells[0])
    tf = float(st.failure_time_s[0])
    assert st.repair_time_s[0] == pytest.approx(tf + 4 * 3600.0)
    assert bs.state[c] == CellState.FAILED and not bs.serving_mask()[c]
    assert bs.failed_until_s[c] == pytest.approx(tf + 4 * 3600.0)
    while bs.time_s < tf + 4 * 3600.0 - 1e-6:
        assert bs.state[c] == CellState.FAILED
        load = np.where(bs.serving_mask(), 0.4, 0.0)
        bs.set_traffic(load)
        model.step(3600.0, load)
        bs.advance(3600.0)
    assert bs.state[c] == CellState.ON
    unit = int(st.failed_units[0])
    assert not model.failed[unit] and model.n_failures[unit] >= 1


def test_same_seed_same_results_different_seed_differs():
    def run(seed):
        bs = BaseStations(np.repeat(np.arange(4), 3), MACRO)
        model = WearModel.for_basestations(bs, np.random.default_rng(seed), initial_age_max_h=80_000.0)
        out = []
        for _ in range(30):
            st = model.step(24 * 3600.0, np.full(12, 0.6), ambient_c=np.array([20.0, 25.0, 30.0, 35.0]))
            out.append(np.concatenate([st.degradation, st.signal_observed, st.temperature_observed_c, st.rul_h]))
        return np.concatenate(out)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_input_errors():
    model, _ = _rru_fleet(3, 1.0, 1000.0, seed=0)
    with pytest.raises(WearError, match="cell_load"):
        model.step(60.0, np.zeros(4))
    with pytest.raises(WearError, match="dt_s"):
        model.step(-1.0, np.zeros(3))
    with pytest.raises(WearError, match="one per site"):
        model.step(60.0, np.zeros(3), ambient_c=np.array([20.0, 21.0]))
    with pytest.raises(WearError, match="initial_age_max_h"):
        WearModel(np.arange(2), np.arange(2), np.zeros(2, int), [MACRO], np.random.default_rng(0), -5.0)


def test_thermal_cycles_add_coffin_manson_damage():
    """With a negligible continuous hazard, failures come from cycle damage alone: after k ticks with c cycles
    each, the failed fraction is 1 - exp(-k c d) (Exp(1) threshold, d = damage per cycle)."""
    n = 4000
    spec = MACRO.with_overrides({"reliability.pa_rf.mtbf_h": 1e15, "reliability.wear.fan_failure_temp_rise_c": 0.0})
    cyc = spec.reliability.pa_rf.cycling
    assert cyc.damage_per_cycle == pytest.approx((15.0 / 20.0) ** 2 / 20000.0)
    site = np.arange(n)
    model = WearModel(site, site, np.zeros(n, int), [spec], np.random.default_rng(12))
    pa = model.unit_component == 2
    cycles = 500.0
    k = 60
    ever = np.zeros(model.n_units, bool)
    for _ in range(k):
        st = model.step(60.0, np.zeros(n), cell_cycles=np.full(n, cycles))
        ever[st.failed_units] = True
    expect = 1.0 - math.exp(-k * cycles * cyc.damage_per_cycle)
    frac = ever[pa].mean()
    assert abs(frac - expect) < 4 * math.sqrt(expect * (1 - expect) / n)
    with pytest.raises(WearError, match="cell_cycles"):
        model.step(60.0, np.zeros(n), cell_cycles=np.full(n, -1.0))


def test_basestations_count_cycles_and_records():
    from agents.wear import telemetry_records

    bs = BaseStations(np.zeros(3, int), MACRO)
    model = WearModel.for_basestations(bs, np.random.default_rng(2))
    bs.request_state([1], CellState.LIGHT_SLEEP)
    bs.request_state([2], CellState.OFF)
    bs.advance(900.0)
    np.testing.assert_array_equal(bs.tick_cycles, [0, 1, 1])
    st = model.step(900.0, bs.load, cell_cycles=bs.tick_cycles)
    apply_failures(bs, model, st)
    np.testing.assert_allclose(bs.health, model.cell_health())
    rec = telemetry_records(model, st)
    assert {len(v) for v in rec.values()} == {model.n_units}
    assert rec["component"].tolist() == ["fan", "psu", "pa_rf", "pa_rf", "pa_rf"]
    bs.advance(900.0)
    np.testing.assert_array_equal(bs.tick_cycles, [0, 0, 0])
