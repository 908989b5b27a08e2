"""Numba kernels of the tilt solver: exact objective, incremental move evaluation, enumeration.

Data layout: ``rx[c, k, p]`` is the power (mW) received at pixel ``p`` from cell ``c`` at tilt index ``k``
(contiguous along pixels, so one cell-tilt row streams through the cache). A pixel is served by its strongest
cell (best server); ``SINR_p = S_p / (sum of the other cells' powers + N_p)``.

Pixel value (``mode``):

* ``0`` coverage: ``w_p`` if ``SINR_p >= gamma`` and ``S_p >= rsrp_min`` else 0 (REFERENCES.md §6.2);
* ``1`` log-rate: ``w_p ln(log2(1 + max(SINR_p, gamma)))`` (Shannon spectral efficiency, floored at the SINR
  floor, so the logarithm stays finite); a pixel below ``rsrp_min`` gets the floor value;
* ``2`` log-rate subject to a minimum coverage: values as in mode 0 (coverage, log-rate), compared as
  ``(min(coverage, cap), log-rate)`` lexicographically -- reach the coverage target, then maximise the log-rate.

Every kernel returns a *primary* and a *secondary* total. In coverage mode the secondary is the log-rate sum, used
only to break ties between configurations of equal coverage (a lexicographic objective, REFERENCES.md §6.2);
in log-rate mode the secondary is 0. Comparisons cap the primary at ``cap`` (``inf`` except in mode 2).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _values(sig: float, interf: float, noise: float, w: float, mode: int, gamma: float, rsrp_min: float,
            ln_se_floor: float) -> tuple[float, float]:
    den = interf + noise
    if den > 0.0:
        sinr = sig / den
    else:
        sinr = math.inf
    ok_rsrp = sig >= rsrp_min
    if ok_rsrp and sinr > gamma:
        lnse = math.log(math.log2(1.0 + sinr)) if sinr < 1e300 else 700.0
    else:
        lnse = ln_se_floor
    if mode != 1:
        cov = w if (ok_rsrp and sinr >= gamma) else 0.0
        return cov, w * lnse
    return w * lnse, 0.0


@numba.njit(cache=True)
def evaluate_config(rx: np.ndarray, t: np.ndarray, noise: np.ndarray, w: np.ndarray, mode: int, gamma: float,
                    rsrp_min: float, ln_se_floor: float, sinr_out: np.ndarray) -> tuple[float, float]:
    """Exact objective of tilt indices ``t``; writes each pixel's SINR (linear) into ``sinr_out``. The
    interference is summed explicitly over the non-serving cells (no cancellation)."""
    n_cells = rx.shape[0]
    n_pix = rx.shape[2]
    prim = 0.0
    sec = 0.0
    for p in range(n_pix):
        best = -1.0
        ib = 0
        for c in range(n_cells):
            r = rx[c, t[c], p]
            if r > best:
                best = r
                ib = c
        interf = 0.0
        for c in range(n_cells):
            if c != ib:
                interf += rx[c, t[c], p]
        den = interf + noise[p]
        sinr_out[p] = best / den if den > 0.0 else math.inf
        a, b = _values(best, interf, noise[p], w[p], mode, gamma, rsrp_min, ln_se_floor)
        prim += a
        sec += b
    return prim, sec


@numba.njit(cache=True)
def pixel_state(rx: np.ndarray, t: np.ndarray, tot: np.ndarray, b1: np.ndarray, i1: np.ndarray,
                b2: np.ndarray) -> None:
    """Per pixel: total received power, strongest power and its cell, second strongest power."""
    n_cells = rx.shape[0]
    n_pix = rx.shape[2]
    for p in range(n_pix):
        tot[p] = 0.0
        b1[p] = -1.0
        b2[p] = -1.0
        i1[p] = 0
    for c in range(n_cells):
        k = t[c]
        for p in range(n_pix):
            r = rx[c, k, p]
            tot[p] += r
            if r > b1[p]:
                b2[p] = b1[p]
                b1[p] = r
                i1[p] = c
            elif r > b2[p]:
                b2[p] = r


@numba.njit(cache=True)
def cell_deltas(rx: np.ndarray, rmin: np.ndarray, rmax: np.ndarray, t: np.ndarray, c: int, tot: np.ndarray,
                b1: np.ndarray, i1: np.ndarray, b2: np.ndarray, noise: np.ndarray, w: np.ndarray, mode: int,
                gamma: float, rsrp_min: float, ln_se_floor: float, tie_eps: float, d_prim: np.ndarray,
                d_sec: np.ndarray) -> None:
    """Change of the (primary, secondary) objective if cell ``c`` moved to each tilt index, all other cells
    fixed: O(n_tilts x relevant pixels) from the pixel state, no full re-evaluation.

    Coverage mode skips, exactly, the pixels whose coverage cannot change: cell ``c`` never becomes their best
    server (``rmax < other best``) and the SINR floor test gives the same answer at ``rmin`` and ``rmax`` (the
    SINR is monotone in ``c``'s power there). The tie-breaking secondary (log-rate) is then summed only over the
    remaining pixels and those where ``c``'s strongest tilt exceeds ``tie_eps`` of the interference plus
    noise -- an approximation used only to order equal-coverage moves. Log-rate mode evaluates every pixel."""
    n_tilts = rx.shape[1]
    n_pix = rx.shape[2]
    kc = t[c]
    rel = np.empty(n_pix, dtype=np.int64)
    base = np.empty(n_pix)
    other = np.empty(n_pix)
    cur_p = np.empty(n_pix)
    cur_s = np.empty(n_pix)
    m = 0
    for p in range(n_pix):
        bs = tot[p] - rx[c, kc, p]
        ot = b2[p] if i1[p] == c else b1[p]
        keep = True
        if mode == 0 and rmax[c, p] < ot:
            rest = bs - ot + noise[p]
            ok_lo = ot >= gamma * (rest + rmin[c, p])
            ok_hi = ot >= gamma * (rest + rmax[c, p])
            if ok_lo == ok_hi and rmax[c, p] < tie_eps * rest:
                keep = False
        if keep:
            rel[m] = p
            base[m] = bs
            other[m] = ot
            a, b = _values(b1[p], tot[p] - b1[p], noise[p], w[p], mode, gamma, rsrp_min, ln_se_floor)
            cur_p[m] = a
            cur_s[m] = b
            m += 1
    for k in range(n_tilts):
        sp = 0.0
        ss = 0.0
        if k != kc:
            for j in range(m):
                p = rel[j]
                r = rx[c, k, p]
                if r >= other[j]:
                    sig = r
                    interf = base[j]
                else:
                    sig = other[j]
                    interf = base[j] - other[j] + r
                    if interf < 0.0:
                        interf = 0.0
                a, b = _values(sig, interf, noise[p], w[p], mode, gamma, rsrp_min, ln_se_floor)
                sp += a - cur_p[j]
                ss += b - cur_s[j]
        d_prim[k] = sp
        d_sec[k] = ss


@numba.njit(cache=True)
def sweep(rx: np.ndarray, rmin: np.ndarray, rmax: np.ndarray, t: np.ndarray, allowed: np.ndarray,
          order: np.ndarray, dirty: np.ndarray, coupled: np.ndarray, noise: np.ndarray, w: np.ndarray, mode: int,
          gamma: float, rsrp_min: float, ln_se_floor: float, tie_eps: float, tol_prim: float,
          tol_sec: float, cap: float) -> int:
    """One pass of coordinate descent over the cells of ``order`` whose ``dirty`` flag is set: each is moved to
    its best allowed tilt given the others (lexicographic on primary, then secondary); ``t`` is updated in
    place. A cell's flag is cleared once examined; a move sets the flags of the cells ``coupled`` to it (they
    share pixels), so later sweeps only revisit cells whose situation changed. Returns the number of moves."""
    n_cells = rx.shape[0]
    n_tilts = rx.shape[1]
    n_pix = rx.shape[2]
    tot = np.empty(n_pix)
    b1 = np.empty(n_pix)
    b2 = np.empty(n_pix)
    i1 = np.empty(n_pix, dtype=np.int64)
    d_prim = np.empty(n_tilts)
    d_sec = np.empty(n_tilts)
    pixel_state(rx, t, tot, b1, i1, b2)
    cur = 0.0
    if cap < np.inf:
        for p in range(n_pix):
            a, _ = _values(b1[p], tot[p] - b1[p], noise[p], w[p], mode, gamma, rsrp_min, ln_se_floor)
            cur += a
    moves = 0
    for c in order:
        if not dirty[c]:
            continue
        dirty[c] = False
        cell_deltas(rx, rmin, rmax, t, c, tot, b1, i1, b2, noise, w, mode, gamma, rsrp_min, ln_se_floor, tie_eps,
                    d_prim, d_sec)
        best_k = t[c]
        best_p = 0.0
        best_s = 0.0
        for k in range(n_tilts):
            if not allowed[c, k] or k == t[c]:
                continue
            dp = d_prim[k]
            if cap < np.inf:
                dp = min(cur + dp, cap) - min(cur, cap)
            better = dp > best_p + tol_prim or (dp >= best_p - tol_prim and d_sec[k] > best_s + tol_sec)
            if better:
                best_k = k
                best_p = dp
                best_s = d_sec[k]
        if best_k != t[c]:
            cur += d_prim[best_k]
            t[c] = best_k
            moves += 1
            for c2 in range(n_cells):
                if coupled[c, c2] and c2 != c:
                    dirty[c2] = True
            pixel_state(rx, t, tot, b1, i1, b2)
    return moves


@numba.njit(cache=True)
def enumerate_range(rx: np.ndarray, choices: np.ndarray, n_choices: np.ndarray, start: int, stop: int,
                    noise: np.ndarray, w: np.ndarray, mode: int, gamma: float, rsrp_min: float,
                    ln_se_floor: float, cap: float) -> tuple[float, float, int]:
    """Exhaustive search over configurations ``start..stop-1`` in mixed radix (cell 0 least significant);
    cell ``c`` takes tilt ``choices[c, digit]``. Returns the best (primary, secondary, index), lexicographic on
    (min(primary, cap), secondary), first index on ties."""
    n_cells = rx.shape[0]
    n_pix = rx.shape[2]
    t = np.empty(n_cells, dtype=np.int64)
    sinr = np.empty(n_pix)
    best_p = -np.inf
    best_s = -np.inf
    best_i = -1
    for idx in range(start, stop):
        rem = idx
        for c in range(n_cells):
            t[c] = choices[c, rem % n_choices[c]]
            rem //= n_choices[c]
        a, b = evaluate_config(rx, t, noise, w, mode, gamma, rsrp_min, ln_se_floor, sinr)
        a = min(a, cap)
        if a > best_p or (a == best_p and b > best_s):
            best_p = a
            best_s = b
            best_i = idx
    return best_p, best_s, best_i
