"""Link abstraction and O2I against REFERENCES.md §1.4 and §4."""

import numpy as np
import pytest

from dientine.radio import (
    RadioValidityError,
    cqi_efficiency,
    cqi_from_sinr,
    o2i_loss_db,
    peak_rate_mbps,
    shannon_bound_thresholds_db,
    spectral_efficiency_bps_hz,
    thermal_noise_dbm,
    through_wall_loss_db,
)
from dientine.radio.link import CQI1_AWGN_THRESHOLDS_DB_UNSOURCED
from dientine.radio.o2i import draw_indoor_distance_m


@pytest.mark.parametrize("fc,low,high", [(0.7, 10.237, 17.747), (2.0, 11.825, 22.425), (3.5, 12.698, 26.850),
                                         (28.0, 17.829, 37.949)])
def test_through_wall_loss(fc, low, high):
    assert through_wall_loss_db(fc, "low") == pytest.approx(low, abs=6e-4)
    assert through_wall_loss_db(fc, "high") == pytest.approx(high, abs=6e-4)


def test_o2i_loss_per_ue():
    pl = o2i_loss_db(3.5, [True, False, True], [10.0, 10.0, 0.0])
    np.testing.assert_allclose(pl, [12.698 + 5.0, 0.0, 12.698], atol=6e-4)
    rng = np.random.default_rng(1)
    noisy = o2i_loss_db(3.5, np.ones(20000, bool), 0.0, loss_model="high", rng=rng)
    assert noisy.mean() == pytest.approx(26.850, abs=0.15)
    assert noisy.std() == pytest.approx(6.5, abs=0.15)
    d = draw_indoor_distance_m("UMa", 20000, np.random.default_rng(2))
    assert 0 <= d.min() and d.max() <= 25.0
    assert d.mean() == pytest.approx(25.0 / 3.0, abs=0.2)  # E[min of two U(0, a)] = a/3


SINR = [-15, -10, -5, 0, 5, 10, 15, 20, 25]


def test_shannon_36942_tables():
    np.testing.assert_allclose(spectral_efficiency_bps_hz(SINR, "shannon-36942"),
                               [0, 0.0825, 0.2378, 0.6, 1.2344, 2.0757, 3.0167, 3.9949, 4.4], atol=6e-5)
    np.testing.assert_allclose(spectral_efficiency_bps_hz(SINR, "shannon-36942-ul"),
                               [0, 0.0550, 0.1586, 0.4, 0.8229, 1.3838, 2.0, 2.0, 2.0], atol=6e-5)
    assert spectral_efficiency_bps_hz(-np.inf, "shannon-36942") == 0.0


def test_cqi_efficiencies():
    t1 = [0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.40625, 2.7305, 3.3223, 3.9023,
          4.5234, 5.1152, 5.5547]
    t2 = [0.1523, 0.3770, 0.8770, 1.4766, 1.9141, 2.40625, 2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547,
          6.2266, 6.9141, 7.40625]
    np.testing.assert_allclose(cqi_efficiency(1), t1, atol=6e-5)
    np.testing.assert_allclose(cqi_efficiency(2), t2, atol=6e-5)


def test_cqi_thresholds_and_lookup():
    thr1 = shannon_bound_thresholds_db(1)
    assert thr1[0] == pytest.approx(-9.53, abs=0.005)
    assert thr1[-1] == pytest.approx(16.63, abs=0.005)
    assert shannon_bound_thresholds_db(2)[-1] == pytest.approx(22.27, abs=0.005)
    # default thresholds: the Shannon bound, so SE never exceeds log2(1 + SINR)
    s = np.linspace(-12, 30, 400)
    se = spectral_efficiency_bps_hz(s, "cqi-table1")
    assert (se <= np.log2(1 + 10 ** (s / 10)) + 1e-12).all()
    assert spectral_efficiency_bps_hz(-10.0, "cqi-table1") == 0.0
    assert spectral_efficiency_bps_hz(30.0, "cqi-table2") == pytest.approx(7.40625)
    # explicitly chosen (unsourced) AWGN thresholds
    cqi = cqi_from_sinr([-7.0, -6.7, 0.2, 22.7, 40.0], CQI1_AWGN_THRESHOLDS_DB_UNSOURCED)
    assert cqi.tolist() == [0, 1, 4, 15, 15]
    se = spectral_efficiency_bps_hz(0.2, "cqi-table1", cqi_thresholds_db=CQI1_AWGN_THRESHOLDS_DB_UNSOURCED)
    assert se == pytest.approx(0.6016, abs=6e-5)
    with pytest.raises(ValueError, match="15 finite increasing"):
        cqi_from_sinr(0.0, [1.0, 0.0])
    with pytest.raises(ValueError, match="valid names are shannon-36942"):
        spectral_efficiency_bps_hz(0.0, "mcs")
    with pytest.raises(ValueError, match="NaN"):
        spectral_efficiency_bps_hz(np.nan)


def test_peak_rate_and_noise():
    assert round(peak_rate_mbps(4, 8, 273, 1, 0.14), 1) == 2337.0
    assert round(peak_rate_mbps(2, 6, 106, 0, 0.14), 1) == 170.1
    assert thermal_noise_dbm(100e6, 9.0) == pytest.approx(-85.0)
    with pytest.raises(RadioValidityError, match="bandwidth_hz"):
        thermal_noise_dbm(0.0)
