"""Hexagonal layout (REFERENCES.md §0), wrap-around translations, sites CSV reading."""

import math

import numpy as np
import pytest

from dientine.grid import Grid
from dientine.layout import LayoutError, hex_layout, hex_site_positions_m, hex_wrap_offsets_m, load_sites_csv


@pytest.mark.parametrize("rings, n_sites", [(0, 1), (1, 7), (2, 19), (3, 37)])
def test_site_count_is_1_plus_3n_n_plus_1(rings, n_sites):
    assert len(hex_site_positions_m(rings, 500.0)) == n_sites == 1 + 3 * rings * (rings + 1)


def test_19_site_layout_geometry():
    sites = hex_site_positions_m(2, 500.0)
    assert tuple(sites[0]) == (0.0, 0.0)
    dist = np.hypot(sites[:, 0], sites[:, 1])
    # first ring: six sites at the ISD, at 0°, 60°, ... (REFERENCES.md §0)
    ring1 = sites[np.isclose(dist, 500.0)]
    assert len(ring1) == 6
    angles = np.sort(np.degrees(np.arctan2(ring1[:, 1], ring1[:, 0])) % 360)
    np.testing.assert_allclose(angles, [0, 60, 120, 180, 240, 300], atol=1e-9)
    # x = D (q + r/2), y = D sqrt(3)/2 r for (q, r) = (-1, 2)
    assert any(np.allclose(s, (0.0, 500.0 * math.sqrt(3))) for s in sites)
    # nearest-neighbour distance is the ISD everywhere
    d = np.hypot(*(sites[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(d.min(axis=1), 500.0)


def test_57_cells_with_30_150_270_boresights():
    cells = hex_layout(2, 500.0, height_m=25.0, tx_power_dbm=43.0)
    assert cells.n_cells == 57 and cells.n_sites == 19
    np.testing.assert_array_equal(cells.azimuth_deg[:3], [30.0, 150.0, 270.0])
    assert np.all(cells.height_m == 25.0)


def test_wrap_offsets_tile_the_plane():
    offsets = hex_wrap_offsets_m(2, 500.0)
    assert offsets.shape == (7, 2)
    sites = hex_site_positions_m(2, 500.0)
    images = (sites[None, :, :] + offsets[:, None, :]).reshape(-1, 2)
    # 7 x 19 distinct positions and every site keeps six neighbours at the ISD (no overlap, no gap)
    assert len(np.unique(np.round(images, 6), axis=0)) == 133
    d = np.hypot(*(sites[:, None, :] - images[None, :, :]).transpose(2, 0, 1))
    assert np.all((np.isclose(d, 500.0)).sum(axis=1) == 6)
    # cluster translation length: sqrt(19) ISD
    np.testing.assert_allclose(np.hypot(offsets[1:, 0], offsets[1:, 1]), math.sqrt(19) * 500.0)


def test_sites_csv_xy_and_latlon(tmp_path):
    f = tmp_path / "sites.csv"
    f.write_text("site,x_m,y_m,azimuth_deg,height_m\nA,0,0,30,30\nA,0,0,150,\nB,100,50,270,20\n")
    cells = load_sites_csv(f, default_height_m=25.0, default_tx_power_dbm=43.0)
    np.testing.assert_array_equal(cells.site_id, [0, 0, 1])
    np.testing.assert_array_equal(cells.height_m, [30.0, 25.0, 20.0])
    g = tmp_path / "ll.csv"
    g.write_text("site,lat,lon,azimuth_deg\nA,45.0,9.0,0\nB,45.0,9.01,0\n")
    cells = load_sites_csv(g, default_height_m=25.0, default_tx_power_dbm=43.0)
    # 0.01° of longitude at 45° latitude: R cos(45°) * 0.01 * pi/180 = 786.3 m
    assert cells.x_m[1] - cells.x_m[0] == pytest.approx(6378137.0 * math.cos(math.radians(45)) * math.radians(0.01))


@pytest.mark.parametrize("content, fragment", [
    ("site,x_m,y_m,azimuth_deg\nA,0,0,30\nB,1,1,abc\n", "sites.csv:3 azimuth_deg: expected a number in [0, 360)"),
    ("site,x_m,y_m,azimuth_deg\nA,0,0,360\n", "sites.csv:2 azimuth_deg"),
    ("site,x_m,azimuth_deg\nA,0,30\n", "sites.csv:1 header: missing column(s) x_m and y_m"),
    ("site,x_m,y_m,azimuth_deg,colour\nA,0,0,1,red\n", "unknown column(s) ['colour']"),
    ("site,x_m,y_m,azimuth_deg,height_m\nA,0,0,1,-5\n", "sites.csv:2 height_m: expected a number in [1, 300]"),
    ("site,x_m,y_m,azimuth_deg\n,0,0,1\n", "sites.csv:2 site"),
])
def test_sites_csv_bad_rows_are_named(tmp_path, content, fragment):
    f = tmp_path / "sites.csv"
    f.write_text(content)
    with pytest.raises(LayoutError) as err:
        load_sites_csv(f, default_height_m=25.0, default_tx_power_dbm=43.0)
    assert fragment in str(err.value)


def test_grid_indexing():
    g = Grid.centred(100.0, 50.0, 10.0)
    assert g.shape == (5, 10)
    x, y = g.pixel_centres_m()
    assert x[0] == -45.0 and y[0] == -20.0
    np.testing.assert_array_equal(g.pixel_index(x, y), np.arange(50))
    assert g.pixel_index(np.array([1e9]), np.array([-1e9]))[0] == 9  # clamped to the south-east corner pixel
    with pytest.raises(ValueError, match="resolution_m"):
        Grid.centred(10.0, 10.0, 0.0)
