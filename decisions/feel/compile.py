"""Compile FEEL ASTs into small closure trees (row mode).

An expression compiles to ``fn(ctx) -> value``; unary tests compile to ``fn(value, ctx) -> True | False | None``
(the input matches only on ``True``). ``ctx`` is a plain dict of FEEL values; ``?`` is bound under the key ``"?"``.
Constant sub-trees are folded at compile time, so invalid temporal literals (``date("2026-13-01")``) are refused at
load time with their position, and constant endpoints become plain Python constants on the fast path.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from decisions.errors import FeelSyntaxError, FeelUnsupportedError
from decisions.feel import ast as A
from decisions.feel import ops
from decisions.feel.builtins import BUILTINS, TEMPORAL_CONSTRUCTORS, is_year_month_duration
from decisions.feel.values import Range

Expr = Callable[[dict], Any]
Test = Callable[[Any, dict], Any]


class Compiled:
    """A compiled expression: ``fn`` plus, when constant, its value."""

    __slots__ = ("fn", "const", "value")

    def __init__(self, fn: Expr, const: bool = False, value: Any = None) -> None:
        self.fn = fn
        self.const = const
        self.value = value


def _constant(v: Any) -> Compiled:
    return Compiled(lambda ctx: v, True, v)


def _prop(x: Any, name: str) -> Any:
    t = type(x)
    if t is dict:
        return x.get(name)
    if t in (_dt.date, _dt.datetime):
        if name == "year":
            return Decimal(x.year)
        if name == "month":
            return Decimal(x.month)
        if name == "day":
            return Decimal(x.day)
        if name == "weekday":
            return Decimal(x.isoweekday())
    if t in (_dt.time, _dt.datetime):
        if name == "hour":
            return Decimal(x.hour)
        if name == "minute":
            return Decimal(x.minute)
        if name == "second":
            return Decimal(x.second) + Decimal(x.microsecond).scaleb(-6)
    if t is _dt.timedelta:
        us = (x.days * 86_400 + x.seconds) * 1_000_000 + x.microseconds
        sign = -1 if us < 0 else 1
        us = abs(us)
        if name == "days":
            return Decimal(sign * (us // 86_400_000_000))
        if name == "hours":
            return Decimal(sign * (us // 3_600_000_000 % 24))
        if name == "minutes":
            return Decimal(sign * (us // 60_000_000 % 60))
        if name == "seconds":
            return Decimal(sign * (us % 60_000_000)).scaleb(-6).normalize()
    return None


def compile_expr(node: A.Node, text: str = "") -> Compiled:
    """Compile an expression node; ``text`` is only used for error messages."""
    c = _compile(node, text)
    if not c.const and not A.free_names(node) and not A.uses_qmark(node):
        v = c.fn({})
        return _constant(v)
    return c


def _compile(n: A.Node, text: str) -> Compiled:  # noqa: C901 - one dispatch on node type
    if isinstance(n, A.Lit):
        return _constant(n.value)
    if isinstance(n, A.Name):
        name = n.name
        return Compiled(lambda ctx: ctx.get(name))
    if isinstance(n, A.QMark):
        return Compiled(lambda ctx: ctx.get("?"))
    if isinstance(n, A.Path):
        b = _compile(n.base, text).fn
        name = n.name
        return Compiled(lambda ctx: _prop(b(ctx), name))
    if isinstance(n, A.Neg):
        x = _compile(n.x, text).fn
        return Compiled(lambda ctx: ops.neg(x(ctx)))
    if isinstance(n, A.Arith):
        f = ops.ARITH[n.op]
        a, b = _compile(n.a, text).fn, _compile(n.b, text).fn
        return Compiled(lambda ctx: f(a(ctx), b(ctx)))
    if isinstance(n, A.Compare):
        f = ops.COMPARE[n.op]
        a, b = _compile(n.a, text).fn, _compile(n.b, text).fn
        return Compiled(lambda ctx: f(a(ctx), b(ctx)))
    if isinstance(n, A.Between):
        x, lo, hi = (_compile(k, text).fn for k in (n.x, n.lo, n.hi))

        def between(ctx: dict) -> Any:
            v = x(ctx)
            return ops.and3(ops.ge(v, lo(ctx)), ops.le(v, hi(ctx)))
        return Compiled(between)
    if isinstance(n, A.In):
        x = _compile(n.x, text).fn
        tests = [_positive(t, text) for t in n.tests]

        def in_(ctx: dict) -> Any:
            v = x(ctx)
            res: Any = False
            for t in tests:
                res = ops.or3(res, t(v, ctx))
                if res is True:
                    return True
            return res
        return Compiled(in_)
    if isinstance(n, A.And):
        a, b = _compile(n.a, text).fn, _compile(n.b, text).fn
        return Compiled(lambda ctx: ops.and3(a(ctx), b(ctx)))
    if isinstance(n, A.Or):
        a, b = _compile(n.a, text).fn, _compile(n.b, text).fn
        return Compiled(lambda ctx: ops.or3(a(ctx), b(ctx)))
    if isinstance(n, A.If):
        c, t, e = (_compile(k, text).fn for k in (n.cond, n.then, n.other))
        return Compiled(lambda ctx: t(ctx) if c(ctx) is True else e(ctx))
    if isinstance(n, A.ListLit):
        items = [_compile(k, text).fn for k in n.items]
        return Compiled(lambda ctx: [f(ctx) for f in items])
    if isinstance(n, A.RangeLit):
        lo, hi = _compile(n.lo, text).fn, _compile(n.hi, text).fn
        lc, hc = n.lo_closed, n.hi_closed
        return Compiled(lambda ctx: Range(lo(ctx), hi(ctx), lc, hc))
    if isinstance(n, A.Call):
        return _call(n, text)
    raise FeelUnsupportedError(f"unsupported node {type(n).__name__}", text, n.pos + 1)  # pragma: no cover


def _call(n: A.Call, text: str) -> Compiled:
    fn, lo, hi = BUILTINS[n.fname]
    if not lo <= len(n.args) <= hi:
        want = str(lo) if lo == hi else f"{lo}..{hi}"
        raise FeelSyntaxError(f"function {n.fname!r} takes {want} arguments, got {len(n.args)}", text, n.pos + 1)
    args = [_compile(a, text) for a in n.args]
    if n.fname in TEMPORAL_CONSTRUCTORS and args and all(a.const for a in args):
        vals = [a.value for a in args]
        if n.fname == "duration" and type(vals[0]) is str and is_year_month_duration(vals[0]):
            raise FeelUnsupportedError("years and months durations are not supported", text, n.pos + 1)
        v = fn(*vals)
        if v is None:
            shown = ", ".join(repr(x) for x in vals)
            raise FeelSyntaxError(f"invalid {n.fname if n.fname != '@' else 'temporal'} literal ({shown})",
                                  text, n.pos + 1)
        return _constant(v)
    fns = [a.fn for a in args]
    if len(fns) == 1:
        f0 = fns[0]
        return Compiled(lambda ctx: fn(f0(ctx)))
    return Compiled(lambda ctx: fn(*[f(ctx) for f in fns]))


# ----- unary tests ------------------------------------------------------------------------------------------
def _always(v: Any, ctx: dict) -> bool:
    return True


def _positive(t: A.Node, text: str) -> Test:  # noqa: C901 - one dispatch on test kind
    if isinstance(t, A.UAny):
        return _always
    if isinstance(t, A.UCompare):
        e = compile_expr(t.endpoint, text)
        f = ops.COMPARE[t.op]
        if e.const:
            c = e.value
            if type(c) is Decimal:
                op = t.op
                if op == "<":
                    return lambda v, ctx: (v < c) if type(v) is Decimal else ops.lt(v, c)
                if op == "<=":
                    return lambda v, ctx: (v <= c) if type(v) is Decimal else ops.le(v, c)
                if op == ">":
                    return lambda v, ctx: (v > c) if type(v) is Decimal else ops.gt(v, c)
                if op == ">=":
                    return lambda v, ctx: (v >= c) if type(v) is Decimal else ops.ge(v, c)
            return lambda v, ctx: f(v, c)
        ef = e.fn
        return lambda v, ctx: f(v, ef(ctx))
    if isinstance(t, A.URange):
        lo, hi = compile_expr(t.lo, text), compile_expr(t.hi, text)
        lof = ops.le if t.lo_closed else ops.lt
        hif = ops.le if t.hi_closed else ops.lt
        if lo.const and hi.const:
            a, b = lo.value, hi.value
            if type(a) is Decimal and type(b) is Decimal:
                if t.lo_closed and t.hi_closed:
                    return lambda v, ctx: (a <= v <= b) if type(v) is Decimal else ops.and3(lof(a, v), hif(v, b))
                if t.lo_closed:
                    return lambda v, ctx: (a <= v < b) if type(v) is Decimal else ops.and3(lof(a, v), hif(v, b))
                if t.hi_closed:
                    return lambda v, ctx: (a < v <= b) if type(v) is Decimal else ops.and3(lof(a, v), hif(v, b))
                return lambda v, ctx: (a < v < b) if type(v) is Decimal else ops.and3(lof(a, v), hif(v, b))
            return lambda v, ctx: ops.and3(lof(a, v), hif(v, b))
        la, hb = lo.fn, hi.fn
        return lambda v, ctx: ops.and3(lof(la(ctx), v), hif(v, hb(ctx)))
    if isinstance(t, A.UExpr):
        e = compile_expr(t.expr, text)
        if t.uses_q:
            ef = e.fn

            def qtest(v: Any, ctx: dict) -> Any:
                ctx["?"] = v
                try:
                    r = ef(ctx)
                finally:
                    ctx.pop("?", None)
                if r is True:
                    return True
                return _member(v, r)
            return qtest
        if e.const:
            c = e.value
            if type(c) is Decimal or type(c) is str:
                tc = type(c)
                return lambda v, ctx: (v == c) if type(v) is tc else ops.eq(v, c)
            return lambda v, ctx: _member(v, c)
        ef = e.fn
        return lambda v, ctx: _member(v, ef(ctx))
    raise FeelUnsupportedError(f"unsupported unary test {type(t).__name__}", text, t.pos + 1)  # pragma: no cover


def _member(v: Any, r: Any) -> Any:
    """Semantics of a positive unary test whose expression evaluated to ``r`` (DMN 1.3 Table 56, rule 49.c)."""
    tr = type(r)
    if tr is list:
        res: Any = False
        for x in r:
            res = ops.or3(res, ops.eq(v, x))
            if res is True:
                return True
        return res
    if tr is Range:
        return ops.in_range(v, r)
    return ops.eq(v, r)


def compile_tests(ut: A.UnaryTests, text: str = "") -> Test | None:
    """Compile unary tests; returns None for ``-`` (matches everything, null included)."""
    if not ut.negated and len(ut.tests) == 1 and isinstance(ut.tests[0], A.UAny):
        return None
    tests = [_positive(t, text) for t in ut.tests]
    if len(tests) == 1:
        f = tests[0]
    else:
        def f(v: Any, ctx: dict) -> Any:
            res: Any = False
            for t in tests:
                r = t(v, ctx)
                if r is True:
                    return True
                res = ops.or3(res, r)
            return res
    if ut.negated:
        g = f
        return lambda v, ctx: ops.not3(g(v, ctx))
    return f
