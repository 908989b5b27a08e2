"""EARTH power model test vectors (REFERENCES §3.1), per-cell power table, TR 38.864 relative table (§3.2)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.basestations import BaseStations
from agents.equipment import CellState, get_equipment, load_equipment
from agents.power import (
    PowerModelError,
    build_power_table,
    earth_p_in_w,
    joules_to_kwh,
    load_tr38864_table,
    sleep_break_even_s,
)

# REFERENCES §3.1 table: P_in [W] at sleep / load -> 0+ / 50 % / 100 % (Auer et al. 2011, Table 2)
EARTH_VECTORS = {
    "macro_rru": (450.0, 780.0, 1062.0, 1344.0),
    "rrh": (336.0, 504.0, 672.0, 840.0),
    "micro": (78.0, 112.0, 128.38, 144.76),
    "pico": (8.6, 13.6, 14.12, 14.64),
    "femto": (5.8, 9.6, 10.0, 10.4),
}
EARTH_ROWS = {  # N_TRX, P_max, P0, delta_p, P_sleep
    "macro_rru": (6, 20.0, 130.0, 4.7, 75.0),
    "rrh": (6, 20.0, 84.0, 2.8, 56.0),
    "micro": (2, 6.3, 56.0, 2.6, 39.0),
    "pico": (2, 0.13, 6.8, 4.0, 4.3),
    "femto": (2, 0.05, 4.8, 8.0, 2.9),
}


@pytest.mark.parametrize("name", sorted(EARTH_VECTORS))
def test_earth_function_reproduces_table(name):
    n, pmax, p0, dp, ps = EARTH_ROWS[name]
    got = earth_p_in_w(np.array([0.0, 1e-12, 0.5, 1.0]), n, pmax, p0, dp, ps)
    np.testing.assert_allclose(got, EARTH_VECTORS[name], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("name", sorted(EARTH_VECTORS))
def test_catalog_earth_rows_reproduce_table(name):
    spec = get_equipment(name)
    got = [spec.earth.p_in_w(x) for x in (0.0, 1e-12, 0.5, 1.0)]
    np.testing.assert_allclose(got, EARTH_VECTORS[name], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("name", sorted(EARTH_VECTORS))
def test_site_of_cells_reproduces_table(name):
    """A whole site (n_sectors cells) at uniform load integrates to the EARTH site power."""
    spec = get_equipment(name)
    n = spec.n_sectors
    sleep_w, idle_w, half_w, full_w = EARTH_VECTORS[name]
    for load, expect in ((0.0, idle_w), (0.5, half_w), (1.0, full_w)):
        bs = BaseStations(np.zeros(n, dtype=int), spec)
        bs.set_traffic(np.full(n, load))
        e = bs.advance(3600.0)
        assert e.sum() == pytest.approx(expect * 3600.0, rel=1e-12)
        assert bs.site_power_w()[0] == pytest.approx(expect, rel=1e-12)
    # light sleep = EARTH's sleep power (+ one-off entry energy and a 3 ms ramp at idle power)
    bs = BaseStations(np.zeros(n, dtype=int), spec)
    bs.request_state(np.arange(n), CellState.LIGHT_SLEEP)
    bs.advance(3600.0)
    pt = bs.power_table
    ramp_j = 0.003 * (idle_w - sleep_w)
    entry_j = n * pt.entry_energy_j[0, CellState.LIGHT_SLEEP]
    assert bs.tick_energy_j.sum() == pytest.approx(sleep_w * 3600.0 + ramp_j + entry_j, rel=1e-12)
    bs.advance(3600.0)
    assert bs.site_power_w()[0] == pytest.approx(sleep_w, rel=1e-12)


def test_power_table_states_macro():
    spec = get_equipment("macro_rru")
    pt = build_power_table([spec], np.zeros(3, dtype=int))
    p = pt.power_w(np.array([CellState.ON, CellState.DEEP_SLEEP, CellState.OFF]), np.array([1.0, 0.7, 0.7]))
    # ON at full load: 1344/3; deep sleep: 2 TRX x 3.75 W (assumption in the catalog); off: 0 W
    np.testing.assert_allclose(p, [448.0, 7.5, 0.0])
    # light entry energy: 100 rel.ms x (1344/6/280 W per unit) x 2 TRX = 0.16 J
    assert pt.entry_energy_j[0, CellState.LIGHT_SLEEP] == pytest.approx(0.16)
    assert pt.entry_energy_j[0, CellState.DEEP_SLEEP] == pytest.approx(1.6)
    tt = pt.transition_time_s(np.array([CellState.OFF, CellState.ON, CellState.LIGHT_SLEEP]),
                              np.array([CellState.ON, CellState.OFF, CellState.DEEP_SLEEP]))
    np.testing.assert_allclose(tt, [300.0, 60.0, 0.003 + 0.025])


def test_tr38864_table_ratios_as_loaded():
    t = load_tr38864_table()
    assert "TR 38.864 V18.1.0 Table 5.1-1 (verify)" in t.header
    assert t.ratios(("deep_sleep", "light_sleep", "micro_sleep", "active_dl_full")) == (1.0, 20.0, 45.0, 280.0)
    assert t.total_transition_time_ms["deep_sleep"] == 50.0
    assert t.total_transition_time_ms["light_sleep"] == 6.0
    assert t.extra_energy_rel_ms["deep_sleep"] == 1000.0
    assert t.status["active_ul"] == "unsourced"


def test_tr38864_model_option():
    spec = get_equipment("macro_rru")
    pt = build_power_table([spec], np.zeros(1, dtype=int), model="tr38864")
    unit = 1344.0 / 6 / 280 * 2  # W per relative unit for a 2-TRX cell (anchored at EARTH full load)
    assert pt.p_idle_w[0] == pytest.approx(45 * unit)
    assert pt.p_idle_w[0] + pt.p_slope_w[0] == pytest.approx(1344.0 / 3)
    assert pt.state_power_w[0, CellState.LIGHT_SLEEP] == pytest.approx(20 * unit)
    assert pt.state_power_w[0, CellState.DEEP_SLEEP] == pytest.approx(1 * unit)
    assert pt.entry_time_s[0, CellState.DEEP_SLEEP] == pytest.approx(0.025)
    skew = spec.with_overrides({"relative.transition_entry_share": 0.2})
    pt2 = build_power_table([skew], np.zeros(1, dtype=int), model="tr38864")
    assert pt2.entry_time_s[0, CellState.DEEP_SLEEP] == pytest.approx(0.01)
    assert pt2.wake_time_s[0, CellState.DEEP_SLEEP] == pytest.approx(0.04)
    # default model stays EARTH
    assert build_power_table([spec], np.zeros(1, dtype=int)).model == "earth"


def test_tr38864_loader_errors_name_file_and_line(tmp_path):
    good = load_tr38864_table()
    assert good.relative_power["light_sleep"] == 20.0
    bad = tmp_path / "t.csv"
    bad.write_text("# TR 38.864 V18.1.0 Table 5.1-1 (verify)\n"
                   "state,relative_power,total_transition_time_ms,extra_transition_energy_rel_ms,status\n"
                   "deep_sleep,one,50,1000,verify\n")
    with pytest.raises(PowerModelError, match=r"t\.csv:3: column relative_power"):
        load_tr38864_table(bad)
    bad.write_text("state,relative_power\n")
    with pytest.raises(PowerModelError, match="header comment"):
        load_tr38864_table(bad)


def test_earth_rejects_bad_load():
    with pytest.raises(PowerModelError, match=r"load\[1\]"):
        earth_p_in_w(np.array([0.5, 1.5]), 6, 20.0, 130.0, 4.7, 75.0)


def test_energy_units():
    assert joules_to_kwh(3.6e6) == 1.0
    bs = BaseStations(np.zeros(3, dtype=int), get_equipment("macro_rru"))
    bs.set_traffic(np.ones(3))
    for _ in range(4):
        bs.advance(900.0)
    assert bs.energy_kwh() == pytest.approx(1.344)


def test_all_catalog_entries_build():
    specs = list(load_equipment().values())
    pt = build_power_table(specs, np.arange(len(specs)))
    assert np.all(pt.state_power_w[:, CellState.DEEP_SLEEP] < pt.state_power_w[:, CellState.LIGHT_SLEEP])
    assert np.all(pt.state_power_w[:, CellState.LIGHT_SLEEP] < pt.p_idle_w)


def test_sleep_break_even_gap():
    pt = build_power_table([get_equipment("macro_rru")], np.zeros(1, dtype=int))
    t = sleep_break_even_s(pt)[0]
    # light: 0.16 J / (260 - 150) W + 3 ms + 3 ms; deep: 1.6 J / (260 - 7.5) W + 25 ms + 25 ms
    assert t[CellState.LIGHT_SLEEP] == pytest.approx(0.16 / 110.0 + 0.006)
    assert t[CellState.DEEP_SLEEP] == pytest.approx(1.6 / 252.5 + 0.05)
    assert t[CellState.OFF] == pytest.approx(360.0) and t[CellState.ON] == 0.0
