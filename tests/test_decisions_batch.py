"""Batch (vectorised) evaluation must give exactly what row-by-row evaluation gives.

Honesty note: row mode reads a float input x as the FEEL number Decimal(repr(x)); batch mode compares float64
columns against exact float thresholds derived from the same rule, so the inputs below deliberately include
values such as 0.1 + 0.2 (= 0.30000000000000004 in binary) next to the decimal constant 0.3. Numeric outputs in
batch are float64; ``BatchResult.result(i)`` turns them back into decimals, exact for the short decimals used here.
"""

from __future__ import annotations

import math
import sys
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


POLICIES = ["UNIQUE", "ANY", "FIRST", "PRIORITY", "RULE ORDER", "OUTPUT ORDER", "COLLECT", "C+", "C<", "C>", "C#"]


@st.composite
def tables(draw, policies=tuple(POLICIES), max_rules=7):
    n_rules = draw(st.integers(1, max_rules))
    policy = draw(st.sampled_from(policies))
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


# ----- fast paths: compiled state reused across calls, identity factorisation, FIRST / UNIQUE selection kernel -----
def _load(spec: dict) -> decisions.DecisionModel:
    import yaml

    return decisions.loads(yaml.safe_dump(spec), format="yaml")


def _same_result(a, b) -> None:
    """Every array of two BatchResults is identical (NaN equal to NaN in numeric outputs)."""
    assert a.keys == b.keys and a.multi == b.multi and a.single == b.single
    for k in a.keys:
        x, y = a.outputs[k], b.outputs[k]
        assert x.dtype == y.dtype
        if x.dtype == object:
            assert x.tolist() == y.tolist()
        else:
            assert np.array_equal(x, y, equal_nan=True)
        assert a.null[k].tolist() == b.null[k].tolist()
    assert a.rule.dtype == b.rule.dtype and a.rule.tolist() == b.rule.tolist()
    assert a.error.tolist() == b.error.tolist()
    assert (a.absent is None) == (b.absent is None)
    if a.absent is not None:
        assert a.absent.tolist() == b.absent.tolist()
    assert np.array_equal(a.matched, b.matched)
    assert a.rule_ids.tolist() == b.rule_ids.tolist()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(policies=("FIRST", "UNIQUE")), columns())
def test_first_unique_kernel_equals_general_path_and_row_mode(spec, cols):
    import dataclasses

    from decisions import batch as B

    m = _load(spec)
    fast = m.evaluate_batch(cols, "d")
    orig = B._single_tables
    B._single_tables = lambda ct, name: dataclasses.replace(orig(ct, name), fast=False)
    try:
        general = m.evaluate_batch(cols, "d")
    finally:
        B._single_tables = orig
    _same_result(fast, general)
    for i in range(len(cols["x"])):
        assert fast.result(i) == m.evaluate(_row(cols, i), "d")["d"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(max_rules=80), columns())
def test_batch_equals_row_mode_with_several_bitset_words(spec, cols):
    """Up to 80 rules: rule bitsets span two 64-bit words (first match / counts across the word boundary)."""
    m = _load(spec)
    b = m.evaluate_batch(cols, "d")
    for i in range(len(cols["x"])):
        assert b.result(i) == m.evaluate(_row(cols, i), "d")["d"]


def test_fast_path_was_taken_for_first_and_unique_with_constant_outputs():
    """The equality test above compares two different code paths only if the fast one is used."""
    from decisions import batch as B

    for policy, fast in [("FIRST", True), ("UNIQUE", True), ("ANY", False), ("RULE ORDER", False)]:
        m = _load({"name": "t", "decisions": [{"name": "d", "table": {
            "hit_policy": policy, "inputs": [{"expression": "x", "type": "number"}],
            "outputs": [{"name": "o", "type": "string"}], "rules": [["< 1", '"a"'], ["-", '"b"']]}}]})
        ct = m._cm.compiled["d"]
        assert B._single_tables(ct, "d").fast is fast
    m = _load({"name": "t", "decisions": [{"name": "d", "table": {
        "hit_policy": "FIRST", "inputs": [{"expression": "x", "type": "number"}],
        "outputs": [{"name": "o", "type": "number"}], "rules": [["< 1", "x + 1"], ["-", "2"]]}}]})
    assert B._single_tables(m._cm.compiled["d"], "d").fast is False  # computed output: general path


BENCH_LIKE = {"name": "t", "decisions": [{"name": "d", "table": {
    "hit_policy": "UNIQUE",
    "inputs": [{"expression": "load", "type": "number", "values": "[0..100]"},
               {"expression": "kind", "type": "string"}],
    "outputs": [{"name": "action", "type": "string", "default": '"none"'},
                {"name": "level", "type": "number", "default": "0"}],
    "rules": [["< 20", '"macro", "small"', '"sleep"', "1"],
              ["[20..50)", 'not("femto")', '"keep"', "2.5"],
              ["[40..60]", "-", '"tilt"', "null"],
              ["null", "-", '"no data"', "-1"],
              ["> 90", "null", '"unknown kind"', "3"]]}}]}


def _check_rows(m, cols: dict, b) -> None:
    n = b.n
    for i in range(n):
        row = {k: (v[i].item() if isinstance(v[i], np.generic) else v[i]) for k, v in cols.items()}
        ex = m.explain(row, "d")
        assert b.result(i) == ex.results["d"], (i, row)
        sel = ex.traces["d"].selected
        assert b.rule_ids[i] == (sel[0].id if sel and ex.results["d"] is not None else None), (i, row)


def test_unique_kernel_conflicts_defaults_invalid_inputs_and_nulls():
    m = _load(BENCH_LIKE)
    load = np.array([10.0, 45.0, 45.0, 55.0, 70.0, np.nan, 95.0, 95.0, 120.0, -1.0, np.inf, 20.0, 50.0])
    kind = np.array(["macro", "pico", "femto", "femto", "macro", "small", None, "pico", "macro", "hub", "macro",
                     None, "femto"], dtype=object)
    cols = {"load": load, "kind": kind}
    b = m.evaluate_batch(cols, "d")
    _check_rows(m, cols, b)
    # 45 / pico: rules 2 and 3 match -> UNIQUE conflict; 120 and -1 are outside [0..100] -> invalid input
    assert b.rule.tolist()[:3] == [1, -1, 3]
    assert b.rule[8] == -1 and b.rule[9] == -1
    assert b.error.tolist() == [r == -1 for r in b.rule.tolist()]
    assert b.result(4) == {"action": "none", "level": Decimal(0)}  # no match: the outputs' defaults
    assert b.result(1) is None and b.absent[1]
    assert not b.matched[8].any()  # an invalid row matches nothing


def test_repeated_calls_with_new_values_kinds_and_forms_stay_exact():
    """Compiled per-table state (plans, interval tables, string tables) is reused across calls; a call with
    unseen strings, only nulls, another column kind or another container must still give row-mode results."""
    m = _load(BENCH_LIKE)
    rng = np.random.default_rng(5)
    n = 300
    load = np.round(rng.uniform(-5, 105, n), 1)
    load[rng.random(n) < 0.1] = np.nan
    kinds = np.array(["macro", "small", "pico", "femto", None], dtype=object)
    variants = [
        {"load": load, "kind": kinds[rng.integers(0, 5, n)]},
        {"load": load, "kind": np.array(["hub", "macro", "relay"], dtype=object)[rng.integers(0, 3, n)]},  # unseen
        {"load": load, "kind": np.full(n, None, dtype=object)},  # only nulls
        {"load": load[::-1].copy(), "kind": np.array(["macro", "femto"])[rng.integers(0, 2, n)]},  # U dtype
        {"load": rng.integers(-5, 105, n), "kind": "macro"},  # integer column, scalar broadcast
        {"load": np.ma.MaskedArray(load, mask=rng.random(n) < 0.2), "kind": kinds[rng.integers(0, 5, n)]},
        {"load": load[::2], "kind": kinds[rng.integers(0, 5, n)][::2]},  # strided views
        {"load": load.astype(np.float32), "kind": np.array([1.5, "macro", None] * 100, dtype=object)},
    ]
    for cols in variants:
        b = m.evaluate_batch(cols, "d")
        full = {k: (v if isinstance(v, np.ndarray) else np.full(b.n, v, dtype=object)) for k, v in cols.items()}
        if isinstance(cols["load"], np.ma.MaskedArray):
            full["load"] = np.where(cols["load"].mask, np.nan, cols["load"].data)
        _check_rows(m, full, b)
    tbl = pa.table({"load": pa.array([10.0, None, 45.0, 99.5], type=pa.float64()),
                    "kind": pa.array(["small", "macro", None, "pico"]).dictionary_encode()})
    b = m.evaluate_batch(tbl, "d")
    _check_rows(m, {"load": np.array([10.0, np.nan, 45.0, 99.5]),
                    "kind": np.array(["small", "macro", None, "pico"], dtype=object)}, b)


@pytest.mark.parametrize("policy", ["FIRST", "UNIQUE", "COLLECT", "C+", "PRIORITY"])
def test_empty_input_gives_empty_results(policy):
    agg = {"C+": "SUM"}.get(policy)
    table = {"hit_policy": "COLLECT" if agg else policy,
             "inputs": [{"expression": "x", "type": "number"}, {"expression": "s", "type": "string"}],
             "outputs": [{"name": "o", "type": "number", "values": "1, 2"}],
             "rules": [["< 1", '"a"', "1"], ["-", "-", "2"]]}
    if agg:
        table["aggregation"] = agg
    m = _load({"name": "t", "decisions": [{"name": "d", "table": table}]})
    for cols in ({"x": np.zeros(0), "s": np.zeros(0, dtype=object)},
                 pa.table({"x": pa.array([], type=pa.float64()), "s": pa.array([], type=pa.string())})):
        b = m.evaluate_batch(cols, "d")
        assert b.n == 0 and len(b.rule) == 0 and b.matched.shape == (0, 2)


def _reference_codes(raw: np.ndarray) -> tuple[list[int], list]:
    """Codes by value in order of first occurrence, null last."""
    index: dict = {}
    for v in raw.tolist():
        if v is not None:
            index.setdefault(v, len(index))
    uniques = list(index) + ([None] if any(v is None for v in raw.tolist()) else [])
    return [uniques.index(v) for v in raw.tolist()], uniques


def _distinct(words: list[str], n: int, rng) -> np.ndarray:
    """Equal strings as distinct objects (no shared identity), as read from a file."""
    out = np.empty(n, dtype=object)
    for i, w in enumerate(rng.integers(0, len(words), n)):
        out[i] = "".join([words[w][:1], words[w][1:]])
    return out


@pytest.mark.parametrize("case", ["shared", "distinct_equal", "nulls", "strided", "many_objects", "non_str",
                                  "str_subclass", "only_null", "single"])
def test_string_factorisation_by_identity_is_exact(case):
    from decisions.batch import Col, _factorize_identical, _factorize_strings

    rng = np.random.default_rng(3)
    words = ["macro", "small", "pico", "femto"]
    pool = np.array([*words, None], dtype=object)
    raw = {
        "shared": pool[rng.integers(0, 4, 500)],
        "distinct_equal": _distinct(words, 500, rng),  # 500 objects, 4 values: grouped, then merged
        "nulls": pool[rng.integers(0, 5, 500)],
        "strided": pool[rng.integers(0, 5, 1001)][::3],
        "many_objects": _distinct(words, 3000, rng),  # > 1024 distinct objects: Arrow dictionary encoding
        "non_str": np.array(["macro", 1.5, None, "macro"], dtype=object),
        "str_subclass": np.array([np.str_("macro"), "macro", None], dtype=object),
        "only_null": np.full(7, None, dtype=object),
        "single": np.array(["pico"], dtype=object),
    }[case]
    codes, uniques = Col("obj", raw=raw).factorize()
    ref_codes, ref_uniques = _reference_codes(raw)
    assert codes.tolist() == ref_codes and uniques == ref_uniques
    ident = _factorize_identical(raw)
    if case in ("many_objects", "non_str", "str_subclass"):
        assert ident is None  # left to the Arrow / general path
    else:
        assert ident is not None
        arrow = _factorize_strings(raw)
        if arrow is not None:  # both fast paths agree exactly where both apply
            assert ident[0].tolist() == arrow[0].tolist() and ident[1] == arrow[1]


def test_factorize_ids_kernel_and_its_limit():
    from decisions._kernels import factorize_ids

    rng = np.random.default_rng(4)
    ids = rng.choice(np.array([8, 16, 1 << 40, 24, -16], dtype=np.int64), 1000)
    codes, firsts, ok = factorize_ids(ids, 10)
    assert ok
    assert ids[firsts].tolist() == list(dict.fromkeys(ids.tolist()))
    assert np.array_equal(ids[firsts][codes], ids)
    assert not factorize_ids(np.arange(100, dtype=np.int64) * 16, 50)[2]
    assert factorize_ids(np.arange(100, dtype=np.int64) * 16, 100)[2]


@pytest.mark.parametrize("nr", [1, 63, 64, 65, 130])
def test_bitset_kernels_against_unpacked_matrix(nr):
    from decisions._kernels import first_count_fast, select_single, unpack_bits

    rng = np.random.default_rng(nr)
    words = (nr + 63) // 64
    n = 400
    m = rng.random((n, nr)) < rng.choice([0.0, 0.01, 0.1, 0.5], size=(n, 1))
    bits = np.zeros((n, words), dtype=np.uint64)
    for i, j in zip(*np.nonzero(m), strict=True):
        bits[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    mm, _, _ = unpack_bits(bits, nr)
    assert np.array_equal(mm, m)
    first, count = first_count_fast(bits)
    ref_first = np.where(m.any(axis=1), m.argmax(axis=1), -1)
    assert first.tolist() == ref_first.tolist()
    assert count.tolist() == m.sum(axis=1).tolist()
    invalid = rng.random(n) < 0.1
    for unique in (False, True):
        idx, rule = select_single(bits, nr, unique, invalid, True)
        bad = invalid | (unique & (m.sum(axis=1) > 1))
        assert idx.tolist() == np.where(bad, nr + 1, np.where(ref_first < 0, nr, ref_first)).tolist()
        assert rule.tolist() == np.where(bad, -1, ref_first + 1).tolist()


def test_cell_search_at_and_next_to_every_threshold():
    """Values at, one ulp below and one ulp above each float threshold, +-inf, -0.0 and huge values."""
    from decisions.batch import le_max, lt_max

    consts = ["-1", "0", "0.1", "0.3", "2.5", "10", "123456789012345678901234567890.5"]
    rules = [[f"< {c}", f'"lt {c}"'] for c in consts] + [[f"= {c}", f'"eq {c}"'] for c in consts]
    rules += [["[0.1..0.3)", '"r1"'], ["(0.3..10]", '"r2"'], ["-", '"other"']]
    m = _load({"name": "t", "decisions": [{"name": "d", "table": {
        "hit_policy": "COLLECT", "inputs": [{"expression": "x", "type": "number"}],
        "outputs": [{"name": "o", "type": "string"}], "rules": rules}}]})
    mf = _load({"name": "t", "decisions": [{"name": "d", "table": {
        "hit_policy": "FIRST", "inputs": [{"expression": "x", "type": "number"}],
        "outputs": [{"name": "o", "type": "string"}], "rules": rules}}]})
    xs = [-0.0, math.inf, -math.inf, np.nan, 1e308, -1e308, 5e-324]
    for c in consts:
        for t in (lt_max(Decimal(c)), le_max(Decimal(c))):
            xs += [t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)]
    x = np.array(xs)
    for model in (m, mf):
        b = model.evaluate_batch({"x": x}, "d")
        for i, v in enumerate(xs):
            assert b.result(i) == model.evaluate({"x": v}, "d")["d"], v


@pytest.mark.parametrize("consts", [["0.3"], ["0.3", "0.30000000000000004"], ["123456789012.5", "123456789012.50001"],
                                    ["-7"], ["0", "0." + "0" * 319 + "5"],  # 5e-320: subnormal
                                    ["-1" + "0" * 308, "1" + "0" * 308]])  # +-1e308: the span overflows
def test_cell_search_with_thresholds_a_few_ulps_apart(consts):
    """Grids over spans of a few ulps (``= c`` gives two adjacent thresholds), subnormal and overflowing spans:
    the cell search stays exact."""
    from decisions.batch import le_max, lt_max

    rules = [[f"= {c}", f'"eq {c}"'] for c in consts] + [[f"<= {c}", f'"le {c}"'] for c in consts]
    m = _load({"name": "t", "decisions": [{"name": "d", "table": {
        "hit_policy": "FIRST", "inputs": [{"expression": "x", "type": "number"}],
        "outputs": [{"name": "o", "type": "string", "default": '"none"'}], "rules": rules}}]})
    xs = []
    for c in consts:
        for t in (lt_max(Decimal(c)), le_max(Decimal(c))):
            u = t
            for _ in range(4):
                u = math.nextafter(u, -math.inf)
            for _ in range(9):
                xs.append(u)
                u = math.nextafter(u, math.inf)
    xs += [0.0, -0.0, 1.0, -1.0, sys.float_info.max, -sys.float_info.max]
    b = m.evaluate_batch({"x": np.array(xs)}, "d")
    assert [b.result(i) for i in range(len(xs))] == [m.evaluate({"x": v}, "d")["d"] for v in xs]


@pytest.mark.parametrize("agg", ["COUNT", "SUM", "MIN", "MAX"])
def test_aggregations_over_string_and_mixed_outputs(agg):
    """COUNT of string outputs is a number; SUM / MIN / MAX of strings are null (row mode's FEEL semantics)."""
    m = _load({"name": "t", "decisions": [{"name": "d", "table": {
        "hit_policy": "COLLECT", "aggregation": agg, "inputs": [{"expression": "x", "type": "number"}],
        "outputs": [{"name": "o", "type": "string"}],
        "rules": [["< 1", '"sleep"'], ["< 2", '"keep"'], ["-", '"tilt"']]}}]})
    xs = [0.5, 1.5, 3.0, math.nan]
    b = m.evaluate_batch({"x": np.array(xs)}, "d")
    assert [b.result(i) for i in range(4)] == [m.evaluate({"x": v}, "d")["d"] for v in xs]
