"""Handover with hysteresis and time-to-trigger: the A3 event of 3GPP TS 38.331 §5.5.4.4, per user, per tick.

Entering condition (TS 38.331 §5.5.4.4, with cell-specific offsets Ofn = Ocn = Ofp = Ocp = 0):
``Mn - Hys > Mp + Off``, Mn/Mp the neighbour/serving RSRP (dBm), Hys = ``hysteresis_db``, Off =
``a3_offset_db``. The handover executes when the condition has held towards the same neighbour for
``time_to_trigger_s``. Value sets (TS 38.331 ``ReportConfigNR``): ``hysteresis`` INTEGER (0..30) x 0.5 dB,
``a3-Offset`` INTEGER (-30..30) x 0.5 dB, ``timeToTrigger`` ENUMERATED {0, 40, 64, 80, 100, 128, 160, 256, 320,
480, 512, 640, 1024, 1280, 2560, 5120} ms.

Tick semantics: a condition observed at a tick is taken to hold for that tick's ``dt``; the elapsed time
accumulates ``dt`` per consecutive tick and the handover fires when it reaches the TTT. So with a short tick
(dt < TTT) it takes ``ceil(TTT / dt)`` consecutive ticks; with a long tick (dt >= TTT) one tick suffices.
A change of best neighbour restarts the timer.

Ping-pong: a handover back to the cell the user left, less than ``pingpong_window_s`` after leaving it
(3GPP TR 36.839 §5.2: minimum time of stay 1 s; verify).

Attachment and forced moves: a user with no serving cell (``-1``) attaches to the best cell at once; a user
whose serving cell is unavailable (asleep, failed) moves to the best available cell at once and the move is
counted as ``forced``, not as a handover.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

TTT_VALUES_S = (0.0, 0.04, 0.064, 0.08, 0.1, 0.128, 0.16, 0.256, 0.32, 0.48, 0.512, 0.64, 1.024, 1.28, 2.56, 5.12)


class HandoverParams(BaseModel):
    """A3 parameters. Defaults are assumptions (operator configuration), keys ``handover.<field>``; the value
    grids are TS 38.331's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hysteresis_db: float = Field(2.0, description="assumption handover.hysteresis_db; TS 38.331 grid 0.5 dB, "
                                                  "0..15 dB")
    a3_offset_db: float = Field(1.0, description="assumption handover.a3_offset_db; TS 38.331 grid 0.5 dB, "
                                                 "-15..15 dB")
    time_to_trigger_s: float = Field(0.32, description="assumption handover.time_to_trigger_s; one of the "
                                                       "TS 38.331 timeToTrigger values")
    pingpong_window_s: float = Field(1.0, description="TR 36.839 minimum time of stay 1 s (verify)")

    @field_validator("hysteresis_db")
    @classmethod
    def _hys(cls, v: float) -> float:
        if not (0.0 <= v <= 15.0) or abs(v * 2 - round(v * 2)) > 1e-9:
            raise ValueError(f"hysteresis_db must be 0..15 dB in 0.5 dB steps (TS 38.331), found {v}")
        return v

    @field_validator("a3_offset_db")
    @classmethod
    def _off(cls, v: float) -> float:
        if not (-15.0 <= v <= 15.0) or abs(v * 2 - round(v * 2)) > 1e-9:
            raise ValueError(f"a3_offset_db must be -15..15 dB in 0.5 dB steps (TS 38.331), found {v}")
        return v

    @field_validator("time_to_trigger_s")
    @classmethod
    def _ttt(cls, v: float) -> float:
        if not any(abs(v - t) < 1e-9 for t in TTT_VALUES_S):
            raise ValueError(f"time_to_trigger_s must be one of TS 38.331's {list(TTT_VALUES_S)}, found {v}")
        return v

    @field_validator("pingpong_window_s")
    @classmethod
    def _pp(cls, v: float) -> float:
        if not v >= 0:
            raise ValueError(f"pingpong_window_s must be >= 0, found {v}")
        return v


@dataclass
class HandoverState:
    """Per-user handover arrays (structure of arrays)."""

    serving_cell: np.ndarray      # int32, -1 = not attached
    candidate_cell: np.ndarray    # int32, -1 = none
    ttt_elapsed_s: np.ndarray     # float64
    previous_cell: np.ndarray     # int32, cell left at the last handover
    last_ho_t_s: np.ndarray       # float64, time of the last handover (-inf: never)
    ho_count: np.ndarray          # int32 per user, cumulative
    pingpong_count: np.ndarray    # int32 per user, cumulative
    forced_count: np.ndarray      # int32 per user, cumulative
    totals: dict = field(default_factory=lambda: {"handovers": 0, "pingpongs": 0, "forced": 0, "attached": 0})

    @classmethod
    def empty(cls, n: int) -> HandoverState:
        return cls(np.full(n, -1, np.int32), np.full(n, -1, np.int32), np.zeros(n), np.full(n, -1, np.int32),
                   np.full(n, -np.inf), np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, np.int32))

    @property
    def n(self) -> int:
        return self.serving_cell.shape[0]

    def detach(self, idx: np.ndarray) -> None:
        """Reset users ``idx`` (e.g. crowd users leaving)."""
        self.serving_cell[idx] = -1
        self.candidate_cell[idx] = -1
        self.ttt_elapsed_s[idx] = 0.0
        self.previous_cell[idx] = -1
        self.last_ho_t_s[idx] = -np.inf


@numba.njit(cache=True, nogil=True)
def _a3_kernel(active, serving, candidate, elapsed, prev, last_t, ho, pp, forced,
               rsrp_serving, best_cell, rsrp_best, best_any, available,
               hys, off, ttt, pp_window, t_s, dt_s):
    n_ho = 0
    n_pp = 0
    n_forced = 0
    n_attach = 0
    n_cells = available.shape[0]
    for i in range(serving.shape[0]):
        if not active[i]:
            continue
        s = serving[i]
        if s < 0 or s >= n_cells or not available[s]:
            b = best_any[i]
            if b >= 0 and b < n_cells and available[b]:
                if s >= 0:
                    forced[i] += 1
                    n_forced += 1
                else:
                    n_attach += 1
                serving[i] = b
            else:
                serving[i] = -1
            candidate[i] = -1
            elapsed[i] = 0.0
            continue
        c = best_cell[i]
        if c >= 0 and c != s and c < n_cells and available[c] and rsrp_best[i] - hys > rsrp_serving[i] + off:
            if c == candidate[i]:
                elapsed[i] += dt_s
            else:
                candidate[i] = c
                elapsed[i] = dt_s
            if elapsed[i] >= ttt - 1e-9:
                if c == prev[i] and t_s - last_t[i] < pp_window:
                    pp[i] += 1
                    n_pp += 1
                prev[i] = s
                last_t[i] = t_s
                serving[i] = c
                ho[i] += 1
                n_ho += 1
                candidate[i] = -1
                elapsed[i] = 0.0
        else:
            candidate[i] = -1
            elapsed[i] = 0.0
    return n_ho, n_pp, n_forced, n_attach


@numba.njit(cache=True)
def _first_nan_active(a, active):
    """Index of the first active user whose value is NaN (-1: none): one pass, no temporaries."""
    for i in range(a.shape[0]):
        if active[i] and np.isnan(a[i]):
            return i
    return -1


def step_handover(state: HandoverState, active: np.ndarray, rsrp_serving_dbm: np.ndarray,
                  best_other_cell: np.ndarray, rsrp_best_other_dbm: np.ndarray, t_s: float, dt_s: float,
                  params: HandoverParams, *, cell_available: np.ndarray | None = None,
                  best_cell: np.ndarray | None = None, n_cells: int | None = None,
                  check: bool = True) -> dict[str, int]:
    """One tick of A3 handover for every active user; updates ``state`` in place.

    Inputs per user (from the radio kernels): RSRP of the serving cell, the best *other* cell and its RSRP.
    ``best_cell`` (the strongest cell overall, default ``best_other_cell``) is used to attach users without a
    serving cell and to move users off unavailable cells. ``cell_available`` (bool per cell) marks cells that
    can serve. Returns this tick's counts ``{handovers, pingpongs, forced, attached}``. ``check=False`` is for a
    caller that built the arrays itself (the simulation tick: bool/float64/int64 arrays of length n, no NaN,
    ``cell_available`` and ``best_cell`` given): they are passed to the kernel unchecked."""
    if not check:
        counts = _a3_kernel(
            active, state.serving_cell, state.candidate_cell, state.ttt_elapsed_s, state.previous_cell,
            state.last_ho_t_s, state.ho_count, state.pingpong_count, state.forced_count, rsrp_serving_dbm,
            best_other_cell, rsrp_best_other_dbm, best_cell, cell_available, float(params.hysteresis_db),
            float(params.a3_offset_db), float(params.time_to_trigger_s), float(params.pingpong_window_s), float(t_s),
            float(dt_s))
        return _count_totals(state, counts)
    n = state.n
    arrays = {"active": active, "rsrp_serving_dbm": rsrp_serving_dbm, "best_other_cell": best_other_cell,
              "rsrp_best_other_dbm": rsrp_best_other_dbm}
    for name, a in arrays.items():
        if np.shape(a) != (n,):
            raise ValueError(f"step_handover: {name} must have shape ({n},), found {np.shape(a)}")
    if not np.isfinite(dt_s) or dt_s < 0:
        raise ValueError(f"step_handover: dt_s must be >= 0, found {dt_s!r}")
    best_any = best_other_cell if best_cell is None else best_cell
    if cell_available is None:
        if n_cells is None:
            n_cells = int(max(np.max(best_any, initial=-1), np.max(best_other_cell, initial=-1),
                              np.max(state.serving_cell, initial=-1))) + 1
        cell_available = np.ones(max(n_cells, 1), dtype=bool)
    rs = np.asarray(rsrp_serving_dbm, dtype=np.float64)
    rb = np.asarray(rsrp_best_other_dbm, dtype=np.float64)
    act = np.asarray(active, dtype=np.bool_)
    for name, a in (("rsrp_serving_dbm", rs), ("rsrp_best_other_dbm", rb)):
        bad = _first_nan_active(a, act)
        if bad >= 0:
            raise ValueError(f"step_handover: {name} is NaN for active user {bad}")
    n_ho, n_pp, n_forced, n_attach = _a3_kernel(
        act, state.serving_cell, state.candidate_cell, state.ttt_elapsed_s,
        state.previous_cell, state.last_ho_t_s, state.ho_count, state.pingpong_count, state.forced_count,
        rs, np.asarray(best_other_cell, dtype=np.int64), rb, np.asarray(best_any, dtype=np.int64),
        np.asarray(cell_available, dtype=np.bool_), float(params.hysteresis_db), float(params.a3_offset_db),
        float(params.time_to_trigger_s), float(params.pingpong_window_s), float(t_s), float(dt_s))
    return _count_totals(state, (n_ho, n_pp, n_forced, n_attach))


def _count_totals(state: HandoverState, counts) -> dict[str, int]:
    """This tick's counts as a dict, added to the run totals."""
    n_ho, n_pp, n_forced, n_attach = counts
    out = {"handovers": int(n_ho), "pingpongs": int(n_pp), "forced": int(n_forced), "attached": int(n_attach)}
    for k, v in out.items():
        state.totals[k] += v
    return out
