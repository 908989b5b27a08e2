"""The closed loop's QoS measure and guards: the same-tick all-cells-on shadow reproduces an actual all-on run
with the same seed; the paired loss and overshoot_pct on hand-made series; the predictive guard refuses a plan
the twin predicts over the target; the per-tick guard wakes cells on a constructed breach; a breached window
moves the thresholds (and the plan's margin) the safe way."""

from __future__ import annotations

import numpy as np
import pytest

from agents.equipment import CellState
from dientine.loop import ClosedLoop
from dientine.loop.common import PendingWindow
from dientine.outcomes import SLEEP_STATES, neighbour_mask, overshoot_pct, paired_loss
from dientine.scenario import validate_data
from dientine.sim import Simulation
from tests.test_loop import night as base_night


def night(**over) -> dict:
    """The quiet-night scenario of tests/test_loop.py with four delivery drones (their links enter the shadow)."""
    data = base_night(**over)
    if "population" not in over:
        data["population"] = [*data["population"], {"archetype": "delivery_drone", "count": 4}]
    return data


def _run_until_asleep(lp: ClosedLoop, limit: int = 16) -> None:
    while lp.sim.tick < limit and not np.isin(lp.sim.twin.bs.state, SLEEP_STATES).any():
        lp.step()
    assert np.isin(lp.sim.twin.bs.state, SLEEP_STATES).any(), "no cell went to sleep on a quiet night"


# ------------------------------------------------------------------------------------------ shadow = all-on run
@pytest.mark.parametrize("overlap", [True, False])
def test_shadow_equals_an_actual_all_on_run_with_the_same_seed(overlap):
    """In a worker thread overlapped with the real tick (the default with two CPUs) or in line after it."""
    sc = validate_data(night())
    lp = ClosedLoop(sc, shadow_overlap=overlap)
    ref = Simulation(sc.model_copy(update={"decisions": [], "loop": None}))  # every cell on, same seed
    compared = differing = 0
    while lp.sim.tick < lp.sim.n_ticks:
        lp.step()
        ref.step()
        sh = lp.shadow
        if not (sh.running and sh.exact):
            continue
        row, net = lp._cell_rows[-1], lp._net_rows[-1]
        # the shadow's tick is the all-on run's tick, bit for bit
        np.testing.assert_array_equal(sh.rate_mbps, ref.rate_mbps)
        np.testing.assert_array_equal(sh.ho.serving_cell, ref.twin.users.ho.serving_cell)
        np.testing.assert_array_equal(sh.sinr_db, ref.sinr_db)
        # and the recorded paired loss is the difference to that run
        u = ref.twin.users
        d = u.demand_mbps
        ok = u.active & ~u.full_buffer & (d > 0)
        want = float(np.sum(np.maximum(d - lp.sim.rate_mbps, 0)[ok] - np.maximum(d - ref.rate_mbps, 0)[ok]))
        assert net["allon_loss_mbps"] == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert net["allon_rate_p5_mbps"] == pytest.approx(ref.kpi.latest_network()["rate_p5_mbps"], rel=1e-12)
        compared += 1
        differing += bool(row["allon_off"].any()) and not np.array_equal(lp.sim.rate_mbps, ref.rate_mbps)
    assert compared >= 4, "the shadow never ran"
    assert differing >= 1, "the loop never changed what the users got: the comparison tested nothing"
    assert (lp.shadow.overlapped == lp.shadow.ticks) if overlap else lp.shadow.overlapped == 0


def _run_rows(lp: ClosedLoop) -> tuple[list[dict], list[dict]]:
    lp.run()
    return lp._cell_rows, lp._net_rows


def test_overlapped_shadow_gives_the_same_run_as_in_line():
    """The shadow's pass in the worker thread (overlapped with the rest of the real tick; the QoS predictor's passes
    then on the multi-threaded user kernels), in line after the tick (the predictor single-threaded), and in line
    without the simulation's hook:
    the same KPI tables, comparison columns, decisions, thresholds and outcomes, bit for bit (over two nights: the
    exact shadow runs on between them)."""
    sc = validate_data(night(clock={"duration": "28h", "tick": "15min", "start": "00:00", "decision_every": "1h"}))
    runs = {"overlapped": ClosedLoop(sc, shadow_overlap=True), "in line": ClosedLoop(sc, shadow_overlap=False),
            "no hook": ClosedLoop(sc, shadow_overlap=True)}
    runs["no hook"].sim.on_tick_inputs = None
    rows = {k: _run_rows(lp) for k, lp in runs.items()}
    assert runs["overlapped"].shadow.overlapped == runs["overlapped"].shadow.ticks > 40
    # the predictive guard's passes ran on the multi-threaded kernels, and on the single-threaded ones in line
    assert runs["overlapped"]._predictor.parallel is True and runs["overlapped"].stats.predictions >= 4
    assert runs["in line"]._predictor.parallel is None and not runs["in line"].sim.twin.use_parallel(10)
    assert runs["in line"].shadow.overlapped == runs["no hook"].shadow.overlapped == 0
    ref_cells, ref_net = rows["overlapped"]
    for name in ("in line", "no hook"):
        cells, net = rows[name]
        assert len(cells) == len(ref_cells) == runs[name].sim.n_ticks
        for a, b in zip(cells, ref_cells, strict=True):
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=f"{name}: {k}")
        assert net == ref_net, name
        lp, ref = runs[name], runs["overlapped"]
        assert lp.sim.kpis_network.equals(ref.sim.kpis_network) and lp.sim.kpis_cell.equals(ref.sim.kpis_cell)
        timed = ["solver_time_s", "decide_ms"]  # wall times
        assert lp.decisions_table().drop(timed).equals(ref.decisions_table().drop(timed)), name
        assert lp.thresholds_table().equals(ref.thresholds_table()), name
        assert lp.outcomes_table().equals(ref.outcomes_table()), name
        assert lp.shadow.ticks == ref.shadow.ticks and lp.shadow.exact == ref.shadow.exact


def test_overlapped_shadow_with_events_wear_and_sensing_is_the_in_line_shadow():
    """Ticks whose inputs change in the tick itself -- a crowd joining and leaving (users' activity, O2I), a site
    failure starting and ending, wear failures (inside the tick, after the pass has started) and sensing -- give the
    same comparison columns with the pass overlapped as in line."""
    events = [{"at": "01:00", "kind": "crowd", "where": {"x_m": 0, "y_m": 0, "radius_m": 200}, "users": 300,
               "for": "1h"},
              {"at": "01:30", "kind": "site_failure", "site": 1, "for": "1h"}]
    sc = validate_data(night(clock={"duration": "5h", "tick": "15min", "start": "00:00", "decision_every": "1h"},
                             events=events, simulation={"wear": True, "sensing": True}))
    on, off = ClosedLoop(sc, shadow_overlap=True), ClosedLoop(sc, shadow_overlap=False)
    (cells_on, net_on), (cells_off, net_off) = _run_rows(on), _run_rows(off)
    assert on.shadow.overlapped == on.shadow.ticks >= 8 and off.shadow.overlapped == 0
    assert on.sim.kpis_network.column("cells_failed").to_numpy().max() >= 3  # the site failure was in the run
    assert net_on == net_off
    for a, b in zip(cells_on, cells_off, strict=True):
        for k in a:
            np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def test_a_failing_overlapped_pass_raises_in_the_loop():
    """An exception of the shadow's pass in the worker thread surfaces in ``ClosedLoop.step`` (and the next tick
    does not wait for a pass that is gone)."""
    lp = ClosedLoop(validate_data(night()), shadow_overlap=True)
    _run_until_asleep(lp)
    while not lp.shadow.running or lp.sim.tick % lp.ticks_per_epoch == 0:  # no decision (predictor) this tick
        lp.step()

    def broken(*args, **kwargs):
        raise FloatingPointError("shadow pass failed")

    lp.shadow.ev.evaluate = broken
    with pytest.raises(FloatingPointError, match="shadow pass failed"):
        lp.step()
    del lp.shadow.ev.evaluate
    ticks = lp.shadow.ticks
    lp.step()
    assert lp.shadow.ticks == ticks + 1


def test_exact_shadow_stays_exact_into_the_next_night():
    """loop.all_on_shadow 'exact' (the default): the all-on run goes on after the sleep window until the real
    run has caught up, so the second night is still compared with the true all-on run, bit for bit; with
    'sleep_window' it stops after the first night and starts again for the second."""
    two_nights = {"duration": "28h", "tick": "15min", "start": "00:00", "decision_every": "1h"}
    sc = validate_data(night(clock=two_nights))
    lp = ClosedLoop(sc)
    assert lp.settings.all_on_shadow == "exact"
    ref = Simulation(sc.model_copy(update={"decisions": [], "loop": None}))
    second_night = 0
    while lp.sim.tick < lp.sim.n_ticks:
        lp.step()
        ref.step()
        sh = lp.shadow
        if sh.running and lp.sim.time_s > 86400:
            np.testing.assert_array_equal(sh.rate_mbps, ref.rate_mbps)
            np.testing.assert_array_equal(sh.ho.serving_cell, ref.twin.users.ho.serving_cell)
            second_night += 1
    assert lp.shadow.exact and second_night >= 4
    windowed = ClosedLoop(validate_data(night(clock=two_nights, loop={"coverage_cells": [0, 1, 2],
                                                                      "all_on_shadow": "sleep_window"}))).run()
    assert windowed.shadow.starts >= 2 and windowed.shadow.ticks < lp.shadow.ticks


@pytest.mark.parametrize("duration, later_sleep", [("24h", False), ("28h", True)])
def test_exact_shadow_stops_only_when_no_later_sleep_can_start(duration, later_sleep):
    """After the largest sleep-window end of thresholds.yaml (8 h), the next sleep can start at the next day's
    earliest window start (0 h): a one-day run can stop its all-on shadow (no later start left to keep exact),
    a run that reaches the next night keeps it."""
    clock = {"duration": duration, "tick": "15min", "start": "00:00", "decision_every": "1h"}
    lp = ClosedLoop(validate_data(night(clock=clock)))
    assert lp._sleep_possible_before_end()  # hour 0: today's window is open
    while lp.sim.hour_of_day < 9.0:
        lp.step()
    assert lp._sleep_possible_before_end() is later_sleep
    assert lp.shadow.starts >= 1 and lp.shadow.exact
    lp.step()
    if not later_sleep:
        assert not lp.shadow.running, "nothing left to compare: the shadow should have stopped"


def test_guard_setting_limits_new_sleeps_per_epoch():
    """loop.guard.max_new_sleep reaches the policy: after the night's first (solved) plan, an incremental step puts
    at most that many cells to sleep at one epoch (the default of 8 puts 7 to sleep at once here)."""
    lp = ClosedLoop(validate_data(night(loop={"coverage_cells": [0, 1, 2], "guard": {"max_new_sleep": 1}})))
    assert lp.guard.max_new_sleep == 1
    before = np.zeros(lp.sim.twin.n_cells, bool)
    new_per_tick = []
    while lp.sim.tick < lp.sim.n_ticks:
        lp.step()
        asleep = np.isin(lp.sim.twin.bs.tick_state(), SLEEP_STATES)
        new_per_tick.append(int((asleep & ~before).sum()))
        before = asleep
    entries = [n for n in new_per_tick if n]
    assert len(entries) >= 2, f"no incremental sleep after the first plan: {new_per_tick}"
    assert max(entries[1:]) == 1, new_per_tick


# ------------------------------------------------------------------------------------------ measures
def _rows(loss, dem_cells, off, qos_dem):
    return ({"allon_loss_mbps": np.zeros(3), "allon_demand_mbps": np.asarray(dem_cells, float),
             "allon_off": np.asarray(off, bool)},
            {"allon_loss_mbps": float(loss), "qos_demand_mbps": float(qos_dem)})


def test_paired_loss_hand_checked():
    nb = neighbour_mask(np.array([[0, 1], [1, 0], [2, 2]]), 3)  # cells 0 and 1 neighbours, 2 alone
    r1 = _rows(2.0, [10.0, 30.0, 60.0], [True, False, False], 100.0)
    r2 = _rows(1.0, [10.0, 30.0, 60.0], [False, False, False], 100.0)
    area, network = paired_loss([r1[0], r2[0]], [r1[1], r2[1]], nb)
    # area = cells 0 and 1 (cell 0 off in one tick, its neighbour 1), all-on demand 2 x 40
    assert area == pytest.approx(100.0 * 3.0 / 80.0)
    assert network == pytest.approx(100.0 * 3.0 / 200.0)
    # no cell off: the network's demand is the denominator
    area0, _ = paired_loss([r2[0]], [r2[1]], nb)
    assert area0 == pytest.approx(1.0)


def test_overshoot_pct_hand_made_series():
    assert overshoot_pct([0.2, 1.5, 1.0, 3.0, 0.0], 1.0) == pytest.approx(40.0)  # 1.5 and 3.0; 1.0 is on target
    assert overshoot_pct([], 1.0) == 0.0
    assert overshoot_pct([2.0], 1.0) == 100.0


def test_summary_reports_overshoot_of_the_outcome_log():
    lp = ClosedLoop(validate_data(night(clock={"duration": "1h", "tick": "15min", "start": "00:00"})))
    lp.outcome_log = [{"qos_lost_pct": v, "rate_p5_change_mbps": 0.0, "detections_missed": 0}
                      for v in (0.5, 1.2, 0.9, 2.0)]
    assert lp.summary()["overshoot_pct"] == pytest.approx(50.0)


# ------------------------------------------------------------------------------------------ guards
def test_predictive_guard_refuses_a_plan_the_twin_predicts_over_the_target():
    lp = ClosedLoop(validate_data(night()))
    for _ in range(4):
        lp.step()
    bs = lp.sim.twin.bs
    plan = bs.serving_mask() & ~lp.coverage
    asleep = np.isin(bs.state, SLEEP_STATES)
    # a modest demand: the plan passes as it is
    kept, pred = lp._predictive_guard(plan & (np.arange(plan.size) == np.flatnonzero(plan)[0]), asleep)
    assert pred is not None
    # every non-coverage cell asleep under a forecast of fifty times the demand: the twin predicts a large loss
    lp._forecast_scale = lambda epochs=1: 50.0
    kept, pred = lp._predictive_guard(plan, asleep)
    assert pred.window_pct > lp.settings.qos.unsatisfied_demand_pct
    assert not kept.any()


def test_tick_guard_wakes_sleeping_cells_on_a_constructed_breach():
    lp = ClosedLoop(validate_data(night()))
    _run_until_asleep(lp)
    lp.step()  # a steady tick with the cells asleep (no ramp)
    bs = lp.sim.twin.bs
    asleep = np.flatnonzero(np.isin(bs.state, SLEEP_STATES) & (bs.pending != int(CellState.ON)))
    assert asleep.size
    c = int(asleep[0])
    row, net = lp._cell_rows[-1], lp._net_rows[-1]
    row["allon_off"] = np.zeros(bs.n_cells, bool)
    row["allon_off"][c] = True
    row["state"] = np.where(np.arange(bs.n_cells) == c, int(CellState.DEEP_SLEEP), row["state"])
    # the users of c's area lost 50 % of their all-on demand in this tick
    dem = float(row["allon_demand_mbps"][lp._neighbours[c]].sum())
    assert dem > 0
    row["allon_loss_mbps"] = np.where(lp._neighbours[c], row["allon_demand_mbps"] * 0.5, 0.0)
    net["allon_loss_mbps"] = 0.5 * dem
    n = len(lp._cell_rows)
    lp._pending = [PendingWindow(n - 1, n - 1 + lp.window_ticks, [], 0.0, None)]
    wakes = lp.stats.guard_wakes
    lp._tick_guard(row)
    assert lp.stats.guard_wakes == wakes + 1
    assert bs.pending[c] == int(CellState.ON)
    assert lp._sleep_hold[c] >= lp.sim.tick + lp.window_ticks
    assert lp.shadow.controlled[c]
    rec = lp.log[-1]
    assert rec["action"] == "rru_wake" and rec["applied"] and "QoS guard" in rec["reason"]
    # within the target: no wake
    lp2 = ClosedLoop(validate_data(night()))
    _run_until_asleep(lp2)
    lp2.step()
    row2 = lp2._cell_rows[-1]
    row2["allon_loss_mbps"] = np.zeros(bs.n_cells)
    lp2._net_rows[-1]["allon_loss_mbps"] = 0.0
    n2 = len(lp2._cell_rows)
    lp2._pending = [PendingWindow(n2 - 1, n2 - 1 + lp2.window_ticks, [], 0.0, None)]
    lp2._tick_guard(row2)
    assert lp2.stats.guard_wakes == 0


def test_breached_window_moves_thresholds_the_safe_way():
    lp = ClosedLoop(validate_data(night(clock={"duration": "3h", "tick": "15min", "start": "00:00",
                                               "decision_every": "1h"})))
    _run_until_asleep(lp)
    start = dict(lp.book.values)
    margin = lp._plan_margin
    n_log = len(lp.threshold_log)
    while lp.sim.tick < lp.sim.n_ticks and not lp.outcome_log:
        lp.step()
        # every tick of the open window: the users lost 30 % of the network's demand against all cells on
        lp._net_rows[-1]["allon_loss_mbps"] = 0.3 * lp._net_rows[-1]["qos_demand_mbps"]
    assert lp.outcome_log, "no outcome window closed"
    w = lp.outcome_log[-1]
    assert w["qos_lost_pct"] > lp.settings.qos.unsatisfied_demand_pct
    assert lp.summary()["overshoot_pct"] > 0
    assert lp.book.values["threshold_sleep_load"] < start["threshold_sleep_load"]
    assert lp.book.values["threshold_sleep_end_hour"] <= start["threshold_sleep_end_hour"]
    assert lp.book.values["threshold_neighbour_headroom"] > start["threshold_neighbour_headroom"]
    assert lp.book.values["threshold_wake_headroom"] > start["threshold_wake_headroom"]
    assert any("violated" in r["reason"] for r in lp.threshold_log[n_log:])
    assert lp._plan_margin > margin


def test_predicted_transition_tick_uses_the_sub_tick_masks():
    """The predictor's transition tick: a cell whose deep-sleep entry ends inside the tick neither serves nor
    radiates in it; with an entry longer than the tick it still radiates (ramp); a cell woken inside the tick
    serves with the share of the tick after its wake."""
    lp = ClosedLoop(validate_data(night()))
    for _ in range(4):
        lp.step()
    bs = lp.sim.twin.bs
    pr = lp._predictor
    c = int(np.flatnonzero(bs.serving_mask() & ~lp.coverage)[0])
    plan = np.zeros(bs.n_cells, bool)
    plan[c] = True
    calls = []
    orig = pr.ev_plan.evaluate

    def spy(ho, can, rad, load, t_s, **kw):
        calls.append((can.copy(), rad.copy(), np.asarray(kw.get("avail", can)).astype(float)))
        return orig(ho, can, rad, load, t_s, **kw)

    pr.reference(1.0, plan)
    pr.ev_plan.evaluate = spy
    pr.predict(plan, plan, 1.0, lp.window_ticks)
    can_t, rad_t, _ = calls[0]
    assert not can_t[c] and not rad_t[c] and can_t[~plan].any()
    entry = bs.power_table.entry_time_s
    saved = entry[c, CellState.DEEP_SLEEP]
    entry[c, CellState.DEEP_SLEEP] = 2 * lp.sim.tick_s  # slow equipment: the ramp outlasts the tick
    calls.clear()
    pr.predict(plan, plan, 1.0, lp.window_ticks)
    entry[c, CellState.DEEP_SLEEP] = saved
    assert not calls[0][0][c] and calls[0][1][c]
    # the cell asleep, then a plan without it: woken inside the tick, serving the share after its wake
    lp.sim.set_cell_state(c, "deep_sleep")
    lp.sim.step()
    assert bs.state[c] == CellState.DEEP_SLEEP
    calls.clear()
    none = np.zeros_like(plan)
    other = int(np.flatnonzero(bs.serving_mask() & ~lp.coverage)[0])
    keep = none.copy()
    keep[other] = True
    pr.reference(1.0, keep)
    calls.clear()
    pr.predict(keep, keep, 1.0, lp.window_ticks)
    can_t, rad_t, avail_t = calls[0]
    t_wake = bs.transition_time_s(int(CellState.ON))[c]
    assert can_t[c] and rad_t[c] and avail_t[c] == pytest.approx((lp.sim.tick_s - t_wake) / lp.sim.tick_s)


def test_predictor_reads_the_rows_gathered_by_the_tick_before_the_decision():
    """The tick before a decision copies the users' top-K rows (their pixels' rows of the twin's map); the
    predictor's passes read them in user order and predict exactly what the pixel lookups predict."""
    lp = ClosedLoop(validate_data(night()))
    sim, pr = lp.sim, lp._predictor
    lp.step()
    assert lp.ticks_per_epoch > 1 and not pr.rows.fresh(0.0)  # tick 0 is not before a decision
    while sim.tick < lp.ticks_per_epoch:
        lp.step()
    assert pr.rows.fresh((sim.tick - 1) * sim.tick_s)
    tw = sim.twin
    act = np.flatnonzero(tw.users.active)
    pix = sim.radio._row[act]
    np.testing.assert_array_equal(pr.rows.cell[act], tw.topk_cell[pix])
    np.testing.assert_array_equal(pr.rows.dbm[act], tw.topk_rx_dbm[pix])
    np.testing.assert_array_equal(pr.rows.mw[act], tw.topk_rx_mw[pix])
    plan = tw.bs.serving_mask() & ~lp.coverage
    plan &= np.cumsum(plan) <= 3
    assert plan.sum() == 3

    def run() -> tuple:
        pr.reference(1.0, plan)
        p = pr.predict(plan, plan, 1.0, lp.window_ticks)
        return p, pr.ev_all.rate_mbps.copy(), pr.ev_plan.rate_mbps.copy(), pr.ev_plan.sinr_db.copy()

    with_rows = run()
    assert pr._rows is pr.rows
    pr.rows.t_s = float("nan")  # stale rows: the passes look the rows up at the users' pixels
    looked_up = run()
    assert pr._rows is None
    a, b = with_rows[0], looked_up[0]
    assert (a.window_pct, a.transition_pct, a.steady_pct) == (b.window_pct, b.transition_pct, b.steady_pct)
    assert (with_rows[2] > 0).sum() > act.size // 2  # the passes served most users
    np.testing.assert_array_equal(a.cell_steady_pct, b.cell_steady_pct)
    for x, y in zip(with_rows[1:], looked_up[1:], strict=True):
        np.testing.assert_array_equal(x, y)
