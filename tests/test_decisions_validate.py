"""Every validation finding class, with decision, rule number, column and line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import decisions


def _v(tmp_path, text: str, name: str = "t.yaml", assume: dict | None = None):
    p = tmp_path / name
    p.write_text(text)
    return decisions.validate(p, assume)


def _codes(fs):
    return sorted((f.code, f.rule, f.column) for f in fs if f.severity != "info")


TABLE = """
name: t
decisions:
  - name: d
    table:
      hit_policy: {policy}
      inputs: [{{expression: load, type: number}}, {{expression: kind, type: string, values: '"macro","small"'}}]
      outputs: [{{name: a, type: string}}]
      rules:
{rules}
"""


def table(policy: str, rules: list[str]) -> str:
    return TABLE.format(policy=policy, rules="\n".join(f"        - {r}" for r in rules))


def test_overlap_under_unique(tmp_path):
    fs = _v(tmp_path, table("UNIQUE", ["['< 0.5', '\"macro\"', '\"x\"']", "['[0.3..1]', '-', '\"y\"']",
                                       "['>= 0.5', '\"small\"', '\"z\"']", "['< 0.3', '\"small\"', '\"w\"']"]))
    ov = [f for f in fs if f.code == "overlap"]
    assert [(f.rule, f.decision) for f in ov] == [(2, "d"), (3, "d")]  # 1&2 overlap, 2&3 overlap
    assert "rules 1 and 2 overlap" in ov[0].message and "load [0.3" in ov[0].message or "load" in ov[0].message
    assert ov[0].line == 11 and ov[0].file.endswith("t.yaml")


def test_any_overlap_only_with_different_outputs(tmp_path):
    fs = _v(tmp_path, table("ANY", ["['< 0.5', '-', '\"x\"']", "['< 0.7', '-', '\"x\"']",
                                    "['> 0.6', '-', '\"y\"']", "['-', '-', '\"x\"']"]))
    ov = sorted(f.rule for f in fs if f.code == "overlap")
    assert ov == [3, 4]  # (2,3) differ; (3,4) differ; (1,2), (1,4), (2,4) agree


def test_gaps_numeric_and_enumerated(tmp_path):
    fs = _v(tmp_path, table("UNIQUE", ["['< 0.5', '\"macro\"', '\"x\"']", "['> 0.5', '-', '\"y\"']"]))
    gaps = [f.message for f in fs if f.code == "gap"]
    assert any("load 0.5" in g for g in gaps)  # load = 0.5 exactly is not covered
    assert any('load < 0.5; kind "small"' in g for g in gaps)
    assert all(f.severity == "warning" for f in fs if f.code == "gap")
    fs2 = _v(tmp_path, """
name: t
decisions:
  - name: d
    table:
      inputs: [{expression: lit, type: boolean}]
      outputs: [{name: a, type: string, default: '"keep"'}]
      rules: [["true", '"x"']]
""")
    g = [f for f in fs2 if f.code == "gap"]
    assert len(g) == 1 and "lit false" in g[0].message and g[0].severity == "info"  # default output covers it


def test_unreachable_under_first(tmp_path):
    fs = _v(tmp_path, table("FIRST", ["['< 0.5', '-', '\"x\"']", "['>= 0.5', '-', '\"y\"']",
                                      "['[0.2..0.6]', '\"macro\"', '\"z\"']", "['-', '-', '\"w\"']"]))
    un = [f for f in fs if f.code == "unreachable"]
    assert [f.rule for f in un] == [3, 4]


def test_type_mismatch_and_output_values(tmp_path):
    fs = _v(tmp_path, """
name: t
decisions:
  - name: d
    table:
      hit_policy: FIRST
      inputs: [{expression: load, type: number}, {expression: kind, type: string}]
      outputs: [{name: a, type: string, values: '"x","y"'}, {name: n, type: number}]
      rules:
        - ['"high"', '-', '"x"', '1']
        - ['< 1', '5', '"z"', '"one"']
        - ['-', '-', '"y"', '2']
""")
    codes = _codes(fs)
    assert ("type-mismatch", 1, "load") in codes
    assert ("type-mismatch", 2, "kind") in codes
    assert ("type-mismatch", 2, "n") in codes
    assert ("output-value", 2, "a") in codes
    tm = next(f for f in fs if f.code == "type-mismatch" and f.rule == 1)
    assert "tests a string" in tm.message and tm.line == 10


def test_unknown_names(tmp_path):
    fs = _v(tmp_path, """
name: t
input_data: [{name: load, type: number}, {name: threshold_sleep_load, type: number}]
decisions:
  - name: d
    requires: {inputs: [load]}
    table:
      hit_policy: FIRST
      inputs: [{expression: load, type: number}]
      outputs: [{name: a, type: string}]
      rules:
        - ['< threshold_sleep_load', '"sleep"']
        - ['-', 'reason']
""")
    un = [f for f in fs if f.code == "unknown-name"]
    assert [(f.rule, f.column, f.severity) for f in un] == [(1, "load", "error"), (2, "a", "error")]
    assert "threshold_sleep_load" in un[0].message


def test_assume_enables_analysis_of_threshold_columns(tmp_path):
    text = table("UNIQUE", ["['< t', '-', '\"x\"']", "['> t', '-', '\"y\"']"])
    fs = _v(tmp_path, text)
    assert [f.code for f in fs if f.code in ("gap", "not-analysed")] == ["not-analysed"]
    fs2 = _v(tmp_path, text, assume={"t": 0.5})
    assert any(f.code == "gap" and "load 0.5" in f.message for f in fs2)


def test_load_errors_become_findings(tmp_path):
    fs = _v(tmp_path, "<definitions xmlns='https://www.omg.org/spec/DMN/20191111/MODEL/'>\n<decision>",
            name="bad.dmn")
    assert len(fs) == 1 and fs[0].severity == "error" and fs[0].code == "load" and fs[0].line == 2
    assert str(fs[0]).startswith(str(tmp_path / "bad.dmn") + ":2: error")


# ----- the analysis is sound: its examples reproduce, and "no gap" / "unreachable" hold on random inputs ---------

NUMS = ["0", "0.5", "1", "2.5", "-1"]
_num = st.one_of(st.just("-"), st.builds(lambda o, c: f"{o} {c}", st.sampled_from(["<", "<=", ">", ">="]),
                                         st.sampled_from(NUMS)),
                 st.builds(lambda a, b, l, r: f"{l}{min(a, b, key=float)}..{max(a, b, key=float)}{r}",
                           st.sampled_from(NUMS), st.sampled_from(NUMS), st.sampled_from("[(]"),
                           st.sampled_from("])[")),
                 st.builds(lambda a, b: f"{a}, {b}", st.sampled_from(NUMS), st.sampled_from(NUMS)),
                 st.builds(lambda c: f"not({c})", st.sampled_from(NUMS)))
_str = st.sampled_from(["-", '"a"', '"b"', '"a", "b"', 'not("a")', '"c"'])
PROBE_X = [-2, -1, -0.5, 0, 0.25, 0.5, 0.75, 1, 2, 2.5, 3]
PROBE_S = ["a", "b", "c", "zzz"]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(_num, _str), min_size=1, max_size=6), st.sampled_from(["UNIQUE", "FIRST"]),
       st.booleans())
def test_findings_are_sound(rules, policy, enum):
    import yaml

    s_in = {"expression": "s", "type": "string"}
    if enum:
        s_in["values"] = '"a","b","c"'
    spec = {"name": "t", "decisions": [{"name": "d", "table": {
        "hit_policy": policy, "inputs": [{"expression": "x", "type": "number"}, s_in],
        "outputs": [{"name": "o", "type": "number"}],
        "rules": [[x, s, str(i)] for i, (x, s) in enumerate(rules, 1)]}}]}
    m = decisions.loads(yaml.safe_dump(spec), format="yaml")
    fs = m.validate()

    def matched(point):
        return [h.number for h in m.explain(point, "d").traces["d"].matched]

    for f in fs:
        if f.code == "gap":
            assert matched(f.example) == [], (f, spec)
        if f.code == "overlap":
            got = matched(f.example)
            assert f.rule in got and len(got) >= 2, (f, spec)
    gaps = [f for f in fs if f.code == "gap"]
    unreachable = {f.rule for f in fs if f.code == "unreachable"}
    probes_s = PROBE_S[:3] if enum else PROBE_S
    for x in PROBE_X:
        for s in probes_s:
            got = matched({"x": x, "s": s})
            if not gaps:
                assert got, (x, s, spec)
            if policy == "FIRST" and got:
                assert got[0] not in unreachable, (x, s, spec)
