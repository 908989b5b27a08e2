"""Spatially correlated shadow-fading and LOS fields (TR 38.901 §7.5, §7.6.3.3 idea)."""

import numpy as np
import pytest

from dientine.grid import Grid
from dientine.radio import build_site_fields, correlated_gaussian_fields


def _acf(z, lag):
    return 0.5 * (np.mean(z[:, :-lag] * z[:, lag:]) + np.mean(z[:-lag] * z[lag:]))


def test_field_statistics_and_exponential_acf():
    res, d = 5.0, 50.0
    f = correlated_gaussian_fields((400, 400), res, d, 4, np.random.default_rng(11)).astype(np.float64)
    assert f.shape == (4, 400, 400) and f.dtype == np.float64
    assert abs(f.mean()) < 0.1
    assert f.std() == pytest.approx(1.0, abs=0.06)
    acf = {lag: np.mean([_acf(z, lag) for z in f]) for lag in (2, 10, 20)}
    assert acf[10] == pytest.approx(np.exp(-1.0), abs=0.05)  # lag = d_corr
    assert acf[2] == pytest.approx(np.exp(-0.2), abs=0.05)
    assert acf[20] == pytest.approx(np.exp(-2.0), abs=0.05)
    # the two fields of one complex draw are independent
    assert abs(np.corrcoef(f[0].ravel(), f[1].ravel())[0, 1]) < 0.1


def test_same_seed_same_field():
    a = correlated_gaussian_fields((50, 60), 10.0, 37.0, 3, np.random.default_rng(5))
    b = correlated_gaussian_fields((50, 60), 10.0, 37.0, 3, np.random.default_rng(5))
    c = correlated_gaussian_fields((50, 60), 10.0, 37.0, 3, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_site_fields_layout_and_los_fraction():
    g = Grid.centred(1500.0, 1500.0, 10.0)
    f = build_site_fields(g, 3, "UMa", np.random.default_rng(1), include_o2i=True)
    for arr in (f.los_uniform, f.sf_los, f.sf_nlos, f.sf_o2i):
        assert arr.shape == (g.n_pixels, 3) and arr.dtype == np.float32
    assert f.has_o2i and f.corr_distance_m["nlos"] == 50.0 and f.corr_distance_m["los"] == 37.0
    u = f.los_uniform
    assert 0.0 <= u.min() and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.05)
    for p in (0.1, 0.5, 0.9):
        assert np.mean(u < p) == pytest.approx(p, abs=0.05)
    # spatially consistent: neighbouring pixels agree on the LOS state far more often than independent draws
    state = (u[:, 0] < 0.5).reshape(g.shape)
    agree = np.mean(state[:, 1:] == state[:, :-1])
    assert agree > 0.8
    # sites are independent
    assert abs(np.corrcoef(f.sf_los[:, 0], f.sf_los[:, 1])[0, 1]) < 0.15


def test_site_fields_errors():
    g = Grid.centred(100.0, 100.0, 10.0)
    with pytest.raises(ValueError, match="valid names"):
        build_site_fields(g, 1, "Dense", np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_sites"):
        build_site_fields(g, 0, "UMa", np.random.default_rng(0))
