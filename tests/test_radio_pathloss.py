"""TR 38.901 / TR 36.777 path loss and LOS probability against REFERENCES.md §1.7 and §2 test vectors."""

import numpy as np
import pytest

from dientine.radio import RadioValidityError, los_probability, path_loss_db, shadow_sigma_db
from dientine.radio.aerial_36777 import free_space_db
from dientine.radio.pathloss_38901 import breakpoint_rma_m, breakpoint_uma_umi_m, uma_h_e_weights

D = np.array([50.0, 200.0, 1000.0, 5000.0])
TOL = 0.006  # table values are rounded to 0.01 dB

# (scenario, h_BS, LOS row, NLOS row) — REFERENCES.md §1.7, fc 3.5 GHz, h_UT 1.5 m
PL_VECTORS = [
    ("UMa", 25.0, [77.21, 89.57, 109.41, 137.37], [92.51, 114.46, 141.67, 168.98]),
    ("UMi", 25.0, [79.87, 91.67, 111.06, 139.02], [95.49, 115.32, 139.89, 164.56]),
    ("RMa", 25.0, [78.38, 90.08, 105.46, 127.28], [84.91, 106.86, 134.07, 161.39]),
    ("UMi", 10.0, [79.09, 91.61, 119.15, 147.11], [94.18, 115.23, 139.89, 164.56]),
    ("RMa", 35.0, [79.15, 90.15, 105.46, 125.97], [83.26, 103.64, 130.42, 157.42]),
]


@pytest.mark.parametrize("scenario,h_bs,los_row,nlos_row", PL_VECTORS)
def test_path_loss_vectors(scenario, h_bs, los_row, nlos_row):
    np.testing.assert_allclose(path_loss_db(scenario, D, h_bs, 1.5, 3.5, True), los_row, atol=TOL)
    np.testing.assert_allclose(path_loss_db(scenario, D, h_bs, 1.5, 3.5, False), nlos_row, atol=TOL)
    # the -AV scenario falls back to TR 38.901 at ground heights
    np.testing.assert_allclose(path_loss_db(scenario + "-AV", D, h_bs, 1.5, 3.5, True), los_row, atol=TOL)


def test_uma_nlos_optional_vectors():
    np.testing.assert_allclose(path_loss_db("UMa", D, 25.0, 1.5, 3.5, False, nlos_model="optional"),
                               [95.55, 112.40, 133.28, 154.25], atol=TOL)


def test_umi_nlos_optional_formula():
    d3 = np.hypot(D, 8.5)
    np.testing.assert_allclose(path_loss_db("UMi", D, 10.0, 1.5, 3.5, False, nlos_model="optional"),
                               32.4 + 20 * np.log10(3.5) + 31.9 * np.log10(d3), atol=1e-9)


def test_breakpoints():
    assert breakpoint_uma_umi_m(25.0, 1.5, 3.5) == pytest.approx(560.0)
    assert breakpoint_uma_umi_m(10.0, 1.5, 3.5) == pytest.approx(210.0)
    assert breakpoint_rma_m(25.0, 1.5, 3.5) == pytest.approx(2748.9, abs=0.05)
    assert breakpoint_rma_m(35.0, 1.5, 3.5) == pytest.approx(3848.5, abs=0.05)


def test_free_space_1km():
    assert free_space_db(1000.0, 3.5) == pytest.approx(103.32, abs=TOL)


def test_nlos_never_below_los_and_broadcasts():
    d = np.linspace(10, 5000, 200)[:, None]
    h = np.array([1.5, 5.0, 12.0])[None, :]
    for s in ("UMa", "UMi"):
        los = path_loss_db(s, d, 25.0, h, 3.5, True)
        nlos = path_loss_db(s, d, 25.0, h, 3.5, False)
        assert los.shape == (200, 3)
        assert (nlos >= los - 1e-12).all()


def test_d2d_floor_is_10m():
    np.testing.assert_allclose(path_loss_db("UMa", [0.0, 3.0], 25.0, 1.5, 3.5, True),
                               path_loss_db("UMa", 10.0, 25.0, 1.5, 3.5, True))


LOS_VECTORS = {
    "RMa": (1.5, [1, 0.9920, 0.9608, 0.8270, 0.3716, 0.0068]),
    "UMi": (1.5, [1, 1, 0.5196, 0.0935, 0.0180, 0.0036]),
    "UMa": (1.5, [1, 1, 0.6494, 0.1280, 0.0180, 0.0036]),
}


@pytest.mark.parametrize("scenario", ["RMa", "UMi", "UMa"])
def test_los_probability_table(scenario):
    h, row = LOS_VECTORS[scenario]
    d = [10, 18, 50, 200, 1000, 5000]
    np.testing.assert_allclose(los_probability(scenario, d, h), row, atol=5e-5)


def test_los_probability_uma_20m_and_inclusive_boundary():
    d = [10, 18, 50, 200, 1000, 5000]
    np.testing.assert_allclose(los_probability("UMa", d, 20.0), [1, 1, 0.6920, 0.3257, 0.0348, 0.0036],
                               atol=5e-5)
    assert los_probability("UMa", 18.0, 20.0) == 1.0
    assert los_probability("UMi", 18.0, 1.5) == 1.0
    assert los_probability("RMa", 10.0, 1.5) == 1.0
    assert los_probability("UMa", 18.0 + 1e-9, 1.5) < 1.0


# REFERENCES.md §2 aerial table: (scenario, h_BS, h_UT, d2D, P_LOS, PL_LOS, σ_LOS, PL_NLOS or None, σ_NLOS)
AV_VECTORS = [
    ("UMa-AV", 25.0, 30.0, 100.0, 0.9685, 82.89, 3.81, 97.16, 6.0),
    ("UMa-AV", 25.0, 50.0, 1000.0, 0.7721, 104.88, 3.34, 128.15, 6.0),
    ("UMa-AV", 25.0, 100.0, 4000.0, 0.4657, 118.13, 2.40, 141.09, 6.0),
    ("UMa-AV", 25.0, 300.0, 1000.0, 1.0, 105.23, 0.64, None, None),
    ("UMi-AV", 10.0, 30.0, 500.0, 0.2620, 99.85, 3.70, 129.59, 8.0),
    ("UMi-AV", 10.0, 100.0, 1000.0, 0.2544, 105.57, 2.00, 127.33, 8.0),
    ("UMi-AV", 10.0, 300.0, 4000.0, 0.0748, 117.49, 2.00, 131.11, 8.0),
    ("RMa-AV", 35.0, 30.0, 4000.0, 0.5681, 119.84, 3.66, 129.20, 6.0),
    ("RMa-AV", 35.0, 100.0, 1000.0, 1.0, 104.24, 2.65, None, None),
]


@pytest.mark.parametrize("row", AV_VECTORS)
def test_aerial_vectors(row):
    scen, hb, h, d, plos, pl_l, s_l, pl_n, s_n = row
    assert los_probability(scen, d, h) == pytest.approx(plos, abs=5e-5)
    assert path_loss_db(scen, d, hb, h, 3.5, True) == pytest.approx(pl_l, abs=TOL)
    assert shadow_sigma_db(scen, d, hb, h, 3.5, True) == pytest.approx(s_l, abs=0.006)
    if pl_n is None:
        with pytest.raises(RadioValidityError, match="h_ut_m"):
            path_loss_db(scen, d, hb, h, 3.5, False)
    else:
        assert path_loss_db(scen, d, hb, h, 3.5, False) == pytest.approx(pl_n, abs=TOL)
        assert shadow_sigma_db(scen, d, hb, h, 3.5, False) == pytest.approx(s_n)


def test_shadow_sigma_38901():
    assert shadow_sigma_db("UMa", 100.0, 25.0, 1.5, 3.5, [True, False]).tolist() == [4.0, 6.0]
    assert shadow_sigma_db("UMi", 100.0, 10.0, 1.5, 3.5, [True, False]).tolist() == [4.0, 7.82]
    # RMa LOS: 4 dB before dBP (2748.9 m at h_BS 25 m), 6 dB after; NLOS 8; O2I 8
    assert shadow_sigma_db("RMa", [1000.0, 3000.0], 25.0, 1.5, 3.5, True).tolist() == [4.0, 6.0]
    assert shadow_sigma_db("RMa", 100.0, 35.0, 1.5, 3.5, False) == 8.0
    assert shadow_sigma_db("UMa", 100.0, 25.0, 1.5, 3.5, False, indoor=True) == 7.0


def test_uma_h_e_deterministic_mean_and_draws():
    # below 13 m: h_E = 1 m exactly
    w = uma_h_e_weights(300.0, 10.0)
    assert w.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    # 20 m at 100 m: C = (0.7)^1.5 * 1.25 * exp(-2/3); h_E in {1} ∪ {12, 15, 18}
    c = 0.7**1.5 * 1.25 * np.exp(-100 / 150)
    w = uma_h_e_weights(100.0, 20.0)
    np.testing.assert_allclose(w, [1 / (1 + c)] + [(1 - 1 / (1 + c)) / 3] * 3 + [0.0])
    mean = path_loss_db("UMa", 100.0, 25.0, 20.0, 3.5, True)
    per = [path_loss_db("UMa", 100.0, 25.0, 20.0, 3.5, True, h_e_m=h) for h in (1.0, 12.0, 15.0, 18.0)]
    assert mean == pytest.approx(float(np.dot(w[:4], per)))
    draws = path_loss_db("UMa", np.full(4000, 100.0), 25.0, 20.0, 3.5, True, rng=np.random.default_rng(3))
    assert set(np.round(draws, 6)) <= set(np.round(per, 6))
    assert draws.mean() == pytest.approx(mean, abs=0.05)


def test_validity_errors_name_parameter_and_range():
    with pytest.raises(RadioValidityError, match=r"h_ut_m: expected finite values in \[1.5, 22.5\]"):
        path_loss_db("UMa", 100.0, 25.0, 30.0, 3.5, True)
    with pytest.raises(RadioValidityError, match=r"d2d_m: .*5000"):
        path_loss_db("UMa", 6000.0, 25.0, 1.5, 3.5, True)
    with pytest.raises(RadioValidityError, match=r"fc_ghz: .*\[0.5, 30\]"):
        path_loss_db("RMa", 100.0, 35.0, 1.5, 40.0, True)
    with pytest.raises(RadioValidityError, match=r"h_bs_m"):
        path_loss_db("RMa", 100.0, 5.0, 1.5, 3.5, True)
    with pytest.raises(RadioValidityError, match=r"d2d_m: .*4000"):
        path_loss_db("UMa-AV", 4500.0, 25.0, 50.0, 3.5, True)
    with pytest.raises(RadioValidityError, match="d2d_m"):
        path_loss_db("UMa", np.nan, 25.0, 1.5, 3.5, True)
    with pytest.raises(RadioValidityError, match="h_ut_m"):
        los_probability("UMi", 100.0, 50.0)
    with pytest.raises(ValueError, match="valid names are UMa, UMi, RMa, UMa-AV, UMi-AV, RMa-AV"):
        path_loss_db("Urban", 100.0, 25.0, 1.5, 3.5, True)
    with pytest.raises(ValueError, match="optional"):
        path_loss_db("RMa", 100.0, 35.0, 1.5, 3.5, False, nlos_model="optional")
