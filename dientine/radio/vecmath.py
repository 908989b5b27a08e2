"""Branch-free scalar ``exp``/``log10`` for Numba loops that LLVM can vectorise.

Without a vector math library (Numba's SVML path needs a patched LLVM, not available here) a loop that calls
``math.exp``/``math.log10`` stays scalar: every call goes to libm. These replacements use only arithmetic,
``floor`` and IEEE-754 bit casts, so a loop over points built from them compiles to SIMD code.

Accuracy (numerical choices, checked against NumPy in ``tests/test_radio_kernels.py``):

* :func:`log10_v`: x = m·2^e with m in [√½, √2); ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| <= 0.1716, by its
  odd series up to s^23 (first omitted term s^25/25 < 3e-21); ln 2 split in a high part exact in 53 bits times
  e and a low part. Relative error a few ulp for normal positive finite x (no special cases: x must be > 0 and
  finite).
* :func:`exp_v`: n = round(x/ln 2), r = x − n·ln 2 (two-part ln 2), |r| <= ln2/2, Taylor series of e^r to r^13
  (first omitted term 0.347^14/14! < 4e-18), times 2^n built from its bits. x is clamped to [−708, 709] (no
  overflow/subnormal handling: results below e^−708 ≈ 3e−308 are returned as e^−708).
"""

from __future__ import annotations

import math

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_JIT = {"cache": True, "error_model": "numpy"}
LN2_HI = 6.93147180369123816490e-01  # fdlibm split of ln 2: high part has 32 trailing zero bits
LN2_LO = 1.90821492927058770002e-10
INV_LN10 = 1.0 / math.log(10.0)
LOG2E = 1.0 / math.log(2.0)
SQRT2 = math.sqrt(2.0)
_MANT = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000


@intrinsic
def f64_bits(typingctx, x):
    """Bits of a float64 as int64 (bit cast, no conversion)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        val = args[0]
        if signature.args[0] != types.float64:
            val = builder.fpext(val, ir.DoubleType())
        return builder.bitcast(val, ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def bits_f64(typingctx, n):
    """float64 with the given int64 bits (bit cast, no conversion)."""
    if not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@numba.njit(inline="always", **_JIT)
def log10_v(x):
    """log10(x) for finite x > 0 (see module docstring for the error)."""
    b = f64_bits(x)
    e = (b >> 52) - 1023
    m = bits_f64((b & _MANT) | _ONE_BITS)
    big = m > SQRT2
    m = m * 0.5 if big else m
    ef = float(e + 1 if big else e)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 1.0 / 23.0
    p = p * z + 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    ln_m = 2.0 * s + 2.0 * s * z * p
    return (ef * LN2_HI + (ln_m + ef * LN2_LO)) * INV_LN10


@numba.njit(inline="always", **_JIT)
def exp_v(x):
    """e^x (see module docstring for the error and the clamp)."""
    x = min(max(x, -708.0), 709.0)
    n = math.floor(x * LOG2E + 0.5)
    r = (x - n * LN2_HI) - n * LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * bits_f64((int(n) + 1023) << 52)
