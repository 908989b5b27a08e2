"""Hand-checked tables for every hit policy and aggregation, defaults, output value lists, explanations, DRGs."""

from __future__ import annotations

from decimal import Decimal

import pytest

import decisions

D = Decimal


def table(policy: str, rules: list, outputs: str = "", agg: str | None = None, two: bool = False,
          default: str | None = None) -> decisions.DecisionModel:
    """One-input table on x (number) with rules as [entry, out1(, out2)]."""
    out1 = {"name": "o", "type": "number"}
    if outputs:
        out1["values"] = outputs
    if default is not None:
        out1["default"] = default
    outs = [out1] + ([{"name": "p", "type": "string", "values": '"hi","lo"'}] if two else [])
    import yaml

    spec = {"name": "t", "decisions": [{"name": "d", "table": {
        "hit_policy": policy, "inputs": [{"expression": "x", "type": "number"}], "outputs": outs,
        "annotations": ["note"],
        "rules": [{"when": [r[0]], "then": list(r[1:]), "annotations": [f"r{i}"], "id": f"R{i}"}
                  for i, r in enumerate(rules, 1)]}}]}
    if agg:
        spec["decisions"][0]["table"]["aggregation"] = agg
    return decisions.loads(yaml.safe_dump(spec), format="yaml")


RULES = [["< 10", "1"], ["< 20", "2"], ["[5..30]", "3"], ["> 100", "4"]]


def ev(m, x):
    return m.decide({"x": x}, "d")


def test_unique():
    m = table("UNIQUE", [["< 10", "1"], ["[10..20]", "2"]])
    assert ev(m, 3) == 1 and ev(m, 10) == 2 and ev(m, 25) is None
    m2 = table("UNIQUE", RULES)
    assert ev(m2, 7) is None  # rules 1, 2, 3 match: UNIQUE violated
    ex = m2.explain({"x": 7}, "d")
    assert ex.results["d"] is None
    assert "UNIQUE hit policy violated: rules 1, 2, 3 match" in ex.traces["d"].errors[0]
    assert [h.id for h in ex.traces["d"].matched] == ["R1", "R2", "R3"]


def test_any():
    m = table("ANY", [["< 10", "1"], ["< 5", "1"], ["> 20", "2"], ["> 30", "3"]])
    assert ev(m, 3) == 1  # two matches, same output
    assert ev(m, 25) == 2
    assert ev(m, 35) is None  # rules 3, 4 differ
    assert "ANY hit policy violated" in m.explain({"x": 35}, "d").traces["d"].errors[0]


def test_first():
    m = table("FIRST", RULES)
    assert [ev(m, x) for x in (7, 15, 25, 200, 50)] == [1, 2, 3, 4, None]
    ex = m.explain({"x": 7}, "d")
    assert ex.rule_ids("d") == ["R1"]
    assert ex.traces["d"].selected[0].annotations == {"note": "r1"}


def test_priority_uses_output_value_order():
    m = table("PRIORITY", RULES, outputs="3, 4, 2, 1")
    assert ev(m, 7) == 3  # 1, 2, 3 match: 3 comes first in the output values
    assert ev(m, 15) == 3
    assert ev(m, 3) == 2  # rules 1, 2: 2 comes before 1
    assert ev(m, 150) == 4
    m2 = table("PRIORITY", [["< 10", "1", '"lo"'], ["< 10", "1", '"hi"'], ["< 20", "2", '"lo"']],
               outputs="1, 2", two=True)
    assert ev(m2, 5) == {"o": 1, "p": "hi"}  # tie on o, p breaks it ("hi" before "lo")


def test_rule_order_and_output_order():
    m = table("RULE ORDER", RULES)
    assert ev(m, 7) == [1, 2, 3]
    assert ev(m, 50) is None
    m2 = table("OUTPUT ORDER", RULES, outputs="3, 4, 2, 1")
    assert ev(m2, 7) == [3, 2, 1]
    assert m2.explain({"x": 7}, "d").rule_ids("d") == ["R3", "R2", "R1"]


def test_collect_and_aggregations():
    assert sorted(ev(table("COLLECT", RULES), 7)) == [1, 2, 3]
    assert ev(table("COLLECT", RULES, agg="SUM"), 7) == 6
    assert ev(table("COLLECT", RULES, agg="MIN"), 7) == 1
    assert ev(table("COLLECT", RULES, agg="MAX"), 7) == 3
    assert ev(table("COLLECT", RULES, agg="COUNT"), 7) == 3
    assert ev(table("COLLECT", RULES, agg="COUNT"), 50) is None  # no match: null (no default)
    assert ev(table("COLLECT", RULES, agg="COUNT", default="0"), 50) == 0
    dec = table("COLLECT", [["-", "0.1"], ["-", "0.2"]], agg="SUM")
    assert ev(dec, 1) == D("0.3")


def test_multiple_outputs_and_defaults():
    m = table("RULE ORDER", [["< 10", "1", '"hi"'], ["< 20", "2", '"lo"']], two=True)
    assert ev(m, 5) == [{"o": 1, "p": "hi"}, {"o": 2, "p": "lo"}]
    m2 = table("FIRST", [["< 10", "1", '"hi"']], two=True, default="9")
    assert ev(m2, 50) == {"o": 9, "p": None}
    assert ev(m2, 5) == {"o": 1, "p": "hi"}


def test_output_value_violation_and_input_values():
    m = table("FIRST", [["< 10", "7"]], outputs="1, 2")
    with pytest.raises(decisions.ModelError):  # PRIORITY needs values; FIRST loads but validate() flags it
        table("PRIORITY", [["< 10", "7"]])
    ex = m.explain({"x": 5}, "d")
    assert ex.results["d"] is None and "not in outputValues" in ex.traces["d"].errors[0]
    m2 = decisions.loads("""
name: t
decisions:
  - name: d
    table:
      inputs: [{expression: x, type: number, values: "[0..1]"}]
      outputs: [{name: o, type: string}]
      rules: [["-", '"ok"']]
""", format="yaml")
    assert m2.decide({"x": 0.5}) == "ok"
    assert m2.decide({"x": 2}) is None
    assert m2.decide({"x": "a"}) == "ok"  # not a number: null input, '-' still matches


def test_drg_dependency_order_and_literal_expressions():
    m = decisions.loads("""
name: drg
input_data: [{name: load, type: number}, {name: capacity, type: number}]
decisions:
  - name: action
    requires: {decisions: [utilisation]}
    table:
      hit_policy: FIRST
      inputs: [{expression: utilisation, type: number}]
      outputs: [{name: a, type: string}]
      rules: [["> 0.8", '"offload"'], ["-", '"keep"']]
  - name: utilisation
    requires: {inputs: [load, capacity]}
    literal: {text: "load / capacity", type: number}
""", format="yaml")
    assert m.evaluate({"load": 90, "capacity": 100}) == {"utilisation": D("0.9"), "action": "offload"}
    assert m.evaluate({"load": 9, "capacity": 100}, "action") == {"action": "keep"}
    assert m.top_decisions == ["action"]
    with pytest.raises(decisions.EvaluationError, match="unknown decision"):
        m.evaluate({}, "nope")


def test_cycle_is_refused_at_load():
    with pytest.raises(decisions.ModelError, match="cycle"):
        decisions.loads("""
name: c
decisions:
  - {name: a, requires: {decisions: [b]}, literal: {text: "b + 1"}}
  - {name: b, requires: {decisions: [a]}, literal: {text: "a + 1"}}
""", format="yaml")


def test_aggregation_rules_refused():
    with pytest.raises(decisions.ModelError, match="exactly one output"):
        table("COLLECT", [["-", "1", '"hi"']], agg="SUM", two=True)


def test_input_data_type_conformance_gives_null():
    m = decisions.loads("""
name: t
item_definitions: [{name: tLoad, type: number, allowed_values: "[0..1]"}]
input_data: [{name: load, type: tLoad}]
decisions:
  - name: d
    requires: {inputs: [load]}
    table:
      hit_policy: FIRST
      inputs: [{expression: load}]
      outputs: [{name: o, type: string}]
      rules: [["null", '"missing"'], ["< 0.5", '"low"'], ["-", '"high"']]
""", format="yaml")
    assert m.decide({"load": 0.2}) == "low"
    assert m.decide({"load": 1.5}) == "missing"  # outside the allowed values: null
    assert m.decide({"load": "x"}) == "missing"
    assert "does not conform" in m.explain({"load": 2}).traces["d"].errors[0]
