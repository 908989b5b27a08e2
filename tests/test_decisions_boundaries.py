"""Boundaries of the decisions library found by QA (/work/notes/QA_FINDINGS.md): YAML aliases (F1), YAML
validation reporting every problem (F16), input checks for callers such as the API (F4) and batch columns (F10)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import decisions
from decisions.validate import validate
from decisions.yaml_form import NoAliasLoader, YamlAliasError, safe_load_no_alias

TABLE = """\
name: qa sleep
input_data: [{name: load, type: number}, {name: hour, type: number}, {name: kind, type: string}]
decisions:
  - name: act
    requires: {inputs: [load, hour, kind]}
    table:
      hit_policy: FIRST
      inputs: [{expression: load, type: number}, {expression: hour, type: number}, {expression: kind}]
      outputs: [{name: action, type: string}]
      rules:
        - {id: night_low, when: ["< 0.2", "[0..6]", '"macro"'], then: ['"sleep"']}
        - {id: other, when: ["-", "-", "-"], then: ['"keep"']}
"""


def bomb(levels: int) -> str:
    lines = ['x0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_yaml_aliases_are_refused_before_expansion():
    # four levels (10**5 strings if expanded: small enough that a regression does not hurt the machine);
    # refused at the first alias, with its line
    text = "name: t\n" + bomb(4) + "decisions: []\n"
    with pytest.raises(decisions.ModelError) as info:
        decisions.loads(text, format="yaml", name="bomb.yaml")
    assert str(info.value) == "bomb.yaml:3: YAML aliases are not supported"
    assert info.value.line == 3
    # a merge key is an alias too
    with pytest.raises(decisions.ModelError, match="aliases are not supported"):
        decisions.loads("base: &b {name: t}\n<<: *b\ndecisions: []\n", format="yaml")
    # the shared loader: anchors alone are fine, aliases are not
    assert safe_load_no_alias("a: &x 1\nb: 2\n") == {"a": 1, "b": 2}
    with pytest.raises(YamlAliasError) as yinfo:
        yaml.load("a: &x 1\nb: *x\n", Loader=NoAliasLoader)  # noqa: S506 - the loader is a SafeLoader
    assert yinfo.value.problem_mark.line == 1 and isinstance(yinfo.value, yaml.YAMLError)


def test_yaml_validation_reports_every_problem_with_line_and_field():
    text = ("name: t\n"
            "colour: red\n"
            "decisions:\n"
            "  - name: d\n"
            "    table:\n"
            "      inputs: [{expression: x, type: numbr}]\n"
            "      outputs: [{name: o}]\n"
            "      rules:\n"
            "        - ['-', '1']\n"
            "        - ['-', '-', '1']\n")
    with pytest.raises(decisions.ModelError) as info:
        decisions.loads(text, format="yaml", name="t.yaml")
    found = [(p.line, p.field, p.reason) for p in info.value.problems]
    assert [(line, field) for line, field, _ in found] == [
        (2, "colour"), (6, "decisions[0].table.inputs[0].type"), (10, "decisions[0].table.rules[1]")]
    assert found[0][2] == "unknown key 'colour'"
    assert "unknown type 'numbr'" in found[1][2]
    assert "rule row has 3 cells, expected 1 inputs + 1 outputs" in found[2][2]
    message = str(info.value)
    assert message.splitlines()[0] == "t.yaml:2: field colour: unknown key 'colour'"
    assert len(message.splitlines()) == 3 and "$" not in message


def test_validate_lists_every_load_problem(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: t\ndecision: []\n")
    findings = validate(p)
    assert [(f.line, f.message) for f in findings] == [
        (1, "field decisions: required key 'decisions' is missing"),
        (2, "field decision: unknown key 'decision'"),
    ]
    assert all("$" not in str(f) for f in findings)
    p.write_text("name: t\ndecisions: []\n")
    findings = validate(p)
    assert [(f.severity, f.line, f.message) for f in findings] == [
        ("error", 2, "field decisions: a model needs at least one decision")]


def test_empty_model_is_refused():
    with pytest.raises(decisions.ModelError, match="at least one decision"):
        decisions.loads("name: t\ndecisions: []\n", format="yaml")


def test_check_inputs_names_unknown_mistyped_and_non_finite_inputs():
    m = decisions.loads(TABLE, format="yaml")
    assert m.input_types("act") == {"load": "number", "hour": "number", "kind": "string"}
    assert m.check_inputs({"load": 0.1, "hour": 3, "kind": "macro"}) == []
    assert m.check_inputs({}) == []  # missing inputs are DMN null
    assert m.check_inputs({"load": None}) == []
    problems = dict(m.check_inputs({"lod": 0.1, "hour": "3", "kind": 7, "load": float("nan")}))
    assert problems["lod"] == "not an input of this decision (it reads: hour, kind, load)"
    assert problems["hour"] == "expected a number, found string '3'"
    assert problems["kind"] == "expected a string, found number 7"
    assert problems["load"] == "expected a finite number, found nan"
    assert dict(m.check_inputs({"load": True}))["load"] == "expected a number, found boolean True"
    # item definitions resolve to their base type; names read only by a table's input clause use its typeRef
    bundled = decisions.load(decisions.tables_dir() / "energy_saving.dmn")
    types = bundled.input_types()
    assert types["cell_load"] == "number" and types["is_coverage_cell"] == "boolean"
    assert all(n in types for n in bundled.input_names())


def test_batch_refuses_a_missing_column_and_takes_explicit_nulls():
    m = decisions.loads(TABLE, format="yaml")
    with pytest.raises(decisions.DecisionError, match="missing input column.*'load'.*'kind'"):
        m.evaluate_batch({"hour": np.array([3.0, 4.0])})
    with pytest.raises(ValueError, match="'kind'"):
        m.evaluate_batch({"load": np.array([0.1]), "hour": np.array([3.0])})
    # nulls given explicitly: the same as row mode with the key missing
    cols = {"load": np.array([0.1, np.nan, 0.1]), "hour": np.array([3.0, 3.0, 12.0]), "kind": None}
    b = m.evaluate_batch(cols)
    assert [b.result(i) for i in range(3)] == ["keep", "keep", "keep"]
    cols["kind"] = np.array(["macro", "macro", "macro"])
    b = m.evaluate_batch(cols)
    rows = [{"load": 0.1, "hour": 3.0, "kind": "macro"}, {"hour": 3.0, "kind": "macro"},
            {"load": 0.1, "hour": 12.0, "kind": "macro"}]
    assert [b.result(i) for i in range(3)] == [m.decide(r) for r in rows] == ["sleep", "keep", "keep"]
