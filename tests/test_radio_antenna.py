"""Antenna patterns against REFERENCES.md §1.5 vectors."""

import numpy as np
import pytest

from dientine.radio import RadioValidityError, antenna_gain_dbi, gcs_to_lcs_deg
from dientine.radio.antenna import element_attenuation_38901_db, sector_36814_attenuation_db


@pytest.mark.parametrize("phi,theta,expected", [
    (0, 90, 0.0), (32.5, 90, -3.0), (65, 90, -12.0), (90, 90, -23.006), (180, 90, -30.0),
    (0, 100, -0.284), (0, 122.5, -3.0), (0, 180, -23.006), (60, 120, -12.781), (180, 180, -30.0)])
def test_element_attenuation(phi, theta, expected):
    assert element_attenuation_38901_db(theta, phi) == pytest.approx(expected, abs=6e-4)


@pytest.mark.parametrize("theta,phi,theta_l,phi_l,att", [
    (100, 0, 90.0, 0.0, 0.0), (90, 0, 80.0, 0.0, -0.284), (100, 30, 91.313, 29.507, -2.478),
    (120, 60, 114.659, 55.614, -10.512)])
def test_gcs_to_lcs_bearing0_downtilt10(theta, phi, theta_l, phi_l, att):
    tl, pl = gcs_to_lcs_deg(theta, phi, 0.0, 10.0)
    assert tl == pytest.approx(theta_l, abs=6e-4)
    assert pl == pytest.approx(phi_l, abs=6e-4)
    g = antenna_gain_dbi("tr38901-element", phi, theta, mech_tilt_deg=10.0)
    assert g == pytest.approx(8.0 + att, abs=6e-4)


def test_gcs_to_lcs_matches_rotation_matrix():
    rng = np.random.default_rng(0)
    th, ph = rng.uniform(1, 179, 50), rng.uniform(-180, 180, 50)
    a, b = rng.uniform(-180, 180, 50), rng.uniform(-30, 30, 50)
    tl, pl = gcs_to_lcs_deg(th, ph, a, b)
    for i in range(50):
        ar, br = np.radians(a[i]), np.radians(b[i])
        rz = np.array([[np.cos(ar), -np.sin(ar), 0], [np.sin(ar), np.cos(ar), 0], [0, 0, 1]])
        ry = np.array([[np.cos(br), 0, np.sin(br)], [0, 1, 0], [-np.sin(br), 0, np.cos(br)]])
        t, p = np.radians(th[i]), np.radians(ph[i])
        v = (rz @ ry).T @ np.array([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)])
        assert np.degrees(np.arccos(v[2])) == pytest.approx(tl[i], abs=1e-9)
        assert np.degrees(np.arctan2(v[1], v[0])) == pytest.approx(pl[i], abs=1e-9)


@pytest.mark.parametrize("theta,expected", [(90, 2.840), (96, 3.971), (102, 17.591), (108, 4.115),
                                            (115, -0.203), (130, -5.531)])
def test_column_array_10x1(theta, expected):
    g = antenna_gain_dbi("tr38901-array", 0.0, theta, elec_tilt_deg=12.0, n_rows=10, spacing_wavelengths=0.8)
    assert g == pytest.approx(expected, abs=6e-4)


def test_array_peak_is_element_plus_10log10_m():
    for m in (1, 4, 8):
        g = antenna_gain_dbi("tr38901-array", 0.0, 90.0, n_rows=m)
        assert g == pytest.approx(8.0 + 10 * np.log10(m), abs=1e-9)


def test_sector_36814_values_and_tilt_sensitivity():
    # REFERENCES §1.5: attenuation at 200 m (6.70° below horizon) moves 0.059 -> 3.371 dB for tilt 6° -> 12°;
    # the bare 38.901 element only 0.001 -> 0.080 dB.
    beta = np.degrees(np.arctan2(23.5, 200.0))
    assert beta == pytest.approx(6.70, abs=0.005)
    assert -sector_36814_attenuation_db(90 + 6.70, 0.0, 6.0) == pytest.approx(0.059, abs=6e-4)
    assert -sector_36814_attenuation_db(90 + 6.70, 0.0, 12.0) == pytest.approx(3.371, abs=6e-4)
    assert -element_attenuation_38901_db(90 + 6.70 - 6.0, 0.0) == pytest.approx(0.001, abs=6e-4)
    assert -element_attenuation_38901_db(90 + 6.70 - 12.0, 0.0) == pytest.approx(0.080, abs=6e-4)
    # 14 dBi peak, 25 dB front-to-back cap, 20 dB vertical side-lobe cap
    assert antenna_gain_dbi("tr36814-sector", 30.0, 100.0, bearing_deg=30.0, elec_tilt_deg=10.0) == 14.0
    assert antenna_gain_dbi("tr36814-sector", 180.0, 90.0) == pytest.approx(14.0 - 25.0)
    assert antenna_gain_dbi("tr36814-sector", 0.0, 150.0) == pytest.approx(14.0 - 20.0)
    # horizontal -3 dB at 35° (half of 70°)
    assert antenna_gain_dbi("tr36814-sector", 35.0, 90.0) == pytest.approx(11.0)


def test_mechanical_tilt_equals_rotation_for_sector():
    # a mechanically tilted sector at its boresight direction gives the peak gain
    g = antenna_gain_dbi("tr36814-sector", 150.0, 98.0, bearing_deg=150.0, mech_tilt_deg=8.0)
    assert g == pytest.approx(14.0, abs=1e-9)


def test_antenna_errors():
    with pytest.raises(ValueError, match="valid names are tr36814-sector, tr38901-element, tr38901-array"):
        antenna_gain_dbi("dipole", 0.0, 90.0)
    with pytest.raises(RadioValidityError, match="zenith_deg"):
        antenna_gain_dbi("tr36814-sector", 0.0, 190.0)
    with pytest.raises(RadioValidityError, match="elec_tilt_deg"):
        antenna_gain_dbi("tr38901-element", 0.0, 90.0, elec_tilt_deg=5.0)
