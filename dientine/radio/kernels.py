"""Numba kernels: static path gains per point per cell (dense and top-K), best server / SINR / rate, and the
inverted top-K index for cached re-evaluation ("the grid is the cache", DESIGN.md).

Inputs are plain arrays; the validated entry points are in :mod:`dientine.radio.maps`. Parallel kernels use
``parallel=True, cache=True``; their serial twins carry a ``_serial`` suffix (the on-disk cache does not key on
``parallel=``, DESIGN.md "Numba traps").

Per link (point p, cell c) the **path gain** (dB) is

    gain = G_ant(θ', φ') − PL(d2D, d3D, h_BS, h_UT, fc, LOS) − σ_SF · z_state[pixel, site] − O2I_p

* geometry: the nearest of the wrap-around images of the cell (``wrap_offsets``; one zero row = no wrap);
  d2D := max(d2D, 10 m) in PL (package rule), real geometry in the antenna angles.
* LOS: u[pixel, site] < P_LOS (TR 38.901 Table 7.4.2-1; TR 36.777 Table B-1 above the 38.901 UE heights).
* PL: TR 38.901 Table 7.4.1-1 (UMa h_E: exact 1 m below h_UT 13 m, expectation over the h_E distribution for
  13-22.5 m, as :func:`dientine.radio.path_loss_db` without rng), TR 36.777 Table B-2 for aerial points.
* SF: σ from the same tables (O2I σ for indoor points), z from the per-site correlated fields.
* antenna: GCS → LCS rotation (TR 38.901 eqs 7.1-7/7.1-8) with the cell's bearing and mechanical tilt, then the
  pattern code 0 = TR 36.814 sector, 1 = TR 38.901 element, 2 = TR 38.901 element + vertical column array.
Transmit power is not included, so power changes stay cheap.

Co-located antennas (same x, y, height, site: :func:`dientine.radio.maps.antenna_groups`) share d2D, LOS state and
shadowing exactly, so the path-loss part is computed once per group and the pattern once per cell. When no cell
of a group has mechanical tilt, LCS azimuth = GCS azimuth − bearing and LCS elevation = GCS elevation, so the
antenna angles take one :func:`atan2_deg` each per group (not per cell), and cells beyond the pattern's cap
azimuth need no elevation at all; other groups rotate per cell as above. Parallel
kernels split the points into chunks of ``CHUNK_POINTS`` and call the serial ``*_rows`` core per chunk (small
parfor bodies compile fast); :mod:`.maps` runs them under ``numba.parallel_chunksize(1)`` so the chunks are
handed out dynamically (on a shared machine a statically split half stalls when its thread is descheduled).
``numba.set_parallel_chunksize`` is not called inside the kernels: it would make them uncacheable.

**SIMD blocks** (:func:`_block_gains`): the gain kernels work on blocks of ``BLOCK_POINTS`` points; per antenna
group the loops run over the points of the block (inner) with branch-free code (LOS and NLOS both computed,
then selected; :mod:`.vecmath` exp/log10 instead of libm calls; the site's field values gathered per block into
contiguous rows), so LLVM vectorises them. They cover terrestrial points (h_UT up to the TR 38.901 maximum; UMa
below 13 m, where h_E = 1 m exactly); aerial points, UMa points at 13-22.5 m and points at a site's zenith are
redone one by one by the reference per-point code (:func:`_point_gains`). The block formulas are the same
model; they differ from the per-point code by float64 rounding only (vecmath: a few ulp), which does not change
the float32 maps of the benchmark layout (checked bit for bit against the per-point kernel, 3.2 M links).
Dense serving likewise computes a point's received powers in one SIMD pass (:func:`_best_and_sum_dense`).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .vecmath import exp_v, log10_v

C_M_S = 3.0e8  # TR 38.901 Table 7.4.1-1 notes (REFERENCES.md §0)
LN10_10 = math.log(10.0) / 10.0
_JIT = {"cache": True, "error_model": "numpy"}
# gain kernels only: let LLVM contract/reassociate (FMA, no NaN/inf assumptions: those flags are not set);
# about 10 % faster, float32 maps unchanged in the benchmark layout. The serving kernels stay strict so the
# full and cached paths round the best-server metric identically.
_JIT_FAST = {"cache": True, "error_model": "numpy", "fastmath": {"contract", "arcp", "nsz", "afn", "reassoc"}}
# validity (constants.py): 38.901 h_UT maxima, d2D maxima (LOS, NLOS) and aerial d2D maxima per family
_H_UT_MAX_38901 = np.array([22.5, 22.5, 10.0])
_D2D_MAX_LOS = np.array([5000.0, 5000.0, 10000.0])
_D2D_MAX_NLOS = np.array([5000.0, 5000.0, 5000.0])
_D2D_MAX_AV = np.array([4000.0, 4000.0, 10000.0])
_SIGMA_O2I = np.array([7.0, 7.0, 8.0])
# cos of the LCS azimuth beyond which A_H is capped: φ_cap = φ3dB · sqrt(A_max/12) (TR 36.814: 70°, 25 dB;
# TR 38.901 element: 65°, 30 dB)
_COS_CAP_36814 = math.cos(math.radians(70.0 * math.sqrt(25.0 / 12.0)))
_COS_CAP_38901 = math.cos(math.radians(65.0 * math.sqrt(30.0 / 12.0)))


# ----------------------------------------------------------------------------------------------- path loss
@numba.njit(inline="always", **_JIT)
def _uma_pl(d2d, ld3, h_bs, h_ut, fc, lf20, los, h_e):
    dbp = 4.0 * (h_bs - h_e) * (h_ut - h_e) * fc * 1e9 / C_M_S
    if d2d <= dbp:
        pl_los = 28.0 + 22.0 * ld3 + lf20
    else:
        pl_los = 28.0 + 40.0 * ld3 + lf20 - 9.0 * math.log10(dbp * dbp + (h_bs - h_ut) ** 2)
    if los:
        return pl_los
    return max(pl_los, 13.54 + 39.08 * ld3 + lf20 - 0.6 * (h_ut - 1.5))


@numba.njit(inline="always", **_JIT)
def _rma_pl1(d, fc, h):
    return (20.0 * math.log10(40.0 * math.pi * d * fc / 3.0) + min(0.03 * h**1.72, 10.0) * math.log10(d)
            - min(0.044 * h**1.72, 14.77) + 0.002 * math.log10(h) * d)


@numba.njit(inline="always", **_JIT)
def path_loss_sigma_db(fam, d2d, d3, h_bs, h_ut, fc, los, h_bld, w_st, lf20, fs):
    """(PL dB, σ_SF dB) of one link; d2d already floored at 10 m. fam 0 UMa, 1 UMi, 2 RMa.
    ``lf20`` = 20 log10(fc), ``fs`` = 20 log10(40π fc/3) (loop invariants)."""
    ld3 = math.log10(d3)
    if h_ut > _H_UT_MAX_38901[fam]:  # TR 36.777 Table B-2 (aerial UE)
        lh = math.log10(h_ut)
        if fam == 0:
            if los:
                return 28.0 + 22.0 * ld3 + lf20, 4.64 * math.exp(-0.0066 * h_ut)
            return -17.5 + (46.0 - 7.0 * lh) * ld3 + fs, 6.0
        if fam == 1:
            pl_los = max(fs + 20.0 * ld3, 30.9 + (22.25 - 0.5 * lh) * ld3 + lf20)
            if los:
                return pl_los, max(5.0 * math.exp(-0.01 * h_ut), 2.0)
            return max(pl_los, 32.4 + (43.2 - 7.6 * lh) * ld3 + lf20), 8.0
        pl_los = max(23.9 - 1.8 * lh, 20.0) * ld3 + fs
        if los:
            return pl_los, 4.2 * math.exp(-0.0046 * h_ut)
        return max(pl_los, -12.0 + (35.0 - 5.3 * lh) * ld3 + fs), 6.0
    if fam == 0:  # TR 38.901 Table 7.4.1-1 UMa
        sig = 4.0 if los else 6.0
        if h_ut < 13.0:
            return _uma_pl(d2d, ld3, h_bs, h_ut, fc, lf20, los, 1.0), sig
        g = 0.0 if d2d <= 18.0 else 1.25 * (d2d / 100.0) ** 3 * math.exp(-d2d / 150.0)
        c = ((h_ut - 13.0) / 10.0) ** 1.5 * g
        n = 0
        for k in range(4):
            if 12.0 + 3.0 * k <= h_ut - 1.5:
                n += 1
        if n == 0:
            return _uma_pl(d2d, ld3, h_bs, h_ut, fc, lf20, los, 1.0), sig
        p1 = 1.0 / (1.0 + c)
        acc = p1 * _uma_pl(d2d, ld3, h_bs, h_ut, fc, lf20, los, 1.0)
        for k in range(n):
            acc += (1.0 - p1) / n * _uma_pl(d2d, ld3, h_bs, h_ut, fc, lf20, los, 12.0 + 3.0 * k)
        return acc, sig
    if fam == 1:  # UMi-Street Canyon
        dbp = 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * fc * 1e9 / C_M_S
        if d2d <= dbp:
            pl_los = 32.4 + 21.0 * ld3 + lf20
        else:
            pl_los = 32.4 + 40.0 * ld3 + lf20 - 9.5 * math.log10(dbp * dbp + (h_bs - h_ut) ** 2)
        if los:
            return pl_los, 4.0
        return max(pl_los, 35.3 * ld3 + 22.4 + 21.3 * math.log10(fc) - 0.3 * (h_ut - 1.5)), 7.82
    # RMa
    dbp = 2.0 * math.pi * h_bs * h_ut * fc * 1e9 / C_M_S
    if d2d <= dbp:
        pl_los = _rma_pl1(d3, fc, h_bld)
        sig = 4.0
    else:
        pl_los = _rma_pl1(dbp, fc, h_bld) + 40.0 * math.log10(d3 / dbp)
        sig = 6.0
    if los:
        return pl_los, sig
    lhb = math.log10(h_bs)
    prime = (161.04 - 7.1 * math.log10(w_st) + 7.5 * math.log10(h_bld)
             - (24.37 - 3.7 * (h_bld / h_bs) ** 2) * lhb + (43.42 - 3.1 * lhb) * (ld3 - 3.0)
             + lf20 - (3.2 * math.log10(11.75 * h_ut) ** 2 - 4.97))
    return max(pl_los, prime), 8.0


@numba.njit(inline="always", **_JIT)
def los_probability_scalar(fam, d, h_ut):
    """TR 38.901 Table 7.4.2-1 (boundaries inclusive) / TR 36.777 Table B-1 above the 38.901 heights."""
    if h_ut > _H_UT_MAX_38901[fam]:
        lh = math.log10(h_ut)
        if fam == 0:
            if h_ut > 100.0:
                return 1.0
            p1 = 4300.0 * lh - 3800.0
            d1 = max(460.0 * lh - 700.0, 18.0)
        elif fam == 1:
            p1 = 233.98 * lh - 0.95
            d1 = max(294.05 * lh - 432.94, 18.0)
        else:
            if h_ut > 40.0:
                return 1.0
            p1 = max(15021.0 * lh - 16053.0, 1000.0)
            d1 = max(1350.8 * lh - 1602.0, 18.0)
        if d <= d1:
            return 1.0
        return d1 / d + math.exp(-d / p1) * (1.0 - d1 / d)
    if fam == 2:
        return 1.0 if d <= 10.0 else math.exp(-(d - 10.0) / 1000.0)
    if d <= 18.0:
        return 1.0
    if fam == 1:
        return 18.0 / d + math.exp(-d / 36.0) * (1.0 - 18.0 / d)
    c = 0.0 if h_ut <= 13.0 else ((h_ut - 13.0) / 10.0) ** 1.5
    return ((18.0 / d + math.exp(-d / 63.0) * (1.0 - 18.0 / d))
            * (1.0 + c * 1.25 * (d / 100.0) ** 3 * math.exp(-d / 150.0)))


# ------------------------------------------------------------------------------------------------- antenna
@numba.njit(inline="always", **_JIT)
def _pattern_dbi(code, phi, below, rz, etilt_deg, cos_te, n_rows, dv):
    """Front-lobe pattern (dBi) from the LCS azimuth ``phi`` (deg, |phi| below the cap azimuth), ``below`` =
    θ' − 90° (deg) and the LCS z component ``rz`` (array factor); used by
    :func:`antenna_gain_lcs_dbi` and the block kernels."""
    if code == 0:
        a_h = -min(12.0 * (phi / 70.0) ** 2, 25.0)
        a_v = -min(12.0 * ((below - etilt_deg) / 10.0) ** 2, 20.0)
        return 14.0 - min(-(a_h + a_v), 25.0)
    a_v = -min(12.0 * (below / 65.0) ** 2, 30.0)
    a_h = -min(12.0 * (phi / 65.0) ** 2, 30.0)
    return 8.0 - min(-(a_v + a_h), 30.0)


@numba.njit(inline="always", **_JIT)
def _array_factor_db(rz, cos_te, n_rows, dv):
    """10 log10 of the vertical column array factor (pattern code 2)."""
    half = math.pi * dv * (rz - cos_te)  # ψ/2
    s = math.sin(half)
    if abs(s) < 1e-12:
        af = float(n_rows)
    else:
        af = math.sin(n_rows * half) ** 2 / (n_rows * s * s)
    return 10.0 * math.log10(max(af, 1e-30))


@numba.njit(inline="always", **_JIT)
def antenna_gain_lcs_dbi(code, rz, rx, ry, etilt_deg, cos_te, n_rows, dv):
    """Gain (dBi) for LCS unit direction (rx, ry, rz); code 0 36.814 sector, 1 38.901 element, 2 array."""
    rz = min(1.0, max(-1.0, rz))
    # Exact shortcut: beyond the azimuth where A_H reaches its cap the total attenuation is the cap
    # (A = −min(−(A_H + A_V), cap) with A_H = −cap), so atan2/asin are not needed for back-lobe links.
    rh = math.sqrt(rx * rx + ry * ry)
    if rh > 1e-12 and rx <= (_COS_CAP_36814 if code == 0 else _COS_CAP_38901) * rh:
        if code == 0:
            return 14.0 - 25.0
        g = 8.0 - 30.0
    else:
        below = -math.degrees(math.asin(rz))  # θ' − 90°
        phi = math.degrees(math.atan2(ry, rx))
        g = _pattern_dbi(code, phi, below, rz, etilt_deg, cos_te, n_rows, dv)
        if code == 0:
            return g
    if code == 2:
        g += _array_factor_db(rz, cos_te, n_rows, dv)
    return g


# ------------------------------------------------------------------------------------------- link gain
@numba.njit(inline="always", **_JIT)
def _site_link(p, gi, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, fam, fc, h_bld, w_st, los_u, sf_los,
               sf_nlos, sf_o2i, wrap, lf20, fs):
    """Loss (dB: PL + SF + O2I) from antenna group ``gi`` (co-located antennas of one site) to point ``p``, the
    vector (dx, dy, dz) from the nearest wrap-around image to the point, and a flag (1: d2D above the model's
    maximum). Cells of one group share d2D, LOS state and shadowing exactly, so this is computed once per group."""
    best = 1e300
    dx = 0.0
    dy = 0.0
    for w in range(wrap.shape[0]):
        ex = px[p] - (gx[gi] + wrap[w, 0])
        ey = py[p] - (gy[gi] + wrap[w, 1])
        dd = ex * ex + ey * ey
        if dd < best:
            best = dd
            dx = ex
            dy = ey
    d2 = math.sqrt(best)
    h_ut = ph[p]
    h_bs = gh[gi]
    dz = h_ut - h_bs
    pix = ppix[p]
    site = gsite[gi]
    los = los_u[pix, site] < los_probability_scalar(fam, d2, h_ut)
    d2c = max(d2, 10.0)
    d3 = math.sqrt(d2c * d2c + dz * dz)
    pl, sig = path_loss_sigma_db(fam, d2c, d3, h_bs, h_ut, fc, los, h_bld, w_st, lf20, fs)
    flag = 0
    if h_ut > _H_UT_MAX_38901[fam]:
        if d2c > _D2D_MAX_AV[fam]:
            flag = 1
    elif d2c > (_D2D_MAX_LOS[fam] if los else _D2D_MAX_NLOS[fam]):
        flag = 1
    if pin[p]:
        pl += _SIGMA_O2I[fam] * sf_o2i[pix, site] + po2i[p]
    elif los:
        pl += sig * sf_los[pix, site]
    else:
        pl += sig * sf_nlos[pix, site]
    return pl, dx, dy, dz, flag


@numba.njit(inline="always", **_JIT)
def _cell_antenna(c, ux, uy, uz, crot, cetilt, ccoste, ant_code, n_rows, dv):
    """Antenna gain (dBi) of cell ``c`` towards GCS unit vector (ux, uy, uz): rotate into the LCS (rows of Rᵀ
    in ``crot``), then the pattern."""
    lx = crot[c, 0] * ux + crot[c, 1] * uy + crot[c, 2] * uz
    ly = crot[c, 3] * ux + crot[c, 4] * uy + crot[c, 5] * uz
    lz = crot[c, 6] * ux + crot[c, 7] * uy + crot[c, 8] * uz
    return antenna_gain_lcs_dbi(ant_code, lz, lx, ly, cetilt[c], ccoste[c], n_rows, dv)


@numba.njit(inline="always", **_JIT)
def _unit(dx, dy, dz):
    r = math.sqrt(dx * dx + dy * dy + dz * dz)
    if r < 1e-9:
        return 0.0, 0.0, -1.0  # point at the antenna: straight down (never happens for h_UT != h_BS)
    return dx / r, dy / r, dz / r


CHUNK_POINTS = 1024
"""Points per parallel work item (load balance vs scheduling overhead)."""


_TAN_15 = 2.0 - math.sqrt(3.0)  # tan(π/12)
_INV_SQRT3 = 1.0 / math.sqrt(3.0)  # tan(π/6)


@numba.njit(inline="always", **_JIT)
def atan2_deg(y, x):
    """atan2(y, x) in degrees, |error| < 2e-7 deg (about 3e-9 rad), for (x, y) != (0, 0). Octant reduction to
    a = min/max in [0, 1], then atan(a) = π/6 + atan((a − 1/√3)/(1 + a/√3)) for a > tan(π/12), so the argument
    t of the Maclaurin series t − t³/3 + … − t¹¹/11 satisfies |t| <= tan(π/12) (first omitted term
    t¹³/13 < 2.9e-9 rad). Replaces libm atan2/asin in the gain kernels (about 3x cheaper); the antenna gain
    changes by < 1e-6 dB (slope of the TR 36.814 pattern <= 0.5 dB/deg)."""
    ax = abs(x)
    ay = abs(y)
    swap = ay > ax
    a = (ax / ay) if swap else (ay / ax)
    base = 0.0
    if a > _TAN_15:
        a = (a - _INV_SQRT3) / (1.0 + a * _INV_SQRT3)
        base = math.pi / 6.0
    s = a * a
    r = base + a * (1.0 - s * (1.0 / 3.0 - s * (1.0 / 5.0 - s * (1.0 / 7.0 - s * (1.0 / 9.0 - s * (1.0 / 11.0))))))
    if swap:
        r = 0.5 * math.pi - r
    if x < 0.0:
        r = math.pi - r
    if y < 0.0:
        r = -r
    return r * (180.0 / math.pi)


@numba.njit(**_JIT)
def cell_frame(crot, gptr, gcells):
    """Per cell: boresight bearing (deg, from the rotation rows) and per group: 1 if all its cells have zero
    mechanical tilt (then LCS azimuth = GCS azimuth − bearing and LCS z = GCS z, so the trig of the antenna
    angles is done once per group instead of once per cell)."""
    n_c = crot.shape[0]
    bearing = np.empty(n_c)
    for c in range(n_c):
        bearing[c] = math.degrees(math.atan2(crot[c, 1], crot[c, 0]))
    n_g = gptr.shape[0] - 1
    flat = np.zeros(n_g, np.bool_)
    for gi in range(n_g):
        ok = True
        for j in range(gptr[gi], gptr[gi + 1]):
            c = gcells[j]
            if not (crot[c, 2] == 0.0 and crot[c, 6] == 0.0 and crot[c, 7] == 0.0 and crot[c, 8] == 1.0):
                ok = False
        flat[gi] = ok
    return bearing, flat


@numba.njit(**_JIT_FAST)
def _point_gains(p, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam, fc,
                 h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, lf20, fs, bearing, flat,
                 phi_cap, g_cap, buf):
    """Path gains of point ``p`` to every cell into ``buf[c]`` (float64); returns the number of out-of-range
    links."""
    n_bad = 0
    for gi in range(gx.shape[0]):
        loss, dx, dy, dz, f = _site_link(p, gi, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, fam, fc,
                                         h_bld, w_st, los_u, sf_los, sf_nlos, sf_o2i, wrap, lf20, fs)
        n_bad += f * (gptr[gi + 1] - gptr[gi])
        rh2 = dx * dx + dy * dy
        r = math.sqrt(rh2 + dz * dz)
        if flat[gi] and r >= 1e-9 and rh2 > 1e-18 * r * r:
            # zero mechanical tilt: one atan2 (and at most one asin) per group
            az = atan2_deg(dy, dx)
            uz = min(1.0, max(-1.0, dz / r))
            below = 1e300
            for j in range(gptr[gi], gptr[gi + 1]):
                c = gcells[j]
                phi = az - bearing[c]
                if phi > 180.0:
                    phi -= 360.0
                elif phi < -180.0:
                    phi += 360.0
                if abs(phi) >= phi_cap:
                    g = g_cap
                else:
                    if below == 1e300:
                        below = -atan2_deg(dz, math.sqrt(rh2))  # = −asin(dz / r) in degrees
                    g = _pattern_dbi(ant_code, phi, below, uz, cetilt[c], ccoste[c], n_rows, dv)
                if ant_code == 2:
                    g += _array_factor_db(uz, ccoste[c], n_rows, dv)
                buf[c] = g - loss
        else:
            ux, uy, uz = _unit(dx, dy, dz)
            for j in range(gptr[gi], gptr[gi + 1]):
                c = gcells[j]
                buf[c] = _cell_antenna(c, ux, uy, uz, crot, cetilt, ccoste, ant_code, n_rows, dv) - loss
    return n_bad


@numba.njit(inline="always", **_JIT)
def _row_constants(fc, ant_code):
    """Loop invariants: 20 log10(fc), 20 log10(40π fc/3), the cap azimuth (deg) and the capped gain (dBi)."""
    if ant_code == 0:
        phi_cap = 70.0 * math.sqrt(25.0 / 12.0)
        g_cap = 14.0 - 25.0
    else:
        phi_cap = 65.0 * math.sqrt(30.0 / 12.0)
        g_cap = 8.0 - 30.0
    return 20.0 * math.log10(fc), 20.0 * math.log10(40.0 * math.pi * fc / 3.0), phi_cap, g_cap


# ------------------------------------------------------------------------------ vectorised point blocks
BLOCK_POINTS = 128
"""Points per vectorised block (divides ``CHUNK_POINTS``, so serial and parallel runs cut the same blocks)."""
_JIT_VEC = {"cache": True, "error_model": "numpy", "fastmath": {"contract", "arcp", "nsz", "afn"}}
_W_BEST, _W_DX, _W_DY, _W_LOSS, _W_AZ, _W_BELOW, _W_UZ, _W_BAD, _W_FIX = range(9)


@numba.njit(inline="always", **_JIT)
def _terrestrial_loss_v(fam, d2, dz, h_ut, u, lf20, fs, dbp_k, k_nlos, s_nlos, rma_a, rma_b, rma_c):
    """Branch-free twin of :func:`los_probability_scalar` + :func:`path_loss_sigma_db` for a terrestrial point
    (h_UT at most the TR 38.901 maximum; UMa below 13 m, where h_E = 1 m exactly): (PL dB, σ_SF dB, LOS,
    d2D floored at 10 m). Group constants: UMa/UMi ``dbp_k`` = 4 (h_BS − 1) fc / c, ``k_nlos`` = the NLOS
    constant term; RMa ``dbp_k`` = 2π h_BS fc / c, ``k_nlos`` + ``s_nlos`` (log10 d3D − 3) = the h_UT-free part
    of PL'_NLOS, ``rma_a/b/c`` = the h_bld-dependent coefficients of PL1 (TR 38.901 Table 7.4.1-1)."""
    d2c = max(d2, 10.0)
    d3 = math.sqrt(d2c * d2c + dz * dz)
    ld3 = log10_v(d3)
    if fam == 2:
        p_los = 1.0 if d2 <= 10.0 else exp_v(-(d2 - 10.0) / 1000.0)
        dbp = dbp_k * h_ut
        lbp = log10_v(dbp)
        near = d2c <= dbp
        pl1_d3 = fs + (20.0 + rma_a) * ld3 - rma_b + rma_c * d3
        pl1_bp = fs + (20.0 + rma_a) * lbp - rma_b + rma_c * dbp
        pl_los = pl1_d3 if near else pl1_bp + 40.0 * (ld3 - lbp)
        sig_los = 4.0 if near else 6.0
        l11 = log10_v(11.75 * h_ut)
        pl_n = k_nlos + s_nlos * (ld3 - 3.0) - (3.2 * l11 * l11 - 4.97)
        sig_nlos = 8.0
    else:
        inv_l = 18.0 / d2
        p_los = inv_l + exp_v(-d2 * (1.0 / 63.0 if fam == 0 else 1.0 / 36.0)) * (1.0 - inv_l)
        p_los = 1.0 if d2 <= 18.0 else p_los
        dbp = dbp_k * (h_ut - 1.0)
        lbp = log10_v(dbp * dbp + dz * dz)
        if fam == 0:
            pl_a = 28.0 + 22.0 * ld3 + lf20
            pl_b = 28.0 + 40.0 * ld3 + lf20 - 9.0 * lbp
            pl_n = 13.54 + 39.08 * ld3 + lf20 - 0.6 * (h_ut - 1.5)
            sig_nlos = 6.0
        else:
            pl_a = 32.4 + 21.0 * ld3 + lf20
            pl_b = 32.4 + 40.0 * ld3 + lf20 - 9.5 * lbp
            pl_n = 35.3 * ld3 + k_nlos - 0.3 * (h_ut - 1.5)
            sig_nlos = 7.82
        pl_los = pl_a if d2c <= dbp else pl_b
        sig_los = 4.0
    los = u < p_los
    pl = pl_los if los else max(pl_los, pl_n)
    return pl, (sig_los if los else sig_nlos), los, d2c


@numba.njit(inline="always", **_JIT)
def _group_constants(fam, fc, h_bs, h_bld, w_st, lf20):
    """Per antenna group: (dbp_k, k_nlos, s_nlos) of :func:`_terrestrial_loss_v`."""
    if fam == 2:
        lhb = math.log10(h_bs)
        k_nlos = (161.04 - 7.1 * math.log10(w_st) + 7.5 * math.log10(h_bld)
                  - (24.37 - 3.7 * (h_bld / h_bs) ** 2) * lhb + lf20)
        return 2.0 * math.pi * h_bs * fc * 1e9 / C_M_S, k_nlos, 43.42 - 3.1 * lhb
    return 4.0 * (h_bs - 1.0) * fc * 1e9 / C_M_S, 22.4 + 21.3 * math.log10(fc), 0.0


@numba.njit(inline="always", **_JIT_VEC)
def _loss_block(fam, n, hb, inb, ob, h_bs, site, gsize, is_flat, fbuf, lf20, fs, dbp_k, k_nlos, s_nlos, rma_a,
                rma_b, rma_c, dmax_los, dmax_nlos, sig_o2i, best, dxa, dya, loss, az, below, uza, bad, fix):
    """One antenna group over a block: ``loss`` (PL + SF + O2I), out-of-range count ``bad``, GCS azimuth ``az``,
    θ − 90° ``below`` and LCS z ``uza`` (zero tilt) per point, from the nearest image (squared distance ``best``,
    offsets ``dxa``, ``dya``) and the site's field values gathered into ``fbuf[0..3, site]`` (LOS uniform, SF
    LOS, SF NLOS, SF O2I); ``fix`` flags points for the per-point path."""
    uu = fbuf[0, site, :n]
    zl = fbuf[1, site, :n]
    zn = fbuf[2, site, :n]
    zo = fbuf[3, site, :n]
    zen_flag = 1.0 if is_flat else 0.0
    for i in range(n):
        d2 = math.sqrt(best[i])
        dz = hb[i] - h_bs
        pl, sig, los, d2c = _terrestrial_loss_v(fam, d2, dz, hb[i], uu[i], lf20, fs, dbp_k, k_nlos, s_nlos, rma_a,
                                                rma_b, rma_c)
        loss[i] = pl + ((sig_o2i * zo[i] + ob[i]) if inb[i] else sig * (zl[i] if los else zn[i]))
        bad[i] += gsize if d2c > (dmax_los if los else dmax_nlos) else 0.0
        rh2 = best[i]
        r2 = rh2 + dz * dz
        az[i] = atan2_deg(dya[i], dxa[i])
        below[i] = -atan2_deg(dz, d2)
        uza[i] = min(1.0, max(-1.0, dz / math.sqrt(r2)))
        # the reference path's zenith test (:func:`_point_gains`): there, redo the point one by one (non-short-
        # circuit ``|`` and no ``and``: keeps the loop branch-free, so LLVM vectorises it)
        zen = (r2 < 1e-18) | (rh2 <= 1e-18 * r2)
        fix[i] = max(fix[i], zen_flag if zen else 0.0)


@numba.njit(**_JIT_VEC)
def _block_gains(p0, n, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam,
                 fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, lf20, fs, bearing,
                 flat, phi_cap, g_cap, work, fbuf, tb, buf):
    """Path gains of points p0 <= p < p0 + n into ``tb[c, i]`` (i = p − p0); returns the number of out-of-range
    links. Loops run over the points of the block (inner, branch-free, SIMD) per antenna group, with
    :mod:`.vecmath` exp/log10; points the branch-free formulas do not cover (aerial, UMa h_UT >= 13 m, a
    point at a site's zenith) are then redone one by one by :func:`_point_gains` (the reference path). Back-lobe
    links get the capped pattern from the formula's own ``min`` caps (the per-point code's shortcut returns the
    same cap; the two differ by rounding only)."""
    xb = px[p0:p0 + n]
    yb = py[p0:p0 + n]
    hb = ph[p0:p0 + n]
    inb = pin[p0:p0 + n]
    ob = po2i[p0:p0 + n]
    pixb = ppix[p0:p0 + n]
    best = work[_W_BEST, :n]
    dxa = work[_W_DX, :n]
    dya = work[_W_DY, :n]
    loss = work[_W_LOSS, :n]
    az = work[_W_AZ, :n]
    below = work[_W_BELOW, :n]
    uza = work[_W_UZ, :n]
    bad = work[_W_BAD, :n]
    fix = work[_W_FIX, :n]
    h_max = _H_UT_MAX_38901[fam]
    h_excl = 13.0 if fam == 0 else 1e300  # UMa: h_E = 1 m exactly only below 13 m
    dmax_los = _D2D_MAX_LOS[fam]
    dmax_nlos = _D2D_MAX_NLOS[fam]
    sig_o2i = _SIGMA_O2I[fam]
    rma_a = min(0.03 * h_bld ** 1.72, 10.0)
    rma_b = min(0.044 * h_bld ** 1.72, 14.77)
    rma_c = 0.002 * math.log10(h_bld)
    for i in range(n):
        bad[i] = 0.0
        fix[i] = 0.0 if (hb[i] <= h_max and hb[i] < h_excl) else 1.0
        # gather the point's pixel row of every site's fields (contiguous), transposed for the SIMD loops
        pix = pixb[i]
        pix_o = pix if inb[i] else 0
        for st in range(los_u.shape[1]):
            fbuf[0, st, i] = los_u[pix, st]
            fbuf[1, st, i] = sf_los[pix, st]
            fbuf[2, st, i] = sf_nlos[pix, st]
            fbuf[3, st, i] = sf_o2i[pix_o, st]
    for gi in range(gx.shape[0]):
        h_bs = gh[gi]
        site = gsite[gi]
        dbp_k, k_nlos, s_nlos = _group_constants(fam, fc, h_bs, h_bld, w_st, lf20)
        for i in range(n):
            best[i] = 1e300
        for w in range(wrap.shape[0]):
            ox = gx[gi] + wrap[w, 0]
            oy = gy[gi] + wrap[w, 1]
            for i in range(n):
                ex = xb[i] - ox
                ey = yb[i] - oy
                dd = ex * ex + ey * ey
                take = dd < best[i]
                best[i] = dd if take else best[i]
                dxa[i] = ex if take else dxa[i]
                dya[i] = ey if take else dya[i]
        is_flat = flat[gi]
        gsize = float(gptr[gi + 1] - gptr[gi])
        # the family as a literal, so that each loop compiles to straight-line (SIMD) code
        if fam == 0:
            _loss_block(0, n, hb, inb, ob, h_bs, site, gsize, is_flat, fbuf, lf20, fs, dbp_k, k_nlos, s_nlos,
                        rma_a, rma_b, rma_c, dmax_los, dmax_nlos, sig_o2i, best, dxa, dya, loss, az, below, uza, bad,
                        fix)
        elif fam == 1:
            _loss_block(1, n, hb, inb, ob, h_bs, site, gsize, is_flat, fbuf, lf20, fs, dbp_k, k_nlos, s_nlos,
                        rma_a, rma_b, rma_c, dmax_los, dmax_nlos, sig_o2i, best, dxa, dya, loss, az, below, uza, bad,
                        fix)
        else:
            _loss_block(2, n, hb, inb, ob, h_bs, site, gsize, is_flat, fbuf, lf20, fs, dbp_k, k_nlos, s_nlos,
                        rma_a, rma_b, rma_c, dmax_los, dmax_nlos, sig_o2i, best, dxa, dya, loss, az, below, uza, bad,
                        fix)
        for j in range(gptr[gi], gptr[gi + 1]):
            c = gcells[j]
            row = tb[c, :n]
            if is_flat:
                b = bearing[c]
                et = cetilt[c]
                for i in range(n):
                    phi = az[i] - b
                    phi = phi - 360.0 if phi > 180.0 else phi
                    phi = phi + 360.0 if phi < -180.0 else phi
                    row[i] = _pattern_dbi(ant_code, phi, below[i], uza[i], et, 0.0, n_rows, dv) - loss[i]
                if ant_code == 2:
                    for i in range(n):
                        row[i] += _array_factor_db(uza[i], ccoste[c], n_rows, dv)
            else:
                for i in range(n):
                    ux, uy, uz = _unit(dxa[i], dya[i], hb[i] - h_bs)
                    row[i] = _cell_antenna(c, ux, uy, uz, crot, cetilt, ccoste, ant_code, n_rows, dv) - loss[i]
    n_bad = 0
    for i in range(n):
        if fix[i] != 0.0:
            n_bad += _point_gains(p0 + i, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot,
                                  cetilt, ccoste, fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos,
                                  sf_o2i, wrap, lf20, fs, bearing, flat, phi_cap, g_cap, buf)
            for c in range(buf.shape[0]):
                tb[c, i] = buf[c]
        else:
            n_bad += int(bad[i])
    return n_bad


@numba.njit(inline="always", **_JIT)
def _topk_insert(p, i, tb, gx, gptr, gcells, rank_off, out_idx, out_gain):
    """Top-K of point ``p`` from its gains ``tb[:, i]`` (see :func:`gain_topk_rows`)."""
    k_top = out_idx.shape[1]
    for k in range(k_top):
        out_idx[p, k] = -1
        out_gain[p, k] = -3.0e38
    last_key = -3.0e38
    for gi in range(gx.shape[0]):
        for j in range(gptr[gi], gptr[gi + 1]):
            c = gcells[j]
            g32 = np.float32(tb[c, i])
            key = g32 + rank_off[c]
            q = out_idx[p, k_top - 1]
            if q >= 0 and (key < last_key or (key == last_key and c > q)):
                continue
            jj = k_top - 1
            while jj > 0:
                q = out_idx[p, jj - 1]
                if q >= 0 and (key < out_gain[p, jj - 1] + rank_off[q]
                               or (key == out_gain[p, jj - 1] + rank_off[q] and q < c)):
                    break
                out_idx[p, jj] = out_idx[p, jj - 1]
                out_gain[p, jj] = out_gain[p, jj - 1]
                jj -= 1
            out_idx[p, jj] = c
            out_gain[p, jj] = g32
            q = out_idx[p, k_top - 1]
            if q >= 0:
                last_key = out_gain[p, k_top - 1] + rank_off[q]


@numba.njit(**_JIT)
def gain_rows(p0, p1, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam, fc,
              h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, rank_off, out, out_idx,
              out_gain):
    """Gains of points p0 <= p < p1 (blocks of ``BLOCK_POINTS`` from p0): dense into ``out[p, c]`` when ``out``
    has rows, else the top-K into ``out_idx``/``out_gain`` (so dense and top-K maps are bit-identical).
    Returns the number of out-of-range links."""
    n_bad = 0
    n_c = crot.shape[0]
    dense = out.shape[0] > 0
    lf20, fs, phi_cap, g_cap = _row_constants(fc, ant_code)
    bearing, flat = cell_frame(crot, gptr, gcells)
    # rows padded by 64 bytes: power-of-two row strides make the per-row streams of the SIMD loops alias in the
    # L1 cache (measured: 2x slower with 256-point rows)
    work = np.empty((9, BLOCK_POINTS + 8))
    fbuf = np.empty((4, los_u.shape[1], BLOCK_POINTS + 16), np.float32)
    tb = np.empty((n_c, BLOCK_POINTS + 8))
    buf = np.empty(n_c)
    for b0 in range(p0, p1, BLOCK_POINTS):
        n = min(BLOCK_POINTS, p1 - b0)
        n_bad += _block_gains(b0, n, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt,
                              ccoste, fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i,
                              wrap, lf20, fs, bearing, flat, phi_cap, g_cap, work, fbuf, tb, buf)
        for i in range(n):
            if dense:
                for c in range(n_c):
                    out[b0 + i, c] = tb[c, i]
            else:
                _topk_insert(b0 + i, i, tb, gx, gptr, gcells, rank_off, out_idx, out_gain)
    return n_bad


@numba.njit(**_JIT)
def gain_dense_rows(p0, p1, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste,
                    fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, out):
    """Dense path gains ``out[p, c]`` for points p0 <= p < p1 (:func:`gain_rows`); returns the number of
    out-of-range links."""
    return gain_rows(p0, p1, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste,
                     fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, np.zeros(0), out,
                     np.zeros((0, 1), np.int32), np.zeros((0, 1), np.float32))  # (writable: no global constants)


@numba.njit(**_JIT)
def gain_topk_rows(p0, p1, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste,
                   fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, rank_off,
                   out_idx, out_gain):
    """Top-K cells of points p0 <= p < p1 by gain + rank_off[c] (descending; ties keep the lower cell id
    first): ``out_idx[p, k]`` int32, ``out_gain[p, k]`` float32 (gain without rank_off), gains from
    :func:`gain_rows`. Returns the number of out-of-range links."""
    return gain_rows(p0, p1, px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste,
                     fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, rank_off,
                     np.zeros((0, 0), np.float32), out_idx, out_gain)


@numba.njit(parallel=True, **_JIT)
def gain_dense(px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam, fc,
               h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, out):
    """Parallel (chunks of ``CHUNK_POINTS``) :func:`gain_dense_rows` over all points."""
    n = px.shape[0]
    n_bad = 0
    for i in prange((n + CHUNK_POINTS - 1) // CHUNK_POINTS):
        n_bad += gain_dense_rows(i * CHUNK_POINTS, min(n, (i + 1) * CHUNK_POINTS), px, py, ph, pin, po2i, ppix,
                                 gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam, fc, h_bld, w_st,
                                 ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, out)
    return n_bad


@numba.njit(nogil=True, **_JIT)
def gain_dense_serial(px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam,
                      fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, out):
    """Serial twin of :func:`gain_dense`."""
    return gain_dense_rows(0, px.shape[0], px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot,
                           cetilt, ccoste, fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos,
                           sf_o2i, wrap, out)


@numba.njit(parallel=True, **_JIT)
def gain_topk(px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam, fc,
              h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, rank_off, out_idx,
              out_gain):
    """Parallel (chunks of ``CHUNK_POINTS``) :func:`gain_topk_rows` over all points."""
    n = px.shape[0]
    n_bad = 0
    for i in prange((n + CHUNK_POINTS - 1) // CHUNK_POINTS):
        n_bad += gain_topk_rows(i * CHUNK_POINTS, min(n, (i + 1) * CHUNK_POINTS), px, py, ph, pin, po2i, ppix,
                                gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam, fc, h_bld, w_st,
                                ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, rank_off, out_idx,
                                out_gain)
    return n_bad


@numba.njit(**_JIT)
def gain_topk_serial(px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot, cetilt, ccoste, fam,
                     fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos, sf_o2i, wrap, rank_off,
                     out_idx, out_gain):
    """Serial twin of :func:`gain_topk`."""
    return gain_topk_rows(0, px.shape[0], px, py, ph, pin, po2i, ppix, gx, gy, gh, gsite, gptr, gcells, crot,
                          cetilt, ccoste, fam, fc, h_bld, w_st, ant_code, n_rows, dv, los_u, sf_los, sf_nlos,
                          sf_o2i, wrap, rank_off, out_idx, out_gain)


# ------------------------------------------------------------------------------------------------- serving
@numba.njit(**_JIT)
def spectral_efficiency_scalar(sinr_db, sinr_lin, kind, alpha, smin, tmax, thr, eff):
    """kind 0: TR 36.942 A.1 attenuated Shannon α log2(1 + SINR) in [SINR_MIN, Thr_MAX]; kind 1: CQI table
    lookup (efficiency of the highest CQI with SINR ≥ threshold, 0 below CQI 1). SINR given in dB and linear."""
    if kind == 0:
        if sinr_db < smin:
            return 0.0
        return min(alpha * math.log2(1.0 + sinr_lin), tmax)
    se = 0.0
    for k in range(thr.shape[0]):
        if sinr_db >= thr[k]:
            se = eff[k]
    return se


@numba.njit(inline="always", **_JIT)
def _best_and_sum_dense(p, gain, tx, off_act, w_act, mwb, mb, wb):
    """Dense row of point ``p`` (column k = cell k): (best cell, its tx + gain, its mW, Σ load · mW over the
    active cells). First a SIMD pass over the row (:func:`.vecmath.exp_v`, metric with −inf for inactive cells,
    load-weighted power with weight 0 for them) into ``mwb``, ``mb``, ``wb``, then a short scalar pass: argmax
    (strict ``>``: the first maximum wins) and the sum in cell order, the same arithmetic as
    :func:`_best_and_sum`."""
    for k in range(gain.shape[1]):
        rx = tx[k] + gain[p, k]
        mw = exp_v(rx * LN10_10)
        mwb[k] = mw
        mb[k] = rx + off_act[k]
        wb[k] = w_act[k] * mw
    best_metric = -np.inf
    best_k = -1
    wsum = 0.0
    for k in range(gain.shape[1]):
        if mb[k] > best_metric:
            best_metric = mb[k]
            best_k = k
        wsum += wb[k]
    if best_k < 0:
        return -1, 0.0, 0.0, wsum
    return best_k, tx[best_k] + gain[p, best_k], mwb[best_k], wsum


@numba.njit(inline="always", **_JIT)
def _best_and_sum(p, row, cell_index, gain, gain_lin, tx, p_lin, active, load, off):
    """Row ``row`` of ``cell_index`` for point ``p``: (best cell, its tx + gain, its mW, Σ load · mW over the
    active cells). mW = p_lin[c] · gain_lin[p, k] with a linear copy of the gains (``gain_lin.shape[0] > 0``,
    the cached path), else 10^((tx + gain)/10)."""
    use_lin = gain_lin.shape[0] > 0
    best_metric = -np.inf
    best_c = -1
    best_rx = 0.0
    best_mw = 0.0
    wsum = 0.0
    for k in range(gain.shape[1]):
        c = cell_index[row, k]
        if c < 0 or not active[c]:
            continue
        rx = tx[c] + gain[p, k]
        if use_lin:
            mw = p_lin[c] * gain_lin[p, k]
        else:
            mw = math.exp(rx * LN10_10)
        m = rx + off[c]
        if m > best_metric:
            best_metric = m
            best_c = c
            best_rx = rx
            best_mw = mw
        wsum += load[c] * mw
    return best_c, best_rx, best_mw, wsum


@numba.njit(inline="always", **_JIT)
def _serve_point(p, best_c, best_rx, best_mw, wsum, load, noise_mw, rsrp_off, kind, alpha, smin, tmax, thr, eff,
                 bw_hz, out_serv, out_rsrp, out_sinr, out_rate):
    """Write point ``p``'s serving cell, RSRP, SINR and rate from :func:`_best_and_sum` (or its dense twin)."""
    if best_c < 0:
        out_serv[p] = -1
        out_rsrp[p] = -np.inf
        out_sinr[p] = -np.inf
        out_rate[p] = 0.0
        return
    interf = max(wsum - load[best_c] * best_mw, 0.0)
    sinr_lin = best_mw / (interf + noise_mw)
    sinr = 10.0 * math.log10(sinr_lin)
    out_serv[p] = best_c
    out_rsrp[p] = best_rx + rsrp_off
    out_sinr[p] = sinr
    out_rate[p] = spectral_efficiency_scalar(sinr, sinr_lin, kind, alpha, smin, tmax, thr, eff) * bw_hz * 1e-6


@numba.njit(**_JIT)
def serve_rows(i0, i1, points, cell_index, gain, gain_lin, tx, p_lin, active, load, off, noise_mw, rsrp_off,
               kind, alpha, smin, tmax, thr, eff, bw_hz, out_serv, out_rsrp, out_sinr, out_rate):
    """Serve entries i0 <= i < i1: point ``points[i]`` if ``points`` is non-empty, else point i. Best server =
    max tx + gain + offset among the active cells of the row, RSRP, SINR (other active cells' interference
    weighted by load), rate (Mbps). ``cell_index`` is [P, K] (top-K) or [1, C] (dense: same cells for all)."""
    step = 1 if (cell_index.shape[0] > 1 or gain.shape[0] == 1) else 0
    use_list = points.shape[0] > 0
    # dense map without linear copy: one index row 0, 1, 2, ... shared by all points (column k is cell k)
    dense = cell_index.shape[0] == 1 and gain_lin.shape[0] == 0 and cell_index.shape[1] <= tx.shape[0]
    for k in range(cell_index.shape[1]):
        dense = dense and cell_index[0, k] == k
    n_k = gain.shape[1]
    off_act = np.empty(n_k)
    w_act = np.empty(n_k)
    for k in range(n_k if dense else 0):
        off_act[k] = off[k] if active[k] else -np.inf
        w_act[k] = load[k] if active[k] else 0.0
    mwb = np.empty(n_k)
    mb = np.empty(n_k)
    wb = np.empty(n_k)
    if dense:
        for i in range(i0, i1):
            p = points[i] if use_list else i
            best_c, best_rx, best_mw, wsum = _best_and_sum_dense(p, gain, tx, off_act, w_act, mwb, mb, wb)
            _serve_point(p, best_c, best_rx, best_mw, wsum, load, noise_mw, rsrp_off, kind, alpha, smin, tmax, thr,
                         eff, bw_hz, out_serv, out_rsrp, out_sinr, out_rate)
        return
    for i in range(i0, i1):
        p = points[i] if use_list else i
        best_c, best_rx, best_mw, wsum = _best_and_sum(p, p * step, cell_index, gain, gain_lin, tx, p_lin, active,
                                                       load, off)
        _serve_point(p, best_c, best_rx, best_mw, wsum, load, noise_mw, rsrp_off, kind, alpha, smin, tmax, thr, eff,
                     bw_hz, out_serv, out_rsrp, out_sinr, out_rate)


@numba.njit(parallel=True, **_JIT)
def serve_points(points, cell_index, gain, gain_lin, tx, p_lin, active, load, off, noise_mw, rsrp_off, kind,
                 alpha, smin, tmax, thr, eff, bw_hz, out_serv, out_rsrp, out_sinr, out_rate):
    """Parallel :func:`serve_rows` over all entries (``points`` empty: every row of ``gain``)."""
    n = points.shape[0] if points.shape[0] > 0 else gain.shape[0]
    for i in prange((n + CHUNK_POINTS - 1) // CHUNK_POINTS):
        serve_rows(i * CHUNK_POINTS, min(n, (i + 1) * CHUNK_POINTS), points, cell_index, gain, gain_lin, tx,
                   p_lin, active, load, off, noise_mw, rsrp_off, kind, alpha, smin, tmax, thr, eff, bw_hz,
                   out_serv, out_rsrp, out_sinr, out_rate)


@numba.njit(**_JIT)
def serve_points_serial(points, cell_index, gain, gain_lin, tx, p_lin, active, load, off, noise_mw, rsrp_off,
                        kind, alpha, smin, tmax, thr, eff, bw_hz, out_serv, out_rsrp, out_sinr, out_rate):
    """Serial twin of :func:`serve_points`."""
    n = points.shape[0] if points.shape[0] > 0 else gain.shape[0]
    serve_rows(0, n, points, cell_index, gain, gain_lin, tx, p_lin, active, load, off, noise_mw, rsrp_off, kind,
               alpha, smin, tmax, thr, eff, bw_hz, out_serv, out_rsrp, out_sinr, out_rate)


@numba.njit(**_JIT)
def serve_cached_rows(i0, i1, points, cell_index, gain, gain_lin, tx, off_act, s_lin, w_lin, noise_mw, rsrp_off,
                      kind, alpha, smin, tmax, thr, eff, bw_hz, skip_cell, out_serv, out_rsrp, out_sinr, out_rate):
    """Cached-path twin of :func:`serve_rows` for entries i0 <= i < i1 (point ``points[i]``) of a top-K map,
    with per-cell rows precomputed once per update (length C + 1; the extra last slot is the neutral entry that
    index −1 wraps to): ``off_act`` = offset (dB) if active else −inf, ``s_lin`` = 10^(tx/10) mW if active else
    0, ``w_lin`` = load · s_lin. Received power = s_lin[c] · gain_lin (no exp per link). Same best-server metric
    (tx + gain) + offset and same RSRP arithmetic as :func:`serve_rows`. Points whose current serving cell is
    ``skip_cell`` (≥ 0) are left untouched (a load-only change of the serving cell cannot change them).
    Returns the number of points recomputed."""
    n_done = 0
    k_top = cell_index.shape[1]
    for i in range(i0, i1):
        p = points[i]
        if skip_cell >= 0 and out_serv[p] == skip_cell:
            continue
        n_done += 1
        best_metric = -np.inf
        best_c = -1
        best_rx = 0.0
        best_mw = 0.0
        best_w = 0.0
        wsum = 0.0
        for k in range(k_top):
            c = cell_index[p, k]
            gl = np.float64(gain_lin[p, k])
            rx = tx[c] + gain[p, k]
            m = rx + off_act[c]
            wsum += w_lin[c] * gl
            if m > best_metric:
                best_metric = m
                best_c = c
                best_rx = rx
                best_mw = s_lin[c] * gl
                best_w = w_lin[c] * gl
        if best_c < 0:
            out_serv[p] = -1
            out_rsrp[p] = -np.inf
            out_sinr[p] = -np.inf
            out_rate[p] = 0.0
            continue
        interf = max(wsum - best_w, 0.0)
        sinr_lin = best_mw / (interf + noise_mw)
        sinr = 10.0 * math.log10(sinr_lin)
        out_serv[p] = best_c
        out_rsrp[p] = best_rx + rsrp_off
        out_sinr[p] = sinr
        out_rate[p] = spectral_efficiency_scalar(sinr, sinr_lin, kind, alpha, smin, tmax, thr, eff) * bw_hz * 1e-6
    return n_done


@numba.njit(parallel=True, **_JIT)
def serve_cached(points, cell_index, gain, gain_lin, tx, off_act, s_lin, w_lin, noise_mw, rsrp_off, kind, alpha,
                 smin, tmax, thr, eff, bw_hz, skip_cell, out_serv, out_rsrp, out_sinr, out_rate):
    """Parallel (chunks of ``CHUNK_POINTS``) :func:`serve_cached_rows` over ``points``."""
    n = points.shape[0]
    n_done = 0
    for i in prange((n + CHUNK_POINTS - 1) // CHUNK_POINTS):
        n_done += serve_cached_rows(i * CHUNK_POINTS, min(n, (i + 1) * CHUNK_POINTS), points, cell_index, gain,
                                    gain_lin, tx, off_act, s_lin, w_lin, noise_mw, rsrp_off, kind, alpha, smin,
                                    tmax, thr, eff, bw_hz, skip_cell, out_serv, out_rsrp, out_sinr, out_rate)
    return n_done


@numba.njit(**_JIT)
def serve_cached_serial(points, cell_index, gain, gain_lin, tx, off_act, s_lin, w_lin, noise_mw, rsrp_off, kind,
                        alpha, smin, tmax, thr, eff, bw_hz, skip_cell, out_serv, out_rsrp, out_sinr, out_rate):
    """Serial twin of :func:`serve_cached`."""
    return serve_cached_rows(0, points.shape[0], points, cell_index, gain, gain_lin, tx, off_act, s_lin, w_lin,
                             noise_mw, rsrp_off, kind, alpha, smin, tmax, thr, eff, bw_hz, skip_cell, out_serv,
                             out_rsrp, out_sinr, out_rate)


@numba.njit(parallel=True, **_JIT)
def db_to_linear_f32(gain_db, out):
    """out = 10^(gain_db/10) as float32 (the cached serving path's linear copy of a gain map)."""
    for p in prange(gain_db.shape[0]):
        for k in range(gain_db.shape[1]):
            out[p, k] = math.exp(gain_db[p, k] * LN10_10)


@numba.njit(**_JIT)
def inverted_topk_index(cell_index, n_cells):
    """CSR inverse of a top-K map: points (int32, ascending) whose top-K contains cell c are
    ``points[ptr[c]:ptr[c + 1]]``."""
    n_p, k_top = cell_index.shape
    ptr = np.zeros(n_cells + 1, np.int64)
    for p in range(n_p):
        for k in range(k_top):
            c = cell_index[p, k]
            if c >= 0:
                ptr[c + 1] += 1
    for c in range(n_cells):
        ptr[c + 1] += ptr[c]
    fill = ptr[:-1].copy()
    points = np.empty(ptr[n_cells], np.int32)
    for p in range(n_p):
        for k in range(k_top):
            c = cell_index[p, k]
            if c >= 0:
                points[fill[c]] = p
                fill[c] += 1
    return ptr, points
