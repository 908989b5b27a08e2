"""Vectorised evaluation of a decision over many rows (one row per cell), giving exactly what row mode gives.

Columns (``model.evaluate_batch(columns, decision)``):

* a mapping name -> 1-D NumPy array (all the same length), NumPy scalar / Python value (broadcast to every row,
  e.g. a threshold), ``numpy.ma.MaskedArray`` (masked = null), or a ``pyarrow.Table`` / ``RecordBatch`` (Arrow
  nulls = null);
* float arrays: NaN (and +-inf, which are not FEEL numbers) mean null; integer arrays are exact up to 2**53
  (larger integers are evaluated through the exact object path); object arrays hold any Python values with
  ``None`` as null; string (``U``) and bool arrays are used as they are;
* every input the decision reads must be given as a column (``DecisionModel.evaluate_batch`` raises
  ``EvaluationError`` naming a missing one: a misspelt column would make every row null); an unknown value is
  given as null, as above.

Method. Each input column is coded into cells: a numeric column into the cells between all float thresholds of
its entries, any other column into its distinct values. Per column a table gives, for each cell, the bitset of
rules whose entry holds there; a row's matching rules are the AND of its columns' bitsets (Numba kernels in
``_kernels.py``), from which the hit policy is applied with array operations. What depends only on the table and
the kinds of the columns (which entry goes where, thresholds, per-cell bitset tables, per-output gather tables) is
built on the first call and memoised on the compiled table, so a call costs the passes over its rows plus a small
fixed overhead; FIRST / UNIQUE tables with constant outputs pick each row's result in one kernel pass.

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

import functools
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from decisions._kernels import (
    and_cells,
    and_codes,
    cell_grid,
    factorize_ids,
    first_and_count,
    first_count_fast,
    select_single,
    unpack_bits,
)
from decisions.engine import BAD, CLiteral, CompiledModel, CTable
from decisions.errors import EvaluationError
from decisions.feel import ast as A
from decisions.feel import ops
from decisions.feel.compile import compile_expr
from decisions.feel.values import to_feel

_EXACT_INT = 2**53
# Speed-only tuning (results do not depend on them): buckets per threshold of the numeric cell-search grid and
# its cap (:func:`cell_grid`); distinct objects up to which a string column is grouped by object identity before
# the Arrow dictionary encoding is used (:func:`_factorize_identical`, which also allows one per 16 rows).
GRID_PER_THRESHOLD = 16
GRID_MAX_BUCKETS = 1 << 16
IDENTITY_MAX_OBJECTS = 1024


# ----- float thresholds ----------------------------------------------------------------------------------------
def _d(f: float) -> Decimal:
    return Decimal(repr(f))


@functools.lru_cache(maxsize=4096)
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


@functools.lru_cache(maxsize=4096)
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
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


class Col:
    """One input column in one of three forms: constant, numeric (float64 + null mask) or object."""

    __slots__ = ("kind", "value", "x", "null", "raw", "_codes", "_uniques", "_has_null")

    def __init__(self, kind: str, value: Any = None, x=None, null=None, raw=None) -> None:
        self.kind = kind
        self.value = value
        self.x = x
        self.null = null
        self.raw = raw
        self._codes = None
        self._uniques = None
        self._has_null: bool | None = None

    def has_null(self) -> bool:
        if self._has_null is None:
            self._has_null = bool(self.null.any())
        return self._has_null

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
                fast = _factorize_identical(raw)
                if fast is None:
                    fast = _factorize_strings(raw)
                if fast is not None:
                    self._codes, self._uniques = fast
                    return fast
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


def _factorize_identical(raw: np.ndarray) -> tuple[np.ndarray, list[Any]] | None:
    """Codes of an object array that holds only ``str`` / ``None`` and few distinct objects (None otherwise).

    Columns built by indexing a few values (``np.array(kinds, dtype=object)[idx]``) repeat the same string
    objects. The same object is the same value, so the entries are first grouped by object identity (the
    array's object references as integers, hashed in :func:`factorize_ids`), then groups of equal strings are
    merged; this is exact, and it gives up (None) past ``max(IDENTITY_MAX_OBJECTS, n / 16)`` distinct objects,
    where the Arrow dictionary encoding of :func:`_factorize_strings` is used instead. Codes follow first
    occurrence with null last, as there.
    """
    n = len(raw)
    if n == 0:
        return None
    try:
        ids = np.frombuffer(np.ascontiguousarray(raw), dtype=np.intp)
    except (TypeError, ValueError, BufferError):  # pragma: no cover - NumPy exports object arrays as buffers
        return None
    codes, firsts, ok = factorize_ids(ids, max(IDENTITY_MAX_OBJECTS, n >> 4))
    if not ok:
        return None
    index: dict[str, int] = {}
    uniques: list[Any] = []
    remap = np.empty(len(firsts), dtype=np.int64)
    nulls = []
    for j, v in enumerate(raw[firsts].tolist()):
        if v is None:
            nulls.append(j)
            continue
        if type(v) is not str:
            return None
        c = index.get(v)
        if c is None:
            c = index[v] = len(uniques)
            uniques.append(v)
        remap[j] = c
    if nulls:
        remap[nulls] = len(uniques)
        uniques.append(None)
    return remap[codes], uniques


def _factorize_strings(raw: np.ndarray) -> tuple[np.ndarray, list[Any]] | None:
    """Arrow dictionary encoding of an object array that holds only str / None (None when it holds more)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a project dependency
        return None
    try:
        arr = pa.array(raw, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    enc = arr.dictionary_encode()
    uniques: list[Any] = enc.dictionary.to_pylist()
    idx = enc.indices
    if idx.null_count:
        codes = idx.fill_null(len(uniques)).to_numpy(zero_copy_only=False).astype(np.int64)
        uniques.append(None)
    else:
        codes = idx.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, uniques


def _column(name: str, v: Any, n: int | None) -> tuple[Col, int | None]:
    if isinstance(v, _Coded):
        if n is not None and len(v.codes) != n:
            raise EvaluationError(f"column {name!r} has {len(v.codes)} rows, expected {n}")
        table = np.empty(len(v.uniques), dtype=object)
        table[:] = v.uniques
        col = Col("obj", raw=table[v.codes])
        col._codes, col._uniques = v.codes, [to_feel(u) for u in v.uniques]
        return col, len(v.codes)
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
        elif (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
              or (pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type))):
            enc = col if pa.types.is_dictionary(col.type) else col.dictionary_encode()
            uniques: list[Any] = enc.dictionary.to_pylist()
            idx = enc.indices
            if idx.null_count:
                codes = idx.fill_null(len(uniques)).to_numpy(zero_copy_only=False).astype(np.int64)
                uniques.append(None)
            else:
                codes = idx.to_numpy(zero_copy_only=False).astype(np.int64)
            out[name] = _Coded(codes, uniques)
        else:
            arr = np.empty(len(col), dtype=object)
            arr[:] = col.to_pylist()
            out[name] = arr
    return out


class _Coded:
    """A column given as integer codes into distinct values (Arrow dictionary encoding)."""

    def __init__(self, codes: np.ndarray, uniques: list[Any]) -> None:
        self.codes = codes
        self.uniques = uniques


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
    matched_: Any
    error: np.ndarray
    multi: bool = False
    single: bool = True
    keys: list[str] = field(default_factory=list)
    absent: np.ndarray | None = None  # rows whose whole result is null (tables with several outputs)
    rule_table: list[str] = field(default_factory=list)  # rule ids by rule number - 1

    @property
    def rule_ids(self) -> np.ndarray:
        """Id of the selected rule per row (object array; None when no rule was selected), for the decision log."""
        table = np.array([None, *self.rule_table], dtype=object)
        return table[np.where(self.rule > 0, self.rule, 0)]

    @property
    def matched(self) -> np.ndarray | None:
        """(rows, rules) boolean matrix of matched rules (built on first access)."""
        m = self.matched_
        return m.get() if isinstance(m, _LazyMatrix) else m

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


class _LazyMatrix:
    def __init__(self, bits: np.ndarray, nr: int) -> None:
        self.bits = bits
        self.nr = nr
        self.m: np.ndarray | None = None

    def get(self) -> np.ndarray:
        if self.m is None:
            self.m = unpack_bits(self.bits, self.nr)[0]
        return self.m


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

    def zeros(self) -> np.ndarray:
        z = getattr(self, "_zeros", None)
        if z is None:
            z = np.zeros(self.n, dtype=bool)
            z.flags.writeable = False
            self._zeros = z
        return z

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
        ok = [conf(u) is not BAD for u in uniques]
        if all(ok):  # every distinct value conforms (codes may skip some, e.g. unused Arrow dictionary entries)
            return col
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
                has_null = col.has_null()
                if op == "=":
                    t = (x > lt_max(c)) & (x <= le_max(c))
                    return (t & ~nx if has_null else t), self.zeros()
                if op == "!=":
                    t = ~((x > lt_max(c)) & (x <= le_max(c)))
                    return (t | nx if has_null else t), self.zeros()
                if op == "<":
                    t = x <= lt_max(c)
                elif op == "<=":
                    t = x <= le_max(c)
                elif op == ">":
                    t = x > le_max(c)
                else:
                    t = x > lt_max(c)
                if not has_null:
                    return t, self.zeros()
                return t & ~nx, nx
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
        """(T, N) masks of numeric unary tests; N (null) is only computed where a negation needs it."""
        need_n = ut.negated
        parts = []
        for t in ut.tests:
            r = self.num_positive(t, col, need_n)
            if r is None:
                return None
            parts.append(r)
        T, N = parts[0]
        for t2, n2 in parts[1:]:
            T = T | t2
            N = ~T & (N | n2) if need_n else N
        if ut.negated:
            return ~T & ~N, N
        return T, N

    def num_positive(self, t: A.Node, col: Col, need_n: bool) -> tuple[np.ndarray, np.ndarray] | None:
        n = self.n
        if isinstance(t, A.UAny):
            return np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
        if isinstance(t, A.UCompare):
            ep = self.endpoint(t.endpoint)
            return None if ep is None else self.cmp(t.op, col, ep)
        if isinstance(t, A.URange):
            return self.num_range(t.lo, t.hi, t.lo_closed, t.hi_closed, col, need_n)
        if isinstance(t, A.UExpr) and not t.uses_q:
            e = t.expr
            if isinstance(e, A.RangeLit):
                return self.num_range(e.lo, e.hi, e.lo_closed, e.hi_closed, col, need_n)
            if isinstance(e, A.ListLit):
                T = np.zeros(n, dtype=bool)
                N = np.zeros(n, dtype=bool)
                for item in e.items:
                    ep = self.endpoint(item)
                    if ep is None or (ep[0] == "c" and type(ep[1]) in (list, dict)):
                        return None
                    t2, n2 = self.cmp("=", col, ep)
                    T = T | t2
                    if need_n:
                        N = ~T & (N | n2)
                return T, N
            ep = self.endpoint(e)
            if ep is None or (ep[0] == "c" and not (ep[1] is None or type(ep[1]) in (Decimal, str, bool))):
                return None
            return self.cmp("=", col, ep)
        return None

    def num_range(self, lo: A.Node, hi: A.Node, lc: bool, hc: bool, col: Col, need_n: bool = True):
        a, b = self.endpoint(lo), self.endpoint(hi)
        if a is None or b is None:
            return None
        t1 = self.cmp(">=" if lc else ">", col, a)
        t2 = self.cmp("<=" if hc else "<", col, b)
        if t1 is None or t2 is None:
            return None
        T = t1[0] & t2[0]
        if not need_n:
            return T, self.zeros()
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
        invalid = None
        for k, col in enumerate(in_cols):
            if ct.input_values[k] is None:
                continue
            T, _ = self.test(ct.input_value_uts[k], ct.input_values[k], col, set())
            bad = ~T & ~self._is_null(col)
            invalid = bad if invalid is None else invalid | bad
        has_invalid = invalid is not None and bool(invalid.any())
        if invalid is None:
            invalid = self.zeros()
        bits = self.match_matrix(ct, in_cols)
        if has_invalid:
            bits[invalid] = 0
        single = _single_tables(ct, name)
        if single.fast:
            return self._select_single(ct, name, single, bits, invalid, has_invalid)
        first, count = first_count_fast(bits)
        lazy = _LazyMatrix(bits, nr)
        policy = ct.policy
        # the (rules, rows) matrix is only built for policies that need more than the first match
        need_m = not (policy in ("FIRST", "UNIQUE") and ct.aggregation is None)
        Mt = lazy.get().T if need_m else None
        M = lazy
        any_m = count > 0
        rule = np.where(any_m, first + 1, 0).astype(np.int32)
        error = invalid.copy()
        rule[invalid] = -1
        policy = ct.policy
        multi = policy in ("RULE ORDER", "OUTPUT ORDER", "COLLECT") and ct.aggregation is None
        keys = [o or name for o in ct.out_names]
        rvals, dyn, bad_rule, default_const, default = _static_outputs(ct)
        fallback = np.zeros(n, dtype=bool)
        if not default_const:
            fallback |= ~any_m & ~invalid
        if multi:
            out = np.empty(n, dtype=object)
            if dyn.any():
                fallback |= Mt[dyn].any(axis=0)
            if bad_rule.any():
                fallback |= Mt[bad_rule].any(axis=0)
            self._multi(ct, Mt, rvals, out, fallback | invalid, policy)
            nomatch = ~any_m & ~invalid & ~fallback
            if nomatch.any():
                out[nomatch] = _obj(default, nomatch) if isinstance(default, list | dict) else default
            out[invalid] = None
            for i in np.flatnonzero(fallback & ~invalid):
                out[i] = ct.run(self.ctx(int(i)))
            return BatchResult(name, n, {name: out}, {name: np.array([v is None for v in out], dtype=bool)},
                               rule, M, error, multi=True, single=ct.single, keys=[name],
                               rule_table=single.rule_ids)
        # single value per row: allocate output arrays
        out = _Out(n, keys, single.numeric)
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
                    lo = np.where(Mt, cid[:, None], np.iinfo(np.int64).max).min(axis=0)
                    hi = np.where(Mt, cid[:, None], -1).max(axis=0)
                    viol = multi_rows & (lo != hi)
                    badm = multi_rows & (Mt[bad_rule].any(axis=0) if bad_rule.any() else False)
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
                pfirst, _ = first_and_count(np.ascontiguousarray(Mt[order_a]))
                sel = np.where(any_m, order_a[np.maximum(pfirst, 0)], -1)
                badm = multi_rows & (Mt[bad_rule].any(axis=0) if bad_rule.any() else False)
                sel[badm] = -1
                error |= badm
                rule[badm] = -1
                rule[any_m & ~badm] = sel[any_m & ~badm] + 1
        elif ct.aggregation is not None:
            self._aggregate(ct, Mt, count, rvals, dyn, bad_rule, out, keys[0], fallback, error, rule)
        if ct.aggregation is None and nr:
            ok = (sel >= 0) & ~invalid
            s0 = np.maximum(sel, 0)
            seldyn = ok & dyn[s0]
            selbad = ok & bad_rule[s0]
            fallback |= seldyn
            error |= selbad
            rule[selbad] = -1
            good = ok & ~seldyn & ~selbad
            gi = s0[good]
            for key, (table, nulls) in zip(keys, single.tables, strict=True):
                out.arr[key][good] = table[gi]
                out.null[key][good] = nulls[gi]
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
                           absent=absent, rule_table=single.rule_ids)

    def _select_single(self, ct: CTable, name: str, single: _SingleTables, bits: np.ndarray, invalid: np.ndarray,
                       has_invalid: bool) -> BatchResult:
        """FIRST / UNIQUE with constant, conforming outputs and a constant default: one kernel pass picks per row
        an index into per-output tables of the rules' outputs, the default and null (see :func:`_single_tables`);
        the same results as the general path below, which handles every other table."""
        nr = len(ct.rules)
        idx, rule = select_single(bits, nr, ct.policy == "UNIQUE", invalid, has_invalid)
        arr: dict[str, np.ndarray] = {}
        null: dict[str, np.ndarray] = {}
        for key, (table, nulls) in zip(single.keys, single.tables, strict=True):
            arr[key] = table.take(idx)
            null[key] = nulls.take(idx)
        error = idx == nr + 1
        absent = error | (idx == nr) if single.default_none else error
        return BatchResult(name, self.n, arr, null, rule, _LazyMatrix(bits, nr), error, multi=False,
                           single=ct.single, keys=single.keys, absent=absent, rule_table=single.rule_ids)

    # -- compiled match kernel
    def match_matrix(self, ct: CTable, in_cols: list[Col]) -> np.ndarray:
        """Rule bitsets per row, (rows, ceil(rules / 64)) uint64: bit j of a row is set when rule j matches.

        Each column is coded into cells (numeric: the cells between all thresholds of its entries; others:
        distinct values); a per-column table gives, per cell, the bitset of rules whose entry holds there. A row's
        matching rules are the AND of its columns' bitsets (:func:`and_cells`, :func:`and_codes`). Entries that
        cannot be tabulated (tests against other non-constant columns, computed inputs) are applied afterwards as exact
        row masks. The plan (which entry goes where, numeric tables) depends only on the column kinds and the
        constant inputs, and is memoised on the table.
        """
        n = self.n
        nr = len(ct.rules)
        words = max(1, (nr + 63) // 64)
        plan = self._plan(ct, in_cols, words)
        keep = plan["keep"]
        bits = np.empty((n, words), dtype=np.uint64)
        init = True
        for k, tsa, table, start, lo, inv in plan["iv"]:
            col = in_cols[k]
            and_cells(bits, col.x, col.null, tsa, start, lo, inv, table, keep, init)
            init = False
        memo = plan["lut_memo"]
        for k, entries in plan["lut"]:
            code, uniques = in_cols[k].factorize()
            try:
                mkey = (k, tuple((type(u), str(u) if type(u) is Decimal else u) for u in uniques))
                table = memo.get(mkey)
            except TypeError:  # unhashable values (lists): no memo
                mkey, table = None, None
            if table is None:
                table = np.full((max(1, len(uniques)), words), _ALL, dtype=np.uint64)
                for j, fn, env in entries:
                    ok = np.fromiter((fn(u, dict(env)) is True for u in uniques), dtype=bool, count=len(uniques))
                    table[np.flatnonzero(~ok), j >> 6] &= ~(np.uint64(1) << np.uint64(j & 63))
                if mkey is not None and len(uniques) <= 4096:
                    if len(memo) > 64:
                        memo.clear()
                    memo[mkey] = table
            and_codes(bits, code, table, keep, init)
            init = False
        if init:
            bits[:] = keep[None, :]
        for j, k, ut, fn in plan["mask"]:
            mask = self.test(ut, fn, in_cols[k], _names(ut))[0]
            bits[~mask, j >> 6] &= ~(np.uint64(1) << np.uint64(j & 63))
        return bits

    def _signature(self, ct: CTable, in_cols: list[Col]) -> tuple:
        names = ct.__dict__.get("_batch_names")
        if names is None:
            names = sorted({nm for r in ct.rules for k, _ in r.tests for nm in _names(r.uts[k])})
            ct.__dict__["_batch_names"] = names
        env = []
        for nm in names:
            c = self.cols.get(nm)
            env.append((nm, "absent" if c is None else (repr(c.value) if c.kind == "const" else c.kind)))
        kinds = tuple(("const", repr(c.value)) if c.kind == "const" else c.kind for c in in_cols)
        return kinds, tuple(env)

    def _plan(self, ct: CTable, in_cols: list[Col], words: int) -> dict:
        sig = self._signature(ct, in_cols)
        plans = ct.__dict__.setdefault("_batch_plans", {})
        plan = plans.get(sig)
        if plan is not None:
            return plan
        nr = len(ct.rules)
        keep = np.zeros(words, dtype=np.uint64)
        for j in range(nr):
            keep[j >> 6] |= np.uint64(1) << np.uint64(j & 63)
        iv: dict[int, list] = {}
        lut: dict[int, list] = {}
        masks: list = []
        for j, r in enumerate(ct.rules):
            for k, fn in r.tests:
                ut = r.uts[k]
                col = in_cols[k]
                env = self.const_env(_names(ut))
                if col.kind == "const" and env is not None:
                    if fn(col.value, dict(env)) is not True:
                        keep[j >> 6] &= ~(np.uint64(1) << np.uint64(j & 63))
                    continue
                if col.kind == "num" and env is not None and not A.uses_qmark(ut):
                    spec = self.cached_spec(ct, ut, fn, col, (k, _tkey(ut)))
                    if spec[0] == "iv":
                        iv.setdefault(k, []).append((j, spec))
                        continue
                if col.kind == "obj" and env is not None:
                    lut.setdefault(k, []).append((j, fn, env))
                    continue
                masks.append((j, k, ut, fn))
        plan = {"iv": [(k, *self.interval_table(ct, k, entries, words)) for k, entries in iv.items()],
                "lut": list(lut.items()), "mask": masks, "keep": keep, "lut_memo": {}}
        if len(plans) > 256:
            plans.clear()
        plans[sig] = plan
        return plan

    @staticmethod
    def interval_table(ct: CTable, k: int, iv: list, words: int) -> tuple:
        """Thresholds of column k, its (cells, words) rule-bitset table and the search grid of the thresholds
        (:func:`cell_grid`); memoised on the table."""
        memo = ct.__dict__.setdefault("_batch_tables", {})
        key = (k, tuple((j, id(sp)) for j, sp in iv))
        hit = memo.get(key)
        if hit is not None and all(a[0] == b[0] and a[1] is b[1] for a, b in zip(hit[2], iv, strict=True)):
            return hit[0], hit[1], *hit[3]
        ts = sorted({b for _, sp in iv for a, b in sp[1] if math.isfinite(b)}
                    | {a for _, sp in iv for a, b in sp[1] if math.isfinite(a)})
        tsa = np.array(ts, dtype=np.float64)
        m = len(ts)
        table = np.full((m + 2, words), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
        ua = np.array([*ts, math.inf])
        for j, sp in iv:
            bit = np.uint64(1) << np.uint64(j & 63)
            mem = np.zeros(m + 1, dtype=bool)
            for a, b in sp[1]:
                mem |= (ua > a) & (ua <= b)
            table[np.flatnonzero(~mem), j >> 6] &= ~bit
            if not sp[2]:
                table[m + 1, j >> 6] &= ~bit
        grid = cell_grid(tsa, GRID_PER_THRESHOLD, GRID_MAX_BUCKETS)
        if len(memo) > 1000:
            memo.clear()
        memo[key] = (tsa, table, [x for x in iv], grid)
        return tsa, table, *grid

    def cached_spec(self, ct: CTable, ut: A.UnaryTests, fn: Any, col: Col, key: tuple) -> tuple:
        """entry_spec, memoised on the table for interval specs (they depend only on constants)."""
        if col.kind != "num":
            return self.entry_spec(ut, fn, col)
        env = self.const_env(_names(ut))
        if env is None:
            return self.entry_spec(ut, fn, col)
        memo = ct.__dict__.setdefault("_batch_specs", {})
        mk = (key, tuple(sorted((k, repr(v)) for k, v in env.items())))
        spec = memo.get(mk)
        if spec is None:
            spec = self.entry_spec(ut, fn, col)
            if spec[0] == "iv":
                if len(memo) > 10_000:
                    memo.clear()
                memo[mk] = spec
        return spec

    def entry_spec(self, ut: A.UnaryTests, fn: Any, col: Col) -> tuple:
        """One input entry as ("iv", [(lo, hi], ...], null_true) | ("lut", table) | ("mask", m) | ("skip",)."""
        names = _names(ut)
        env = self.const_env(names)
        if col.kind == "const" and env is not None:
            r = fn(col.value, dict(env))
            return ("skip",) if r is True else ("never",)
        if col.kind == "num" and env is not None and not A.uses_qmark(ut):
            iv = self.intervals(ut)
            if iv is not None:
                return iv
        if col.kind == "obj" and env is not None:
            codes, uniques = col.factorize()
            return ("lut", [fn(u, dict(env)) is True for u in uniques])
        return ("mask", self.test(ut, fn, col, names)[0])

    def intervals(self, ut: A.UnaryTests) -> tuple | None:
        """Exact float-interval form of a numeric test whose endpoints are all constants (see module doc)."""
        ts: set[float] = set()
        for t in ut.tests:
            for e in _endpoints(t):
                ep = self.endpoint(e)
                if ep is None or ep[0] != "c":
                    return None
                v = ep[1]
                if type(v) is Decimal:
                    ts.update((lt_max(v), le_max(v)))
        reps = sorted(x for x in ts if math.isfinite(x))
        if not reps:
            reps = [0.0]
        pts = [*reps, math.nextafter(reps[-1], math.inf)]
        consts = {k: c for k, c in self.cols.items() if c.kind == "const"}
        sub = _Batch(self.cm, consts, len(pts) + 1)
        xv = np.array([*pts, np.nan])
        nv = np.zeros(len(pts) + 1, dtype=bool)
        nv[-1] = True
        res = sub.num_tests(ut, Col("num", x=xv, null=nv, raw=xv))
        if res is None:
            return None
        T = res[0]
        out: list[tuple[float, float]] = []
        prev = -math.inf
        for i in range(len(pts)):
            upper = reps[i] if i < len(reps) else math.inf
            if T[i]:
                if out and out[-1][1] == prev:
                    out[-1] = (out[-1][0], upper)
                else:
                    out.append((prev, upper))
            prev = upper
        return ("iv", out, bool(T[-1]))

    def _is_null(self, col: Col) -> np.ndarray:
        if col.kind == "num":
            return col.null
        if col.kind == "const":
            return np.full(self.n, col.value is None)
        codes, uniques = col.factorize()
        return np.array([u is None for u in uniques], dtype=bool)[codes] if uniques else np.zeros(0, bool)

    def _multi(self, ct: CTable, Mt: np.ndarray, rvals: list, out: np.ndarray, skip: np.ndarray,
               policy: str) -> None:
        nr = Mt.shape[0]
        order = list(range(nr))
        if policy == "OUTPUT ORDER":
            order = sorted(range(nr), key=lambda j: (ct.rank(rvals[j]) if isinstance(rvals[j], list) else (), j))
        order_a = np.array(order, dtype=np.int64)
        shaped = [ct.shape(v) if isinstance(v, list) else None for v in rvals]
        if not nr:
            return
        rows, cols = np.nonzero(np.ascontiguousarray(Mt[order_a].T))
        if len(rows) == 0:
            return
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            i = rows[s]
            if skip[i]:
                continue
            out[i] = [shaped[order[c]] for c in cols[s:e].tolist()]

    def _aggregate(self, ct: CTable, Mt, count, rvals, dyn, bad_rule, out: _Out, key: str, fallback, error,
                   rule) -> None:
        n = self.n
        any_m = count > 0
        badm = Mt[bad_rule].any(axis=0) if bad_rule.any() else np.zeros(n, dtype=bool)
        dynm = Mt[dyn].any(axis=0) if dyn.any() else np.zeros(n, dtype=bool)
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
            s = np.array(ints, dtype=np.int64) @ Mt.astype(np.int64)
            res = s.astype(np.float64) / float(10**scale)
        else:
            f = np.array([float(v) for v in nums])
            if agg == "MIN":
                res = np.where(Mt, f[:, None], np.inf).min(axis=0)
            else:
                res = np.where(Mt, f[:, None], -np.inf).max(axis=0)
        out.arr[key][ok] = res[ok]
        out.null[key][ok] = False


def _static_outputs(ct: CTable) -> tuple:
    """Per rule: constant outputs after conformance ("dyn" if computed per row, None if outside the output
    values), with masks of dynamic / invalid rules and the default result; memoised on the table."""
    hit = ct.__dict__.get("_batch_static")
    if hit is not None:
        return hit
    nr = len(ct.rules)
    rvals: list[Any] = []
    for r in ct.rules:
        rvals.append(ct.rule_outputs(r, {}, None) if all(o.const for o in r.outs) else "dyn")
    dyn = np.array([isinstance(v, str) for v in rvals], dtype=bool) if nr else np.zeros(0, dtype=bool)
    bad_rule = np.array([v is None for v in rvals], dtype=bool) if nr else np.zeros(0, dtype=bool)
    default_const = all(d is None or d.const for d in ct.defaults)
    default = ct.default_result({}) if default_const else "dyn"
    res = (rvals, dyn, bad_rule, default_const, default)
    ct.__dict__["_batch_static"] = res
    return res


@dataclass
class _SingleTables:
    """Per output key: rule outputs as a gather table (rules, then the default, then null) with its null flags
    (no tables for aggregations)."""

    keys: list[str]
    numeric: list[bool]
    tables: list[tuple[np.ndarray, np.ndarray]]
    rule_ids: list[str]
    default_none: bool
    fast: bool  # FIRST / UNIQUE, every rule output constant and conforming, constant default


def _single_tables(ct: CTable, name: str) -> _SingleTables:
    """Output tables of single-result tables and whether :meth:`_Batch._select_single` applies; memoised on the
    table (per decision name, which names the output of a single unnamed output)."""
    memo = ct.__dict__.setdefault("_batch_single", {})
    hit = memo.get(name)
    if hit is not None:
        return hit
    rvals, dyn, bad_rule, default_const, default = _static_outputs(ct)
    keys = [o or name for o in ct.out_names]
    numeric: list[bool] = []
    tables: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(len(keys)):
        dk = None if default is None or default == "dyn" else (default if ct.single else default[ct.out_names[k]])
        if ct.aggregation == "COUNT":
            numeric.append(True)
        else:
            vals = [v[k] for v in rvals if isinstance(v, list)]
            if isinstance(default, dict):
                vals.append(default[ct.out_names[k]])
            elif default is not None and default != "dyn":
                vals.append(default)
            numeric.append(not dyn.any() and default != "dyn" and all(v is None or type(v) is Decimal for v in vals))
        if ct.aggregation is not None:  # aggregations do not gather rule outputs
            continue
        ext = [v[k] if isinstance(v, list) else None for v in rvals] + [dk, None]
        nulls = np.array([v is None for v in ext], dtype=bool)
        if numeric[-1]:
            table = np.array([np.nan if v is None else float(v) for v in ext], dtype=np.float64)
        else:
            table = np.empty(len(ext), dtype=object)
            for j, v in enumerate(ext):
                table[j] = v
        tables.append((table, nulls))
    fast = (ct.policy in ("FIRST", "UNIQUE") and ct.aggregation is None and default_const
            and not dyn.any() and not bad_rule.any())
    res = _SingleTables(keys, numeric, tables, [r.id for r in ct.rules], default is None, fast)
    memo[name] = res
    return res


def _endpoints(t: A.Node) -> list[A.Node]:
    if isinstance(t, A.UCompare):
        return [t.endpoint]
    if isinstance(t, A.URange):
        return [t.lo, t.hi]
    if isinstance(t, A.UExpr):
        e = t.expr
        if isinstance(e, A.RangeLit):
            return [e.lo, e.hi]
        if isinstance(e, A.ListLit):
            return list(e.items)
        return [e]
    return []


_TKEYS: dict[int, tuple] = {}
_NAMES: dict[int, tuple] = {}


def _tkey(ut: A.UnaryTests) -> Any:
    """Hashable identity of a parsed test that tells booleans from numbers (True == 1 in Python)."""
    hit = _TKEYS.get(id(ut))
    if hit is not None and hit[0] is ut:
        return hit[1]
    key = (repr(ut),)
    if len(_TKEYS) > 100_000:
        _TKEYS.clear()
    _TKEYS[id(ut)] = (ut, key)
    return key


def _names(ut: A.Node) -> set[str]:
    """free_names, memoised per parsed test object."""
    hit = _NAMES.get(id(ut))
    if hit is not None and hit[0] is ut:
        return hit[1]
    names = A.free_names(ut)
    if len(_NAMES) > 100_000:
        _NAMES.clear()
    _NAMES[id(ut)] = (ut, names)
    return names


def _key(v: Any) -> Any:
    if v is None:
        return ("__bad__",)
    return tuple(("n", x.normalize()) if type(x) is Decimal else (type(x).__name__, repr(x)) for x in v)


def parse_input(ct: CTable, k: int) -> A.Node:
    from decisions.feel.parser import parse_expression

    return parse_expression(ct.table.inputs[k].expression)


def evaluate_batch(cm: CompiledModel, columns: Any, decision: str) -> BatchResult:
    try:
        return _evaluate_batch(cm, columns, decision)
    except TypeError as e:  # a value with no FEEL equivalent deep in an object column
        raise EvaluationError(f"batch input for decision {decision!r}: {e}") from None


def _evaluate_batch(cm: CompiledModel, columns: Any, decision: str) -> BatchResult:
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
        return Col("obj", raw=arr)  # result(i) of a single output is arr[i]
    raw = np.empty(r.n, dtype=object)
    for i in range(r.n):
        raw[i] = r.result(i)
    return Col("obj", raw=raw)


__all__ = ["BatchResult", "evaluate_batch", "lt_max", "le_max", "ops"]
