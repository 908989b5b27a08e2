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
def and_tables(codes: np.ndarray, tables: np.ndarray, col_off: np.ndarray, n: int) -> np.ndarray:
    """Rule bitsets per row: AND over columns of ``tables[col_off[c] + codes[c, i]]`` (rows of uint64 words)."""
    nc = codes.shape[0]
    w = tables.shape[1]
    bits = np.empty((n, w), dtype=np.uint64)
    for i in range(n):
        for k in range(w):
            acc = np.uint64(0xFFFFFFFFFFFFFFFF)
            for c in range(nc):
                acc &= tables[col_off[c] + codes[c, i], k]
            bits[i, k] = acc
    return bits


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


@numba.njit(cache=True)
def cell_codes(x: np.ndarray, ts: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Cell index of each value: i with ts[i-1] < x <= ts[i] (len(ts) above all), len(ts)+1 for null.

    A uniform grid of buckets over [ts[0], ts[-1]] gives a starting cell at or below the answer (one bucket of
    margin absorbs rounding in the bucket index); exact comparisons ``ts[c] < x`` then finish the search.
    """
    n = x.shape[0]
    m = ts.shape[0]
    out = np.empty(n, dtype=np.int64)
    if m == 0:
        for i in range(n):
            out[i] = 1 if null[i] else 0
        return out
    g = 4 * m + 16
    lo = ts[0]
    span = ts[m - 1] - lo
    inv = g / span if span > 0 else 0.0
    start = np.zeros(g + 1, dtype=np.int64)
    c = 0
    for b in range(g + 1):
        edge = lo + (b - 1) * (span / g)
        while c < m and ts[c] < edge:
            c += 1
        start[b] = c
    for i in range(n):
        if null[i]:
            out[i] = m + 1
            continue
        v = x[i]
        if v <= lo:
            out[i] = 0
            continue
        f = (v - lo) * inv
        b = g if f >= g else int(f)
        c = start[b]
        while c < m and ts[c] < v:
            c += 1
        out[i] = c
    return out


@numba.njit(cache=True)
def first_count_bits(bits: np.ndarray, nr: int) -> tuple[np.ndarray, np.ndarray]:
    """First matching rule (-1 none) and match count from rule bitsets, without building the matrix."""
    n = bits.shape[0]
    first = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for i in range(n):
        c = 0
        for w in range(bits.shape[1]):
            word = bits[i, w]
            if word == 0:
                continue
            if c == 0:
                j = 0
                t = word
                while (t & np.uint64(1)) == 0:
                    t = t >> np.uint64(1)
                    j += 1
                first[i] = w * 64 + j
            while word != 0:  # popcount
                word = word & (word - np.uint64(1))
                c += 1
        count[i] = c
    return first, count
