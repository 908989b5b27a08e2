"""Closed loop, second round: incremental / skipped sleep plans, the QoS gate, the finite-demand QoS measure,
5th-percentile rate and missed detections in the outcomes, and the coverage tilt through solvers.tilt."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_loop import _rows, night

from agents.equipment import CellState
from dientine.loop import ClosedLoop
from dientine.outcomes import measure_window
from dientine.radio.maps import gain_map_dense
from dientine.radio.network_arrays import PointArrays
from dientine.scenario import validate_data


@pytest.fixture(scope="module")
def ran() -> ClosedLoop:
    return ClosedLoop(validate_data(night())).run()


def test_qos_columns_count_finite_demand_users_per_serving_cell(ran):
    sim = ran.sim
    u = sim.twin.users
    n = u.n
    cell, net = {}, {}
    ran._add_qos_columns(cell, net)
    d = u.demand_mbps[:n]
    ok = u.active[:n] & ~u.full_buffer[:n] & (d > 0)
    s = u.ho.serving_cell[:n]
    for c in (0, 4, 7):
        m = ok & (s == c)
        assert cell["qos_demand_mbps"][c] == pytest.approx(d[m].sum())
        assert cell["qos_unsatisfied_mbps"][c] == pytest.approx(np.maximum(d[m] - sim.rate_mbps[:n][m], 0).sum())
    assert net["qos_demand_mbps"] == pytest.approx(d[ok].sum())
    assert net["qos_unassigned_mbps"] == pytest.approx(d[ok & (s < 0)].sum())
    assert "intruders_undetected" not in net  # no sensing in this scenario


def test_every_decision_epoch_says_why_it_solved_or_kept_the_plan(ran):
    s = ran.summary()
    sleep = [r for r in ran.log if r["table"] == "energy_saving" and r["action"] == "rru_sleep"]
    assert sleep and s["solver_calls"] >= 1
    for r in sleep:
        assert r["solver_status"] == "plan in force" or "[" in r["reason"], r
    solved = {r["epoch"] for r in sleep if r["solver_status"].startswith(("optimal", "feasible"))}
    added = {r["epoch"] for r in sleep if r["solver_status"].startswith("incremental")}
    kept = {r["epoch"] for r in sleep if r["solver_status"] == "plan in force"}
    assert s["sleep_plans_kept"] == len(kept)
    assert len(solved) <= s["solver_calls"]
    # incremental additions need no MILP: the predictive QoS guard checked every one of them
    assert s["qos_predictions"] >= len(added)


def test_replan_reasons():
    lp = ClosedLoop(validate_data(night(clock={"duration": "2h", "tick": "15min", "start": "00:00"})))
    lp.sim.run(4)
    n = lp.sim.twin.n_cells
    free = np.zeros(n, bool)
    free[[5, 9]] = True
    asleep = np.zeros(n, bool)
    load = np.full(n, 0.1)
    assert lp._replan_reason(free, asleep, 0.5, load) == ("no plan in force", False)
    lp._plan_free, lp._plan_level = free.copy(), 0.5
    assert lp._replan_reason(free, asleep, 0.5, load) == (None, False)          # nothing changed
    assert lp._replan_reason(free, asleep, 0.45, load) == (None, False)         # fell less than 20 %
    assert lp._replan_reason(free, asleep, 0.39, load) == ("demand fell", True)
    more = free.copy()
    more[11] = True
    assert lp._replan_reason(more, asleep, 0.5, load) == ("new sleep candidates", True)
    asleep[5] = True
    absorbing = lp._neighbours[5] & ~asleep
    hot = load.copy()
    hot[np.flatnonzero(absorbing)[0]] = 0.9
    p_now = lp.sim.twin.population.profile.at(lp.sim.wall_clock_s)
    # 0.9 x (level / p_now) > 1 when the profile rises by more than 1/0.9
    assert lp._replan_reason(free, asleep, 1.2 * p_now, hot) == ("absorbing cell forecast overloaded", False)
    lp._plan_level = p_now
    assert lp._replan_reason(free, asleep, p_now, hot) == (None, False)          # 0.9 <= 1 at the current level


def test_incremental_plan_keeps_sleeping_cells_asleep():
    lp = ClosedLoop(validate_data(night(clock={"duration": "2h", "tick": "15min", "start": "00:00"})))
    lp.sim.run(4)
    tw = lp.sim.twin
    lp.sim.set_cell_state(5, "deep_sleep")
    lp.sim.step()
    assert tw.bs.state[5] == int(CellState.DEEP_SLEEP)
    free = np.zeros(tw.n_cells, bool)
    free[9] = True   # incremental problem: only the awake candidate is free
    p, cells = lp.sleep_problem(free)
    assert 5 not in set(cells.tolist()) or p.spectral_efficiency_bps_hz[list(cells).index(5)].max() == 0.0
    assert {int(cells[i]) for i in p.must_stay_on} == set(cells.tolist()) - {9}


def test_measure_window_uses_finite_demand_rate_p5_and_missed_detections():
    on, ds = int(CellState.ON), int(CellState.DEEP_SLEEP)
    nb = np.array([[True, True, False], [True, True, True], [False, True, True]])
    cells, nets = _rows(states=[[on, on, on], [ds, on, on]], energy=[[0.065] * 3, [0.001875, 0.07, 0.065]],
                        demand=[[10.0, 10.0, 10.0], [0.0, 20.0, 10.0]], unsat=[[0.0, 5.0, 0.0], [0.0, 9.0, 0.0]],
                        net_demand=[30.0, 30.0])
    # the finite-demand columns say: cell 1 had 8 of finite demand, 0.2 unserved; then 16 and 0.6
    cells[0].update(qos_demand_mbps=np.array([10.0, 8.0, 10.0]), qos_unsatisfied_mbps=np.array([0.0, 0.2, 0.0]))
    cells[1].update(qos_demand_mbps=np.array([0.0, 16.0, 10.0]), qos_unsatisfied_mbps=np.array([0.0, 0.6, 0.0]))
    nets[0].update(qos_demand_mbps=28.0, qos_unassigned_mbps=0.0, rate_p5_mbps=2.0, intruders_undetected=0)
    nets[1].update(qos_demand_mbps=28.0, qos_unassigned_mbps=0.7, rate_p5_mbps=1.5, intruders_undetected=1)
    w = measure_window(cells, nets, 1, 2, p_idle_w=np.full(3, 260.0), tick_s=900.0, neighbours=nb,
                       reference=(cells[0], nets[0]))
    assert w.unsatisfied_pct == pytest.approx(100 * 0.6 / 16.0)
    assert w.reference_unsatisfied_pct == pytest.approx(100 * 0.2 / 8.0)
    assert w.unassigned_pct == pytest.approx(100 * 0.7 / 28.0)
    assert w.qos_lost_pct == pytest.approx(3.75 - 2.5 + 2.5)
    assert w.rate_p5_change_mbps == pytest.approx(-0.5)
    assert w.detections_missed == 1


def test_tilt_problem_is_built_from_the_twin_and_applied():
    sc = validate_data(night(clock={"duration": "2h", "tick": "15min", "start": "00:00"},
                             decisions=["coverage_tilt"]))
    lp = ClosedLoop(sc)
    lp.sim.run(3)
    tw = lp.sim.twin
    cell = 4
    p, cells = lp.tilt_problem(cell)
    assert cells[0] == cell and p.n_cells == cells.size <= 5 and 0 < p.n_pixels <= 200
    now = np.asarray(tw.cells.elec_tilt_deg, float)
    k0 = np.asarray(p.initial_tilt_index)
    np.testing.assert_allclose(p.tilts_deg[k0], np.rint(now[cells]))
    # the flagged cell may move 2 degrees, its neighbours 1
    span = np.abs(p.tilts_deg[None, :] - p.tilts_deg[k0][:, None])
    assert (p.allowed == (span <= np.where(np.arange(cells.size) == 0, 2, 1)[:, None])).all()
    # received power at the current tilt = transmit power + the twin's tilt-aware gain at the sampled users
    u = tw.users
    users = np.flatnonzero(u.active[:u.n] & np.isin(u.ho.serving_cell[:u.n], cells))
    if users.size <= 200:
        pts = PointArrays(u.x_m[users].astype(float), u.y_m[users].astype(float),
                          np.maximum(u.height_m[users].astype(float), 1.5))
        t = float(p.tilts_deg[k0[0]])
        g = gain_map_dense(dataclasses.replace(tw.cells, elec_tilt_deg=np.full(tw.n_cells, t)), pts, tw.fields,
                           wrap_offsets_m=tw.wrap_offsets_m, parallel=False)
        np.testing.assert_allclose(10 * np.log10(p.rx_power_mw[0, k0[0]]), tw.cells.tx_power_dbm[cell] + g[:, cell],
                                   atol=1e-3)
    assert (p.noise_mw >= tw.noise_mw).all()
    out = lp.retilt(cell)
    assert out["status"] == "optimal" and set(out["tilts"]) == set(cells.tolist())
    for c, deg in out["tilts"].items():
        assert abs(deg - now[c]) <= (2 if c == cell else 1) + 0.5
        if out["changed"] and abs(deg - round(now[c])) > 1e-9:
            assert tw.cells.elec_tilt_deg[c] == pytest.approx(deg)
    assert lp.stats.tilt_calls == 1


def test_coverage_tilt_table_calls_the_tilt_solver():
    sc = validate_data(night(decisions=["coverage_tilt"],
                             loop={"thresholds": {"threshold_coverage_pct": 99.9, "threshold_edge_sinr_db": 5.0}}))
    lp = ClosedLoop(sc).run()
    recs = [r for r in lp.log if r["action"] == "tilt_optimise"]
    assert recs and lp.summary()["tilt_solver_calls"] >= 1
    solved = [r for r in recs if r["solver"] == "tilt" and r["solver_time_s"]]
    assert solved and all(r["solver_status"] in ("optimal", "feasible") for r in solved)
    assert all("tilts {" in r["reason"] for r in solved)
    assert any(r["applied"] for r in solved) == (lp.stats.applied > 0)


def test_outcomes_parquet_has_one_row_per_window(tmp_path):
    import pyarrow.parquet as pq

    from dientine.loop import run_closed_loop

    summary = run_closed_loop(validate_data(night()), tmp_path)
    t = pq.read_table(tmp_path / "outcomes.parquet").to_pylist()
    assert len(t) == summary["outcome_windows"] > 0
    assert sum(r["qos_lost_pct"] > r["qos_target_pct"] for r in t) == summary["qos_violations"]
    assert summary["outcome_qos_lost_pct_max"] == pytest.approx(max(r["qos_lost_pct"] for r in t))
    assert summary["outcome_rate_p5_change_mbps_mean"] == pytest.approx(
        np.mean([r["rate_p5_change_mbps"] for r in t]))
    for r in t:
        assert r["time_to_s"] > r["time_s"] and r["detections_missed"] == 0  # no sensing in this scenario


def test_qos_guard_wakes_only_the_cells_whose_area_lost_against_all_on():
    lp = ClosedLoop(validate_data(night(clock={"duration": "2h", "tick": "15min", "start": "00:00"})))
    n = lp.sim.twin.n_cells
    nb = np.zeros((n, n), bool)
    np.fill_diagonal(nb, True)
    nb[0, 1] = nb[1, 0] = True     # cell 0 asleep -> absorbed by 1
    nb[2, 3] = nb[3, 2] = True     # cell 2 asleep -> absorbed by 3
    lp._neighbours = nb
    dem = np.full(n, 10.0)
    loss = np.zeros(n)
    loss[1] = 0.6    # area {0, 1}: 0.6 of 20 Mbit/s = 3 pp > 1 pp target
    loss[3] = 0.1    # area {2, 3}: 0.5 pp
    lp._cell_rows = [{"allon_demand_mbps": dem, "allon_loss_mbps": loss}]
    asleep = np.zeros(n, bool)
    asleep[[0, 2]] = True
    guard, lost = lp._qos_guard(asleep)
    assert guard.tolist() == [i == 0 for i in range(n)]
    assert lost[0] == pytest.approx(3.0) and lost[2] == pytest.approx(0.5)
    lp._cell_rows = []   # no tick yet: no guard
    assert not lp._qos_guard(asleep)[0].any()
