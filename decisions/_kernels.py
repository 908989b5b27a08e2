"""Numba kernels of the batch engine."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def first_and_count(mt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a (rules, rows) match matrix: index of the first matching rule per row (-1 none) and match count."""
    nr, n = mt.shape
    first = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for j in range(nr - 1, -1, -1):
        row = mt[j]
        for i in range(n):
            if row[i]:
                first[i] = j
                count[i] += 1
    return first, count


@numba.njit(cache=True)
def unpack_bits(bits: np.ndarray, nr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, rules) match matrix, first matching rule (-1 none) and match count from rule bitsets."""
    n = bits.shape[0]
    m = np.zeros((n, nr), dtype=np.bool_)
    first = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for i in range(n):
        c = 0
        for w in range(bits.shape[1]):
            word = bits[i, w]
            j = w * 64
            while word != 0 and j < nr:
                if word & np.uint64(1):
                    m[i, j] = True
                    if c == 0:
                        first[i] = j
                    c += 1
                word = word >> np.uint64(1)
                j += 1
        count[i] = c
    return m, first, count


_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)
_S1 = np.uint64(1)
_S2 = np.uint64(2)
_S4 = np.uint64(4)
_S56 = np.uint64(56)


@numba.njit(cache=True, inline="always")
def _popcount(x: np.uint64) -> np.int64:
    """Set bits of a 64-bit word (SWAR count, constant time)."""
    x = x - ((x >> _S1) & _M1)
    x = (x & _M2) + ((x >> _S2) & _M2)
    x = (x + (x >> _S4)) & _M4
    return np.int64((x * _H01) >> _S56)


_MIN_NORMAL = 2.2250738585072014e-308  # smallest normal float64 (IEEE 754 binary64)


@numba.njit(cache=True)
def cell_grid(ts: np.ndarray, per_threshold: int, max_buckets: int) -> tuple[np.ndarray, float, float]:
    """Search grid of :func:`and_cells` for sorted thresholds ``ts``: per bucket of a uniform grid over
    [ts[0], ts[-1]], the first threshold at or above the bucket's lower edge less one bucket (the margin absorbs
    rounding in the bucket index); with the grid's origin and inverse bucket width. ``per_threshold`` buckets per
    threshold (at most ``max_buckets`` + 16): with many, most values need no step after the look-up. The grid
    only affects speed; any size gives the same cells.

    No grid (inverse width 0: a linear search from the first threshold) when the bucket width would not be a
    normal float (a span of zero, of a few subnormal ulps, or overflowing), where the rounding argument fails.
    """
    m = ts.shape[0]
    if m == 0:
        return np.zeros(1, dtype=np.int64), 0.0, 0.0
    g = min(per_threshold * m, max_buckets) + 16
    lo = ts[0]
    span = ts[m - 1] - lo
    width = span / g
    if not (width >= _MIN_NORMAL and width < np.inf and g / span < np.inf):
        return np.zeros(1, dtype=np.int64), lo, 0.0
    inv = g / span
    start = np.zeros(g + 1, dtype=np.int64)
    c = 0
    for b in range(g + 1):
        edge = lo + (b - 1) * width
        while c < m and ts[c] < edge:
            c += 1
        start[b] = c
    return start, lo, inv


@numba.njit(cache=True, inline="always")
def _and_row(bits: np.ndarray, i: int, table: np.ndarray, c: int, keep: np.ndarray, init: bool) -> None:
    """bits[i] &= table[c] (``init``: bits[i] = table[c] & keep)."""
    if init:
        for k in range(bits.shape[1]):
            bits[i, k] = table[c, k] & keep[k]
    else:
        for k in range(bits.shape[1]):
            bits[i, k] &= table[c, k]


@numba.njit(cache=True)
def and_cells(bits: np.ndarray, x: np.ndarray, null: np.ndarray, ts: np.ndarray, start: np.ndarray, lo: float,
              inv: float, table: np.ndarray, keep: np.ndarray, init: bool) -> None:
    """AND each row's rule bitset with ``table[cell]`` of its value, in place (``init``: set it to
    ``table[cell] & keep`` instead). The cell of ``v`` is i with ts[i-1] < v <= ts[i] (len(ts) above all,
    len(ts)+1 for null), found from the grid of :func:`cell_grid` and finished by exact comparisons."""
    n = x.shape[0]
    m = ts.shape[0]
    g = start.shape[0] - 1
    for i in range(n):
        if null[i]:
            c = m + 1
        elif m == 0:
            c = 0
        else:
            v = x[i]
            if v <= lo:
                c = 0
            else:
                f = (v - lo) * inv  # NaN only without a grid (inv 0, v - lo overflowing): then bucket g = 0
                b = int(f) if f < g else g
                c = start[b]
                while c < m and ts[c] < v:
                    c += 1
        _and_row(bits, i, table, c, keep, init)


@numba.njit(cache=True)
def and_codes(bits: np.ndarray, codes: np.ndarray, table: np.ndarray, keep: np.ndarray, init: bool) -> None:
    """AND each row's rule bitset with ``table[codes[i]]`` in place (``init``: set it to ``table[...] & keep``)."""
    for i in range(codes.shape[0]):
        _and_row(bits, i, table, codes[i], keep, init)


@numba.njit(cache=True, inline="always")
def _first_count_row(bits: np.ndarray, i: int, stop: bool) -> tuple[int, int]:
    """Row i's first set bit (-1 none) and number of set bits (1 once the first is found, if ``stop``)."""
    first = -1
    c = 0
    for k in range(bits.shape[1]):
        word = bits[i, k]
        if word == 0:
            continue
        if c == 0:
            first = k * 64 + _popcount((word & (~word + _ONE)) - _ONE)
            if stop:
                return first, 1
        c += _popcount(word)
    return first, c


@numba.njit(cache=True)
def first_count_fast(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First matching rule (-1 none) and match count per row from rule bitsets (constant-time bit counts)."""
    n = bits.shape[0]
    first = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    for i in range(n):
        first[i], count[i] = _first_count_row(bits, i, False)
    return first, count


@numba.njit(cache=True)
def select_single(bits: np.ndarray, nr: int, unique: bool, invalid: np.ndarray, has_invalid: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """FIRST / UNIQUE selection from rule bitsets: per row the index into the output tables (the rule's index,
    ``nr`` for no match = default, ``nr + 1`` for an error = null) and the rule number (1-based, 0 no match,
    -1 error: an invalid input row, or more than one match under UNIQUE)."""
    n = bits.shape[0]
    idx = np.empty(n, dtype=np.int64)
    rule = np.empty(n, dtype=np.int32)
    for i in range(n):
        first, c = _first_count_row(bits, i, not unique)
        if (has_invalid and invalid[i]) or c > 1:
            idx[i] = nr + 1
            rule[i] = -1
        elif first < 0:
            idx[i] = nr
            rule[i] = 0
        else:
            idx[i] = first
            rule[i] = first + 1
    return idx, rule


@numba.njit(cache=True)
def factorize_ids(ids: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Codes of equal integers in order of first occurrence (open addressing), with the index of each code's first
    occurrence; gives up (False) once more than ``cap`` distinct values are seen."""
    n = ids.shape[0]
    size = 16
    log2 = 4
    while size < 2 * min(n, cap) + 2:
        size *= 2
        log2 += 1
    mask = np.uint64(size - 1)
    shift = np.uint64(64 - log2)
    keys = np.zeros(size, dtype=np.int64)
    vals = np.full(size, -1, dtype=np.int64)
    codes = np.empty(n, dtype=np.int64)
    firsts = np.empty(min(n, cap) + 1, dtype=np.int64)
    k = 0
    mult = np.uint64(0x9E3779B97F4A7C15)
    for i in range(n):
        key = ids[i]
        h = (np.uint64(key) * mult) >> shift  # Fibonacci hashing: the product's high bits
        while True:
            v = vals[h]
            if v < 0:
                if k >= cap:
                    return codes, firsts[:0], False
                keys[h] = key
                vals[h] = k
                firsts[k] = i
                codes[i] = k
                k += 1
                break
            if keys[h] == key:
                codes[i] = v
                break
            h = (h + np.uint64(1)) & mask
    return codes, firsts[:k], True
