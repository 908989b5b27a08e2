"""Built-in FEEL functions (DMN 1.3 §10.3.4), the subset a decision table needs.

Each entry maps a name to ``(function, min_args, max_args)``; functions take FEEL values and return a FEEL value or
null on bad arguments (never raise). ``now()`` / ``today()`` are deliberately absent: evaluation is deterministic.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from decisions.feel import ops
from decisions.feel.values import CTX, kind

_DATE_RE = re.compile(r"^-?\d{4,9}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$")
_DUR_RE = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_YM_RE = re.compile(r"^-?P(\d+Y)?(\d+M)?$")


def _num(x: Any) -> bool:
    return type(x) is Decimal


def _int_of(x: Any) -> int | None:
    if type(x) is Decimal and x == x.to_integral_value():
        return int(x)
    return None


def parse_date(s: str) -> _dt.date | None:
    if not _DATE_RE.match(s):
        return None
    try:
        return _dt.date.fromisoformat(s)
    except ValueError:
        return None


def _fix_frac(s: str) -> str:
    m = re.search(r"\.(\d+)", s)
    if m and len(m.group(1)) > 6:
        s = s[:m.start(1)] + m.group(1)[:6] + s[m.end(1):]
    return s.replace("Z", "+00:00")


def parse_time(s: str) -> _dt.time | None:
    if not _TIME_RE.match(s):
        return None
    try:
        return _dt.time.fromisoformat(_fix_frac(s))
    except ValueError:
        return None


def parse_datetime(s: str) -> _dt.datetime | None:
    if "T" not in s:
        d = parse_date(s)
        return None if d is None else _dt.datetime(d.year, d.month, d.day)
    ds, ts = s.split("T", 1)
    d, t = parse_date(ds), parse_time(ts)
    if d is None or t is None:
        return None
    return _dt.datetime.combine(d, t)


def parse_duration(s: str) -> _dt.timedelta | None:
    m = _DUR_RE.match(s)
    if not m or s.endswith("P") or s.endswith("T"):
        return None
    sign, d, h, mi, sec = m.groups()
    if not any((d, h, mi, sec)):
        return None
    try:
        td = _dt.timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0),
                           microseconds=int(Decimal(sec or 0) * 1_000_000))
    except (OverflowError, ValueError):
        return None
    return -td if sign else td


def is_year_month_duration(s: str) -> bool:
    return bool(_YM_RE.match(s)) and s not in ("P", "-P")


def _at(s: Any) -> Any:
    """``@"..."`` literal: date, time, date and time or duration by form."""
    if type(s) is not str:
        return None
    if s.startswith(("P", "-P")):
        return parse_duration(s)
    if "T" in s:
        return parse_datetime(s)
    if ":" in s:
        return parse_time(s)
    return parse_date(s)


def f_date(*a: Any) -> Any:
    if len(a) == 1:
        x = a[0]
        if type(x) is str:
            return parse_date(x)
        if type(x) is _dt.datetime:
            return x.date()
        if type(x) is _dt.date:
            return x
        return None
    y, m, d = (_int_of(v) for v in a)
    if None in (y, m, d):
        return None
    try:
        return _dt.date(y, m, d)
    except (ValueError, OverflowError):
        return None


def f_time(*a: Any) -> Any:
    if len(a) == 1:
        x = a[0]
        if type(x) is str:
            return parse_time(x)
        if type(x) is _dt.datetime:
            return x.timetz()
        if type(x) is _dt.time:
            return x
        return None
    if len(a) == 4:
        return None  # offset argument not supported: null rather than a wrong value
    h, m = _int_of(a[0]), _int_of(a[1])
    s = a[2]
    if h is None or m is None or not _num(s):
        return None
    try:
        return _dt.time(h, m, int(s), int((s - int(s)) * 1_000_000))
    except (ValueError, OverflowError):
        return None


def f_datetime(*a: Any) -> Any:
    if len(a) == 1:
        return parse_datetime(a[0]) if type(a[0]) is str else None
    d, t = a
    if type(d) in (_dt.date, _dt.datetime) and type(t) is _dt.time:
        return _dt.datetime.combine(d if type(d) is _dt.date else d.date(), t)
    return None


def f_duration(s: Any) -> Any:
    return parse_duration(s) if type(s) is str else None


def f_decimal(n: Any, scale: Any) -> Any:
    sc = _int_of(scale)
    if not _num(n) or sc is None or abs(sc) > 6176:
        return None
    try:
        return n.quantize(Decimal(1).scaleb(-sc), rounding=decimal.ROUND_HALF_EVEN, context=CTX)
    except decimal.InvalidOperation:
        return None


def _round(mode: str):
    def f(n: Any, scale: Any = Decimal(0)) -> Any:
        sc = _int_of(scale)
        if not _num(n) or sc is None or abs(sc) > 6176:
            return None
        try:
            return n.quantize(Decimal(1).scaleb(-sc), rounding=mode, context=CTX)
        except decimal.InvalidOperation:
            return None
    return f


def f_floor(n: Any, scale: Any = Decimal(0)) -> Any:
    return _round(decimal.ROUND_FLOOR)(n, scale)


def f_ceiling(n: Any, scale: Any = Decimal(0)) -> Any:
    return _round(decimal.ROUND_CEILING)(n, scale)


def f_abs(n: Any) -> Any:
    if _num(n):
        return abs(n)
    if type(n) is _dt.timedelta:
        return abs(n)
    return None


def f_modulo(a: Any, b: Any) -> Any:
    """modulo(dividend, divisor) = dividend - divisor * floor(dividend / divisor) (§10.3.4.5)."""
    if not (_num(a) and _num(b)) or b == 0:
        return None
    try:
        q = CTX.divide(a, b).to_integral_value(rounding=decimal.ROUND_FLOOR)
        return CTX.subtract(a, CTX.multiply(b, q))
    except decimal.InvalidOperation:
        return None


def f_sqrt(n: Any) -> Any:
    if not _num(n) or n < 0:
        return None
    return CTX.sqrt(n)


def f_log(n: Any) -> Any:
    if not _num(n) or n <= 0:
        return None
    return CTX.ln(n)


def f_exp(n: Any) -> Any:
    if not _num(n):
        return None
    try:
        return CTX.exp(n)
    except (decimal.Overflow, decimal.InvalidOperation):
        return None


def f_odd(n: Any) -> Any:
    i = _int_of(n)
    return None if i is None else i % 2 == 1


def f_even(n: Any) -> Any:
    i = _int_of(n)
    return None if i is None else i % 2 == 0


def _items(a: tuple) -> list | None:
    if len(a) == 1 and type(a[0]) is list:
        return a[0]
    if len(a) == 1 and a[0] is None:
        return None
    return list(a)


_ORDERED_KINDS = ("number", "string", "date", "time", "date and time", "days and time duration")


def _extreme(a: tuple, better) -> Any:
    """FEEL min/max: the item for which ``better(item, best)`` holds over all others; null when any comparison is
    null (mixed kinds) or the items are not of an ordered kind."""
    xs = _items(a)
    if not xs:
        return None
    best = xs[0]
    for x in xs[1:]:
        r = better(x, best)
        if r is None:
            return None
        if r:
            best = x
    return best if kind(best) in _ORDERED_KINDS else None


def f_min(*a: Any) -> Any:
    return _extreme(a, ops.lt)


def f_max(*a: Any) -> Any:
    return _extreme(a, ops.gt)


def _numeric_fold(a: tuple[Any, ...], start: Decimal, op: Callable[[Decimal, Any], Decimal]) -> Any:
    """``op`` folded over the numbers of ``a`` (a list or the arguments) from ``start``; null unless all are
    numbers and there is at least one."""
    xs = _items(a)
    if not xs or not all(_num(x) for x in xs):
        return None
    acc = start
    for x in xs:
        acc = op(acc, x)
    return acc


def f_sum(*a: Any) -> Any:
    return _numeric_fold(a, Decimal(0), CTX.add)


def f_mean(*a: Any) -> Any:
    xs = _items(a)
    s = f_sum(*a)
    return None if s is None else CTX.divide(s, Decimal(len(xs)))


def f_count(lst: Any) -> Any:
    return Decimal(len(lst)) if type(lst) is list else None


def f_all(*a: Any) -> Any:
    xs = _items(a)
    if xs is None:
        return None
    return ops.and_all(xs)


def f_any(*a: Any) -> Any:
    xs = _items(a)
    if xs is None:
        return None
    res: bool | None = False
    for x in xs:
        if x is True:
            return True
        if x is not False:
            res = None
    return res


def f_list_contains(lst: Any, x: Any) -> Any:
    if type(lst) is not list:
        return None
    return any(ops.eq(v, x) is True for v in lst)


def f_not(x: Any) -> Any:
    return ops.not3(x)


def f_number(s: Any, group: Any = None, dec: Any = None) -> Any:
    if type(s) is not str:
        return None
    if group is not None:
        if type(group) is not str or group not in (" ", ",", "."):
            return None
        s = s.replace(group, "")
    if dec is not None:
        if type(dec) is not str or dec not in (",", ".") or dec == group:
            return None
        s = s.replace(dec, ".")
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", s):
        return None
    return Decimal(s)


def f_string(x: Any) -> Any:
    from decisions.feel.values import feel_text

    if x is None:
        return None
    if type(x) is str:
        return x
    if type(x) is Decimal:
        return feel_text(x)
    if type(x) in (_dt.date, _dt.time, _dt.datetime):
        return x.isoformat()
    t = feel_text(x)
    if type(x) is _dt.timedelta:
        return t[len('duration("'):-2]
    return t


def f_substring(s: Any, start: Any, length: Any = None) -> Any:
    st = _int_of(start)
    if type(s) is not str or st is None or st == 0:
        return None
    chars = list(s)
    i = st - 1 if st > 0 else len(chars) + st
    i = max(i, 0)
    if length is None:
        return "".join(chars[i:])
    ln = _int_of(length)
    if ln is None or ln < 0:
        return None
    return "".join(chars[i:i + ln])


def f_string_length(s: Any) -> Any:
    return Decimal(len(s)) if type(s) is str else None


def f_upper(s: Any) -> Any:
    return s.upper() if type(s) is str else None


def f_lower(s: Any) -> Any:
    return s.lower() if type(s) is str else None


def f_contains(s: Any, m: Any) -> Any:
    return (m in s) if type(s) is str and type(m) is str else None


def f_starts(s: Any, m: Any) -> Any:
    return s.startswith(m) if type(s) is str and type(m) is str else None


def f_ends(s: Any, m: Any) -> Any:
    return s.endswith(m) if type(s) is str and type(m) is str else None


def f_before(s: Any, m: Any) -> Any:
    if type(s) is not str or type(m) is not str:
        return None
    i = s.find(m)
    return "" if i < 0 else s[:i]


def f_after(s: Any, m: Any) -> Any:
    if type(s) is not str or type(m) is not str:
        return None
    i = s.find(m)
    return "" if i < 0 else s[i + len(m):]


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def f_day_of_week(d: Any) -> Any:
    return _DAYS[d.weekday()] if type(d) in (_dt.date, _dt.datetime) else None


def f_append(lst: Any, *items: Any) -> Any:
    return [*lst, *items] if type(lst) is list else None


def f_concatenate(*lists: Any) -> Any:
    if not all(type(x) is list for x in lists):
        return None
    return [v for x in lists for v in x]


def f_reverse(lst: Any) -> Any:
    return lst[::-1] if type(lst) is list else None


def f_index_of(lst: Any, match: Any) -> Any:
    if type(lst) is not list:
        return None
    return [Decimal(i + 1) for i, v in enumerate(lst) if ops.eq(v, match) is True]


def f_distinct(lst: Any) -> Any:
    if type(lst) is not list:
        return None
    out: list = []
    for v in lst:
        if not any(ops.eq(v, w) is True for w in out):
            out.append(v)
    return out


def f_flatten(lst: Any) -> Any:
    if type(lst) is not list:
        return None
    out: list = []
    stack = [iter(lst)]
    while stack:
        for v in stack[-1]:
            if type(v) is list:
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


def f_product(*a: Any) -> Any:
    return _numeric_fold(a, Decimal(1), CTX.multiply)


def f_median(*a: Any) -> Any:
    xs = _items(a)
    if not xs or not all(_num(x) for x in xs):
        return None
    ys = sorted(xs)
    k = len(ys) // 2
    return ys[k] if len(ys) % 2 else CTX.divide(CTX.add(ys[k - 1], ys[k]), Decimal(2))


def f_stddev(*a: Any) -> Any:
    """Sample standard deviation (n - 1), as FEEL's stddev()."""
    xs = _items(a)
    if not xs or len(xs) < 2 or not all(_num(x) for x in xs):
        return None
    m = CTX.divide(f_sum(xs), Decimal(len(xs)))
    ss = Decimal(0)
    for x in xs:
        d = CTX.subtract(x, m)
        ss = CTX.add(ss, CTX.multiply(d, d))
    return CTX.sqrt(CTX.divide(ss, Decimal(len(xs) - 1)))


def f_mode(*a: Any) -> Any:
    xs = _items(a)
    if xs is None or not all(_num(x) for x in xs):
        return None
    counts: dict = {}
    for x in xs:
        counts[x] = counts.get(x, 0) + 1
    if not counts:
        return []
    top = max(counts.values())
    return sorted(x for x, c in counts.items() if c == top)


def f_string_join(lst: Any, sep: Any = "") -> Any:
    if type(lst) is not list or (sep is not None and type(sep) is not str):
        return None
    parts = [x for x in lst if x is not None]
    if not all(type(x) is str for x in parts):
        return None
    return (sep or "").join(parts)


def f_day_of_year(d: Any) -> Any:
    return Decimal(d.timetuple().tm_yday) if type(d) in (_dt.date, _dt.datetime) else None


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def f_month_of_year(d: Any) -> Any:
    return _MONTHS[d.month - 1] if type(d) in (_dt.date, _dt.datetime) else None


def f_week_of_year(d: Any) -> Any:
    return Decimal(d.isocalendar()[1]) if type(d) in (_dt.date, _dt.datetime) else None


BUILTINS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "@": (_at, 1, 1),
    "date": (f_date, 1, 3),
    "time": (f_time, 1, 4),
    "date and time": (f_datetime, 1, 2),
    "duration": (f_duration, 1, 1),
    "decimal": (f_decimal, 2, 2),
    "floor": (f_floor, 1, 2),
    "ceiling": (f_ceiling, 1, 2),
    "round up": (_round(decimal.ROUND_UP), 1, 2),
    "round down": (_round(decimal.ROUND_DOWN), 1, 2),
    "round half up": (_round(decimal.ROUND_HALF_UP), 1, 2),
    "round half down": (_round(decimal.ROUND_HALF_DOWN), 1, 2),
    "abs": (f_abs, 1, 1),
    "modulo": (f_modulo, 2, 2),
    "sqrt": (f_sqrt, 1, 1),
    "log": (f_log, 1, 1),
    "exp": (f_exp, 1, 1),
    "odd": (f_odd, 1, 1),
    "even": (f_even, 1, 1),
    "min": (f_min, 1, 10_000),
    "max": (f_max, 1, 10_000),
    "sum": (f_sum, 1, 10_000),
    "mean": (f_mean, 1, 10_000),
    "count": (f_count, 1, 1),
    "all": (f_all, 1, 10_000),
    "any": (f_any, 1, 10_000),
    "list contains": (f_list_contains, 2, 2),
    "not": (f_not, 1, 1),
    "number": (f_number, 1, 3),
    "string": (f_string, 1, 1),
    "substring": (f_substring, 2, 3),
    "string length": (f_string_length, 1, 1),
    "upper case": (f_upper, 1, 1),
    "lower case": (f_lower, 1, 1),
    "contains": (f_contains, 2, 2),
    "starts with": (f_starts, 2, 2),
    "ends with": (f_ends, 2, 2),
    "substring before": (f_before, 2, 2),
    "substring after": (f_after, 2, 2),
    "day of week": (f_day_of_week, 1, 1),
    "day of year": (f_day_of_year, 1, 1),
    "month of year": (f_month_of_year, 1, 1),
    "week of year": (f_week_of_year, 1, 1),
    "append": (f_append, 1, 10_000),
    "concatenate": (f_concatenate, 1, 10_000),
    "reverse": (f_reverse, 1, 1),
    "index of": (f_index_of, 2, 2),
    "distinct values": (f_distinct, 1, 1),
    "flatten": (f_flatten, 1, 1),
    "product": (f_product, 1, 10_000),
    "median": (f_median, 1, 10_000),
    "stddev": (f_stddev, 1, 10_000),
    "mode": (f_mode, 1, 10_000),
    "string join": (f_string_join, 1, 2),
}

#: Functions whose constant string argument is a temporal literal: checked at load time.
TEMPORAL_CONSTRUCTORS = {"@", "date", "time", "date and time", "duration"}
