"""Scenario files: the bundled ones validate; every class of bad input gets a message with file, line, field."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dientine.scenario import (
    ScenarioError,
    apply_overrides,
    load_scenario,
    parse_clock_time_s,
    parse_duration_s,
    validate_data,
)

ROOT = Path(__file__).resolve().parent.parent
GOOD = """\
name: t
seed: 1
area: {width_m: 3000, height_m: 2600, resolution_m: 10}
clock: {duration: 24h, tick: 15min, decision_every: 1h}
network:
  layout: {hex: {rings: 2, isd_m: 500, sectors: 3}}
  carrier: {fc_ghz: 3.5, bandwidth_mhz: 100, scenario: UMa}
  equipment: macro_rru
population:
  - {archetype: pedestrian, count: 100}
events:
  - {at: "18:00", kind: crowd, where: {x_m: 0, y_m: 0, radius_m: 200}, users: 50, for: 3h}
  - {at: "10:00", kind: site_failure, site: 4}
expect:
  energy_kwh: {max: 950}
"""


def write(tmp_path, text, name="s.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return f


def problems_of(tmp_path, text):
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_scenarios_validate(path):
    scenario = load_scenario(path)
    assert scenario.network.carrier.fc_ghz > 0


def test_good_scenario_parses_units(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert s.clock.duration == 86400.0 and s.clock.tick == 900.0 and s.clock.n_ticks == 96
    assert s.events[0].at_s == 18 * 3600 and s.events[0].duration_s == 3 * 3600
    assert s.expect["energy_kwh"].max == 950


@pytest.mark.parametrize("old, new, expected", [
    ("fc_ghz: 3.5,", 'fc_ghz: "3.5GHz",',
     ':7 network.carrier.fc_ghz: expected a number in (0.5, 100], found \'3.5GHz\''),
    ("fc_ghz: 3.5,", "fc_ghz: 200,", ":7 network.carrier.fc_ghz: expected a number in (0.5, 100], found 200"),
    ("seed: 1", "seed: -3", ":2 seed: expected an integer in [0,"),
    ("seed: 1", "seed: 1\ncolour: red", ":3 colour: unknown key"),
    ("scenario: UMa}", "scenario: UMz}", ":7 network.carrier.scenario: expected one of 'UMa', 'UMi' or 'RMa'"),
    ("tick: 15min", "tick: 15 apples", ":4 clock.tick: expected a duration"),
    ("archetype: pedestrian", "archetype: goblin", ":10 population[0].archetype: unknown archetype 'goblin'"),
    ("equipment: macro_rru", "equipment: warp_core", ":8 network.equipment: unknown equipment 'warp_core'"),
    ('at: "18:00"', 'at: "25:61"', ":12 events[0].at: expected a time such as '18:00'"),
    ("kind: site_failure, site: 4", "kind: site_failure", ":13 events[1]: a 'site_failure' event needs site"),
    ("{max: 950}", "{min: 5, max: 1}", ":15 expect.energy_kwh: min 5.0 is above max 1.0"),
    ("{hex: {rings: 2, isd_m: 500, sectors: 3}}", "{}", ":6 network.layout: give exactly one of 'hex' or 'sites'"),
    ("resolution_m: 10", "resolution_m: 0", ":3 area.resolution_m: expected a number in (0, 1000], found 0"),
])
def test_each_bad_input_class_is_reported_with_line_and_field(tmp_path, old, new, expected):
    assert old in GOOD
    found = problems_of(tmp_path, GOOD.replace(old, new))
    assert any(expected in p for p in found), found


def test_all_problems_are_reported_at_once(tmp_path):
    text = GOOD.replace("seed: 1", "seed: x").replace("fc_ghz: 3.5,", "fc_ghz: -1,").replace(
        "archetype: pedestrian", "archetype: goblin")
    found = problems_of(tmp_path, text)
    assert len(found) == 3 and [p.split(" ")[0].rsplit(":", 1)[1] for p in found] == ["2", "7", "10"]


def test_malformed_yaml_names_the_line(tmp_path):
    found = problems_of(tmp_path, "name: x\nseed: [1, 2\narea: {")
    assert len(found) == 1 and "malformed YAML" in found[0] and "s.yaml:" in found[0]


def test_empty_and_non_mapping_files(tmp_path):
    assert "empty file" in problems_of(tmp_path, "")[0]
    assert "expected a mapping at the top, found list" in problems_of(tmp_path, "- 1\n- 2\n")[0]


def test_missing_file_and_missing_sites_csv(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")
    text = GOOD.replace("{hex: {rings: 2, isd_m: 500, sectors: 3}}", "{sites: cells.csv}")
    found = problems_of(tmp_path, text)
    assert "network.layout.sites: file not found" in found[0] and ":6 " in found[0]


def test_unknown_decision_table(tmp_path):
    found = problems_of(tmp_path, GOOD + "decisions: [teleport_users]\n")
    assert any("decisions[0]: unknown decision table 'teleport_users'" in p for p in found)


def test_overrides_apply_by_dotted_path_and_refuse_unknown_paths():
    data = yaml.safe_load(GOOD)
    out = apply_overrides(data, {"network.carrier.fc_ghz": 2.6, "population.0.count": 7})
    assert out["network"]["carrier"]["fc_ghz"] == 2.6 and out["population"][0]["count"] == 7
    assert data["network"]["carrier"]["fc_ghz"] == 3.5  # the original is untouched
    validate_data(out)
    with pytest.raises(ValueError, match="no key 'carrierz'"):
        apply_overrides(data, {"network.carrierz.fc_ghz": 1})
    with pytest.raises(ValueError, match="no list item '9'"):
        apply_overrides(data, {"population.9.count": 1})


@pytest.mark.parametrize("text, seconds", [("15min", 900), ("1h", 3600), ("2d", 172800), ("90s", 90), (30, 30)])
def test_durations(text, seconds):
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text, seconds", [("18:00", 64800), ("d1 07:30", 113400), ("30h", 108000)])
def test_clock_times(text, seconds):
    assert parse_clock_time_s(text) == seconds


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_duration_parser_never_crashes(text):
    try:
        assert parse_duration_s(text) > 0
    except ValueError as exc:
        assert "expected" in str(exc)


def test_yaml_aliases_are_refused(tmp_path):
    text = GOOD.replace("area: {width_m: 3000", "area: &a {width_m: 3000") + "extra: *a\n"
    found = problems_of(tmp_path, text)
    assert len(found) == 1 and "YAML anchors are not supported" in found[0] and "s.yaml:3" in found[0]


def test_every_bad_sites_row_is_reported_with_its_physical_line(tmp_path):
    (tmp_path / "cells.csv").write_text("site,x_m,y_m,azimuth_deg\nA,0,0,30\n\nB,1,x,30\nC,1,1,400\n")
    text = GOOD.replace("{hex: {rings: 2, isd_m: 500, sectors: 3}}", "{sites: cells.csv}").replace(
        "site: 4}", "site: 2}")
    found = problems_of(tmp_path, text)
    assert any("cells.csv:4 y_m: expected a number" in p for p in found), found
    assert any("cells.csv:5 azimuth_deg: expected a number in [0, 360), found '400'" in p for p in found), found


def test_event_targets_and_times_are_checked_against_network_and_clock(tmp_path):
    text = GOOD.replace("site: 4}", "site: 19}").replace('at: "18:00"', 'at: "d1 01:00"')
    found = problems_of(tmp_path, text)
    assert any(":12 events[0].at: expected a time inside the run" in p for p in found), found
    assert any(":13 events[1].site: expected a site index in [0, 18], found 19" in p for p in found), found


def test_loop_guard_assumptions_are_overridable_and_checked(tmp_path):
    text = GOOD + "decisions: [energy_saving]\nloop:\n  guard: {max_new_sleep: 2, rise_epochs: 1}\n"
    s = load_scenario(write(tmp_path, text))
    assert s.loop.guard.max_new_sleep == 2 and s.loop.guard.rise_epochs == 1
    assert s.loop.guard.predict_target_share == 0.7  # the documented default
    bad = GOOD + "decisions: [energy_saving]\nloop:\n  guard: {affected_rank: 4, sleep_candidates: 3, bogus: 1}\n"
    found = problems_of(tmp_path, bad)
    assert any("loop.guard.bogus" in p for p in found), found
    bad = GOOD + "decisions: [energy_saving]\nloop:\n  guard: {affected_rank: 4, sleep_candidates: 3}\n"
    found = problems_of(tmp_path, bad)
    want = "affected_rank (4) must not exceed sleep_candidates (3)"
    assert any("loop.guard" in p and want in p for p in found), found
