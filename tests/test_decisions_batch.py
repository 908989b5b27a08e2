"""Batch (vectorised) evaluation must give exactly what row-by-row evaluation gives.

Honesty note: row mode reads a float input x as the FEEL number Decimal(repr(x)); batch mode compares float64
columns against exact float thresholds derived from the same rule, so the inputs below deliberately include
values such as 0.1 + 0.2 (= 0.30000000000000004 in binary) next to the decimal constant 0.3. Numeric outputs in
batch are float64; ``BatchResult.result(i)`` turns them back into decimals, exact for the short decimals used here.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import decisions
from decisions.batch import le_max, lt_max

CONSTS = ["-1", "0", "0.1", "0.2", "0.3", "0.5", "1", "2.5", "10"]
VALUES = [-1.0, 0.0, 0.1, 0.2, 0.3, 0.1 + 0.2, 0.29999999999999993, 0.5, 1.0, 2.5, 10.0, 11.0, -5.0, np.nan]
WORDS = ["a", "b", "c"]

num_entry = st.one_of(
    st.just("-"),
    st.builds(lambda op, c: f"{op} {c}", st.sampled_from(["<", "<=", ">", ">=", "=", "!="]),
              st.sampled_from(CONSTS)),
    st.builds(lambda lb, a, b, rb: f"{lb}{a}..{b}{rb}", st.sampled_from(["[", "(", "]"]),
              st.sampled_from(CONSTS[:5]), st.sampled_from(CONSTS[4:]), st.sampled_from(["]", ")", "["])),
    st.builds(lambda a, b: f"{a}, {b}", st.sampled_from(CONSTS), st.sampled_from(CONSTS)),
    st.builds(lambda c: f"not({c})", st.sampled_from(CONSTS)),
    st.builds(lambda c: f"not(< {c}, null)", st.sampled_from(CONSTS)),
    st.just("null"),
    st.sampled_from(CONSTS),
    st.just("< y"),
    st.just(">= y, null"),
    st.builds(lambda c: f"[{c}, y]", st.sampled_from(CONSTS)),
    st.builds(lambda c: f"? > {c}", st.sampled_from(CONSTS)),
    st.builds(lambda c: f"\"{c}\"", st.sampled_from(WORDS)),
)
str_entry = st.one_of(
    st.just("-"),
    st.builds(lambda w: f'"{w}"', st.sampled_from(WORDS)),
    st.builds(lambda w, v: f'"{w}", "{v}"', st.sampled_from(WORDS), st.sampled_from(WORDS)),
    st.builds(lambda w: f'not("{w}")', st.sampled_from(WORDS)),
    st.just("null"),
    st.just("< 1"),
)
bool_entry = st.sampled_from(["-", "true", "false", "null", "not(true)", "true, null"])
OUT_NUM = ["1", "2", "0.1", "0.2", "-3.5", "null"]
OUT_STR = ['"sleep"', '"keep"', '"tilt"']


@st.composite
def tables(draw):
    n_rules = draw(st.integers(1, 7))
    policy = draw(st.sampled_from(["UNIQUE", "ANY", "FIRST", "PRIORITY", "RULE ORDER", "OUTPUT ORDER", "COLLECT",
                                   "C+", "C<", "C>", "C#"]))
    agg = None
    if policy.startswith("C") and len(policy) == 2:
        agg = {"C+": "SUM", "C<": "MIN", "C>": "MAX", "C#": "COUNT"}[policy]
        policy = "COLLECT"
    two_outputs = agg is None and draw(st.booleans())
    rules = []
    for _ in range(n_rules):
        rules.append({"when": [draw(num_entry), draw(str_entry), draw(bool_entry)],
                      "then": [draw(st.sampled_from(OUT_NUM))] + ([draw(st.sampled_from(OUT_STR))]
                                                                    if two_outputs else [])})
    outputs = [{"name": "score", "type": "number"}]
    if policy in ("PRIORITY", "OUTPUT ORDER"):
        outputs[0]["values"] = ", ".join(x for x in OUT_NUM if x != "null")
    if draw(st.booleans()):
        outputs[0]["default"] = draw(st.sampled_from(["7", "null"]))
    if two_outputs:
        outputs.append({"name": "action", "type": "string", "values": ", ".join(OUT_STR)})
    table = {"hit_policy": policy, "inputs": [{"expression": "x", "type": "number"}, {"expression": "s"},
                                              {"expression": "f", "type": "boolean"}],
             "outputs": outputs, "rules": rules}
    if agg:
        table["aggregation"] = agg
    return {"name": "random", "decisions": [{"name": "d", "table": table}]}


@st.composite
def columns(draw):
    n = draw(st.integers(1, 25))
    x = np.array(draw(st.lists(st.sampled_from(VALUES), min_size=n, max_size=n)), dtype=float)
    y = np.array(draw(st.lists(st.sampled_from(VALUES), min_size=n, max_size=n)), dtype=float)
    s = np.array(draw(st.lists(st.sampled_from([*WORDS, None, 1.5]), min_size=n, max_size=n)), dtype=object)
    if draw(st.booleans()):
        f = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    else:
        f = np.array(draw(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n)), dtype=object)
    if draw(st.booleans()):  # integer column (exact in float64 below 2**53)
        x = np.array(draw(st.lists(st.sampled_from([-1, 0, 1, 2, 10, 11]), min_size=n, max_size=n)), dtype=np.int64)
    y_const = draw(st.sampled_from([None, 0.3, "a"]))
    return {"x": x, "y": y if y_const is None else y_const, "s": s, "f": f}


def _row(cols: dict, i: int) -> dict:
    out = {}
    for k, v in cols.items():
        if not isinstance(v, np.ndarray):
            out[k] = v
            continue
        x = v[i]
        out[k] = x.item() if isinstance(x, np.generic) else x
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), columns())
def test_batch_equals_row_mode(spec, cols):
    import yaml

    m = decisions.loads(yaml.safe_dump(spec), format="yaml")
    b = m.evaluate_batch(cols, "d")
    for i in range(len(cols["x"])):
        expected = m.evaluate(_row(cols, i), "d")["d"]
        assert b.result(i) == expected, (i, _row(cols, i), yaml.safe_dump(spec))


@pytest.mark.parametrize("c", ["0.3", "0.1", "1E+400", "1E-400", "0", "-0.3", "123456789.123456789123"])
def test_float_thresholds_are_exact(c):
    d = Decimal(c)
    a, b = lt_max(d), le_max(d)
    assert Decimal(repr(a)) < d
    assert Decimal(repr(b)) <= d
    nxt_a, nxt_b = math.nextafter(a, math.inf), math.nextafter(b, math.inf)
    assert math.isinf(nxt_a) or Decimal(repr(nxt_a)) >= d
    assert math.isinf(nxt_b) or Decimal(repr(nxt_b)) > d


def test_arrow_table_and_masked_arrays_give_row_results():
    m = decisions.loads("""
name: t
decisions:
  - name: d
    table:
      hit_policy: FIRST
      inputs: [{expression: load, type: number}, {expression: kind, type: string}]
      outputs: [{name: action, type: string, default: '"none"'}]
      rules:
        - ["< 0.2", '"macro"', '"sleep"']
        - ["null", "-", '"no data"']
        - ["-", "-", '"keep"']
""", format="yaml")
    tbl = pa.table({"load": pa.array([0.1, None, 0.5, 0.19], type=pa.float64()),
                    "kind": pa.array(["macro", "macro", None, "small"])})
    r = m.evaluate_batch(tbl)
    assert [r.result(i) for i in range(4)] == ["sleep", "no data", "keep", "keep"]
    assert r.rule.tolist() == [1, 2, 3, 3]
    assert r.rule_ids.tolist() == ["d_table_rule_1", "d_table_rule_2", "d_table_rule_3", "d_table_rule_3"]
    ma = np.ma.MaskedArray([0.1, 0.0, 0.5], mask=[False, True, False])
    r2 = m.evaluate_batch({"load": ma, "kind": np.array(["macro", "macro", "macro"])})
    assert [r2.result(i) for i in range(3)] == ["sleep", "no data", "keep"]
    assert r2.matched.shape == (3, 3)


def test_batch_reports_unique_conflict_and_required_decisions():
    m = decisions.loads("""
name: t
input_data: [{name: a, type: number}]
decisions:
  - name: base
    requires: {inputs: [a]}
    table:
      inputs: [{expression: a, type: number}]
      outputs: [{name: v, type: number}]
      rules:
        - ["<= 5", "1"]
        - [">= 5", "2"]
  - name: top
    requires: {decisions: [base]}
    table:
      hit_policy: FIRST
      inputs: [{expression: base, type: number}]
      outputs: [{name: w, type: string}]
      rules:
        - ["1", '"one"']
        - ["2", '"two"']
        - ["null", '"conflict"']
""", format="yaml")
    r = m.evaluate_batch({"a": np.array([1.0, 5.0, 9.0])}, "top")
    assert [r.result(i) for i in range(3)] == ["one", "conflict", "two"]
    rb = m.evaluate_batch({"a": np.array([1.0, 5.0, 9.0])}, "base")
    assert rb.rule.tolist() == [1, -1, 2]
    assert rb.error.tolist() == [False, True, False]
    assert rb.null["v"].tolist() == [False, True, False]


def test_cached_plans_follow_changing_thresholds_and_column_kinds():
    m = decisions.load(decisions.tables_dir() / "energy_saving.dmn")
    rng = np.random.default_rng(9)
    n = 200
    base = {"is_coverage_cell": rng.random(n) < 0.1, "cell_asleep": rng.random(n) < 0.3,
            "cell_load": rng.random(n).round(2), "hour": rng.integers(0, 24, n),
            "neighbour_headroom": rng.random(n).round(2), "threshold_sleep_start_hour": 1,
            "threshold_sleep_end_hour": 5, "threshold_neighbour_headroom": 0.3, "threshold_wake_headroom": 0.1}
    variants = [
        {"threshold_sleep_load": 0.15},
        {"threshold_sleep_load": 0.5},
        {"threshold_sleep_load": rng.random(n).round(2)},  # a per-row threshold column
        {"threshold_sleep_load": 0.15, "hour": 3.0},
        {"threshold_sleep_load": 0.15, "cell_load": np.where(rng.random(n) < 0.2, np.nan, base["cell_load"])},
        {"threshold_sleep_load": 0.3, "is_coverage_cell": np.array([None, True, False] * 66 + [None, None],
                                                                    dtype=object)},
    ]
    for v in variants:
        cols = {**base, **v}
        b = m.evaluate_batch(cols)
        for i in range(n):
            row = {k: (c[i].item() if isinstance(c[i], np.generic) else c[i]) if isinstance(c, np.ndarray) else c
                   for k, c in cols.items()}
            assert b.result(i) == m.decide(row), (v, i)
