"""dientine.twin: the gain cache and the per-user radio kernels, checked against dientine.radio and brute force."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dientine.radio.errors import RadioValidityError
from dientine.radio.link import se_parameters, shannon_36942_bps_hz
from dientine.radio.maps import gain_map_dense, serve
from dientine.radio.network_arrays import PointArrays
from dientine.scenario import validate_data
from dientine.sim import UserRows
from dientine.twin import (
    Twin,
    TwinError,
    rx_cache,
    user_candidates,
    user_candidates_serial,
    user_links,
    user_links_fast_serial,
    user_links_serial,
)

SC = {
    "name": "twin-test",
    "seed": 5,
    "area": {"width_m": 1400, "height_m": 1300, "resolution_m": 25},
    "clock": {"duration": "1h", "tick": "15min"},
    "network": {
        "layout": {"hex": {"rings": 1, "isd_m": 500, "sectors": 3}},
        "carrier": {"fc_ghz": 3.5, "bandwidth_mhz": 20, "scenario": "UMa"},
        "equipment": "macro_rru",
    },
    "population": [{"archetype": "pedestrian", "count": 10}],
    "simulation": {"top_k": 21},
}


@pytest.fixture(scope="module")
def twin() -> Twin:
    return Twin(validate_data(SC), np.random.default_rng(0))


def _no_rows(twin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates kernel's row outputs when it gathers none."""
    r = UserRows(0, twin.topk_cell.shape[1])
    return r.cell, r.dbm, r.mw


def test_topk_is_sorted_strongest_first(twin):
    rx = twin.topk_gain_db + twin.cells.tx_power_dbm[twin.topk_cell]
    assert (np.diff(rx, axis=1) <= 1e-4).all()
    full = twin.dense_gain_db + twin.cells.tx_power_dbm[None, :]
    np.testing.assert_allclose(rx[:, 0], full.max(axis=1), rtol=0, atol=1e-4)


def test_user_kernels_reproduce_radio_serve_at_pixel_centres(twin):
    """Outdoor users at pixel centres, served by their best cell, get the SINR of dientine.radio.maps.serve on the
    same top-K map (K = all cells, so nothing is dropped)."""
    load = np.linspace(0.1, 1.0, twin.n_cells)
    cells = dataclasses.replace(twin.cells, load=load)
    ref = serve(twin.topk_gain_db, twin.topk_cell, cells, noise_dbm=twin.noise_dbm)
    x, y = twin.grid.pixel_centres_m()
    n = x.size
    act = np.ones(n, bool)
    can = np.ones(twin.n_cells, bool)
    row, best, other = (np.zeros(n, np.int64) for _ in range(3))
    rb, ro, rs = np.zeros(n), np.zeros(n), np.zeros(n)
    none = np.full(n, -1, np.int64)
    o2i = np.zeros(n)
    g = twin.grid
    mw3, w = np.zeros((n, 3)), np.zeros(n)
    user_candidates_serial(x, y, act, g.x0_m, g.y0_m, g.resolution_m, g.n_cols, g.n_rows, twin.topk_cell,
                           twin.topk_rx_dbm, can, cells.offset_db, none, cells.rsrp_offset_db, o2i, row, best, rb,
                           other, ro, rs,
                           twin.topk_rx_mw, can, load, mw3, w, *_no_rows(twin))
    np.testing.assert_array_equal(row, np.arange(n))
    np.testing.assert_array_equal(best, ref.serving_cell)
    np.testing.assert_allclose(rb, ref.rsrp_dbm, atol=1e-3)
    sinr, se = np.zeros(n), np.zeros(n)
    user_links_serial(row, act, best, twin.topk_cell, twin.topk_rx_mw, can, load, 10 ** (o2i / 10), twin.noise_mw,
                      *twin.se_params, sinr, se)
    np.testing.assert_allclose(sinr, ref.sinr_db, atol=2e-3)
    np.testing.assert_allclose(se * twin.bandwidth_hz / 1e6, ref.rate_mbps, rtol=1e-4, atol=1e-3)
    # the parallel variant gives the same numbers
    sinr2, se2 = np.zeros(n), np.zeros(n)
    user_links(row, act, best, twin.topk_cell, twin.topk_rx_mw, can, load, 10 ** (o2i / 10), twin.noise_mw,
               *twin.se_params, sinr2, se2)
    np.testing.assert_array_equal(sinr, sinr2)
    # the fast path (after handover, from the candidates' stored powers) agrees, whichever of best / best other /
    # previous server the user ends up with
    rng = np.random.default_rng(1)
    prev = np.where(rng.random(n) < 0.5, other, best)
    mw3b, wb = np.zeros((n, 3)), np.zeros(n)
    user_candidates_serial(x, y, act, g.x0_m, g.y0_m, g.resolution_m, g.n_cols, g.n_rows, twin.topk_cell,
                           twin.topk_rx_dbm, can, cells.offset_db, prev, 0.0, o2i, row, best, rb, other, ro, rs,
                           twin.topk_rx_mw, can, load, mw3b, wb, *_no_rows(twin))
    choice = rng.integers(0, 3, n)
    new = np.select([choice == 0, choice == 1], [best, other], prev)
    s_ref, se_ref, s_fast, se_fast = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    user_links_serial(row, act, new, twin.topk_cell, twin.topk_rx_mw, can, load, np.ones(n), twin.noise_mw,
                      *twin.se_params, s_ref, se_ref)
    user_links_fast_serial(act, new, prev, best, other, mw3b, wb, can, load, np.ones(n), twin.noise_mw,
                           *twin.se_params, s_fast, se_fast)
    np.testing.assert_allclose(s_fast, s_ref, atol=1e-9)
    np.testing.assert_allclose(se_fast, se_ref, atol=1e-12)


def test_indoor_loss_only_changes_the_noise_term(twin):
    """A user with O2I loss L sees S/L over (I/L + N): hand check on one pixel."""
    p = 1234
    n = 1
    tx = twin.cells.tx_power_dbm
    load = np.full(twin.n_cells, 0.5)
    can = np.ones(twin.n_cells, bool)
    serving = np.array([twin.topk_cell[p, 0]], np.int64)
    row = np.array([p], np.int64)
    sinr, se = np.zeros(n), np.zeros(n)
    user_links_serial(row, np.ones(n, bool), serving, twin.topk_cell, twin.topk_rx_mw, can, load,
                      np.array([10**1.3]), twin.noise_mw, *twin.se_params, sinr, se)
    rx_mw = 10 ** ((tx[twin.topk_cell[p]] + twin.topk_gain_db[p] - 13.0) / 10)
    s, i = rx_mw[0], 0.5 * rx_mw[1:].sum()
    assert sinr[0] == pytest.approx(10 * math.log10(s / (i + twin.noise_mw)), abs=1e-3)
    # the same as S / (I + L N) with the unattenuated powers
    s0, i0 = s * 10**1.3, i * 10**1.3
    assert sinr[0] == pytest.approx(10 * math.log10(s0 / (i0 + 10**1.3 * twin.noise_mw)), abs=1e-3)
    assert se[0] == pytest.approx(float(shannon_36942_bps_hz(sinr[0])), rel=1e-6)


def test_set_tilt_recomputes_the_column_like_a_fresh_build(twin):
    cells0 = twin.cells
    twin.set_tilt(4, 6.0)
    fresh = gain_map_dense(twin.cells, twin._pixels, twin.fields, wrap_offsets_m=twin.wrap_offsets_m)
    np.testing.assert_array_equal(twin.dense_gain_db, fresh)
    assert not np.allclose(twin.dense_gain_db[:, 4], gain_map_dense(cells0, twin._pixels, twin.fields)[:, 4])
    twin.set_tx_power(4, 40.0)
    rx = twin.topk_gain_db + twin.cells.tx_power_dbm[twin.topk_cell]
    assert (np.diff(rx, axis=1) <= 1e-4).all()
    with pytest.raises(ValueError, match="cell"):
        twin.set_tilt(21, 3.0)
    with pytest.raises(ValueError, match="tx_power_dbm"):
        twin.set_tx_power(0, float("nan"))


def test_bad_scenario_parts_are_named():
    with pytest.raises(TwinError, match="clock"):
        Twin(validate_data({**SC, "clock": None}), np.random.default_rng(0))
    bad = {**SC, "events": [{"at": "00:15", "kind": "cell_sleep", "cell": 30}]}
    with pytest.raises(TwinError, match=r"events\[0\]\.cell"):
        Twin(validate_data(bad), np.random.default_rng(0))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_user_links_match_brute_force(n_cells, k, seed):
    """Random top-K rows: SINR = S / (sum over other radiating cells of load x P + N), brute force in NumPy."""
    k = min(k, n_cells)
    rng = np.random.default_rng(seed)
    n_pix, n_users = 5, 12
    idx = np.stack([rng.permutation(n_cells)[:k] for _ in range(n_pix)]).astype(np.int32)
    gain = rng.uniform(-140, -70, (n_pix, k)).astype(np.float32)
    tx = rng.uniform(30, 46, n_cells)
    rad = rng.random(n_cells) < 0.8
    load = rng.random(n_cells)
    row = rng.integers(0, n_pix, n_users)
    serving = np.array([idx[r, rng.integers(0, k)] if rng.random() < 0.9 else -1 for r in row], np.int64)
    o2i = rng.uniform(0, 20, n_users)
    act = rng.random(n_users) < 0.9
    noise_mw = 10 ** (-95 / 10)
    params = se_parameters("shannon-36942", None)
    sinr, se = np.zeros(n_users), np.zeros(n_users)
    rx_dbm, rx_mw = np.zeros((n_pix, k), np.float32), np.zeros((n_pix, k))
    rx_cache(idx, gain, tx, rx_dbm, rx_mw)
    user_links_serial(row, act, serving, idx, rx_mw, rad, load, 10 ** (o2i / 10), noise_mw, *params, sinr, se)
    for u in range(n_users):
        s = serving[u]
        if not act[u] or s < 0 or not rad[s]:
            assert sinr[u] == -np.inf and se[u] == 0.0
            continue
        p = row[u]
        rx = 10 ** ((tx[idx[p]] + gain[p].astype(np.float64) - o2i[u]) / 10)
        sig = rx[idx[p] == s].sum()
        others = (idx[p] != s) & rad[idx[p]]
        interf = (load[idx[p]] * rx)[others].sum()
        expect = 10 * np.log10(sig / (interf + noise_mw))
        assert sinr[u] == pytest.approx(expect, abs=1e-5)
        assert se[u] == pytest.approx(float(shannon_36942_bps_hz(expect)), abs=1e-9)


def test_drone_gains_follow_the_network_configuration():
    sc = dict(SC, population=[{"archetype": "pedestrian", "count": 5}, {"archetype": "delivery_drone", "count": 4}])
    tw = Twin(validate_data(sc), np.random.default_rng(2))
    d = tw.drones
    pts = PointArrays(d.x_m, d.y_m, d.z_m)

    def direct():
        return gain_map_dense(tw.cells, pts, tw.fields, wrap_offsets_m=tw.wrap_offsets_m, parallel=False)

    first = tw.drone_gains()
    np.testing.assert_array_equal(first, direct())
    # a second call at the same positions and configuration (the loop's shadow and the real tick, once each per
    # tick) returns the same read-only gains
    assert tw.drone_gains() is first and not first.flags.writeable
    tw.set_tilt(2, 12.0)  # a new configuration: the cached arguments are rebuilt
    tilted = tw.drone_gains()
    assert tilted is not first
    np.testing.assert_array_equal(tilted, direct())
    np.testing.assert_array_equal(tw.drone_gains(), direct())  # cached cell-side arguments
    d.x_m += 37.5  # the per-tick path (pixels and checks in one pass) at new positions
    d.z_m[0] = 60.0
    moved = tw.drone_gains()
    assert moved is not tilted
    np.testing.assert_array_equal(moved, direct())
    d.z_m[1] = 1000.0  # above the aerial height range: the same error as the general path
    with pytest.raises(RadioValidityError, match="height_m"):
        tw.drone_gains()


def test_candidates_parallel_serial_and_prefetch_agree(twin):
    """The prefetching candidate kernel, serial and parallel, gives identical outputs for users in random order,
    some inactive, including the last users (no prefetch past the end) and points outside the area (clamped)."""
    rng = np.random.default_rng(8)
    g = twin.grid
    n = 3001
    x = g.x0_m - 50.0 + rng.random(n) * (g.n_cols * g.resolution_m + 100.0)
    y = g.y0_m - 50.0 + rng.random(n) * (g.n_rows * g.resolution_m + 100.0)
    act = rng.random(n) < 0.9
    serving = rng.integers(-1, twin.n_cells, n)
    o2i = rng.random(n) * 20.0
    can = rng.random(twin.n_cells) < 0.8
    load = rng.random(twin.n_cells)
    outs = []
    k = twin.topk_cell.shape[1]
    rows = UserRows(n, k)
    for fn in (user_candidates_serial, user_candidates):
        o = [np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n), np.zeros(n, np.int64), np.zeros(n),
             np.zeros(n), np.zeros((n, 3)), np.zeros(n)]
        rows.cell[:] = -7  # the serial and the parallel kernel gather alike
        fn(x, y, act, g.x0_m, g.y0_m, g.resolution_m, g.n_cols, g.n_rows, twin.topk_cell, twin.topk_rx_dbm, can,
           twin.cells.offset_db, serving, 0.0, o2i, o[0], o[1], o[2], o[3], o[4], o[5], twin.topk_rx_mw, can, load,
           o[6], o[7], rows.cell, rows.dbm, rows.mw)
        outs.append(o)
        # each active user's pixel row was copied in user order; the inactive users' rows were not touched
        p = outs[0][0][act]
        np.testing.assert_array_equal(rows.cell[act], twin.topk_cell[p])
        np.testing.assert_array_equal(rows.dbm[act], twin.topk_rx_dbm[p])
        np.testing.assert_array_equal(rows.mw[act], twin.topk_rx_mw[p])
        assert (rows.cell[~act] == -7).all()
    # the same kernel reading the gathered rows (a 1 x n grid, user u in pixel u) gives the same candidates
    o = [np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n), np.zeros(n, np.int64), np.zeros(n),
         np.zeros(n), np.zeros((n, 3)), np.zeros(n)]
    user_candidates_serial(rows.xs, rows.ys, act, 0.0, 0.0, 1.0, n, 1, rows.cell, rows.dbm, can, twin.cells.offset_db,
                           serving, 0.0, o2i, o[0], o[1], o[2], o[3], o[4], o[5], rows.mw, can, load, o[6], o[7],
                           *_no_rows(twin))
    np.testing.assert_array_equal(o[0][act], np.flatnonzero(act))
    for a, b in zip(outs[0][1:], o[1:], strict=True):
        np.testing.assert_array_equal(a[act], b[act])
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)
    # brute force for a few users: best serving-capable cell of the pixel's top-K by RSRP (+ offset 0)
    for u in np.flatnonzero(act)[:50]:
        p = outs[0][0][u]
        cells_p = twin.topk_cell[p]
        ok = can[cells_p]
        want = cells_p[ok][np.argmax(twin.topk_rx_dbm[p][ok])] if ok.any() else -1
        assert outs[0][1][u] == want
