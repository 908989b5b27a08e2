"""FEEL: decimal arithmetic, three-valued logic, unary-test semantics, built-ins, refusals, parser fuzzing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisions.errors import FeelError, FeelSyntaxError, FeelUnsupportedError
from decisions.feel import evaluate_expression as E
from decisions.feel import parse_expression, parse_unary_tests
from decisions.feel import test_unary as T

D = Decimal


def test_decimal_arithmetic():
    assert E("0.1 + 0.2") == D("0.3")
    assert E("0.1 + 0.2 = 0.3") is True
    assert E("1 / 3") == D("0.3333333333333333333333333333333333")  # 34 significant digits
    assert E("10 / 4") == D("2.5")
    assert E("2 ** 10") == D(1024)
    assert E("-2 ** 2") == D(4)  # negation binds tighter than **
    assert E("1 - 0.9") == D("0.1")
    assert E("1 / 0") is None
    assert E("1 + null") is None
    assert E('1 + "a"') is None
    assert E('"ab" + "cd"') == "abcd"
    assert E("x * 3", {"x": 0.1}) == D("0.3")  # float input read as its shortest decimal text


AND_TABLE = [  # FEEL Table 51 (DMN 1.3 §10.3.2.5)
    ("true", "true", True, True), ("true", "false", False, True), ("true", "null", None, True),
    ("false", "true", False, True), ("false", "false", False, False), ("false", "null", False, None),
    ("null", "true", None, True), ("null", "false", False, None), ("null", "null", None, None),
]


@pytest.mark.parametrize("a,b,and_,or_", AND_TABLE)
def test_three_valued_logic(a, b, and_, or_):
    assert E(f"{a} and {b}") is and_
    assert E(f"{a} or {b}") is or_


def test_non_booleans_are_null_in_logic():
    assert E('1 and true') is None
    assert E('"x" or false') is None
    assert E('"x" or true') is True
    assert E("not(true)") is False and E("not(null)") is None and E("not(1)") is None


def test_equality_and_comparison_semantics():
    assert E("null = null") is True
    assert E("1 = null") is False
    assert E('"1" = 1') is None  # different kinds: null (DMN 1.3 §10.3.2.2)
    assert E("1 < null") is None
    assert E('"a" < "b"') is True
    assert E("true < false") is None
    assert E("[1, 2] = [1, 2]") is True
    assert E("1.0 = 1") is True


@pytest.mark.parametrize("text,value,expected", [
    ("[1..5]", 1, True), ("[1..5]", 5, True), ("(1..5)", 1, False), ("(1..5)", 5, False),
    ("]1..5[", 3, True), ("]1..5]", 5, True), ("[1..5[", 5, False), ("[1..5)", 4.999, True),
    ("< 5", 5, False), ("<= 5", 5, True), ("> 5", 5, False), (">= 5", 5, True),
    ("1, 2, 3", 2, True), ("1, 2, 3", 4, False), ("not(1, 2)", 3, True), ("not(1, 2)", 2, False),
    ("-", None, True), ("-", 42, True), ("", 42, True),
    ("null", None, True), ("null", 0, False), ("< 5", None, None), ("not(< 5)", None, None),
    ("not(5)", None, True),  # null = 5 is false, so not(5) matches null
    ('"a", "b"', "b", True), ('not("a")', "b", True), ('"a"', 1, None),
    ("[1, 2, 3]", 2, True), ("[1..3], 7", 7, True),
    ("? > 3 and ? < 10", 5, True), ("? > 3 and ? < 10", 10, None),
    ("string length(?) > 2", "abc", True),
    ("< x", 3, True), ("[x..y]", 4, True), ("[x..y]", 6, False),
    ("> 0.3", 0.1 + 0.2, True),  # 0.30000000000000004
    ("= 0.3", 0.3, True),
    ("!= 0.3", None, True),
    (">= date(\"2026-01-01\")", dt.date(2026, 1, 1), True),
    ("[time(\"01:00:00\")..time(\"05:00:00\")[", dt.time(4, 59), True),
])
def test_unary_tests(text, value, expected):
    assert T(text, value, {"x": 4, "y": 5}) is expected


def test_names_with_spaces_when_declared():
    assert E("Customer Age + 1", {"Customer Age": 41}, names=("Customer Age",)) == D(42)
    assert T("< Max Load", 0.5, {"Max Load": 0.8}, names=("Max Load",)) is True
    assert E('date and time("2026-01-01T00:00:00") = date and time(x)', {"x": "2026-01-01T00:00:00"}) is True


def test_strings_and_escapes():
    assert E(r'"a\"b\\c\n"') == 'a"b\\c\n'
    assert E(r'"\u00e9t\u00e9"') == "été"
    assert E('upper case("ab")') == "AB"
    assert E('substring("foobar", 3)') == "obar"
    assert E('substring("foobar", -2, 1)') == "a"
    assert E('string length("héllo")') == D(5)
    assert E('contains("foobar", "oba")') is True
    assert E('starts with("foobar", "foo") and ends with("foobar", "bar")') is True
    assert E('substring before("foo/bar", "/")') == "foo"
    assert E("string(1.50)") == "1.50"


def test_if_then_else_and_builtins():
    assert E('if x > 1 then "big" else "small"', {"x": 2}) == "big"
    assert E('if null then 1 else 2') == D(2)
    assert E("decimal(1/3, 2)") == D("0.33")
    assert E("decimal(2.5, 0)") == D(2)  # half-even
    assert E("floor(-1.5)") == D(-2) and E("ceiling(-1.5)") == D(-1)
    assert E("abs(-3)") == D(3)
    assert E("modulo(-12, 5)") == D(3) and E("modulo(12, -5)") == D(-3)
    assert E("min([3, 1, 2])") == D(1) and E("max(3, 1, 2)") == D(3)
    assert E("sum([1, 2, 3.5])") == D("6.5") and E("sum([])") is None
    assert E("mean([1, 2, 3, 4])") == D("2.5")
    assert E("count([1, null])") == D(2)
    assert E("sqrt(16)") == D(4)
    assert E("odd(3) and even(4)") is True
    assert E('number("1,000.5", ",", ".")') == D("1000.5")
    assert E("list contains([1, 2], 2)") is True
    assert E("all([true, null])") is None and E("any([false, true])") is True
    assert E("5 between 1 and 5") is True
    assert E("5 in (< 3, > 4)") is True
    assert E("append([1], 2, 3)") == [D(1), D(2), D(3)]
    assert E("concatenate([1], [2, 3])") == [D(1), D(2), D(3)]
    assert E("index of([1, 2, 1], 1)") == [D(1), D(3)]
    assert E("distinct values([1, 2, 1])") == [D(1), D(2)]
    assert E("flatten([1, [2, [3]]])") == [D(1), D(2), D(3)]
    assert E("product(2, 3, 4)") == D(24) and E("median(8, 2, 5, 3, 4)") == D(4)
    assert E("median([6, 1, 2, 3])") == D("2.5")
    assert E("stddev(2, 4, 7, 5)") == D("2.081665999466132735282297706979931")
    assert E("mode(6, 3, 9, 6, 6)") == [D(6)]
    assert E('string join(["a", null, "c"], "-")') == "a-c"
    assert E('day of year(date("2026-02-01"))') == D(32)
    assert E('month of year(date("2026-02-01"))') == "February"
    assert E('week of year(date("2026-01-01"))') == D(1)


def test_dates_times_durations():
    assert E('date("2026-01-31") + duration("P1D")') == dt.date(2026, 2, 1)
    assert E('date("2026-03-01") - date("2026-02-01")') == dt.timedelta(days=28)
    assert E('date and time("2026-01-01T01:30:00") < date and time("2026-01-01T02:00:00")') is True
    assert E('time("23:00:00") + duration("PT2H")') == dt.time(1, 0)
    assert E('duration("P1DT2H") * 2') == dt.timedelta(days=2, hours=4)
    assert E('@"2026-05-04".month') == D(5)
    assert E('date(y, 2, 30)', {"y": 2026}) is None  # runtime: null
    with pytest.raises(FeelSyntaxError):  # constant: refused at load time
        E('date(2026, 2, 30)')
    assert E('day of week(date("2026-11-23"))') == "Monday"
    assert E('x.hour', {"x": dt.datetime(2026, 1, 1, 3, 4)}) == D(3)


@pytest.mark.parametrize("text,cls,col", [
    ("for x in [1] return x", FeelUnsupportedError, 1),
    ("some x in [1] satisfies x > 0", FeelUnsupportedError, 1),
    ("{a: 1}", FeelUnsupportedError, 1),
    ("[1, 2][1]", FeelUnsupportedError, 7),
    ("x instance of number", FeelUnsupportedError, 3),
    ("foo(1)", FeelUnsupportedError, 1),
    ("now()", FeelUnsupportedError, 1),
    ('substring(string: "a", start position: 1)', FeelUnsupportedError, 11),
    ('duration("P1Y")', FeelUnsupportedError, 1),
    ('date("2026-13-01")', FeelSyntaxError, 1),
    ("1 +", FeelSyntaxError, 4),
    ('"abc', FeelSyntaxError, 1),
    ("1 < 2 < 3", FeelSyntaxError, 7),
    ("a $ b", FeelSyntaxError, 3),
])
def test_unsupported_or_malformed_refused_with_position(text, cls, col):
    with pytest.raises(cls) as ei:
        E(text)
    assert ei.value.position == col
    assert f"column {col}" in str(ei.value)


def test_deep_nesting_is_a_clean_error():
    with pytest.raises(FeelSyntaxError, match="nested deeper"):
        parse_expression("(" * 500 + "1" + ")" * 500)
    with pytest.raises(FeelSyntaxError):
        parse_expression("-" * 500 + "1")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('0123456789.,-+*/()[]<>=!"?: abxnotrueflsdif\\')), max_size=40))
def test_fuzz_parser_only_clean_errors(text):
    for parse in (parse_expression, parse_unary_tests):
        try:
            parse(text)
        except FeelError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_fuzz_parser_any_unicode(text):
    try:
        E(text, {"a": 1})
    except FeelError:
        pass
    try:
        T(text, 1)
    except FeelError:
        pass
