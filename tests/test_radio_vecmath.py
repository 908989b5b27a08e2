"""dientine.radio.vecmath: the branch-free exp/log10 used by the SIMD kernel loops, against NumPy (libm)."""

import numba
import numpy as np

from dientine.radio.vecmath import exp_v, log10_v


@numba.njit(error_model="numpy")
def _apply_log10(x, out):
    for i in range(x.shape[0]):
        out[i] = log10_v(x[i])


@numba.njit(error_model="numpy")
def _apply_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_v(x[i])


def test_log10_v_matches_numpy_to_a_few_ulp():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.exp(rng.uniform(-700.0, 700.0, 200_000)), rng.uniform(0.5, 2.0, 20_000),
                        [1.0, 10.0, 2.0 ** 0.5, np.nextafter(2.0 ** 0.5, 2.0), 1e-300, 1e300, 5e-324 * 2 ** 52]])
    out = np.empty_like(x)
    _apply_log10(x, out)
    ref = np.log10(x)
    assert out[x.size - 7] == 0.0  # log10(1) exactly
    np.testing.assert_allclose(out, ref, rtol=1e-15, atol=4e-16)


def test_exp_v_matches_numpy_and_clamps():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-708.0, 709.0, 200_000), rng.uniform(-1.0, 1.0, 20_000),
                        [0.0, -0.5 * np.log(2.0), 0.5 * np.log(2.0), -708.0, 709.0]])
    out = np.empty_like(x)
    _apply_exp(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-15, atol=0)
    assert out[x.size - 5] == 1.0
    clamp = np.array([-1e4, -750.0, 800.0])
    got = np.empty(3)
    _apply_exp(clamp, got)
    np.testing.assert_allclose(got, np.exp([-708.0, -708.0, 709.0]), rtol=1e-15)
