"""A3 handover: hysteresis, offset, time-to-trigger with short and long ticks, ping-pong, attach, forced."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agents.handover import TTT_VALUES_S, HandoverParams, HandoverState, step_handover

P = HandoverParams(hysteresis_db=2.0, a3_offset_db=1.0, time_to_trigger_s=0.32, pingpong_window_s=1.0)


def _one(serving=0):
    s = HandoverState.empty(1)
    s.serving_cell[0] = serving
    return s


def _tick(s, rs, cell, rb, t, dt, p=P, **kw):
    return step_handover(s, np.array([True]), np.array([rs]), np.array([cell]), np.array([rb]), t, dt, p,
                         n_cells=4, **kw)


def test_a3_threshold_is_strict():
    s = _one()
    # neighbour exactly Hys + Off = 3 dB better: not entering (Mn - Hys > Mp + Off is strict)
    for k in range(10):
        _tick(s, -90.0, 1, -87.0, k * 0.1, 0.1)
    assert s.serving_cell[0] == 0 and s.ho_count[0] == 0
    for k in range(10):
        _tick(s, -90.0, 1, -86.9, 1 + k * 0.1, 0.1)
    assert s.serving_cell[0] == 1 and s.ho_count[0] == 1


def test_ttt_with_short_ticks_counts_consecutive_ticks():
    s = _one()
    got = [_tick(s, -90, 1, -80, k * 0.1, 0.1)["handovers"] for k in range(4)]
    assert got == [0, 0, 0, 1]            # 0.1 + 0.1 + 0.1 + 0.1 >= 0.32 at the 4th tick
    s = _one()
    _tick(s, -90, 1, -80, 0.0, 0.1)
    _tick(s, -90, 1, -80, 0.1, 0.1)
    _tick(s, -90, 1, -95, 0.2, 0.1)       # condition broken: timer restarts
    got = [_tick(s, -90, 1, -80, 0.3 + k * 0.1, 0.1)["handovers"] for k in range(4)]
    assert got == [0, 0, 0, 1]
    s = _one()
    _tick(s, -90, 1, -80, 0.0, 0.1)
    _tick(s, -90, 1, -80, 0.1, 0.1)
    got = [_tick(s, -90, 2, -80, 0.2 + k * 0.1, 0.1)["handovers"] for k in range(4)]  # new candidate restarts
    assert got == [0, 0, 0, 1] and s.serving_cell[0] == 2


def test_long_tick_triggers_at_once_and_ttt_zero():
    s = _one()
    assert _tick(s, -90, 1, -80, 0.0, 900.0)["handovers"] == 1
    p0 = HandoverParams(hysteresis_db=0.0, a3_offset_db=0.0, time_to_trigger_s=0.0)
    s = _one()
    assert _tick(s, -90, 1, -89.5, 0.0, 0.01, p0)["handovers"] == 1


def test_pingpong_inside_and_outside_window():
    s = _one()
    _tick(s, -90, 1, -80, 0.0, 0.5)    # 0 -> 1 at t = 0 (0.5 s tick >= TTT)
    out = _tick(s, -90, 0, -80, 0.5, 0.5)  # 1 -> 0 at t = 0.5: back within 1 s
    assert out == {"handovers": 1, "pingpongs": 1, "forced": 0, "attached": 0}
    s = _one()
    _tick(s, -90, 1, -80, 0.0, 0.5)
    _tick(s, -90, 0, -95, 0.5, 0.5)
    _tick(s, -90, 0, -95, 1.0, 0.5)
    out = _tick(s, -90, 0, -80, 1.5, 0.5)  # back after 1.5 s: a normal handover
    assert out["handovers"] == 1 and out["pingpongs"] == 0
    assert s.ho_count[0] == 2 and s.pingpong_count[0] == 0 and s.totals["handovers"] == 2


def test_attach_forced_and_inactive():
    s = HandoverState.empty(3)
    active = np.array([True, True, False])
    out = step_handover(s, active, np.full(3, -90.0), np.array([2, 3, 1]), np.full(3, -80.0), 0.0, 1.0, P,
                        n_cells=4)
    assert out["attached"] == 2 and list(s.serving_cell) == [2, 3, -1]
    avail = np.array([True, True, False, True])
    out = step_handover(s, active, np.full(3, -90.0), np.array([1, 1, 1]), np.full(3, -100.0), 1.0, 1.0, P,
                        cell_available=avail)
    assert out["forced"] == 1 and s.serving_cell[0] == 1 and s.forced_count[0] == 1
    assert s.serving_cell[1] == 3 and s.ho_count.sum() == 0
    # best neighbour unavailable: no handover even if much stronger
    out = step_handover(s, active, np.full(3, -90.0), np.array([2, 2, 2]), np.full(3, -60.0), 2.0, 1.0, P,
                        cell_available=avail)
    assert out["handovers"] == 0


def test_param_value_sets_of_ts_38331():
    assert len(TTT_VALUES_S) == 16
    for bad in ({"time_to_trigger_s": 0.3}, {"hysteresis_db": 0.3}, {"hysteresis_db": 15.5},
                {"a3_offset_db": -15.5}, {"pingpong_window_s": -1}):
        with pytest.raises(ValidationError):
            HandoverParams(**bad)
    assert HandoverParams(time_to_trigger_s=5.12, hysteresis_db=15.0, a3_offset_db=-15.0).a3_offset_db == -15


def test_input_errors():
    s = HandoverState.empty(2)
    with pytest.raises(ValueError, match="rsrp_serving_dbm must have shape"):
        step_handover(s, np.ones(2, bool), np.zeros(3), np.zeros(2, int), np.zeros(2), 0, 1, P)
    with pytest.raises(ValueError, match="NaN for active user 1"):
        step_handover(s, np.ones(2, bool), np.array([-90, np.nan]), np.zeros(2, int), np.zeros(2), 0, 1, P)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-120, -60), st.floats(-25, 25)), min_size=1, max_size=30),
       st.sampled_from([0.01, 0.1, 1.0, 900.0]))
def test_no_handover_unless_a3_holds(seq, dt):
    """Random RSRP sequences: every handover happens on a tick where Mn - Hys > Mp + Off, and only after the
    condition held for TTT."""
    s = _one()
    run = 0.0
    for k, (rs, delta) in enumerate(seq):
        serving = s.serving_cell[0]
        neighbour = 1 - serving
        entering = (rs + delta) - P.hysteresis_db > rs + P.a3_offset_db
        run = run + dt if entering else 0.0
        out = _tick(s, rs, neighbour, rs + delta, k * dt, dt)
        if out["handovers"]:
            assert entering and run >= P.time_to_trigger_s - 1e-9
            run = 0.0
        else:
            assert not (entering and run >= P.time_to_trigger_s - 1e-9)
