"""Vectorised evaluation of a decision over many rows (one row per cell), giving exactly what row mode gives.

Columns (``model.evaluate_batch(columns, decision)``):

* a mapping name -> 1-D NumPy array (all the same length), NumPy scalar / Python value (broadcast to every row,
  e.g. a threshold), ``numpy.ma.MaskedArray`` (masked = null), or a ``pyarrow.Table`` / ``RecordBatch`` (Arrow
  nulls = null);
* float arrays: NaN (and +-inf, which are not FEEL numbers) mean null; integer arrays are exact up to 2**53
  (larger integers are evaluated through the exact object path); object arrays hold any Python values with
  ``None`` as null; string (``U``) and bool arrays are used as they are.

Exactness. Row mode turns a float ``x`` into the FEEL number ``Decimal(repr(x))``. That map is strictly
increasing, so for every decimal constant ``c`` of a test there is a float threshold ``t`` with
``Decimal(repr(x)) < c  <=>  x <= t`` for every float ``x``; the batch path compares float64 columns against
those thresholds, which makes numeric comparisons, intervals and equality exact (not "close"). Tests that are
not plain numeric comparisons are evaluated with the row-mode closure once per distinct value of the column,
and anything else (tests mixing several non-constant columns, computed input expressions, non-constant output
entries) falls back to row mode for the rows concerned, so results never differ.

Result (:class:`BatchResult`): per output an array — float64 with a ``null`` mask for numeric outputs (the
nearest double of the FEEL decimal: exact for decimals of up to 15 significant digits, which is what
``result(i)`` turns back into ``Decimal``), object arrays otherwise (``None`` = null); for multi-hit tables one
object array of row results (lists) under the decision's name. ``rule`` holds the 1-based number of the selected
rule per row (first matched rule for multi-hit policies), 0 when no rule matched, -1 when the hit policy was
violated or an input/output value was out of its value list (result null); ``matched`` is the (rows x rules)
boolean match matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from decisions.engine import BAD, CLiteral, CompiledModel, CTable
from decisions.errors import EvaluationError
from decisions.feel import ast as A
from decisions.feel import ops
from decisions.feel.compile import compile_expr
from decisions.feel.values import to_feel

_EXACT_INT = 2**53


# ----- float thresholds ----------------------------------------------------------------------------------------
def _d(f: float) -> Decimal:
    return Decimal(repr(f))


def lt_max(c: Decimal) -> float:
    """Largest float f with Decimal(repr(f)) < c."""
    f = float(c)
    while _d(f) >= c:
        f = math.nextafter(f, -math.inf)
    while True:
        g = math.nextafter(f, math.inf)
        if math.isinf(g) or _d(g) >= c:
            return f
        f = g


def le_max(c: Decimal) -> float:
    """Largest float f with Decimal(repr(f)) <= c."""
    f = float(c)
    while _d(f) > c:
        f = math.nextafter(f, -math.inf)
    while True:
        g = math.nextafter(f, math.inf)
        if math.isinf(g) or _d(g) > c:
            return f
        f = g


# ----- columns ---------------------------------------------------------------------------------------------------
class Col:
    """One input column in one of three forms: constant, numeric (float64 + null mask) or object."""

    __slots__ = ("kind", "value", "x", "null", "raw", "_codes", "_uniques")

    def __init__(self, kind: str, value: Any = None, x=None, null=None, raw=None) -> None:
        self.kind = kind
        self.value = value
        self.x = x
        self.null = null
        self.raw = raw
        self._codes = None
        self._uniques = None

    def feel(self, i: int) -> Any:
        if self.kind == "const":
            return self.value
        if self.kind == "num":
            return None if self.null[i] else to_feel(self.raw[i])
        return to_feel(self.raw[i])

    def factorize(self) -> tuple[np.ndarray, list[Any]]:
        """codes (n,) and FEEL values of the distinct entries."""
        if self._codes is not None:
            return self._codes, self._uniques
        if self.kind == "num":
            xx = np.where(self.null, 0.0, self.x)
            u, inv = np.unique(xx, return_inverse=True)
            uniques: list[Any] = [to_feel(float(v)) for v in u]
            if self.null.any():
                inv = np.where(self.null, len(u), inv)
                uniques.append(None)
            if self.raw.dtype.kind in "iu":
                uniques = [None if v is None else Decimal(int(v)) for v in uniques]
            self._codes, self._uniques = inv.astype(np.int64), uniques
        else:
            raw = self.raw
            if raw.dtype.kind == "b":
                self._codes, self._uniques = raw.astype(np.int64), [False, True]
            elif raw.dtype.kind == "U":
                u, inv = np.unique(raw, return_inverse=True)
                self._codes, self._uniques = inv.astype(np.int64), [str(v) for v in u]
            else:
                index: dict = {}
                codes = np.empty(len(raw), dtype=np.int64)
                uniques = []
                for i, v in enumerate(raw):
                    try:
                        key = (type(v), v)
                        c = index.get(key)
                    except TypeError:  # unhashable (lists, dicts): its own code
                        key, c = None, None
                    if c is None:
                        c = len(uniques)
                        uniques.append(to_feel(v))
                        if key is not None:
                            index[key] = c
                    codes[i] = c
                self._codes, self._uniques = codes, uniques
        return self._codes, self._uniques


def _column(name: str, v: Any, n: int | None) -> tuple[Col, int | None]:
    if isinstance(v, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(v)
        data = v.data
        if data.dtype.kind in "fiu":
            col, n = _column(name, data, n)
            if col.kind == "num":
                col.null = col.null | mask
                return col, n
        obj = data.astype(object)
        obj[mask] = None
        return _column(name, obj, n)
    if not isinstance(v, np.ndarray):
        if isinstance(v, list | tuple):
            v = np.array(v, dtype=object)
        else:
            try:
                return Col("const", value=to_feel(v)), n
            except TypeError as e:
                raise EvaluationError(f"column {name!r}: {e}") from None
    if v.ndim == 0:
        return Col("const", value=to_feel(v.item())), n
    if v.ndim != 1:
        raise EvaluationError(f"column {name!r} must be 1-D, has shape {v.shape}")
    if n is not None and len(v) != n:
        raise EvaluationError(f"column {name!r} has {len(v)} rows, expected {n}")
    n = len(v)
    k = v.dtype.kind
    if k == "f":
        x = v.astype(np.float64, copy=False)
        return Col("num", x=x, null=~np.isfinite(x), raw=v), n
    if k in "iu":
        if n and (np.abs(v.astype(np.float64)).max() > _EXACT_INT):
            return Col("obj", raw=v.astype(object)), n
        return Col("num", x=v.astype(np.float64), null=np.zeros(n, dtype=bool), raw=v), n
    if k in "bU":
        return Col("obj", raw=v), n
    if k == "O":
        return Col("obj", raw=v), n
    if k == "M":
        return Col("obj", raw=v.astype("datetime64[us]").astype(object)), n
    raise EvaluationError(f"column {name!r}: unsupported dtype {v.dtype}")


def _from_arrow(tbl: Any) -> dict[str, Any]:
    import pyarrow as pa

    out: dict[str, Any] = {}
    for name in tbl.column_names:
        col = tbl.column(name)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        nulls = col.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            arr = col.to_numpy(zero_copy_only=False)
            if nulls.any():
                arr = np.ma.MaskedArray(np.asarray(arr, dtype=np.float64 if arr.dtype.kind == "f" else arr.dtype),
                                        mask=nulls)
            out[name] = arr
        else:
            arr = np.asarray(col.to_pylist(), dtype=object)
            out[name] = arr
    return out


def normalise_columns(columns: Any) -> tuple[dict[str, Col], int]:
    if hasattr(columns, "column_names") and hasattr(columns, "column"):
        columns = _from_arrow(columns)
    if not isinstance(columns, dict):
        raise EvaluationError("columns must be a mapping name -> array or a pyarrow Table")
    cols: dict[str, Col] = {}
    n: int | None = None
    for name, v in columns.items():
        cols[str(name)], n = _column(str(name), v, n)
    if n is None:
        n = 1
    return cols, n


# ----- result ------------------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    decision: str
    n: int
    outputs: dict[str, np.ndarray]
    null: dict[str, np.ndarray]
    rule: np.ndarray
    matched: np.ndarray | None
    error: np.ndarray
    multi: bool = False
    single: bool = True
    keys: list[str] = field(default_factory=list)
    absent: np.ndarray | None = None  # rows whose whole result is null (tables with several outputs)

    def value(self, key: str, i: int) -> Any:
        arr = self.outputs[key]
        if arr.dtype == object:
            return arr[i]
        if self.null[key][i]:
            return None
        return Decimal(repr(float(arr[i])))

    def result(self, i: int) -> Any:
        """Row ``i``'s result in the same shape as ``model.evaluate(...)[decision]``."""
        if self.multi:
            return self.outputs[self.decision][i]
        if self.single:
            return self.value(self.keys[0], i)
        if self.absent is not None and self.absent[i]:
            return None
        return {k: self.value(k, i) for k in self.keys}


class _Out:
    """Writable per-output arrays."""

    def __init__(self, n: int, keys: list[str], numeric: list[bool]) -> None:
        self.keys = keys
        self.numeric = dict(zip(keys, numeric, strict=True))
        self.arr: dict[str, np.ndarray] = {}
        self.null: dict[str, np.ndarray] = {}
        for k, num in zip(keys, numeric, strict=True):
            self.arr[k] = np.full(n, np.nan) if num else np.full(n, None, dtype=object)
            self.null[k] = np.ones(n, dtype=bool)

    def fill(self, rows: np.ndarray, k: str, v: Any) -> None:
        if not rows.any():
            return
        if self.numeric[k]:
            if v is None:
                self.arr[k][rows] = np.nan
                self.null[k][rows] = True
            else:
                self.arr[k][rows] = float(v)
                self.null[k][rows] = False
        else:
            self.arr[k][rows] = _obj(v, rows)
            self.null[k][rows] = v is None

    def put(self, i: int, k: str, v: Any) -> None:
        if self.numeric[k]:
            if v is None:
                self.arr[k][i], self.null[k][i] = np.nan, True
            elif type(v) is Decimal:
                self.arr[k][i], self.null[k][i] = float(v), False
            else:  # pragma: no cover - numeric outputs only hold numbers
                raise EvaluationError(f"output {k!r}: non-numeric value {v!r} in a numeric column")
        else:
            self.arr[k][i] = v
            self.null[k][i] = v is None


def _obj(v: Any, rows: np.ndarray) -> Any:
    if isinstance(v, list | dict):
        cnt = int(rows.sum()) if rows.dtype == bool else len(rows)
        o = np.empty(cnt, dtype=object)
        for j in range(cnt):
            o[j] = v
        return o
    return v


# ----- the vectorised engine -----------------------------------------------------------------------------------
class _Batch:
    def __init__(self, cm: CompiledModel, cols: dict[str, Col], n: int) -> None:
        self.cm = cm
        self.cols = cols
        self.n = n
        self._ctx_cache: dict[int, dict] = {}

    def ctx(self, i: int) -> dict:
        c = self._ctx_cache.get(i)
        if c is None:
            c = {name: col.feel(i) for name, col in self.cols.items()}
            for name, conf in self.cm.input_conf.items():
                if conf is not None and name in c:
                    v = conf(c[name])
                    c[name] = None if v is BAD else v
            self._ctx_cache[i] = c
        return dict(c)

    def const_env(self, names: set[str]) -> dict | None:
        env = {}
        for nm in names:
            col = self.cols.get(nm)
            if col is None:
                env[nm] = None
            elif col.kind == "const":
                env[nm] = col.value
            else:
                return None
        return env

    # -- input data conformance on columns
    def conform_inputs(self) -> None:
        for name, conf in self.cm.input_conf.items():
            if conf is None or name not in self.cols:
                continue
            self.cols[name] = self.conform(self.cols[name], conf)

    def conform(self, col: Col, conf: Any) -> Col:
        if col.kind == "const":
            v = conf(col.value)
            return Col("const", value=None if v is BAD else v)
        if col.kind == "num" and conf.type_name == "number" and conf.allowed is None:
            return col
        codes, uniques = col.factorize()
        ok = []
        for u in uniques:
            v = conf(u)
            ok.append(v is not BAD)
        ok_arr = np.asarray(ok, dtype=bool)[codes]
        if ok_arr.all():
            return col
        if col.kind == "num":
            return Col("num", x=col.x, null=col.null | ~ok_arr, raw=col.raw)
        raw = np.array(col.raw, dtype=object, copy=True)
        raw[~ok_arr] = None
        return Col("obj", raw=raw)

    # -- unary tests -> (T, N) masks
    def test(self, ut: A.UnaryTests, fn: Any, col: Col, ctx_names: set[str]) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        if fn is None:
            return np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
        env = self.const_env(ctx_names)
        if col.kind == "const" and env is not None:
            r = fn(col.value, dict(env))
            return np.full(n, r is True), np.full(n, r is None)
        if col.kind == "num":
            r = self.num_tests(ut, col)
            if r is not None:
                return r
        if env is not None and col.kind != "const":
            codes, uniques = col.factorize()
            res = [fn(u, dict(env)) for u in uniques]
            t = np.fromiter((x is True for x in res), dtype=bool, count=len(res))
            nn = np.fromiter((x is None for x in res), dtype=bool, count=len(res))
            return t[codes], nn[codes]
        t = np.zeros(n, dtype=bool)
        nn = np.zeros(n, dtype=bool)
        for i in range(n):
            r = fn(col.feel(i), self.ctx(i))
            t[i] = r is True
            nn[i] = r is None
        return t, nn

    def endpoint(self, e: A.Node) -> tuple | None:
        if isinstance(e, A.Name):
            col = self.cols.get(e.name)
            if col is None:
                return ("c", None)
            if col.kind == "const":
                return ("c", col.value)
            if col.kind == "num":
                return ("col", col.x, col.null)
            return None
        if A.uses_qmark(e):
            return None
        c = compile_expr(e)
        if c.const:
            return ("c", c.value)
        env = self.const_env(A.free_names(e))
        return None if env is None else ("c", c.fn(env))

    def cmp(self, op: str, col: Col, ep: tuple) -> tuple[np.ndarray, np.ndarray] | None:
        """x op endpoint, FEEL semantics, as (T, N)."""
        x, nx = col.x, col.null
        n = self.n
        if ep[0] == "c":
            c = ep[1]
            if type(c) is Decimal:
                if op == "=":
                    return (x > lt_max(c)) & (x <= le_max(c)) & ~nx, np.zeros(n, dtype=bool)
                if op == "!=":
                    return ~((x > lt_max(c)) & (x <= le_max(c))) | nx, np.zeros(n, dtype=bool)
                if op == "<":
                    t = x <= lt_max(c)
                elif op == "<=":
                    t = x <= le_max(c)
                elif op == ">":
                    t = x > le_max(c)
                else:
                    t = x > lt_max(c)
                return t & ~nx, nx.copy()
            if c is None:
                if op == "=":
                    return nx.copy(), np.zeros(n, dtype=bool)
                if op == "!=":
                    return ~nx, np.zeros(n, dtype=bool)
                return np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
            # a constant of another kind: = / != give null for numbers, false / true for null
            if op == "=":
                return np.zeros(n, dtype=bool), ~nx
            if op == "!=":
                return nx.copy(), ~nx
            return np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
        y, ny = ep[1], ep[2]
        both = ~nx & ~ny
        if op == "=":
            return (nx & ny) | (both & (x == y)), np.zeros(n, dtype=bool)
        if op == "!=":
            return (nx ^ ny) | (both & (x != y)), np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            if op == "<":
                t = x < y
            elif op == "<=":
                t = x <= y
            elif op == ">":
                t = x > y
            else:
                t = x >= y
        return t & both, ~both

    def num_tests(self, ut: A.UnaryTests, col: Col) -> tuple[np.ndarray, np.ndarray] | None:
        parts = []
        for t in ut.tests:
            r = self.num_positive(t, col)
            if r is None:
                return None
            parts.append(r)
        T, N = parts[0]
        for t2, n2 in parts[1:]:
            T = T | t2
            N = ~T & (N | n2)
        if ut.negated:
            return ~T & ~N, N
        return T, N

    def num_positive(self, t: A.Node, col: Col) -> tuple[np.ndarray, np.ndarray] | None:
        n = self.n
        if isinstance(t, A.UAny):
            return np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
        if isinstance(t, A.UCompare):
            ep = self.endpoint(t.endpoint)
            return None if ep is None else self.cmp(t.op, col, ep)
        if isinstance(t, A.URange):
            return self.num_range(t.lo, t.hi, t.lo_closed, t.hi_closed, col)
        if isinstance(t, A.UExpr) and not t.uses_q:
            e = t.expr
            if isinstance(e, A.RangeLit):
                return self.num_range(e.lo, e.hi, e.lo_closed, e.hi_closed, col)
            if isinstance(e, A.ListLit):
                T = np.zeros(n, dtype=bool)
                N = np.zeros(n, dtype=bool)
                for item in e.items:
                    ep = self.endpoint(item)
                    if ep is None or (ep[0] == "c" and type(ep[1]) in (list, dict)):
                        return None
                    t2, n2 = self.cmp("=", col, ep)
                    T = T | t2
                    N = ~T & (N | n2)
                return T, N
            ep = self.endpoint(e)
            if ep is None or (ep[0] == "c" and not (ep[1] is None or type(ep[1]) in (Decimal, str, bool))):
                return None
            return self.cmp("=", col, ep)
        return None

    def num_range(self, lo: A.Node, hi: A.Node, lc: bool, hc: bool, col: Col):
        a, b = self.endpoint(lo), self.endpoint(hi)
        if a is None or b is None:
            return None
        t1 = self.cmp(">=" if lc else ">", col, a)
        t2 = self.cmp("<=" if hc else "<", col, b)
        if t1 is None or t2 is None:
            return None
        T = t1[0] & t2[0]
        F = (~t1[0] & ~t1[1]) | (~t2[0] & ~t2[1])
        return T, ~T & ~F

    # -- decisions
    def input_column(self, ct: CTable, k: int) -> Col:
        name = ct.input_names[k]
        ex = ct.input_exprs[k]
        if name is not None:
            col = self.cols.get(name) or Col("const", value=None)
        elif ex.const:
            col = Col("const", value=ex.value)
        else:
            env = self.const_env(A.free_names(parse_input(ct, k)))
            if env is not None:
                col = Col("const", value=ex.fn(env))
            else:
                raw = np.empty(self.n, dtype=object)
                for i in range(self.n):
                    raw[i] = ex.fn(self.ctx(i))
                col = Col("obj", raw=raw)
        conf = ct.input_conf[k]
        if conf is not None:
            col = self.conform(col, conf)
        return col

    def table(self, ct: CTable, name: str) -> BatchResult:
        n = self.n
        nr = len(ct.rules)
        t = ct.table
        in_cols = [self.input_column(ct, k) for k in range(len(t.inputs))]
        invalid = np.zeros(n, dtype=bool)
        for k, col in enumerate(in_cols):
            if ct.input_values[k] is None:
                continue
            T, _ = self.test(ct.input_value_uts[k], ct.input_values[k], col, set())
            nulls = self._is_null(col)
            invalid |= ~T & ~nulls
        M = np.ones((n, nr), dtype=bool)
        cache: dict = {}
        for j, r in enumerate(ct.rules):
            for k, fn in r.tests:
                ut = r.uts[k]
                key = (k, ut)
                if key not in cache:
                    cache[key] = self.test(ut, fn, in_cols[k], A.free_names(ut))[0]
                M[:, j] &= cache[key]
        M[invalid] = False
        count = M.sum(axis=1)
        any_m = count > 0
        first = np.where(any_m, np.argmax(M, axis=1), -1)
        rule = np.where(any_m, first + 1, 0).astype(np.int32)
        error = invalid.copy()
        rule[invalid] = -1
        policy = ct.policy
        multi = policy in ("RULE ORDER", "OUTPUT ORDER", "COLLECT") and ct.aggregation is None
        keys = [o or name for o in ct.out_names]
        # constant rule outputs after conformance; invalid if outside outputValues
        rvals: list[list[Any] | None] = []
        for r in ct.rules:
            rvals.append(ct.rule_outputs(r, {}, None) if all(o.const for o in r.outs) else "dyn")
        dyn = np.array([v == "dyn" for v in rvals], dtype=bool) if nr else np.zeros(0, dtype=bool)
        bad_rule = np.array([v is None for v in rvals], dtype=bool) if nr else np.zeros(0, dtype=bool)
        default_const = all(d is None or d.const for d in ct.defaults)
        default = ct.default_result({}) if default_const else "dyn"
        fallback = np.zeros(n, dtype=bool)
        if not default_const:
            fallback |= ~any_m & ~invalid
        if multi:
            out = np.empty(n, dtype=object)
            fallback |= (M & dyn[None, :]).any(axis=1) if nr else fallback
            fallback |= (M & bad_rule[None, :]).any(axis=1) if nr else fallback
            self._multi(ct, M, rvals, out, fallback | invalid, policy)
            nomatch = ~any_m & ~invalid & ~fallback
            if nomatch.any():
                out[nomatch] = _obj(default, nomatch) if isinstance(default, list | dict) else default
            out[invalid] = None
            for i in np.flatnonzero(fallback & ~invalid):
                out[i] = ct.run(self.ctx(int(i)))
            return BatchResult(name, n, {name: out}, {name: np.array([v is None for v in out], dtype=bool)},
                               rule, M, error, multi=True, single=ct.single, keys=[name])
        # single value per row: allocate output arrays
        numeric = []
        for k in range(len(keys)):
            if ct.aggregation == "COUNT":
                numeric.append(True)
                continue
            vals = [v[k] for v in rvals if isinstance(v, list)]
            if isinstance(default, dict):
                vals.append(default[ct.out_names[k]])
            elif default is not None and default != "dyn":
                vals.append(default)
            numeric.append(not dyn.any() and default != "dyn" and all(v is None or type(v) is Decimal for v in vals))
        out = _Out(n, keys, numeric)
        sel = np.full(n, -1)
        if policy in ("FIRST", "UNIQUE"):
            sel = first.copy()
            if policy == "UNIQUE":
                viol = count > 1
                error |= viol
                rule[viol] = -1
                sel[viol] = -1
        elif policy == "ANY":
            sel = first.copy()
            multi_rows = count > 1
            if multi_rows.any():
                if dyn.any():
                    fallback |= multi_rows
                else:
                    ids: dict = {}
                    cid = np.array([ids.setdefault(_key(v), len(ids)) for v in rvals], dtype=np.int64)
                    lo = np.where(M, cid[None, :], np.iinfo(np.int64).max).min(axis=1)
                    hi = np.where(M, cid[None, :], -1).max(axis=1)
                    viol = multi_rows & (lo != hi)
                    badm = multi_rows & (M & bad_rule[None, :]).any(axis=1)
                    error |= viol | badm
                    rule[viol | badm] = -1
                    sel[viol | badm] = -1
        elif policy == "PRIORITY":
            multi_rows = count > 1
            if dyn.any():
                fallback |= multi_rows
                sel = first.copy()
            else:
                order = sorted(range(nr), key=lambda j: (ct.rank(rvals[j]) if rvals[j] is not None else (), j))
                order_a = np.array(order, dtype=np.int64)
                Mp = M[:, order_a]
                sel = np.where(any_m, order_a[np.argmax(Mp, axis=1)], -1)
                badm = multi_rows & (M & bad_rule[None, :]).any(axis=1)
                sel[badm] = -1
                error |= badm
                rule[badm] = -1
                rule[any_m & ~badm] = sel[any_m & ~badm] + 1
        elif ct.aggregation is not None:
            self._aggregate(ct, M, count, rvals, dyn, bad_rule, out, keys[0], fallback, error, rule)
        if ct.aggregation is None:
            for j in range(nr):
                rows = (sel == j) & ~invalid
                if not rows.any():
                    continue
                if rvals[j] == "dyn":
                    fallback |= rows
                    continue
                if rvals[j] is None:
                    error |= rows
                    rule[rows] = -1
                    continue
                for k, key in enumerate(keys):
                    out.fill(rows, key, rvals[j][k])
        nomatch = ~any_m & ~invalid & ~fallback
        if default != "dyn" and nomatch.any():
            for k, key in enumerate(keys):
                v = default if ct.single else (None if default is None else default[ct.out_names[k]])
                out.fill(nomatch, key, v)
        absent = error | (~any_m & (default is None))
        for i in np.flatnonzero(fallback & ~invalid):
            tr_res = ct.run(self.ctx(int(i)))
            absent[i] = tr_res is None
            for k, key in enumerate(keys):
                v = tr_res if ct.single else (None if tr_res is None else tr_res[ct.out_names[k]])
                out.put(int(i), key, v)
        return BatchResult(name, n, out.arr, out.null, rule, M, error, multi=False, single=ct.single, keys=keys,
                           absent=absent)

    def _is_null(self, col: Col) -> np.ndarray:
        if col.kind == "num":
            return col.null
        if col.kind == "const":
            return np.full(self.n, col.value is None)
        codes, uniques = col.factorize()
        return np.array([u is None for u in uniques], dtype=bool)[codes] if uniques else np.zeros(0, bool)

    def _multi(self, ct: CTable, M: np.ndarray, rvals: list, out: np.ndarray, skip: np.ndarray,
               policy: str) -> None:
        nr = M.shape[1]
        order = list(range(nr))
        if policy == "OUTPUT ORDER":
            order = sorted(range(nr), key=lambda j: (ct.rank(rvals[j]) if isinstance(rvals[j], list) else (), j))
        order_a = np.array(order, dtype=np.int64)
        shaped = [ct.shape(v) if isinstance(v, list) else None for v in rvals]
        Mo = M[:, order_a] if nr else M
        rows, cols = np.nonzero(Mo)
        if len(rows) == 0:
            return
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            i = rows[s]
            if skip[i]:
                continue
            out[i] = [shaped[order[c]] for c in cols[s:e].tolist()]

    def _aggregate(self, ct: CTable, M, count, rvals, dyn, bad_rule, out: _Out, key: str, fallback, error,
                   rule) -> None:
        n = self.n
        any_m = count > 0
        badm = (M & bad_rule[None, :]).any(axis=1) if M.shape[1] else np.zeros(n, dtype=bool)
        dynm = (M & dyn[None, :]).any(axis=1) if M.shape[1] else np.zeros(n, dtype=bool)
        fallback |= dynm & any_m
        error |= badm
        rule[badm] = -1
        ok = any_m & ~badm & ~dynm
        agg = ct.aggregation
        if agg == "COUNT":
            out.arr[key][ok] = count[ok].astype(np.float64)
            out.null[key][ok] = False
            return
        vals = [v[0] if isinstance(v, list) else None for v in rvals]
        if not all(type(v) is Decimal for v, d in zip(vals, dyn, strict=True) if not d):
            fallback |= ok
            return
        nums = [v if type(v) is Decimal else Decimal(0) for v in vals]
        if agg == "SUM":
            scale = max([max(0, -v.as_tuple().exponent) for v in nums] + [0])
            ints = [int(v.scaleb(scale)) for v in nums]
            bound = sum(abs(x) for x in ints)
            if scale > 22 or bound >= _EXACT_INT:
                fallback |= ok
                return
            s = M.astype(np.int64) @ np.array(ints, dtype=np.int64)
            res = s.astype(np.float64) / float(10**scale)
        else:
            f = np.array([float(v) for v in nums])
            if agg == "MIN":
                res = np.where(M, f[None, :], np.inf).min(axis=1)
            else:
                res = np.where(M, f[None, :], -np.inf).max(axis=1)
        out.arr[key][ok] = res[ok]
        out.null[key][ok] = False


def _key(v: Any) -> Any:
    if v is None:
        return ("__bad__",)
    return tuple(("n", x.normalize()) if type(x) is Decimal else (type(x).__name__, repr(x)) for x in v)


def parse_input(ct: CTable, k: int) -> A.Node:
    from decisions.feel.parser import parse_expression

    return parse_expression(ct.table.inputs[k].expression)


def evaluate_batch(cm: CompiledModel, columns: Any, decision: str) -> BatchResult:
    cols, n = normalise_columns(columns)
    b = _Batch(cm, cols, n)
    b.conform_inputs()
    result = None
    for name in cm.order[decision]:
        c = cm.compiled[name]
        if isinstance(c, CLiteral):
            if c.expr.const:
                v = c.run({})
                arr = np.empty(n, dtype=object)
                arr[:] = [v] * n if isinstance(v, list | dict) else v
            else:
                arr = np.empty(n, dtype=object)
                for i in range(n):
                    arr[i] = c.run(b.ctx(i))
            result = BatchResult(name, n, {name: arr}, {name: np.array([v is None for v in arr], dtype=bool)},
                                 np.zeros(n, dtype=np.int32), None, np.zeros(n, dtype=bool), multi=True,
                                 keys=[name])
        else:
            result = b.table(c, name)
        if name != decision:
            b.cols[name] = _as_column(result)
            b._ctx_cache.clear()
    assert result is not None
    return result


def _as_column(r: BatchResult) -> Col:
    if not r.multi and r.single:
        k = r.keys[0]
        arr = r.outputs[k]
        if arr.dtype != object:
            return Col("num", x=arr, null=r.null[k], raw=arr)
    raw = np.empty(r.n, dtype=object)
    for i in range(r.n):
        raw[i] = r.result(i)
    return Col("obj", raw=raw)


__all__ = ["BatchResult", "evaluate_batch", "lt_max", "le_max", "ops"]
