"""Live telemetry into a twin: validation naming the field, precedence over the model, state and power applied,
and the closed loop's next decision epoch reading the measured values."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from agents.equipment import CellState
from dientine.loop import ClosedLoop
from dientine.scenario import load_scenario
from dientine.sim import Simulation
from dientine.twin import TELEMETRY_MAX_AGE_S, TelemetryError

TINY = {
    "name": "tiny-live", "seed": 5,
    "area": {"width_m": 1400, "height_m": 1300, "resolution_m": 50},
    "clock": {"duration": "2h", "tick": "15min", "start": "01:00", "decision_every": "30min"},
    "network": {"layout": {"hex": {"rings": 1, "isd_m": 500, "sectors": 3}},
                "carrier": {"fc_ghz": 3.5, "bandwidth_mhz": 20, "scenario": "UMa"}, "equipment": "macro_rru"},
    "population": [{"archetype": "pedestrian", "count": 200}],
    "decisions": ["energy_saving"],
    "loop": {"coverage_cells": [0, 1, 2]},
    "simulation": {"wear": False, "sensing": False},
}


def scenario(tmp_path, **extra):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **extra}))
    return load_scenario(path)


@pytest.fixture()
def sim(tmp_path) -> Simulation:
    s = Simulation(scenario(tmp_path, decisions=[], loop=None))
    s.run(n_ticks=2)
    return s


@pytest.mark.parametrize(("record", "field", "fragment"), [
    ({"cell": 21, "kpis": {"load": 0.5}}, "cell", "[0, 20]"),
    ({"cell_id": "x", "kpis": {"load": 0.5}}, "cell_id", "found 'x'"),
    ({"cell": 3, "kpis": {"lod": 0.5}}, "kpis.lod", "unknown KPI"),
    ({"cell": 3, "kpis": {"load": 1.5}}, "kpis.load", "[0, 1], found 1.5"),
    ({"cell": 3, "kpis": {"prb_util_pct": -1.0}}, "kpis.prb_util_pct", "[0, 100]"),
    ({"cell": 3, "kpis": {"throughput_mbps": float("nan")}}, "kpis.throughput_mbps", "finite"),
    ({"cell": 3, "kpis": {"users": 2.5}}, "kpis.users", "whole number"),
    ({"cell": 3, "kpis": {"tx_power_dbm": 90.0}}, "kpis.tx_power_dbm", "[-30, 80]"),
    ({"cell": 3, "kpis": {"load": 0.1, "prb_util_pct": 10.0}}, "kpis.prb_util_pct", "not both"),
    ({"cell": 3, "state": "asleep"}, "state", "deep_sleep"),
    ({"cell": 3, "kpis": {}}, "kpis", "kpis or a state"),
    ({"cell": 3, "kpis": {"load": 0.1}, "time_s": 1e9}, "time_s", "at most its current time"),
    ({"cell": 3, "kpis": {"load": 0.1}, "colour": "red"}, "colour", "unknown field"),
    ({"cell_id": "²", "kpis": {"load": 0.1}}, "cell_id", "found '²'"),  # isdigit() but not int(): was a ValueError
    ({"cell": 3, "kpis": {"load": np.bool_(True)}}, "kpis.load", "finite number"),
])
def test_bad_records_name_the_field_and_nothing_is_applied(sim, record, field, fragment):
    tw = sim.twin
    good = {"cell": 0, "kpis": {"load": 0.9}}
    with pytest.raises(TelemetryError) as info:
        tw.ingest_telemetry([good, record])
    assert info.value.index == 1 and info.value.field == field
    assert str(info.value).startswith(f"records[1].{field}: ") and fragment in str(info.value)
    assert tw.telemetry_records == 0 and tw.telemetry_in_force() == {}  # all or nothing


def test_fresh_telemetry_overrides_the_model_and_derived_columns_follow(sim):
    tw = sim.twin
    model = sim.cell_kpi_table()
    # before any telemetry the overlay is the model's table itself, and the twin's neighbour weights are the sim's
    assert tw.telemetry_overlay(model) is model
    np.testing.assert_allclose(tw.neighbour_weights(), sim._neighbours)
    assert tw.ingest_telemetry([{"cell": 4, "kpis": {"prb_util_pct": 90.0, "demand_mbps": 500.0}},
                                {"cell_id": "5", "kpis": {"users": 7}}], dry_run=True) == 2
    assert tw.telemetry_overlay(model) is model  # a dry run changes nothing
    tw.ingest_telemetry([{"cell": 4, "kpis": {"prb_util_pct": 90.0, "demand_mbps": 500.0}},
                         {"cell_id": "5", "kpis": {"users": 7}}])
    kpi = tw.telemetry_overlay(sim.cell_kpi_table())
    assert kpi["load"][4] == pytest.approx(0.9) and kpi["users"][5] == 7 and kpi["users"].dtype == model["users"].dtype
    assert kpi["demand_mbps"][4] == 500.0
    assert kpi["unsatisfied_mbps"][4] == pytest.approx(500.0 - model["throughput_mbps"][4])
    others = np.arange(tw.n_cells) != 4
    np.testing.assert_array_equal(kpi["load"][others], model["load"][others])
    # the headroom of cell 4's neighbours falls by their weight on it times the change of its free share
    w = tw.neighbour_weights()
    expected = model["neighbour_headroom"] - w[:, 4] * (0.9 - model["load"][4])
    np.testing.assert_allclose(kpi["neighbour_headroom"], expected, atol=1e-12)
    assert model["load"][4] != pytest.approx(0.9)  # the model's own table is untouched
    force = tw.telemetry_in_force()
    assert set(force) == {"load", "demand_mbps", "users"} and force["load"].tolist() == (~others).tolist()


def test_precedence_newer_than_the_model_tick_and_within_the_age_limit(sim):
    tw = sim.twin
    now = tw.now_s
    assert now == sim.time_s == 2 * tw.tick_s
    tw.ingest_telemetry([{"cell": 1, "kpis": {"load": 0.7}, "time_s": now - tw.tick_s},       # same period
                         {"cell": 2, "kpis": {"load": 0.8}, "time_s": now - tw.tick_s - 1.0}]) # before it
    kpi = tw.telemetry_overlay(sim.cell_kpi_table())
    assert kpi["load"][1] == pytest.approx(0.7)
    assert kpi["load"][2] == sim.cell_kpi_table()["load"][2]  # older than the model's latest tick: model wins
    sim.step()  # the model simulates a newer period: the measurement of the older one no longer wins
    assert "load" not in tw.telemetry_in_force()
    # age limit: a record newer than the model tick is dropped once older than telemetry_max_age_s
    assert tw.telemetry_max_age_s == TELEMETRY_MAX_AGE_S
    tw.ingest_telemetry([{"cell": 1, "kpis": {"load": 0.6}}])
    assert tw.telemetry_in_force(now_s=tw.now_s + TELEMETRY_MAX_AGE_S)["load"][1]
    assert "load" not in tw.telemetry_in_force(now_s=tw.now_s + TELEMETRY_MAX_AGE_S + 1.0)
    # per cell and KPI the newest measurement is kept: an older record does not replace it
    tw.ingest_telemetry([{"cell": 1, "kpis": {"load": 0.1}, "time_s": tw.now_s - 10.0}])
    assert tw.telemetry_overlay(sim.cell_kpi_table())["load"][1] == pytest.approx(0.6)


def test_measured_state_and_power_change_the_twin(sim):
    tw = sim.twin
    gains_before = tw.topk_rx_dbm.copy()
    tw.ingest_telemetry([{"cell": 6, "state": "failed"}, {"cell": 7, "state": "deep_sleep", "kpis": {"load": 0.0}},
                         {"cell": 8, "kpis": {"tx_power_dbm": 40.0}}])
    assert tw.bs.state[6] == CellState.FAILED
    assert tw.bs.failed_until_s[6] == pytest.approx(tw.now_s + tw.telemetry_max_age_s)
    assert tw.bs.pending[7] == CellState.DEEP_SLEEP  # the twin's cell follows with the equipment's transition time
    assert tw.cells.tx_power_dbm[8] == 40.0 and not np.array_equal(gains_before, tw.topk_rx_dbm)
    kpi = tw.telemetry_overlay(sim.cell_kpi_table())
    assert kpi["state"][7] == CellState.DEEP_SLEEP and kpi["state_name"][7] == "deep_sleep"
    assert kpi["state_name"][6] == "failed" and kpi["tx_power_dbm"][8] == 40.0
    # cells measured down or asleep offer no headroom to their neighbours
    w = tw.neighbour_weights()
    free = np.where((kpi["state"] == CellState.ON) & (tw.bs.pending < 0), 1.0 - kpi["load"], 0.0)
    np.testing.assert_allclose(kpi["neighbour_headroom"], w @ free)
    sim.step()  # the simulation runs on with the failed cell carrying nobody
    assert sim.kpi.latest_cell()["users"][6] == 0


def test_the_loop_decides_on_the_measured_kpis(tmp_path):
    loop = ClosedLoop(scenario(tmp_path))
    model = loop.tables["energy_saving"]
    seen: list[dict] = []
    original = model.evaluate_batch

    def spy(cols, name):
        seen.append({k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in cols.items()})
        return original(cols, name)

    model.evaluate_batch = spy  # type: ignore[method-assign]
    sim = loop.sim
    while sim.tick < loop.ticks_per_epoch:
        loop.step()
    # just before the epoch: measured loads of two cells (one busy, one idle)
    loop.sim.twin.ingest_telemetry([{"cell": 9, "kpis": {"load": 0.95}}, {"cell": 10, "kpis": {"load": 0.0}}])
    loop.step()  # this step opens the decision epoch first
    assert len(seen) == 1
    cols = seen[0]
    assert cols["cell_load"][9] == pytest.approx(0.95) and cols["cell_load"][10] == 0.0
    assert {r["row"] for r in loop.log if r["table"] == "energy_saving"}.isdisjoint({9})  # busy: not a candidate


def test_numpy_scalars_are_numbers(sim):
    """KPIs and times read from NumPy arrays (``np.float32(0.5)``, ``np.int64(5)``) were refused as "expected a
    finite number [0, 1], found np.float32(0.5)"."""
    tw = sim.twin
    t = np.float32(tw.now_s - 60.0)
    n = tw.ingest_telemetry([{"cell": np.int32(2), "time_s": t, "kpis": {"load": np.float32(0.5),
                                                                       "users": np.int64(5)}}])
    kpi = tw.telemetry_overlay(sim.cell_kpi_table())
    assert n == 1 and kpi["load"][2] == pytest.approx(0.5) and kpi["users"][2] == 5


def test_a_record_that_is_not_a_mapping_names_the_record(sim):
    with pytest.raises(TelemetryError) as info:
        sim.twin.ingest_telemetry([[2, 0.5]])
    assert str(info.value).startswith("records[0]: expected a mapping")
