"""Equipment catalog, cell state machine, masks, transitions, failures and energy accounting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agents.basestations import BaseStationError, BaseStations
from agents.equipment import (
    CellState,
    EquipmentError,
    EquipmentSpec,
    SleepLevel,
    get_equipment,
    load_equipment,
    parse_equipment,
)
from agents.scheduler import schedule

MACRO = get_equipment("macro_rru")
IDLE_W = 780.0 / 3   # EARTH macro, per cell, load 0+
LIGHT_W = 450.0 / 3  # EARTH macro sleep, per cell


def network(n_sites: int = 3) -> BaseStations:
    return BaseStations(np.repeat(np.arange(n_sites), 3), MACRO)


# ------------------------------------------------------------------------------------------- catalog
def test_catalog_has_the_equipment_kinds():
    specs = load_equipment()
    assert {"macro_rru", "rrh", "micro", "pico", "femto"} <= set(specs)
    assert specs["macro_rru"].trx_per_cell == 2
    assert specs["micro"].reliability.fan is None
    assert set(specs["macro_rru"].reliability.components()) == {"fan", "psu", "pa_rf"}


def test_every_number_is_sourced_or_an_assumption():
    for spec in load_equipment().values():
        for part in spec._sourced_parts().values():
            if not part.source.strip():
                assert set(part._numeric_fields()) <= set(part.assumed)
    keys = MACRO.assumption_keys()
    assert keys["reliability.pa_rf.mtbf_h"] == 100000.0  # unsourced RRU MTBF is an assumption
    assert keys["repair.mttr_h"] == 4.0
    assert "earth.p0_w" not in keys


def test_unsourced_number_without_assumption_is_refused():
    with pytest.raises(ValidationError, match="neither a `source` nor an entry in `assumed`"):
        SleepLevel(power_w_per_trx=3.0, entry_time_s=0.0, wake_time_s=0.0)
    with pytest.raises(ValidationError, match="not fields"):
        SleepLevel(power_w_per_trx=3.0, entry_time_s=0.0, wake_time_s=0.0, source="x", assumed=("nope",))


def test_overrides_only_on_assumption_keys():
    spec = MACRO.with_overrides({"reliability.pa_rf.mtbf_h": 50000.0, "repair.mttr_h": 8.0})
    assert spec.reliability.pa_rf.mtbf_h == 50000.0 and spec.repair.mttr_h == 8.0
    assert MACRO.reliability.pa_rf.mtbf_h == 100000.0
    with pytest.raises(EquipmentError, match="'earth.p0_w' is not an assumption key"):
        MACRO.with_overrides({"earth.p0_w": 1.0})
    with pytest.raises(EquipmentError, match="mttr_h"):
        MACRO.with_overrides({"repair.mttr_h": -1.0})
    what_if = MACRO.with_overrides({"earth.p0_w": 100.0}, allow_sourced=True)
    assert what_if.earth.p0_w == 100.0 and what_if.assumption_keys()["earth.p0_w"] == 100.0
    with pytest.raises(EquipmentError, match="not an assumption key"):
        MACRO.with_overrides({"earth.nope": 1.0}, allow_sourced=True)


def test_parse_errors_name_the_field():
    data = MACRO.model_dump()
    data.pop("name")
    data["earth"]["p_sleep_w"] = 500.0
    with pytest.raises(EquipmentError, match=r"cat\.yaml: equipment\.bad\.earth"):
        parse_equipment({"bad": data}, file="cat.yaml")
    with pytest.raises(EquipmentError, match="not in the catalog"):
        get_equipment("nope")
    assert isinstance(parse_equipment({"ok": {k: v for k, v in MACRO.model_dump().items() if k != "name"}})["ok"],
                      EquipmentSpec)


# ------------------------------------------------------------------------------------------- topology, masks
def test_topology_sectors_and_rrus():
    bs = network(2)
    assert bs.n_cells == 6 and bs.n_sites == 2 and bs.n_rrus == 6
    np.testing.assert_array_equal(bs.sector, [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(bs.cells_of_site(1), [3, 4, 5])
    assert bs.serving_mask().all() and bs.interfering_mask().all()
    with pytest.raises(BaseStationError, match="several sites"):
        BaseStations(np.array([0, 1]), MACRO, rru_id=np.array([0, 0]))


def test_sleeping_cells_draw_sleep_power_and_carry_no_users():
    bs = network(1)
    bs.request_state([1], CellState.LIGHT_SLEEP)
    bs.request_state([2], CellState.DEEP_SLEEP)
    assert bs.serving_mask().tolist() == [True, False, False]
    bs.advance(900.0)
    assert bs.state.tolist() == [CellState.ON, CellState.LIGHT_SLEEP, CellState.DEEP_SLEEP]
    assert bs.serving_mask().tolist() == [True, False, False]
    assert bs.interfering_mask().tolist() == [True, False, False]
    with pytest.raises(BaseStationError, match=r"cells \[1\] do not serve"):
        bs.set_traffic(np.array([0.2, 0.1, 0.0]))
    with pytest.raises(BaseStationError, match=r"cells \[2\] do not serve"):
        bs.set_traffic(np.array([0.2, 0.0, 0.0]), np.array([3, 0, 1]))
    bs.set_traffic(np.array([0.5, 0.0, 0.0]), np.array([4, 0, 0]))
    bs.advance(900.0)
    np.testing.assert_allclose(bs.power_w, [1062.0 / 3, LIGHT_W, 7.5])
    # users attached to the sleeping cells get nothing and are counted as blocked
    avail = bs.available_fraction()
    res = schedule(np.array([0, 1, 2, 2]), np.full(4, 2.0), np.full(4, 1.0), 20e6, avail)
    np.testing.assert_array_equal(res.rate_mbps, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(res.n_blocked, [0, 1, 2])
    assert res.prb_utilisation[1] == 0.0 and res.prb_utilisation[2] == 0.0


def test_light_sleep_entry_energy_and_ramp():
    bs = network(1)
    bs.request_state([0], CellState.LIGHT_SLEEP)
    assert bs.remaining_s[0] == pytest.approx(0.003)
    e = bs.advance(900.0)
    entry = bs.power_table.entry_energy_j[0, CellState.LIGHT_SLEEP]
    assert e[0] == pytest.approx(0.003 * IDLE_W + (900.0 - 0.003) * LIGHT_W + entry, rel=1e-12)
    assert bs.entries[0, CellState.LIGHT_SLEEP] == 1
    assert bs.time_in_state_total_s[0, CellState.LIGHT_SLEEP] == pytest.approx(900.0 - 0.003)


def test_boot_from_off_takes_boot_time():
    bs = network(1)
    bs.request_state([0], CellState.OFF)
    bs.advance(100.0)  # 60 s shutdown at idle power, then 0 W
    assert bs.state[0] == CellState.OFF
    assert bs.tick_energy_j[0] == pytest.approx(60.0 * IDLE_W)
    bs.request_state([0], CellState.ON)
    for _ in range(2):
        bs.advance(100.0)
        assert not bs.serving_mask()[0] and bs.tick_energy_j[0] == 0.0
    bs.advance(100.0)  # boot (300 s) completes exactly at the end of this tick
    assert bs.serving_mask()[0]
    bs.advance(100.0)
    assert bs.tick_energy_j[0] == pytest.approx(100.0 * IDLE_W)


def test_request_back_to_current_state_cancels_transition():
    bs = network(1)
    bs.request_state([0], CellState.OFF)
    bs.request_state([0], CellState.ON)
    assert bs.serving_mask()[0] and bs.pending[0] == -1
    with pytest.raises(BaseStationError, match="use fail"):
        bs.request_state([0], CellState.FAILED)
    with pytest.raises(BaseStationError, match="outside"):
        bs.request_state([7], CellState.OFF)


def test_failure_takes_cell_down_until_repair_then_restores_desired_state():
    bs = network(1)
    bs.fail([1], until_s=4 * 3600.0)
    assert bs.state[1] == CellState.FAILED and not bs.serving_mask()[1] and not bs.interfering_mask()[1]
    bs.request_state([1], CellState.DEEP_SLEEP)  # remembered for after the repair
    for _ in range(3):
        bs.advance(3600.0)
        assert bs.state[1] == CellState.FAILED and bs.tick_energy_j[1] == 0.0
    bs.advance(3600.0)  # repair at 4 h = end of this tick
    assert bs.state[1] == CellState.ON and bs.pending[1] == CellState.DEEP_SLEEP
    bs.advance(3600.0)
    assert bs.state[1] == CellState.DEEP_SLEEP


def test_failure_inside_a_tick_is_integrated_exactly():
    bs = network(1)
    bs.set_traffic(np.full(3, 0.5))
    bs.fail([0], until_s=10 * 3600.0, at_s=450.0)
    assert bs.serving_mask()[0]  # still serving until the failure instant
    bs.advance(900.0)
    assert bs.state[0] == CellState.FAILED
    assert bs.power_w[0] == pytest.approx(1062.0 / 3 / 2)
    # a failed cell's users: counted as unserved when the sim leaves them on it
    res = schedule(np.array([0, 0, 1]), np.full(3, 2.0), np.full(3, 3.0), 20e6, bs.available_fraction())
    assert res.n_blocked[0] == 2 and res.unsatisfied_mbps[0] == 6.0 and res.rate_mbps[2] == 3.0


def test_rru_state_and_input_checks():
    bs = BaseStations(np.array([0, 0, 0]), MACRO, rru_id=np.array([0, 0, 1]))
    bs.request_state([0], CellState.DEEP_SLEEP)
    bs.request_state([2], CellState.OFF)
    bs.advance(600.0)
    assert bs.rru_state().tolist() == [CellState.ON, CellState.OFF]
    with pytest.raises(BaseStationError, match="dt_s"):
        bs.advance(0.0)
    with pytest.raises(BaseStationError, match=r"load: expected values in \[0, 1\]"):
        bs.set_traffic(np.array([np.nan, 0.0, 0.0]))


def test_same_inputs_same_results():
    def run():
        bs = network(2)
        rng = np.random.default_rng(11)
        for t in range(50):
            cells = rng.integers(0, 6, 2)
            bs.request_state(cells, rng.integers(0, 4, 2))
            if t == 20:
                bs.fail([3], until_s=bs.time_s + 5000.0, at_s=bs.time_s + 100.0)
            load = np.where(bs.serving_mask(), rng.uniform(0, 1, 6), 0.0)
            bs.set_traffic(load)
            bs.advance(900.0)
        return bs.energy_j.copy(), bs.state.copy(), bs.entries.copy()

    a, b = run(), run()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_from_catalog_summary_and_relative_sleep_power():
    bs = BaseStations.from_catalog(np.repeat(np.arange(2), 3), "rrh", {"sleep.deep.power_w_per_trx": 1.0})
    bs.request_state([0, 1, 2], CellState.DEEP_SLEEP)
    bs.set_traffic(np.array([0, 0, 0, 1.0, 1.0, 1.0]), np.array([0, 0, 0, 5, 5, 5]))
    bs.advance(3600.0)
    bs.advance(3600.0)
    s = bs.summary()
    assert s["n_deep_sleep"] == 3 and s["n_on"] == 3 and s["n_serving"] == 3
    # RRH full load: 840 W per site; deep sleep override 1 W/TRX x 6 TRX
    assert s["power_w"] == pytest.approx(840.0 + 6.0)
    level = SleepLevel(relative_power=20.0, relative_entry_energy_ms=100.0, entry_time_s=0.0, wake_time_s=0.0,
                       source="TR 38.864 (verify)")
    assert level.power_w(0.8) == pytest.approx(16.0) and level.entry_energy_j(0.8) == pytest.approx(0.08)
    with pytest.raises(ValidationError, match="exactly one of power_w_per_trx, relative_power"):
        SleepLevel(entry_time_s=0.0, wake_time_s=0.0, source="x")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.001, 1.0, 60.0, 900.0]))
def test_time_and_energy_accounting_invariants(seed, dt_s):
    """Random commands, failures and loads: every cell's time in states sums to the elapsed time, and each
    tick's energy lies between the lowest and highest state power times dt plus the entry energies paid."""
    rng = np.random.default_rng(seed)
    bs = network(2)
    pt = bs.power_table
    p_max = pt.p_idle_w + pt.p_slope_w
    p_min = pt.state_power_w.min(axis=1)
    for _ in range(25):
        k = int(rng.integers(0, 4))
        if k:
            bs.request_state(rng.integers(0, 6, k), rng.integers(0, 4, k))
        if rng.random() < 0.1:
            c = int(rng.integers(0, 6))
            at = bs.time_s + rng.uniform(0, dt_s)
            bs.fail([c], until_s=at + rng.uniform(0, 3 * dt_s), at_s=at)
        load = np.where(bs.serving_mask(), rng.uniform(0, 1, 6), 0.0)
        bs.set_traffic(load)
        entries_before = bs.entries.copy()
        e = bs.advance(dt_s)
        paid = ((bs.entries - entries_before) * pt.entry_energy_j).sum(axis=1)
        assert np.all(e >= p_min * dt_s - 1e-9)
        assert np.all(e <= p_max * dt_s + paid + 1e-9)
    np.testing.assert_allclose(bs.time_in_state_total_s.sum(axis=1), 25 * dt_s, rtol=1e-12)
    assert np.all(bs.serving_mask() == ((bs.state == CellState.ON) & (bs.pending == -1)))


def test_heterogeneous_equipment_macro_and_pico():
    from agents.wear import WearModel

    pico = get_equipment("pico")
    # site 0: 3-sector macro; sites 1, 2: single-cell picos
    bs = BaseStations(np.array([0, 0, 0, 1, 2]), [MACRO, pico], equipment_index=np.array([0, 0, 0, 1, 1]))
    bs.set_traffic(np.array([0.5, 0.5, 0.5, 1.0, 0.5]))
    bs.advance(3600.0)
    np.testing.assert_allclose(bs.site_power_w(), [1062.0, 14.64, 14.12])
    model = WearModel.for_basestations(bs, np.random.default_rng(0))
    comps = [(int(s), int(c)) for s, c in zip(model.unit_site, model.unit_component, strict=True)]
    # macro site: fan + psu + 3 PA units; each pico: psu + PA, no fan
    assert sorted(comps) == [(0, 0), (0, 1), (0, 2), (0, 2), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]


# ------------------------------------------------------------------------------------------- sub-tick transitions
def test_deep_sleep_transition_in_a_900_s_tick_neither_serves_nor_radiates_and_costs_its_energy_once():
    bs = network(1)
    bs.tick_s = 900.0  # the masks describe a 900 s tick (as the simulation sets them)
    pt = bs.power_table
    bs.request_state([1], CellState.DEEP_SLEEP)
    assert bs.remaining_s[1] == pytest.approx(0.025)  # entry: half of the catalog's 50 ms deep-sleep round trip
    assert bs.serving_mask().tolist() == [True, False, True]
    assert bs.interfering_mask().tolist() == [True, False, True]  # asleep for all but 25 ms of the tick
    assert bs.available_fraction()[1] == 0.0
    # the instantaneous view (horizon 0) keeps the ramp: an ON cell ramping down radiates, serves nobody
    assert bs.serving_mask(0.0)[1] == np.False_ and bs.interfering_mask(0.0)[1] == np.True_
    with pytest.raises(BaseStationError, match=r"cells \[1\] do not serve"):
        bs.set_traffic(np.array([0.2, 0.1, 0.0]))
    e = bs.advance(900.0)
    p_deep = pt.state_power_w[1, CellState.DEEP_SLEEP]
    entry = pt.entry_energy_j[1, CellState.DEEP_SLEEP]
    assert entry > 0
    assert e[1] == pytest.approx(0.025 * IDLE_W + (900.0 - 0.025) * p_deep + entry, rel=1e-12)
    assert bs.entries[1, CellState.DEEP_SLEEP] == 1 and bs.tick_cycles[1] == 1
    e2 = bs.advance(900.0)  # asleep: no second entry charge
    assert e2[1] == pytest.approx(900.0 * p_deep, rel=1e-12) and bs.entries[1, CellState.DEEP_SLEEP] == 1


def test_waking_cell_serves_in_the_tick_it_wakes_for_the_share_after_its_wake():
    bs = network(1)
    bs.tick_s = 900.0
    pt = bs.power_table
    bs.request_state([1], CellState.DEEP_SLEEP)
    bs.advance(900.0)
    bs.request_state([1], CellState.ON)
    t_wake = bs.remaining_s[1]
    assert t_wake == pytest.approx(0.025 + pt.entry_time_s[1, CellState.ON])
    assert bs.serving_mask()[1] and bs.interfering_mask()[1]
    assert bs.available_fraction()[1] == pytest.approx((900.0 - t_wake) / 900.0, rel=1e-15)
    assert bs.transition_time_s(CellState.ON)[1] == t_wake and bs.transition_time_s(CellState.ON)[0] == 0.0
    bs.set_traffic(np.array([0.2, 0.5, 0.0]), np.array([3, 7, 0]))  # the waking cell carries traffic
    e = bs.advance(900.0)
    p_on = pt.p_idle_w[1] + pt.p_slope_w[1] * 0.5
    want = t_wake * pt.state_power_w[1, CellState.DEEP_SLEEP] + (900.0 - t_wake) * p_on
    assert e[1] == pytest.approx(want + pt.entry_energy_j[1, CellState.ON], rel=1e-12)
    assert bs.state[1] == CellState.ON and bs.entries[1, CellState.ON] == 1 and bs.n_users[1] == 7


def test_transitions_longer_than_the_tick_keep_the_instantaneous_rule():
    bs = network(1)
    bs.tick_s = 40.0  # shorter than the OFF shutdown (60 s) and boot (300 s) of the macro RRU
    bs.request_state([0], CellState.OFF)
    assert not bs.serving_mask()[0] and bs.interfering_mask()[0]  # ramping down over the whole tick: radiates
    bs.advance(40.0)
    assert bs.state[0] == CellState.ON and bs.remaining_s[0] == pytest.approx(20.0)
    assert not bs.serving_mask()[0] and not bs.interfering_mask()[0]  # off after 20 s of the 40 s tick
    bs.advance(40.0)
    assert bs.state[0] == CellState.OFF
    assert bs.tick_energy_j[0] == pytest.approx(20.0 * IDLE_W)
    bs.tick_s = 120.0
    bs.request_state([0], CellState.ON)  # 300 s boot
    for _ in range(2):
        assert not bs.serving_mask()[0] and not bs.interfering_mask()[0] and bs.available_fraction()[0] == 0.0
        bs.advance(120.0)
    # 60 s of the boot left in a 120 s tick: serves the second half of it
    assert bs.serving_mask()[0] and bs.available_fraction()[0] == pytest.approx(0.5)
    bs.advance(120.0)
    assert bs.state[0] == CellState.ON and bs.tick_energy_j[0] == pytest.approx(60.0 * IDLE_W)


# ------------------------------------------------------------------------------------------- one-pass kernels
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.0, 0.005, 0.05, 900.0]))
def test_tick_masks_match_the_sub_tick_rule(seed, dt):
    """BaseStations.tick_masks (one Numba pass) against the rule written with NumPy masks (module docstring):
    the state for the tick is the pending target when the transition ends inside it (not for failed cells);
    serving = ON for the tick and (no pending transition or it ends inside the tick); radiating = ON for the
    tick; share = (dt - remaining) / dt for a cell waking inside the tick, 1 for the other serving cells."""
    rng = np.random.default_rng(seed)
    bs = network(5)
    n = bs.n_cells
    bs.state[:] = rng.integers(0, 5, n)
    bs.pending[:] = np.where(rng.random(n) < 0.5, rng.integers(0, 4, n), -1)
    bs.remaining_s[:] = np.where(bs.pending >= 0, rng.choice([0.0, 0.001, 0.006, 0.05, 2.0, 1e4], n), 0.0)
    fast = (bs.pending != -1) & (bs.remaining_s < dt) & (bs.state != CellState.FAILED)
    eff = np.where(fast, bs.pending, bs.state)
    on = eff == CellState.ON
    serving = on & ((bs.pending == -1) | fast)
    avail = serving.astype(np.float64)
    waking = serving & fast
    avail[waking] = (dt - bs.remaining_s[waking]) / dt
    got = bs.tick_masks(dt)
    np.testing.assert_array_equal(got[0], serving)
    np.testing.assert_array_equal(got[1], on)
    np.testing.assert_array_equal(got[2], avail)
    np.testing.assert_array_equal(bs.serving_mask(dt), serving)
    np.testing.assert_array_equal(bs.interfering_mask(dt), on)


def test_advance_counts_sleep_entries_and_clears_users_of_cells_that_do_not_serve():
    """advance: tick_cycles = entries into light sleep, deep sleep or off during the tick; power = the tick's
    energy / dt; no users on cells that do not serve the coming tick."""
    bs = network(2)
    bs.tick_s = 900.0
    bs.set_traffic(np.full(6, 0.5), np.full(6, 7))
    bs.request_state([0, 1], int(CellState.DEEP_SLEEP))
    bs.request_state([2], int(CellState.OFF))
    before = bs.entries.copy()
    e = bs.advance(900.0)
    np.testing.assert_array_equal(bs.tick_cycles, (bs.entries - before)[:, 1:4].sum(axis=1))
    assert bs.tick_cycles.tolist() == [1, 1, 1, 0, 0, 0]
    np.testing.assert_array_equal(bs.power_w, e / 900.0)
    assert bs.n_users.tolist() == [0, 0, 0, 7, 7, 7]
    bs.request_state([3], int(CellState.LIGHT_SLEEP))  # its users leave at the request
    bs.set_traffic(np.array([0, 0, 0, 0, 0.5, 0.5]), np.array([0, 0, 0, 0, 3, 3]))
    bs.advance(900.0)
    assert bs.tick_cycles.tolist() == [0, 0, 0, 1, 0, 0]
    assert bs.n_users.tolist() == [0, 0, 0, 0, 3, 3]
