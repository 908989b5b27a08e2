"""Outcomes of closed-loop actions, measured from the simulation's per-tick KPI rows.

An action (e.g. putting cells to sleep) is judged over an *outcome window* of ticks ``[tick_from, tick_to)``:

* **energy saved** -- the EARTH counterfactual: a sleeping cell would have drawn at least its idle power
  ``P_idle = N_TRX P0`` (Auer et al., IEEE Wireless Commun. 18(5), 2011, Table 2; REFERENCES.md §3.1) had it
  stayed on; its load-dependent part moved to the neighbours that absorbed its users and is already in their
  energy. Saved energy = sum over sleeping cell-ticks of ``P_idle dt - E_cell`` (``E_cell`` includes the sleep
  power and any transition energy). This is a lower bound of the true saving (the load term is counted once).
* **QoS lost** (percentage points) -- how much the share of demand left unserved by the cells that absorb
  the sleeping cells' users (neighbours, from the top-K map) rose over the window compared with a *reference*
  tick before the cells went to sleep, *minus* the rise over the same interval in the control cells (neither
  asleep nor affected: a difference-in-differences, so that demand growing through the night and morning is
  not blamed on the action), plus the rise of the share of demand of users no cell could serve at all
  (``network demand - sum of cell demand``: coverage holes the action opened). Losses that existed with every
  cell on (edge users below SINR_MIN, overload) are not the action's doing and are not counted;
* the network's unsatisfied share and 5th-percentile user rate over the window, the change of that rate
  against the reference tick (``rate_p5_change_mbps``, negative = worse) and the intruders seen but not
  confirmed by any track at the window's end (``detections_missed``, from the loop's ``intruders_undetected``
  network column when the scenario has sensing), for the log.

The demand of the QoS measure is the finite-demand users' (``qos_*`` columns the closed loop adds to each
tick's rows) when present: full-buffer users take whatever capacity is left, their shortfall is no loss.

Plain functions over :class:`dientine.kpis.KpiRecorder` rows; no model constants of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.equipment import N_STATES, CellState

#: Cell states counted as "asleep" for the energy counterfactual (the loop's sleep actions use DEEP_SLEEP).
SLEEP_STATES = (int(CellState.LIGHT_SLEEP), int(CellState.DEEP_SLEEP))
J_PER_KWH = 3.6e6
_IS_SLEEP = np.isin(np.arange(N_STATES), SLEEP_STATES)


def asleep_mask(state: np.ndarray) -> np.ndarray:
    """Which entries of ``state`` (integer cell state codes, any shape) are one of :data:`SLEEP_STATES` (a table
    lookup: the loop asks every tick)."""
    return _IS_SLEEP[state]


@dataclass(frozen=True)
class WindowOutcome:
    """What one outcome window measured."""

    tick_from: int
    tick_to: int
    energy_kwh: float
    energy_saved_kwh: float
    sleeping_cell_ticks: int
    affected_demand_mbps: float
    affected_unsatisfied_mbps: float
    network_unsatisfied_pct: float
    unassigned_pct: float
    rate_p5_mbps: float
    reference_unsatisfied_pct: float = 0.0
    reference_unassigned_pct: float = 0.0
    control_drift_pct: float = 0.0
    rate_p5_change_mbps: float = 0.0
    detections_missed: int = 0
    #: same-tick all-cells-on comparison (None when the rows carry no ``allon_*`` columns): see paired_loss
    paired_loss_pct: float | None = None
    network_loss_pct: float | None = None
    rate_p5_all_on_mbps: float | None = None

    @property
    def unsatisfied_pct(self) -> float:
        """Unserved share (%) of the affected cells' demand (0 when they had no demand)."""
        if self.affected_demand_mbps <= 0:
            return 0.0
        return 100.0 * self.affected_unsatisfied_mbps / self.affected_demand_mbps

    @property
    def qos_lost_pct(self) -> float:
        """The QoS measure of the feedback (module docstring), percentage points >= 0: the same-tick all-on
        comparison when the rows carry it, else the difference-in-differences against the reference tick."""
        if self.paired_loss_pct is not None:
            return max(0.0, self.paired_loss_pct)
        return (max(0.0, self.unsatisfied_pct - self.reference_unsatisfied_pct - self.control_drift_pct)
                + max(0.0, self.unassigned_pct - self.reference_unassigned_pct))


def _keys(cell_row: dict[str, np.ndarray]) -> tuple[str, str]:
    """Demand / shortfall columns of the QoS measure: the finite-demand users' (``qos_*``, added by the closed
    loop) when present, else the cells' offered / unsatisfied traffic."""
    if "qos_demand_mbps" in cell_row:
        return "qos_demand_mbps", "qos_unsatisfied_mbps"
    return "demand_mbps", "unsatisfied_mbps"


def unassigned_pct(cell_row: dict[str, np.ndarray], net_row: dict[str, float]) -> float:
    """Share (%) of one tick's demand from users no cell could serve."""
    if "qos_unassigned_mbps" in net_row:
        demand = float(net_row["qos_demand_mbps"])
        return 100.0 * float(net_row["qos_unassigned_mbps"]) / demand if demand > 0 else 0.0
    demand = float(net_row["demand_mbps"])
    if demand <= 0:
        return 0.0
    return 100.0 * max(demand - float(np.sum(cell_row["demand_mbps"])), 0.0) / demand


def neighbour_mask(topk_cell: np.ndarray, n_cells: int) -> np.ndarray:
    """N[c, n] = True when n is the strongest or second-strongest cell of a pixel whose other one is c: the
    cells that take c's users when c is unavailable (and c itself)."""
    m = np.eye(n_cells, dtype=bool)
    if topk_cell.shape[1] >= 2:
        a = topk_cell[:, 0].astype(np.int64)
        b = topk_cell[:, 1].astype(np.int64)
        ok = (a >= 0) & (b >= 0)
        m[a[ok], b[ok]] = True
        m[b[ok], a[ok]] = True
    return m


def saved_energy_kwh(state: np.ndarray, energy_kwh: np.ndarray, p_idle_w: np.ndarray, tick_s: float) -> float:
    """EARTH counterfactual saving of one tick (see module docstring): ``state``/``energy_kwh`` per cell."""
    asleep = asleep_mask(state)
    if not asleep.any():
        return 0.0
    idle_kwh = p_idle_w[asleep] * tick_s / J_PER_KWH
    return float(np.sum(idle_kwh - energy_kwh[asleep]))


def measure_window(cell_rows: list[dict[str, np.ndarray]], net_rows: list[dict[str, float]], tick_from: int,
                   tick_to: int, *, p_idle_w: np.ndarray, tick_s: float, neighbours: np.ndarray,
                   reference: tuple[dict[str, np.ndarray], dict[str, float]] | None = None) -> WindowOutcome:
    """Measure ticks ``[tick_from, tick_to)`` (indices into the recorder's rows). The affected area is the set
    of cells neighbouring (``neighbours``, from :func:`neighbour_mask`) any cell asleep during the window;
    ``reference`` = (cell row, network row) of a tick before the action (default: none, QoS lost = the
    window's own unserved shares)."""
    if not 0 <= tick_from < tick_to <= len(cell_rows):
        raise ValueError(f"measure_window: expected 0 <= tick_from < tick_to <= {len(cell_rows)}, "
                         f"found [{tick_from}, {tick_to})")
    rows = cell_rows[tick_from:tick_to]
    nets = net_rows[tick_from:tick_to]
    # the state of each cell for each tick (the loop's "tick_state": sub-tick transitions count from the tick
    # start), else the state at the tick start
    state = np.stack([r.get("tick_state", r["state"]) for r in rows]).astype(np.int64)  # (T, C)
    asleep = asleep_mask(state)
    asleep_any = asleep.any(axis=0)
    affected = neighbours[asleep_any].any(axis=0) & ~asleep_any if asleep_any.any() else np.zeros(
        state.shape[1], bool)
    kd, ku = _keys(rows[0])
    demand = np.stack([r[kd] for r in rows])
    unsat = np.stack([r[ku] for r in rows])
    energy = np.stack([r["energy_kwh"] for r in rows])
    saved = sum(saved_energy_kwh(s, e, p_idle_w, tick_s) for s, e in zip(state, energy, strict=True))
    if "qos_unassigned_mbps" in nets[0]:
        unassigned = np.array([n["qos_unassigned_mbps"] for n in nets])
        qos_demand = sum(n["qos_demand_mbps"] for n in nets)
    else:
        unassigned = np.array([max(n["demand_mbps"] - float(d.sum()), 0.0)
                               for n, d in zip(nets, demand, strict=True)])
        qos_demand = sum(n["demand_mbps"] for n in nets)
    net_demand = sum(n["demand_mbps"] for n in nets)
    net_unsat = sum(n["unsatisfied_mbps"] for n in nets)
    control = ~asleep_any & ~affected
    ref_unsat = ref_unassigned = drift = 0.0
    rate_p5 = float(np.mean([n["rate_p5_mbps"] for n in nets]))
    p5_change = 0.0
    missed = int(nets[-1].get("intruders_undetected", 0))
    if reference is not None:
        rc, rn = reference
        rkd, rku = _keys(rc)
        ref_unsat = _share_pct(rc[rku][affected], rc[rkd][affected])
        ref_unassigned = unassigned_pct(rc, rn)
        p5_change = rate_p5 - float(rn["rate_p5_mbps"])
        if control.any() and affected.any():
            drift = (_share_pct(unsat[:, control], demand[:, control])
                     - _share_pct(rc[rku][control], rc[rkd][control]))
    paired = network = p5_all_on = None
    if "allon_loss_mbps" in nets[0]:
        paired, network = paired_loss(rows, nets, neighbours)
        p5_all_on = float(np.mean([n["allon_rate_p5_mbps"] for n in nets]))
        p5_change = rate_p5 - p5_all_on
    return WindowOutcome(
        tick_from=tick_from, tick_to=tick_to, energy_kwh=float(energy.sum()), energy_saved_kwh=float(saved),
        sleeping_cell_ticks=int(asleep.sum()),
        affected_demand_mbps=float(demand[:, affected].sum()),
        affected_unsatisfied_mbps=float(unsat[:, affected].sum()),
        network_unsatisfied_pct=100.0 * net_unsat / net_demand if net_demand > 0 else 0.0,
        unassigned_pct=100.0 * float(unassigned.sum()) / qos_demand if qos_demand > 0 else 0.0,
        rate_p5_mbps=rate_p5,
        reference_unsatisfied_pct=ref_unsat, reference_unassigned_pct=ref_unassigned, control_drift_pct=drift,
        rate_p5_change_mbps=p5_change, detections_missed=missed, paired_loss_pct=paired,
        network_loss_pct=network, rate_p5_all_on_mbps=p5_all_on,
    )


def paired_loss(rows: list[dict[str, np.ndarray]], nets: list[dict[str, float]],
                neighbours: np.ndarray) -> tuple[float, float]:
    """QoS lost against the same-tick all-cells-on counterfactual (:mod:`dientine.loop.shadow`) over some
    ticks' rows, percentage points: ``(area, network)``.

    Per tick the closed loop records, for the finite-demand users, ``allon_loss_mbps`` (network row: the sum over
    users of the shortfall they had minus the shortfall they would have had with every cell on, same positions
    and demand draws; negative = the action helped), per cell ``allon_demand_mbps`` (their demand by the cell
    that would have served them) and ``allon_off`` (cells the loop kept from serving that would have served).
    ``area`` = 100 x total loss / the all-on demand of the area the action touched (the off cells and their
    neighbours, :func:`neighbour_mask`, over any of the ticks; the whole network's demand when no cell was off);
    ``network`` = 100 x total loss / the network's finite demand."""
    loss = float(sum(n["allon_loss_mbps"] for n in nets))
    off = np.zeros(neighbours.shape[0], bool)
    for r in rows:
        off |= np.asarray(r["allon_off"], bool)
    dem_net = float(sum(n["qos_demand_mbps"] for n in nets))
    if off.any():
        area = neighbours[off].any(axis=0)
        dem_area = float(sum(float(np.asarray(r["allon_demand_mbps"])[area].sum()) for r in rows))
    else:
        dem_area = dem_net
    return (100.0 * loss / dem_area if dem_area > 0 else 0.0), (100.0 * loss / dem_net if dem_net > 0 else 0.0)


def overshoot_pct(measures: list[float] | np.ndarray, target: float) -> float:
    """Share (%) of outcome windows whose QoS measure exceeded its target (0 without windows)."""
    m = np.asarray(measures, dtype=np.float64)
    return 100.0 * float(np.count_nonzero(m > target)) / m.size if m.size else 0.0


def _share_pct(unsat: np.ndarray, demand: np.ndarray) -> float:
    d = float(np.sum(demand))
    return 100.0 * float(np.sum(unsat)) / d if d > 0 else 0.0
