"""FEEL operator semantics (DMN 1.3 §10.3.2.2, §10.3.2.15): null propagation, same-kind rules, three-valued logic.

Every function here returns a FEEL value or ``None`` (null); none raises on bad operands.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from decimal import Decimal
from typing import Any

from decisions.feel.values import CTX, Range, kind

_ORDERED = {"number", "string", "date", "time", "date and time", "days and time duration"}


def eq(a: Any, b: Any) -> bool | None:
    """FEEL ``=``: null = null is true, null = x false, values of different kinds null (§10.3.2.2)."""
    if a is None or b is None:
        return a is None and b is None
    ta, tb = type(a), type(b)
    if ta is tb and ta is not list and ta is not dict:
        try:
            return a == b
        except TypeError:  # pragma: no cover - defensive
            return None
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return None
    if ka == "list":
        if len(a) != len(b):
            return False
        res: bool | None = True
        for x, y in zip(a, b, strict=True):
            r = eq(x, y)
            if r is False:
                return False
            if r is None:
                res = None
        return res
    if ka == "context":
        if a.keys() != b.keys():
            return False
        return and_all(eq(a[k], b[k]) for k in a)
    return a == b


def ne(a: Any, b: Any) -> bool | None:
    r = eq(a, b)
    return None if r is None else not r


def lt(a: Any, b: Any) -> bool | None:
    ta = type(a)
    if ta is Decimal and type(b) is Decimal:
        return a < b
    return _order(a, b, "<")


def le(a: Any, b: Any) -> bool | None:
    if type(a) is Decimal and type(b) is Decimal:
        return a <= b
    return _order(a, b, "<=")


def gt(a: Any, b: Any) -> bool | None:
    if type(a) is Decimal and type(b) is Decimal:
        return a > b
    return _order(a, b, ">")


def ge(a: Any, b: Any) -> bool | None:
    if type(a) is Decimal and type(b) is Decimal:
        return a >= b
    return _order(a, b, ">=")


def _order(a: Any, b: Any, op: str) -> bool | None:
    if a is None or b is None:
        return None
    ka = kind(a)
    if ka != kind(b) or ka not in _ORDERED:
        return None
    try:
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        return a >= b
    except TypeError:  # naive vs aware date-times
        return None


COMPARE = {"=": eq, "!=": ne, "<": lt, "<=": le, ">": gt, ">=": ge}


def and3(a: Any, b: Any) -> bool | None:
    """FEEL ``and`` (Table 51): false dominates, non-booleans are null."""
    if a is False or b is False:
        return False
    if a is True and b is True:
        return True
    return None


def or3(a: Any, b: Any) -> bool | None:
    """FEEL ``or`` (Table 51): true dominates, non-booleans are null."""
    if a is True or b is True:
        return True
    if a is False and b is False:
        return False
    return None


def not3(a: Any) -> bool | None:
    if a is True:
        return False
    if a is False:
        return True
    return None


def and_all(it) -> bool | None:
    res: bool | None = True
    for r in it:
        if r is False:
            return False
        if r is not True:
            res = None
    return res


def in_range(x: Any, r: Range) -> bool | None:
    if x is None:
        return None
    lo = True
    if r.start is not None:
        lo = le(r.start, x) if r.start_closed else lt(r.start, x)
    hi = True
    if r.end is not None:
        hi = le(x, r.end) if r.end_closed else lt(x, r.end)
    return and3(lo, hi)


def _td_us(d: _dt.timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    try:
        if ta is Decimal and tb is Decimal:
            return CTX.add(a, b)
        if ta is str and tb is str:
            return a + b
        if tb is _dt.timedelta and ta in (_dt.datetime, _dt.date, _dt.timedelta):
            return a + b
        if ta is _dt.timedelta and tb in (_dt.datetime, _dt.date):
            return b + a
        if ta is _dt.time and tb is _dt.timedelta:
            return _time_shift(a, b)
        if tb is _dt.time and ta is _dt.timedelta:
            return _time_shift(b, a)
    except (ArithmeticError, OverflowError, ValueError):
        return None
    return None


def _time_shift(t: _dt.time, d: _dt.timedelta) -> _dt.time:
    base = _dt.datetime(2000, 1, 1, t.hour, t.minute, t.second, t.microsecond)
    r = base + d
    return r.time().replace(tzinfo=t.tzinfo)


def sub(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    try:
        if ta is Decimal and tb is Decimal:
            return CTX.subtract(a, b)
        if tb is _dt.timedelta and ta in (_dt.datetime, _dt.date, _dt.timedelta):
            return a - b
        if ta is tb and ta in (_dt.datetime, _dt.date):
            return a - b
        if ta is _dt.time and tb is _dt.time:
            if (a.tzinfo is None) != (b.tzinfo is None):
                return None
            d = _dt.date(2000, 1, 1)
            return _dt.datetime.combine(d, a) - _dt.datetime.combine(d, b)
        if ta is _dt.time and tb is _dt.timedelta:
            return _time_shift(a, -b)
    except (ArithmeticError, OverflowError, ValueError, TypeError):
        return None
    return None


def mul(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    try:
        if ta is Decimal and tb is Decimal:
            return CTX.multiply(a, b)
        if ta is _dt.timedelta and tb is Decimal:
            return _dt.timedelta(microseconds=int(CTX.multiply(Decimal(_td_us(a)), b)))
        if tb is _dt.timedelta and ta is Decimal:
            return _dt.timedelta(microseconds=int(CTX.multiply(Decimal(_td_us(b)), a)))
    except (ArithmeticError, OverflowError, ValueError):
        return None
    return None


def div(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    try:
        if ta is Decimal and tb is Decimal:
            return CTX.divide(a, b)
        if ta is _dt.timedelta and tb is Decimal:
            return _dt.timedelta(microseconds=int(CTX.divide(Decimal(_td_us(a)), b)))
        if ta is _dt.timedelta and tb is _dt.timedelta:
            return CTX.divide(Decimal(_td_us(a)), Decimal(_td_us(b)))
    except (ArithmeticError, OverflowError, ValueError, decimal.InvalidOperation):
        return None
    return None


def power(a: Any, b: Any) -> Any:
    if type(a) is Decimal and type(b) is Decimal:
        try:
            if abs(b) > 999_999_999:
                return None
            return CTX.power(a, b)
        except (ArithmeticError, ValueError):
            return None
    return None


def neg(a: Any) -> Any:
    if type(a) is Decimal:
        return CTX.minus(a)
    if type(a) is _dt.timedelta:
        return -a
    return None


ARITH = {"+": add, "-": sub, "*": mul, "/": div, "**": power}
