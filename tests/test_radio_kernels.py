"""Numba kernels against the plain NumPy reference built from the tested model functions."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dientine.grid import Grid
from dientine.radio import (
    CachedServing,
    CellArrays,
    PointArrays,
    RadioValidityError,
    build_site_fields,
    evaluate_network,
    gain_map_dense,
    gain_map_topk,
    hex_wraparound_offsets_m,
    serve,
)
from dientine.radio.reference_numpy import gain_map_dense_numpy, serve_numpy

H_BS = {"UMa": (25.0, 25.0), "UMi": (10.0, 25.0), "RMa": (10.0, 60.0)}
H_UT_GROUND = {"UMa": (1.5, 22.5), "UMi": (1.5, 22.5), "RMa": (1.0, 10.0)}


def random_case(seed, scenario="UMa", antenna="tr36814-sector", n_sites=3, n_points=60, indoor_frac=0.2,
                aerial_frac=0.2, side_m=800.0, res_m=20.0):
    rng = np.random.default_rng(seed)
    grid = Grid.centred(side_m, side_m, res_m)
    half = side_m / 2
    sites = rng.uniform(-half, half, (n_sites, 2))
    per_site = rng.integers(1, 4, n_sites)
    site_index = np.repeat(np.arange(n_sites), per_site)
    c = site_index.size
    fam = scenario.split("-")[0]
    elec = np.zeros(c) if antenna == "tr38901-element" else rng.uniform(0, 15, c)
    cells = CellArrays(
        x_m=sites[site_index, 0], y_m=sites[site_index, 1], height_m=np.repeat(rng.uniform(*H_BS[fam], n_sites),
                                                                               per_site),
        azimuth_deg=rng.uniform(-180, 180, c), mech_tilt_deg=rng.uniform(-2, 10, c), elec_tilt_deg=elec,
        tx_power_dbm=rng.uniform(30, 46, c), active=rng.random(c) < 0.8, load=rng.uniform(0, 1, c),
        offset_db=rng.uniform(-3, 3, c), site_index=site_index, scenario=scenario, antenna_model=antenna,
        n_prb=273, fc_ghz=3.5)
    lo, hi = H_UT_GROUND[fam]
    h = rng.uniform(lo, hi, n_points)
    aerial = rng.random(n_points) < aerial_frac
    h[aerial] = rng.uniform(hi + 0.5, 300.0, aerial.sum())
    indoor = (rng.random(n_points) < indoor_frac) & ~aerial
    points = PointArrays(rng.uniform(-half, half, n_points), rng.uniform(-half, half, n_points), h, indoor,
                         np.where(indoor, rng.uniform(10, 30, n_points), 0.0))
    fields = build_site_fields(grid, n_sites, scenario, np.random.default_rng(seed + 1), include_o2i=True)
    return cells, points, fields


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scenario=st.sampled_from(["UMa", "UMi", "RMa"]),
       antenna=st.sampled_from(["tr36814-sector", "tr38901-element", "tr38901-array"]), wrap=st.booleans(),
       model=st.sampled_from(["shannon-36942", "cqi-table1", "cqi-table2"]), flat=st.booleans())
def test_kernels_match_numpy_reference(seed, scenario, antenna, wrap, model, flat):
    cells, points, fields = random_case(seed, scenario, antenna)
    if flat:  # zero mechanical tilt: the kernels' per-site antenna-angle path
        cells = dataclasses.replace(cells, mech_tilt_deg=np.zeros(cells.n_cells))
    offsets = hex_wraparound_offsets_m(300.0, 1) if wrap else None
    ref = gain_map_dense_numpy(cells, points, fields, wrap_offsets_m=offsets)
    got = gain_map_dense(cells, points, fields, wrap_offsets_m=offsets)
    np.testing.assert_allclose(got, ref, atol=2e-3, rtol=0)
    assert np.isfinite(got).all()
    r_ref = serve_numpy(ref, None, cells, se_model=model)
    r_got = serve(ref, None, cells, se_model=model)
    np.testing.assert_array_equal(r_got.serving_cell, r_ref.serving_cell)
    np.testing.assert_allclose(r_got.sinr_db, r_ref.sinr_db, atol=1e-3)
    np.testing.assert_allclose(r_got.rsrp_dbm, r_ref.rsrp_dbm, atol=1e-3)
    np.testing.assert_allclose(r_got.rate_mbps, r_ref.rate_mbps, rtol=1e-4, atol=1e-3)
    # serial twins agree exactly
    assert np.array_equal(gain_map_dense(cells, points, fields, wrap_offsets_m=offsets, parallel=False), got)


def test_same_seed_identical_maps_different_seed_differs():
    a = gain_map_dense(*random_case(7))
    b = gain_map_dense(*random_case(7))
    c = gain_map_dense(*random_case(7)[:2], random_case(8, n_sites=3)[2])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_inactive_cells_never_serve_or_interfere():
    cells, points, fields = random_case(3, n_sites=4, aerial_frac=0.0)
    g = gain_map_dense(cells, points, fields)
    active = np.ones(cells.n_cells, bool)
    active[::2] = False
    on = dataclasses.replace(cells, active=active)
    r = serve(g, None, on)
    assert not np.isin(r.serving_cell, np.flatnonzero(~active)).any()
    # removing the inactive cells entirely gives the same SINR (they add no interference)
    keep = np.flatnonzero(active)
    sub = dataclasses.replace(on, **{f: getattr(on, f)[keep] for f in (
        "x_m", "y_m", "height_m", "azimuth_deg", "mech_tilt_deg", "elec_tilt_deg", "tx_power_dbm", "active",
        "load", "offset_db", "site_index")})
    r_sub = serve(g[:, keep], None, sub)
    np.testing.assert_array_equal(keep[r_sub.serving_cell], r.serving_cell)
    np.testing.assert_allclose(r_sub.sinr_db, r.sinr_db, atol=1e-5)
    # an inactive cell's power/load changes nothing
    louder = dataclasses.replace(on, tx_power_dbm=np.where(active, on.tx_power_dbm, 80.0),
                                 load=np.where(active, on.load, 1.0))
    np.testing.assert_array_equal(serve(g, None, louder).sinr_db, r.sinr_db)


def test_no_active_cell_sentinel():
    cells, points, fields = random_case(4)
    off = dataclasses.replace(cells, active=np.zeros(cells.n_cells, bool))
    r = evaluate_network(off, points, fields)
    assert (r.serving_cell == -1).all()
    assert np.isneginf(r.sinr_db).all() and np.isneginf(r.rsrp_dbm).all()
    assert (r.rate_mbps == 0).all()
    assert not np.isnan(r.sinr_db).any()


def test_topk_with_k_equal_c_equals_dense_and_is_sorted():
    cells, points, fields = random_case(5, n_sites=4)
    dense = gain_map_dense(cells, points, fields)
    idx, gk = gain_map_topk(cells, points, fields, cells.n_cells)
    assert idx.dtype == np.int32 and gk.dtype == np.float32
    np.testing.assert_array_equal(np.take_along_axis(dense, idx.astype(np.int64), 1), gk)
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.broadcast_to(np.arange(cells.n_cells), idx.shape))
    assert (np.diff(gk, axis=1) <= 0).all()
    r_d, r_k = serve(dense, None, cells), serve(gk, idx, cells)
    np.testing.assert_array_equal(r_d.serving_cell, r_k.serving_cell)
    np.testing.assert_allclose(r_d.sinr_db, r_k.sinr_db, atol=1e-4)
    # smaller K keeps the K strongest by gain + rank offset
    rank = cells.tx_power_dbm
    idx3, g3 = gain_map_topk(cells, points, fields, 3, rank_offset_db=rank)
    keyed = dense + rank[None, :].astype(np.float64)
    expect = np.sort(keyed, axis=1)[:, ::-1][:, :3]
    np.testing.assert_allclose(np.take_along_axis(keyed, idx3.astype(np.int64), 1), expect, atol=1e-9)


def test_cached_update_equals_full_recompute():
    cells, points, fields = random_case(6, n_sites=4, n_points=300)
    idx, gk = gain_map_topk(cells, points, fields, 4)
    cache = CachedServing(idx, gk, cells)
    rng = np.random.default_rng(0)
    cur = cells
    for step in range(12):
        c = int(rng.integers(cells.n_cells))
        kind = step % 4
        if kind == 0:
            cur = dataclasses.replace(cur, tx_power_dbm=cur.tx_power_dbm + np.eye(cells.n_cells)[c] * -6.0)
        elif kind == 1:
            cur = dataclasses.replace(cur, active=np.where(np.arange(cells.n_cells) == c, ~cur.active, cur.active))
        elif kind == 2:
            cur = dataclasses.replace(cur, load=np.where(np.arange(cells.n_cells) == c, rng.random(), cur.load))
        else:
            cur = dataclasses.replace(cur, offset_db=cur.offset_db + np.eye(cells.n_cells)[c] * 4.0)
        prev_serving = cache.result.serving_cell.copy()
        n = cache.update(cur, [c])
        pts_c = cache.points_of(c)
        if kind == 2:  # load only: the points c serves cannot change, nothing at all if c is asleep
            assert n == (int(np.sum(prev_serving[pts_c] != c)) if cur.active[c] else 0)
        else:
            assert n == pts_c.size
        full = serve(gk, idx, cur)
        np.testing.assert_array_equal(cache.result.serving_cell, full.serving_cell)
        np.testing.assert_array_equal(cache.result.rsrp_dbm, full.rsrp_dbm)
        np.testing.assert_allclose(cache.result.sinr_db, full.sinr_db, atol=1e-4)
        np.testing.assert_allclose(cache.result.rate_mbps, full.rate_mbps, rtol=1e-5, atol=1e-3)
        # the NumPy reference of the same incremental update agrees
        ref = serve_numpy(gk, idx, cur, gain_lin=cache.gain_lin)
        np.testing.assert_array_equal(cache.result.serving_cell, ref.serving_cell)
        np.testing.assert_allclose(cache.result.sinr_db, ref.sinr_db, atol=1e-4)
    with pytest.raises(ValueError, match="not listed"):
        cache.update(dataclasses.replace(cur, load=cur.load * 0.5), [0])
    with pytest.raises(ValueError, match="rebuild"):
        cache.update(dataclasses.replace(cur, mech_tilt_deg=cur.mech_tilt_deg + 1), [0])


def test_wraparound_uses_nearest_image():
    grid = Grid.centred(2000.0, 400.0, 10.0)
    fields = build_site_fields(grid, 1, "UMa", np.random.default_rng(0))

    def one_cell(x):
        return CellArrays([x], [0.0], [25.0], [0.0], [0.0], [10.0], [46.0], [True], [1.0], [0.0], [0])

    pts = PointArrays([900.0], [0.0], [1.5])
    wrapped = gain_map_dense(one_cell(-1000.0), pts, fields, wrap_offsets_m=[[0.0, 0.0], [2000.0, 0.0]])
    direct = gain_map_dense(one_cell(1000.0), pts, fields)
    assert wrapped[0, 0] == direct[0, 0]
    assert gain_map_dense(one_cell(-1000.0), pts, fields)[0, 0] < direct[0, 0] - 20


def test_hex_wraparound_offsets():
    off = hex_wraparound_offsets_m(500.0, 2)
    assert off.shape == (7, 2)
    np.testing.assert_allclose(np.hypot(*off[1:].T), np.sqrt(19) * 500.0)
    np.testing.assert_allclose(off[0], 0.0)


def test_kernel_validity_errors():
    cells, points, fields = random_case(9)
    with pytest.raises(RadioValidityError, match="PointArrays.height_m"):
        gain_map_dense(cells, PointArrays([0.0], [0.0], [400.0]), fields)
    far = dataclasses.replace(cells, x_m=cells.x_m + 6000.0)
    with pytest.raises(RadioValidityError, match="d2d_m"):
        gain_map_dense(far, points, fields)
    with pytest.raises(ValueError, match="o2i_loss_db"):
        PointArrays([0.0], [0.0], [1.5], [True])
    with pytest.raises(ValueError, match="k: expected"):
        gain_map_topk(cells, points, fields, cells.n_cells + 1)
    with pytest.raises(RadioValidityError, match="CellArrays.load"):
        dataclasses.replace(cells, load=cells.load + 2.0)
    with pytest.raises(ValueError, match="valid names"):
        dataclasses.replace(cells, antenna_model="omni")


def test_single_link_composition_with_controlled_fields():
    """gain = antenna − PL(LOS state) − σ_SF·z − O2I, checked with hand-set fields on one link."""
    from dientine.radio import antenna_gain_dbi, path_loss_db

    grid = Grid.centred(1000.0, 1000.0, 10.0)
    base = build_site_fields(grid, 1, "UMa", np.random.default_rng(0), include_o2i=True)
    n = grid.n_pixels

    def fields(u, z_los, z_nlos, z_o2i):
        full = lambda v: np.full((n, 1), v, np.float32)  # noqa: E731
        return dataclasses.replace(base, los_uniform=full(u), sf_los=full(z_los), sf_nlos=full(z_nlos),
                                   sf_o2i=full(z_o2i))

    cell = CellArrays([0.0], [0.0], [25.0], [30.0], [4.0], [10.0], [46.0], [True], [1.0], [0.0], [0])
    x, y = 300.0 * np.cos(np.radians(40.0)), 300.0 * np.sin(np.radians(40.0))
    out = PointArrays([x], [y], [1.5])
    ant = antenna_gain_dbi("tr36814-sector", 40.0, np.degrees(np.arctan2(300.0, 1.5 - 25.0)), bearing_deg=30.0,
                           mech_tilt_deg=4.0, elec_tilt_deg=10.0)
    pl_los = path_loss_db("UMa", 300.0, 25.0, 1.5, 3.5, True)
    pl_nlos = path_loss_db("UMa", 300.0, 25.0, 1.5, 3.5, False)
    g_los = gain_map_dense(cell, out, fields(0.0, 0.0, 0.0, 0.0))[0, 0]
    assert g_los == pytest.approx(ant - pl_los, abs=1e-4)
    g_nlos = gain_map_dense(cell, out, fields(0.99999994, 0.0, 0.0, 0.0))[0, 0]
    assert g_nlos == pytest.approx(ant - pl_nlos, abs=1e-4)
    # shadowing: σ_LOS = 4 dB, σ_NLOS = 6 dB (TR 38.901 Table 7.4.1-1) times the field value
    assert gain_map_dense(cell, out, fields(0.0, 1.0, 0.0, 0.0))[0, 0] == pytest.approx(g_los - 4.0, abs=1e-4)
    assert gain_map_dense(cell, out, fields(0.99999994, 0.0, -0.5, 0.0))[0, 0] == pytest.approx(
        g_nlos + 3.0, abs=1e-4)
    # indoor: O2I loss and the O2I field (σ 7 dB) replace the outdoor shadowing
    ind = PointArrays([x], [y], [1.5], [True], [20.0])
    assert gain_map_dense(cell, ind, fields(0.0, 1.0, 1.0, 1.0))[0, 0] == pytest.approx(
        g_los - 20.0 - 7.0, abs=1e-4)
    # one-call evaluation: SINR = RSRP-based SNR for a lone cell (no interference)
    r = evaluate_network(cell, out, fields(0.0, 0.0, 0.0, 0.0), k=1)
    noise = -174 + 10 * np.log10(100e6) + 9.0
    assert r.sinr_db[0] == pytest.approx(46.0 + g_los - noise, abs=1e-3)


def test_atan2_deg_matches_libm():
    from dientine.radio.kernels import atan2_deg

    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(size=3000) * 10.0 ** rng.integers(-6, 5, 3000), [0.0, 1.0, -1.0, 1.0, -2.0]])
    x = np.concatenate([rng.normal(size=3000) * 10.0 ** rng.integers(-6, 5, 3000), [1.0, 0.0, 0.0, -1.0, -2.0]])
    x[:50] = y[:50] * (2.0 - np.sqrt(3.0))  # the range-reduction boundary tan(15°)
    got = np.array([atan2_deg.py_func(a, b) for a, b in zip(y, x, strict=True)])
    np.testing.assert_allclose(got, np.degrees(np.arctan2(y, x)), atol=2e-7, rtol=0)


def test_cached_update_parallel_path_and_multi_cell(monkeypatch):
    from dientine.radio import maps

    cells, points, fields = random_case(11, n_sites=4, n_points=400)
    idx, gk = gain_map_topk(cells, points, fields, 3)
    cache = CachedServing(idx, gk, cells)
    monkeypatch.setattr(maps, "PARALLEL_MIN_POINTS", 1)
    cur = dataclasses.replace(cells, tx_power_dbm=cells.tx_power_dbm - 3.0 * (np.arange(cells.n_cells) % 2),
                              load=np.full(cells.n_cells, 0.3))
    n = cache.update(cur, np.arange(cells.n_cells))
    assert n == points.n_points
    full = serve(gk, idx, cur)
    np.testing.assert_array_equal(cache.result.serving_cell, full.serving_cell)
    np.testing.assert_array_equal(cache.result.rsrp_dbm, full.rsrp_dbm)
    np.testing.assert_allclose(cache.result.sinr_db, full.sinr_db, atol=1e-4)
    # a load change of an asleep cell changes nothing and recomputes nothing
    asleep = int(np.flatnonzero(~cur.active)[0]) if (~cur.active).any() else None
    if asleep is not None:
        before = cache.result.sinr_db.copy()
        assert cache.update(dataclasses.replace(cur, load=np.where(np.arange(cells.n_cells) == asleep, 0.9,
                                                                   cur.load)), [asleep]) == 0
        np.testing.assert_array_equal(cache.result.sinr_db, before)


@pytest.mark.parametrize("antenna", ["tr36814-sector", "tr38901-element", "tr38901-array"])
def test_zero_tilt_site_path_matches_reference_incl_point_below_site(antenna):
    cells, points, fields = random_case(21, "UMa", antenna, n_points=200)
    cells = dataclasses.replace(cells, mech_tilt_deg=np.zeros(cells.n_cells))
    # one point exactly below the first site (horizontal distance 0: the per-cell fallback path)
    x, y = points.x_m.copy(), points.y_m.copy()
    x[0], y[0] = cells.x_m[0], cells.y_m[0]
    points = PointArrays(x, y, points.height_m, points.indoor, points.o2i_loss_db)
    ref = gain_map_dense_numpy(cells, points, fields)
    got = gain_map_dense(cells, points, fields)
    # point 0 is at the zenith of its site, where the azimuth (and so the sector's horizontal pattern) is
    # undefined: the kernels take LCS azimuth 0 there, the reference GCS azimuth 0; compare the other points
    np.testing.assert_allclose(got[1:], ref[1:], atol=2e-3, rtol=0)
    assert np.isfinite(got[0]).all()
    idx, gk = gain_map_topk(cells, points, fields, cells.n_cells)
    np.testing.assert_array_equal(np.take_along_axis(got, idx, 1), gk)


@pytest.mark.parametrize("scenario", ["UMa", "UMi", "RMa"])
@pytest.mark.parametrize("flat", [True, False])
def test_simd_block_path_terrestrial_points_match_reference(scenario, flat):
    """Only terrestrial points (no aerial, UMa below 13 m): every link takes the branch-free block path (none is
    redone by the per-point path), across block boundaries (300 points = 2 full blocks + a partial one)."""
    cells, points, fields = random_case(5, scenario, "tr36814-sector", n_points=300, aerial_frac=0.0,
                                        indoor_frac=0.3)
    if scenario == "UMa":
        points = dataclasses.replace(points, height_m=np.minimum(points.height_m, 12.9))
    if flat:
        cells = dataclasses.replace(cells, mech_tilt_deg=np.zeros(cells.n_cells))
    offsets = hex_wraparound_offsets_m(300.0, 1)
    ref = gain_map_dense_numpy(cells, points, fields, wrap_offsets_m=offsets)
    got = gain_map_dense(cells, points, fields, wrap_offsets_m=offsets)
    np.testing.assert_allclose(got, ref, atol=2e-3, rtol=0)
    assert np.array_equal(gain_map_dense(cells, points, fields, wrap_offsets_m=offsets, parallel=False), got)
    idx, gk = gain_map_topk(cells, points, fields, cells.n_cells, wrap_offsets_m=offsets)
    np.testing.assert_array_equal(np.take_along_axis(got, idx, 1), gk)


def test_out_of_range_count_of_block_path():
    """The error names the exact number of links beyond 5 km (UMa LOS and NLOS maximum), counted per cell."""
    cells, points, fields = random_case(9, n_points=200, aerial_frac=0.0)
    points = dataclasses.replace(points, height_m=np.minimum(points.height_m, 12.9))
    far = dataclasses.replace(cells, x_m=cells.x_m + 4700.0)
    d2 = np.hypot(points.x_m[:, None] - far.x_m[None, :], points.y_m[:, None] - far.y_m[None, :])
    n_far = int(np.sum(np.maximum(d2, 10.0) > 5000.0))
    assert 0 < n_far < d2.size
    with pytest.raises(RadioValidityError, match=rf"d2d_m: {n_far} point-cell links"):
        gain_map_dense(far, points, fields)


def test_dense_serve_equals_general_row_path():
    """serve() on a dense map (SIMD row pass) equals the per-link path on the same map given as a [P, C] index."""
    cells, points, fields = random_case(13, n_points=500)
    g = gain_map_dense(cells, points, fields)
    full_idx = np.broadcast_to(np.arange(cells.n_cells, dtype=np.int32), g.shape).copy()
    for active in (cells.active, np.zeros(cells.n_cells, bool), np.arange(cells.n_cells) % 2 == 0):
        cc = dataclasses.replace(cells, active=active)
        a = serve(g, None, cc)
        b = serve(g, full_idx, cc)
        np.testing.assert_array_equal(a.serving_cell, b.serving_cell)
        np.testing.assert_array_equal(a.rsrp_dbm, b.rsrp_dbm)
        np.testing.assert_allclose(a.sinr_db, b.sinr_db, atol=1e-5)
        np.testing.assert_allclose(a.rate_mbps, b.rate_mbps, rtol=1e-6, atol=1e-5)
