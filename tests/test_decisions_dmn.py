"""DMN XML import/export (1.1-1.5), YAML form, round trips, malformed input with file and line, bundled tables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import decisions
from decisions.dmn import DMN_NAMESPACES, read_dmn, write_dmn
from decisions.yaml_form import read_yaml, write_yaml

TABLES = sorted(decisions.tables_dir().glob("*.dmn"))
THRESHOLDS = yaml.safe_load((decisions.tables_dir() / "thresholds.yaml").read_text())["thresholds"]

CAMUNDA = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{ns}" xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="dish" name="Dish"
             namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="decision" name="Dish">
    <decisionTable id="decisionTable" hitPolicy="UNIQUE">
      <input id="input1" label="Season" camunda:inputVariable="s">
        <inputExpression id="inputExpression1" typeRef="string"><text>season</text></inputExpression>
        <inputValues><text>"Fall","Winter","Spring","Summer"</text></inputValues>
      </input>
      <input id="InputClause_0hmkumv" label="How many guests">
        <inputExpression id="LiteralExpression_0m7s53h" typeRef="integer"><text>guestCount</text></inputExpression>
      </input>
      <output id="output1" label="Dish" name="desiredDish" typeRef="string" />
      <rule id="row-1"><description>fall meal</description>
        <inputEntry id="UnaryTests_1"><text>"Fall"</text></inputEntry>
        <inputEntry id="UnaryTests_2"><text>&lt;= 8</text></inputEntry>
        <outputEntry id="LiteralExpression_1"><text>"Spareribs"</text></outputEntry>
      </rule>
      <rule id="row-2">
        <inputEntry id="UnaryTests_3"><text>"Winter"</text></inputEntry>
        <inputEntry id="UnaryTests_4"><text>&lt;= 8</text></inputEntry>
        <outputEntry id="LiteralExpression_2"><text>"Roastbeef"</text></outputEntry>
      </rule>
      <rule id="row-3">
        <inputEntry id="UnaryTests_5"><text>"Spring","Summer"</text></inputEntry>
        <inputEntry id="UnaryTests_6"><text>-</text></inputEntry>
        <outputEntry id="LiteralExpression_3"><text>"Salad"</text></outputEntry>
      </rule>
      <rule id="row-4">
        <inputEntry id="UnaryTests_7"><text>"Fall","Winter"</text></inputEntry>
        <inputEntry id="UnaryTests_8"><text>&gt; 8</text></inputEntry>
        <outputEntry id="LiteralExpression_4"><text>"Stew"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


@pytest.mark.parametrize("ns", list(DMN_NAMESPACES))
def test_reads_every_dmn_namespace(ns):
    m = decisions.loads(CAMUNDA.format(ns=ns), format="dmn")
    assert m.decide({"season": "Fall", "guestCount": 4}) == "Spareribs"
    assert m.decide({"season": "Winter", "guestCount": 10}) == "Stew"
    assert m.decide({"season": "Summer", "guestCount": 10}) == "Salad"
    assert m.decide({"season": "Autumn", "guestCount": 1}) is None  # outside inputValues
    t = m.definitions.decisions[0].logic
    assert t.inputs[1].type_ref == "number"  # Camunda 'integer' maps to FEEL number
    assert t.rules[0].description == "fall meal"


def test_xml_round_trip_model_equal_and_stable():
    for path in TABLES:
        m = decisions.load(path)
        xml = m.to_dmn()
        back = read_dmn(xml)
        assert back == m.definitions, path.name
        assert write_dmn(back) == xml  # deterministic ids and layout
        assert "dmndi:DMNShape" in xml and 'xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"' in xml


def test_empty_entries_mean_dash_and_null():
    xml = CAMUNDA.format(ns="https://www.omg.org/spec/DMN/20191111/MODEL/").replace(
        "<text>-</text>", "<text></text>").replace('<text>"Salad"</text>', "<text></text>")
    m = decisions.loads(xml, format="dmn")
    assert m.decide({"season": "Spring", "guestCount": 3}) is None  # rule 3 matches, empty output = null
    assert m.explain({"season": "Spring", "guestCount": 3}).rule_ids("Dish") == ["row-3"]


def test_round_trip_of_foreign_file_keeps_semantics():
    m = decisions.loads(CAMUNDA.format(ns="http://www.omg.org/spec/DMN/20151101/dmn.xsd"), format="dmn")
    again = decisions.loads(m.to_dmn(), format="dmn")
    assert again.definitions == m.definitions
    assert again.decide({"season": "Winter", "guestCount": 3}) == "Roastbeef"


def test_yaml_to_xml_equality_and_back():
    for path in TABLES:
        m = decisions.load(path)
        y = write_yaml(m.definitions)
        from_yaml = read_yaml(y)
        assert from_yaml == m.definitions, path.name
        assert write_dmn(from_yaml) == m.to_dmn()


def test_yaml_flat_rows_equal_dict_rows():
    flat = read_yaml("""
name: t
decisions:
  - name: d
    table:
      inputs: [{expression: x}]
      outputs: [{name: o}]
      annotations: [why]
      rules: [["< 1", '"a"', "small"], [">= 1", '"b"', "big"]]
""")
    long = read_yaml("""
name: t
decisions:
  - name: d
    table:
      inputs: [{expression: x}]
      outputs: [{name: o}]
      annotations: [why]
      rules:
        - {when: ["< 1"], then: ['"a"'], annotations: [small]}
        - {when: [">= 1"], then: ['"b"'], annotations: [big]}
""")
    assert flat == long
    assert read_dmn(write_dmn(flat)) == flat


def test_malformed_xml_names_file_and_line(tmp_path):
    p = tmp_path / "bad.dmn"
    p.write_text('<?xml version="1.0"?>\n<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/">\n'
                 '  <decision id="d" name="d">\n  </decisoin>\n</definitions>\n')
    with pytest.raises(decisions.ModelError) as ei:
        decisions.load(p)
    assert ei.value.file == str(p) and ei.value.line == 4
    assert f"{p}:4" in str(ei.value)


def test_doctype_and_entities_refused():
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">]>\n'
            '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/">&lol;</definitions>')
    with pytest.raises(decisions.ModelError, match="DOCTYPE"):
        decisions.loads(bomb, format="dmn", name="bomb.dmn")


def test_bad_feel_in_xml_names_element_line_and_column(tmp_path):
    xml = CAMUNDA.format(ns="https://www.omg.org/spec/DMN/20191111/MODEL/").replace("&gt; 8", "&gt; 8 +")
    p = tmp_path / "t.dmn"
    p.write_text(xml)
    with pytest.raises(decisions.ModelError) as ei:
        decisions.load(p)
    msg = str(ei.value)
    assert ei.value.line == 31 and "inputEntry" in msg and "rule 4" in msg and "column 6" in msg


def test_unsupported_elements_refused_with_line():
    xml = CAMUNDA.format(ns="https://www.omg.org/spec/DMN/20191111/MODEL/").replace(
        '<decision id="decision" name="Dish">',
        '<decision id="decision" name="Dish"><knowledgeRequirement><requiredKnowledge href="#bkm"/>'
        '</knowledgeRequirement>')
    with pytest.raises(decisions.ModelError, match="knowledgeRequirement") as ei:
        decisions.loads(xml, format="dmn")
    assert ei.value.line == 4


def test_malformed_yaml_names_file_line_and_field(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: t\ndecisions:\n  - name: d\n    table:\n      hit_policy: SOMETIMES\n"
                 "      outputs: [{name: o}]\n")
    with pytest.raises(decisions.ModelError) as ei:
        decisions.load(p)
    assert ei.value.line == 5 and "decisions[0].table.hit_policy" in str(ei.value)
    p.write_text("name: t\ndecisions: [\n  - oops\n")
    with pytest.raises(decisions.ModelError) as ei:
        decisions.load(p)
    assert ei.value.file == str(p) and ei.value.line is not None
    p.write_text("name: t\ndecisions:\n  - name: d\n    table:\n      inputs: [{expression: x}]\n"
                 "      outputs: [{name: o}]\n      rules:\n        - ['-']\n")
    with pytest.raises(decisions.ModelError) as ei:
        decisions.load(p)
    assert ei.value.line == 8 and "rule row has 1 cells" in str(ei.value)


def test_loads_bytes_and_unknown_format():
    m = decisions.loads(CAMUNDA.format(ns="https://www.omg.org/spec/DMN/20191111/MODEL/").encode(), format="dmn")
    assert m.decisions == ["Dish"]
    with pytest.raises(ValueError):
        decisions.loads("x", format="json")


def _defaults() -> dict:
    return {k: v["default"] for k, v in THRESHOLDS.items()}


def test_bundled_tables_are_clean_and_thresholds_are_inputs():
    assert len(TABLES) == 6
    for path in TABLES:
        m = decisions.load(path)
        names = m.input_names()
        thr = [n for n in names if n.startswith("threshold_")]
        assert thr, path.name
        for n in thr:
            t = THRESHOLDS[n]
            assert t["min"] <= t["default"] <= t["max"], n
            assert {"step", "unit", "source", "assumption"} <= set(t), n
        findings = decisions.validate(path, assume=_defaults())
        assert [f for f in findings if f.severity != "info"] == [], (path.name, [str(f) for f in findings])


def test_energy_saving_policy_example():
    m = decisions.load(decisions.tables_dir() / "energy_saving.dmn")
    base = {"is_coverage_cell": False, "cell_asleep": False, "cell_load": 0.05, "hour": 3,
            "neighbour_headroom": 0.5, **_defaults()}
    assert m.decide(base) == "rru_sleep"
    assert m.decide({**base, "hour": 5}) == "keep"  # window [1..5[
    assert m.decide({**base, "hour": 1}) == "rru_sleep"
    assert m.decide({**base, "cell_load": 0.15}) == "keep"
    assert m.decide({**base, "is_coverage_cell": True}) == "keep"
    assert m.decide({**base, "cell_asleep": True, "neighbour_headroom": 0.05}) == "rru_wake"
    ex = m.explain(base)
    assert ex.rule_ids("energy_saving") == ["energy_saving_table_rule_4"]
    assert "plan an RRU sleep" in ex.traces["energy_saving"].selected[0].annotations["reason"]
    # the same over a network of cells at once, thresholds as scalars
    n = 1000
    rng = np.random.default_rng(4)
    cols = {"is_coverage_cell": rng.random(n) < 0.1, "cell_asleep": rng.random(n) < 0.2,
            "cell_load": rng.random(n).round(3), "hour": rng.integers(0, 24, n).astype(float),
            "neighbour_headroom": rng.random(n).round(2), **_defaults()}
    b = m.evaluate_batch(cols)
    for i in range(0, n, 7):
        row = {k: (v[i].item() if isinstance(v, np.ndarray) else v) for k, v in cols.items()}
        assert b.result(i) == m.decide(row)


def test_other_bundled_tables_decide():
    d = _defaults()
    inc = decisions.load(decisions.tables_dir() / "incumbent_protection.dmn")
    assert inc.decide({"incumbent_active": True, "in_exclusion_zone": True, "aggregate_interference_dbm": -200,
                       **d}) == "vacate_channel"
    assert inc.decide({"incumbent_active": True, "in_exclusion_zone": False, "aggregate_interference_dbm": -144.5,
                       **d}) == "reassign_channel"  # above -144 - 1
    assert inc.decide({"incumbent_active": True, "in_exclusion_zone": False, "aggregate_interference_dbm": -147,
                       **d}) == "reduce_power"
    assert inc.decide({"incumbent_active": False, "in_exclusion_zone": False,
                       "aggregate_interference_dbm": -100, **d}) == "none"
    dr = decisions.load(decisions.tables_dir() / "drone_response.dmn")
    assert dr.decide({"drone_authorised": False, "drone_altitude_m": 150, "visible_cells": 2,
                      "distance_to_restricted_m": 300, "track_duration_s": 60, **d}) == "hand_to_authorities"
    assert dr.decide({"drone_authorised": False, "drone_altitude_m": 150, "visible_cells": 2,
                      "distance_to_restricted_m": 3000, "track_duration_s": 10, **d}) == "track"
    ct = decisions.load(decisions.tables_dir() / "coverage_tilt.dmn")
    assert ct.decide({"coverage_pct": 99, "edge_sinr_db": -5, "overshoot_pct": 20, "cell_load": 0.5, **d}) == {
        "action": "tilt_optimise", "tilt_goal": "interference"}
    mt = decisions.load(decisions.tables_dir() / "maintenance_scheduling.dmn")
    assert mt.decide({"alarm_active": False, "health_index": 0.9, "rul_h": 5000, "fan_rpm_ratio": 0.82,
                      "pa_current_ratio": 1.0, **d}) == {"action": "schedule_replacement", "window": "next_window"}
    pw = decisions.load(decisions.tables_dir() / "power_adjustment.dmn")
    assert pw.decide({"edge_rsrp_dbm": -120, "cell_load": 0.3, **d}) == "power_up"
    assert pw.decide({"edge_rsrp_dbm": None, "cell_load": 0.3, **d}) == "keep"
    assert pw.decide({"edge_rsrp_dbm": Decimal("-85"), "cell_load": 0.3, **d}) == "keep"


def test_save_and_load_both_forms(tmp_path):
    m = decisions.load(TABLES[0])
    m.save(tmp_path / "a.yaml")
    m.save(tmp_path / "a.dmn")
    assert decisions.load(tmp_path / "a.yaml").definitions == m.definitions
    assert decisions.load(tmp_path / "a.dmn").definitions == m.definitions
    assert Path(tmp_path / "a.dmn").read_text().startswith("<?xml")


_ENERGY_XML = (decisions.tables_dir() / "energy_saving.dmn").read_text()
_ENERGY_YAML = write_yaml(read_dmn(_ENERGY_XML))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_ENERGY_XML) - 1), st.integers(0, 40),
                          st.sampled_from(["", "<", ">", '"', "&", "x", "</rule>", "<text>", "-"])),
                min_size=1, max_size=3))
def test_fuzz_mutated_xml_gives_clean_errors(edits):
    text = _ENERGY_XML
    for pos, length, ins in edits:
        text = text[:pos] + ins + text[pos + length:]
    try:
        decisions.loads(text, format="dmn", name="fuzz.dmn")
    except decisions.DecisionError as e:
        assert "fuzz.dmn" in str(e)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_ENERGY_YAML) - 1), st.integers(0, 20),
                          st.sampled_from(["", ":", "- ", "[", "{", "'", "x", "\n  ", "1"])),
                min_size=1, max_size=3))
def test_fuzz_mutated_yaml_gives_clean_errors(edits):
    text = _ENERGY_YAML
    for pos, length, ins in edits:
        text = text[:pos] + ins + text[pos + length:]
    try:
        decisions.loads(text, format="yaml", name="fuzz.yaml")
    except decisions.DecisionError as e:
        assert "fuzz.yaml" in str(e)
