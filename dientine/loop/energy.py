"""Energy saving: the sleep plan (solvers.rru_sleep) and the outcome windows of the threshold feedback."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from agents.equipment import CellState
from decisions.feedback import Outcome
from dientine.loop.common import (
    ADAPTED_THRESHOLDS,
    UNSERVED_PENALTY_WH_PER_MBIT,
    PendingWindow,
    jsonable,
)
from dientine.loop.predict import Prediction
from dientine.outcomes import asleep_mask, measure_window, paired_loss
from dientine.radio.link import spectral_efficiency_bps_hz
from dientine.scenario import GuardSettings
from dientine.sim import SECONDS_PER_DAY, SINR_MIN_DB

# The loop's policy assumptions (re-plan level, candidates, margins, prediction shares, rise look-ahead) are
# the fields of ``loop.guard`` (:class:`dientine.scenario.GuardSettings`), read as ``self.settings.guard``.


def area_loss_pct(row: dict[str, np.ndarray], area: np.ndarray) -> float:
    """QoS lost (percentage points) by the users whose all-on server lies in ``area`` in one tick's row: their
    shortfall minus the all-on shortfall over their all-on demand (``allon_*`` columns, 0 without demand)."""
    dem = float(row["allon_demand_mbps"][area].sum())
    return 100.0 * float(row["allon_loss_mbps"][area].sum()) / dem if dem > 0 else 0.0


class EnergyMixin:
    """Methods of :class:`dientine.loop.ClosedLoop` (see the module docstring); the state lives there."""

    @property
    def guard(self) -> GuardSettings:
        """The policy assumptions of the sleep planning and QoS guard (``loop.guard``)."""
        return self.settings.guard

    def _apply_energy(self, action: np.ndarray, kpi: dict[str, np.ndarray], recs: list[dict[str, Any]]) -> None:

        sim = self.sim
        tw = sim.twin
        t0 = time.perf_counter()
        asleep = asleep_mask(tw.bs.state)
        if not asleep.any() and self._cell_rows:  # QoS reference: the last tick with no cell asleep
            self._qos_ref = (self._cell_rows[-1], self._net_rows[-1])
        serving = tw.bs.serving_mask()
        want_wake = (action == "rru_wake") & asleep
        if not self._in_sleep_window():  # the window is over: every cell the policy put to sleep comes back
            for c in np.flatnonzero(asleep & ~want_wake & self.shadow.controlled):
                recs.append({**self._blank_record("energy_saving"), "row": int(c), "rule": 0, "rule_id": "",
                             "reason": "the sleep window is over", "inputs": "{}", "action": "rru_wake",
                             "applied": False, "solver": "", "solver_status": "", "solver_objective": None,
                             "solver_time_s": None})
                self.stats.recommended += 1
            want_wake |= asleep & self.shadow.controlled
        by_row = {r["row"]: r for r in recs}
        guard, lost = self._qos_guard(asleep & ~want_wake)
        for c in np.flatnonzero(guard):  # measured QoS loss: the plan's model missed it, the cell comes back
            self._guard_wake(int(c), float(lost[c]), recs)
        asleep &= ~guard
        want_sleep = ((action == "rru_sleep") & serving & ~self.coverage & ~self._protect_off
                      & (self._sleep_hold <= sim.tick))
        # a wake the table asks for only adds capacity: applied at once, no plan needed for it
        for c in np.flatnonzero(want_wake):
            self._set_state(int(c), "on")
            r = by_row.get(int(c))
            if r is not None:
                r.update(applied=True, solver="rru_sleep", solver_status="wake (no plan needed)")
                self.stats.applied += 1
        asleep &= ~want_wake
        free = want_sleep | (asleep & ~self._protect_off)
        if not free.any():
            self._plan_level = self._plan_free = None
            self.stats.apply_s += time.perf_counter() - t0
            self._open_idle_window()
            return
        level = self._profile_level()
        why, incremental = self._replan_reason(free, asleep, level, kpi["load"])
        if why is None and asleep.any() and self._plan_at_risk(asleep):
            # the plan stands: its sleeping cells are checked against the coming interval's forecast
            kept, pred = self._predictive_guard(asleep, asleep)
            for c in np.flatnonzero(asleep & ~kept):
                self._guard_wake(int(c), float(pred.cell_steady_pct[c]), recs, predicted=True)
            asleep &= kept
        if why is None:
            for r in recs:
                if not r["applied"]:
                    r.update(solver="rru_sleep", solver_status="plan in force")
            self.stats.plans_kept += 1
            self.stats.apply_s += time.perf_counter() - t0
            if asleep.any():
                self._open_window(0.0)
            else:
                self._open_idle_window()
            return
        self._plan_level = level
        self._plan_free = free.copy()
        # incremental: only the new candidates are free, the cells asleep under the plan in force stay asleep
        # (the forecast check above found their absorbing cells within rho_max)
        p_free = free & ~asleep if incremental else free
        if incremental and self._forecast_scale(self.guard.rise_epochs) > 1.0 + self.guard.predict_rise:
            # demand rising over the coming interval: no cell enters sleep on a ramp (the plan in force was
            # checked against the forecast above)
            free &= ~p_free
            p_free = np.zeros_like(p_free)
        # staggered entry: the least-loaded candidates first
        if incremental and p_free.sum() > self.guard.max_new_sleep:
            cand = np.flatnonzero(p_free)
            keep = cand[np.argsort(np.nan_to_num(kpi["load"][cand], nan=1.0), kind="stable")[:self.guard.max_new_sleep]]
            free &= ~p_free
            p_free = np.zeros_like(p_free)
            p_free[keep] = True
            free |= p_free
        # incremental: the new candidates go straight to the predictive QoS guard, which keeps those the twin
        # predicts within the target (no MILP: the plan in force was solved for this night already)
        built = None if incremental else self.sleep_problem(p_free, load=kpi["load"])
        solve_s, predicted_loss_pct, on = 0.0, 0.0, ~free
        if incremental:
            problem = None
            status, objective, expected_wh = "incremental: candidates checked by the predictive QoS guard", None, 0.0
        elif built is None:  # no demand reaches a free cell: every free cell may sleep
            problem = None
            status, objective, expected_wh = "trivial", 0.0, 0.0
        else:
            problem, cells = built
            warm = {"on": np.asarray(problem.initial_on, bool)[:, None]}
            sol, solve_s, status = self._solve(problem, warm_start=warm)
            objective = sol.objective
            if getattr(sol, "time_limit_reached", False):
                status += " (time limit)"
            expected_wh = 0.0
            if not sol.has_decision or sol.on is None:
                self.stats.solver_failures += 1
                on = serving | p_free  # no plan: keep every free cell on
            else:
                offered = float(np.sum(problem.demand_mbps))
                lost = float(np.sum(sol.unserved_mbps)) if sol.unserved_mbps is not None else 0.0
                predicted_loss_pct = 100.0 * lost / offered if offered > 0 else 0.0
                optimal = status.startswith("optimal")
                if optimal:
                    # the unserved penalty dominates the objective (UNSERVED_PENALTY_WH_PER_MBIT): an optimal
                    # plan loses no traffic that waking its free cells would serve, i.e. its loss is the all-on
                    # loss of the same problem (points out of coverage or over capacity with every cell on)
                    predicted_loss_pct = 0.0
                if predicted_loss_pct > self.settings.qos.unsatisfied_demand_pct:
                    # a plan not proven optimal is judged by its loss beyond the all-on loss of the problem
                    all_on, all_on_s, _ = self._solve(
                        problem.model_copy(update={"must_stay_on": list(range(cells.size))}))
                    if all_on.has_decision and all_on.unserved_mbps is not None:
                        predicted_loss_pct -= 100.0 * float(np.sum(all_on.unserved_mbps)) / offered
                    solve_s += all_on_s
                if predicted_loss_pct > self.settings.qos.unsatisfied_demand_pct:
                    # the plan predicts more unserved demand in the affected area than the QoS target allows:
                    # not applied, every free cell stays (or comes back) on
                    self.stats.plans_rejected += 1
                    status += f"; rejected: predicted loss {predicted_loss_pct:.2f} % > target"
                    on = serving | p_free
                else:
                    on = ~p_free
                    on[cells] = np.asarray(sol.on)[:, 0].astype(bool)
                    expected_wh = float((sol.energy_all_on_wh or 0.0) - (sol.energy_wh or 0.0))
        on[asleep & ~p_free] = False  # cells outside the plan stay as they are
        plan_sleep = (p_free & ~on & serving) | (asleep & ~on)
        kept, pred = self._predictive_guard(plan_sleep, asleep)
        if pred is not None and (kept & ~asleep).any():  # cells enter sleep: the next tick checks the prediction
            self._pending_transition = pred.transition_pct
        if pred is not None and (plan_sleep & ~kept).any():
            status += (f"; QoS guard kept {int((plan_sleep & ~kept).sum())} of its cells on (predicted window "
                       f"loss {pred.window_pct:.2f} pp)")
        on |= plan_sleep & ~kept
        to_sleep = np.flatnonzero(p_free & ~on & serving)
        to_wake = np.flatnonzero(asleep & on)
        self._sleep_hold[asleep & on & ~plan_sleep] = sim.tick + self.window_ticks
        for c in to_sleep:
            self._set_state(int(c), "deep_sleep")
        for c in to_wake:
            self._set_state(int(c), "on")
        for r in recs:
            if not r["applied"]:
                r.update(solver="rru_sleep", solver_status=status, solver_objective=jsonable(objective),
                         solver_time_s=solve_s, reason=f"{r['reason']} [{why}]".strip())
        for c in to_sleep:
            r = by_row.get(int(c))
            if r is not None and r["action"] == "rru_sleep":
                r["applied"] = True
                self.stats.applied += 1
        for c in to_wake:
            if int(c) not in by_row:  # the plan wakes a cell the table left asleep: logged as the solver's decision
                recs.append({**self._blank_record("energy_saving"), "row": int(c), "rule": 0, "rule_id": "",
                             "reason": "sleep plan: the coming demand needs the cell", "inputs": "{}",
                             "action": "rru_wake", "applied": True, "solver": "rru_sleep", "solver_status": status,
                             "solver_objective": jsonable(objective), "solver_time_s": solve_s})
                self.stats.recommended += 1
                self.stats.applied += 1
        self.stats.apply_s += time.perf_counter() - t0 - solve_s
        if (free & ~on).any():
            window_h = self.window_ticks * sim.tick_s / 3600.0
            if problem is not None:
                expected_kwh = expected_wh * window_h / max(problem.period_h, 1e-9) / 1e3
            else:  # EARTH: the sleeping cells' idle power less their sleep power
                p_sleep = np.asarray(tw.bs.power_table.state_power_w[:, int(CellState.DEEP_SLEEP)], float)
                asleep_after = free & ~on
                expected_kwh = float(np.sum((self.p_idle_w - p_sleep)[asleep_after])) * window_h / 1e3
            self._open_window(expected_kwh)
        else:
            self._open_idle_window()

    def _qos_guard(self, asleep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sleeping cells whose area (the cell and its neighbours, :func:`dientine.outcomes.neighbour_mask`) lost
        more than the QoS target against the same-tick all-on comparison in the last tick
        (:func:`area_loss_pct`): the measured outcome overrides the plan (the cell is woken and held awake for
        one outcome window). Returns (mask, loss in percentage points per cell)."""
        n = asleep.size
        loss = np.zeros(n)
        if not (asleep.any() and self._cell_rows):
            return np.zeros(n, bool), loss
        last = self._cell_rows[-1]
        for c in np.flatnonzero(asleep):
            loss[c] = area_loss_pct(last, self._neighbours[c])
        return loss > self.settings.qos.unsatisfied_demand_pct, loss

    def _tick_guard(self, cell: dict[str, np.ndarray]) -> None:
        """After every tick without a cell entering sleep: when an open outcome window is projected over the QoS
        target -- its loss so far against the same-tick all-on comparison (:func:`dientine.outcomes.paired_loss`)
        over the ``k`` ticks it has run, the remaining ``W - k`` ticks at this tick's loss -- the cells the policy
        keeps from serving whose area lost more than the target in this tick are woken at once (not at the next
        decision epoch) and held awake for one outcome window; logged as QoS-guard wakes. A tick in which cells
        entered sleep counts like any other: the catalog's transitions end milliseconds into the tick
        (:mod:`agents.basestations`, sub-tick transitions), so its loss is the plan's, not a ramp's."""
        off = np.asarray(cell["allon_off"], bool)
        state = np.asarray(cell["state"])
        ramp = off & (state == int(CellState.ON))
        n = len(self._cell_rows)
        if self._pending_transition is not None:
            if ramp.any():  # the transition tick of the plan just applied: measured against its prediction
                measured, _ = paired_loss(self._cell_rows[n - 1:n], self._net_rows[n - 1:n], self._neighbours)
                ratio = measured / max(self._pending_transition, self.guard.transition_floor_pct)
                ema = self.guard.transition_ema
                self._transition_factor = float(np.clip((1 - ema) * self._transition_factor + ema * ratio, 1.0,
                                                        self.guard.transition_factor_max))
            self._pending_transition = None
        if not off.any() or not self._pending:
            return
        target = self.settings.qos.unsatisfied_demand_pct
        w = self.window_ticks
        now, _ = paired_loss(self._cell_rows[n - 1:n], self._net_rows[n - 1:n], self._neighbours)
        projected = 0.0
        for p in self._pending:
            k = n - p.tick_from
            if k <= 0:
                continue
            so_far, _ = paired_loss(self._cell_rows[p.tick_from:n], self._net_rows[p.tick_from:n], self._neighbours)
            projected = max(projected, (k * so_far + max(w - k, 0) * now) / max(w, k))
        if projected <= target:
            return
        bs = self.sim.twin.bs
        cand = np.flatnonzero(off & (bs.pending != int(CellState.ON)) & (bs.state != int(CellState.FAILED)))
        if cand.size == 0:
            return
        loss = np.array([area_loss_pct(cell, self._neighbours[c]) for c in cand])
        # the cells whose own area is over the target; else (the loss spreads over several areas) the worst one
        wake = cand[loss > target] if (loss > target).any() else cand[[int(np.argmax(loss))]]
        for c in wake:
            self._guard_wake(int(c), float(loss[cand == c][0]), None)

    def _in_sleep_window(self) -> bool:
        """Whether the hour lies in the policy's sleep window [start, end) (thresholds; always without them)."""
        v = self.book.values
        if "threshold_sleep_start_hour" not in v or "threshold_sleep_end_hour" not in v:
            return True
        return v["threshold_sleep_start_hour"] <= self.sim.hour_of_day < v["threshold_sleep_end_hour"]

    def _sleep_possible_before_end(self) -> bool:
        """Whether the policy may still put a cell to sleep before the run ends: today while the hour is below the
        largest sleep-window end its thresholds may reach (an adaptation can widen today's window), else from the
        next day's earliest possible window start (the thresholds' bounds, thresholds.yaml). The all-on shadow
        keeps its exact state only for such a later start; without the window thresholds, always."""
        specs = self.book.specs
        if "threshold_sleep_start_hour" not in specs or "threshold_sleep_end_hour" not in specs:
            return True
        sim = self.sim
        hour = sim.hour_of_day
        if hour < specs["threshold_sleep_end_hour"].max:
            return True
        next_start_s = sim.time_s + SECONDS_PER_DAY - (hour - specs["threshold_sleep_start_hour"].min) * 3600.0
        return next_start_s < sim.n_ticks * sim.tick_s

    def _plan_at_risk(self, asleep: np.ndarray) -> bool:
        """Whether the plan in force needs the predictive check at this epoch: the demand is forecast to rise
        by more than ``loop.guard.predict_rise`` over the coming interval, or the sleeping cells' area lost more than
        the predictive guard's share of the QoS target in the last tick (otherwise the per-tick guard watches)."""
        if self._forecast_scale(self.guard.rise_epochs) > 1.0 + self.guard.predict_rise:
            return True
        if not self._cell_rows:
            return True
        area = self._neighbours[asleep].any(axis=0)
        share = self._predict_share * self.settings.qos.unsatisfied_demand_pct
        return area_loss_pct(self._cell_rows[-1], area) > share

    def _forecast_scale(self, epochs: int = 1) -> float:
        """Demand factor of the coming ``epochs`` decision intervals: the diurnal profile's peak over them
        against now."""
        sim = self.sim
        prof = sim.twin.population.profile
        now = sim.wall_clock_s
        p_now = max(prof.at(now), 1e-9)
        peak = max(prof.at(now + k * sim.tick_s) for k in range(epochs * self.ticks_per_epoch))
        return max(1.0, peak / p_now)

    def _predictive_guard(self, sleep: np.ndarray, asleep: np.ndarray) -> tuple[np.ndarray, Prediction | None]:
        """The cells of ``sleep`` (the plan's sleeping cells; ``asleep``: those asleep now) that may sleep: the
        plan's QoS effect is predicted (:mod:`dientine.loop.predict`); when the predicted window loss or a cell's
        own area loss exceeds ``loop.guard.predict_target_share`` of the QoS target, the plan is cut to the longest
        prefix of its cells (ordered: asleep now first, then the least loaded) that passes, found by bisection
        with at most ``loop.guard.predict_rounds`` further checks (none passing: no cell sleeps); a cell's own area may
        lose up to the full target. Trimming raises the MILP's demand margin, a confirmed new plan lowers it."""
        if not sleep.any():
            return sleep, None
        target = self._predict_share * self.settings.qos.unsatisfied_demand_pct
        # the plan in force is judged on the demand of the next loop.guard.rise_epochs intervals, a new plan
        # on the coming interval's
        scale = self._forecast_scale(self.guard.rise_epochs if not (sleep & ~asleep).any() else 1)
        pr = self._predictor
        pr.reference(scale, sleep)
        w = self.window_ticks
        self.stats.predictions += 1

        full = self.settings.qos.unsatisfied_demand_pct

        f_t = self._transition_factor

        def check(mask: np.ndarray) -> tuple[bool, Prediction]:
            new = mask & ~asleep
            p = pr.predict(mask, new, scale, w)
            # the transition tick's prediction, scaled by what the last transitions measured against it
            window = (f_t * p.transition_pct + (w - 1) * p.steady_pct) / w
            per = np.where(new, (f_t * p.cell_transition_pct + (w - 1) * p.cell_steady_pct) / w, p.cell_steady_pct)
            return bool(window <= target and not (mask & (per > full)).any()), p

        ok, pred = check(sleep)
        if ok:
            if (sleep & ~asleep).any():  # a new plan the twin confirms: the MILP's margin may shrink
                self._plan_margin = max(1.0, self._plan_margin - 0.25 * self.guard.plan_margin_step)
            return sleep, pred
        # the MILP's capacity model was optimistic: its demand margin grows for the next plan
        self._plan_margin = min(self.guard.plan_margin_max, self._plan_margin + self.guard.plan_margin_step)
        # order the plan's cells (asleep now first: waking them costs a transition too; then the least loaded)
        # and keep the longest prefix that passes: bisection, at most loop.guard.predict_rounds checks
        load = np.nan_to_num(np.asarray(self._cell_rows[-1]["load"], float), nan=1.0) if self._cell_rows else (
            np.zeros(sleep.size))
        cells = np.flatnonzero(sleep)
        order = cells[np.lexsort((load[cells], ~asleep[cells]))]
        lo, hi = 0, order.size  # prefix lengths: lo passes (0 always), hi fails
        best = np.zeros_like(sleep)
        best_pred = pred
        mid = (lo + hi + 1) // 2
        for _ in range(self.guard.predict_rounds):
            if hi - lo <= 1:
                break
            m = np.zeros_like(sleep)
            m[order[:mid]] = True
            ok, p = check(m)
            if ok:
                lo, best, best_pred = mid, m, p
            else:
                hi = mid
            mid = (lo + hi + 1) // 2
        return best, best_pred

    def _guard_wake(self, c: int, loss: float, recs: list[dict[str, Any]] | None, predicted: bool = False) -> None:
        self._set_state(c, "on")
        self._sleep_hold[c] = self.sim.tick + self.window_ticks
        what = ("is predicted to lose {:.2f} pp against all cells on over the coming interval" if predicted
                else "lost {:.2f} pp against all cells on in the last tick").format(loss)
        rec = {**self._blank_record("energy_saving"), "row": c, "rule": 0, "rule_id": "",
               "reason": f"QoS guard: its area {what} (target {self.settings.qos.unsatisfied_demand_pct:g})",
               "inputs": "{}", "action": "rru_wake", "applied": True, "solver": "", "solver_status": "",
               "solver_objective": None, "solver_time_s": None}
        (self.log if recs is None else recs).append(rec)
        self.stats.recommended += 1
        self.stats.applied += 1
        self.stats.guard_wakes += 1

    def _replan_reason(self, free: np.ndarray, asleep: np.ndarray, level: float,
                       load: np.ndarray) -> tuple[str | None, bool]:
        """Why the sleep plan must be solved again, and whether incrementally (None: the plan in force stands, no
        solver call). Whole plan (every free cell, asleep or not): no plan yet; a cell absorbing a sleeping
        cell's users is forecast overloaded over the coming interval (its measured load scaled by the profile's
        rise above 1); or the absorbing cells left a share of their users' finite demand unserved in the last
        tick that exceeds the share at the QoS reference tick (no cell asleep) by more than the QoS target
        (``loop.qos``). Incremental (only the free cells still awake may sleep, the sleeping ones are kept: the
        checks above found their absorbing cells fine): the diurnal level fell more than
        ``loop.guard.replan_level_drop`` below the level the plan was made for (cells the plan kept on may sleep now),
        or a cell is free that the plan in force did not consider."""
        if self._plan_free is None or self._plan_level is None:
            return "no plan in force", False
        if asleep.any():
            p_now = max(self.sim.twin.population.profile.at(self.sim.wall_clock_s), 1e-9)
            absorbing = self._neighbours[asleep].any(axis=0) & ~asleep
            fc = np.nan_to_num(load[absorbing], nan=0.0) * max(1.0, level / p_now)
            if fc.size and float(fc.max()) > 1.0:
                return "absorbing cell forecast overloaded", False
            if self._cell_rows:
                area = self._neighbours[asleep].any(axis=0)
                if area_loss_pct(self._cell_rows[-1], area) > self.settings.qos.unsatisfied_demand_pct:
                    return "the sleeping cells' area lost more than the QoS target against all cells on", False
        if level < self._plan_level * (1.0 - self.guard.replan_level_drop):
            return "demand fell", True
        if (free & ~self._plan_free).any():
            return "new sleep candidates", True
        return None, False

    def _open_window(self, expected_kwh: float) -> None:
        """Outcome window of the energy-saving thresholds from now (cells asleep)."""
        if not (self.settings.adapt and "energy_saving" in self.tables):
            return
        sim = self.sim
        names = [n for n in ADAPTED_THRESHOLDS["energy_saving"] if n in self.book.specs]
        ref = self._qos_ref or ((self._cell_rows[-1], self._net_rows[-1]) if self._cell_rows else None)
        self._pending.append(PendingWindow(sim.tick, sim.tick + self.window_ticks, names, expected_kwh, ref))

    def _open_idle_window(self) -> None:
        """An outcome window in which the policy put nothing to sleep although the hour lies inside the range its
        window may reach ([start hour, largest end hour of thresholds.yaml)): the
        policy lost no QoS there, so the feedback sees slack and moves towards aggressive. Without these
        samples a policy that became too conservative would never be given evidence to recover."""
        specs = self.book.specs
        if "threshold_sleep_start_hour" not in specs or "threshold_sleep_end_hour" not in specs:
            return
        hour = self.sim.hour_of_day
        if self.book.values["threshold_sleep_start_hour"] <= hour < specs["threshold_sleep_end_hour"].max:
            self._open_window(0.0)

    def _profile_level(self) -> float:
        """Largest relative load of the diurnal profile over the coming decision interval."""
        sim = self.sim
        prof = sim.twin.population.profile
        now = sim.wall_clock_s
        return max(prof.at(now + k * sim.tick_s) for k in range(self.ticks_per_epoch))

    def sleep_problem(self, free: np.ndarray, *, load: np.ndarray | None = None):
        """The one-period :class:`solvers.rru_sleep.RruSleepProblem` of the coming decision interval, reduced to
        the area the free cells touch, and the indices of its cells in the twin: ``(problem, cells)``, or None
        when no demand reaches a free cell (then every free cell may sleep).

        * demand points: the active users having a free cell among their ``loop.guard.affected_rank`` strongest (the
          twin's top-K cache at their pixel), aggregated into pixel blocks (f x f pixels, f doubled until at most
          ``loop.max_demand_points`` blocks carry demand), each represented by the pixel of its largest demand;
          demand scaled up to the diurnal profile's peak over the coming interval (conservative);
        * cells: the free cells (may sleep) and every serving cell that is a candidate of such a point (must
          stay on); the rest of the network is not in the problem;
        * the traffic the other users put on those cells (at their current spectral efficiency, also scaled)
          is taken off their bandwidth: ``B_i (1 - u_i / rho_max)``, floored at ``loop.guard.min_bandwidth_share``.

        Failed or transitioning cells are out of the plan (they can serve nobody)."""
        from solvers.rru_sleep import RruSleepProblem  # noqa: PLC0415

        sim = self.sim
        tw = sim.twin
        u = tw.users
        n = u.n
        n_cells = tw.n_cells
        demand = np.where(u.full_buffer[:n], sim.rate_mbps[:n], u.demand_mbps[:n])
        use = u.active[:n] & (demand > 0) & np.isfinite(demand)
        if not use.any():
            return None
        g = tw.grid
        col = np.clip(np.floor((u.x_m[:n] - g.x0_m) / g.resolution_m).astype(np.int64), 0, g.n_cols - 1)
        row = np.clip(np.floor((u.y_m[:n] - g.y0_m) / g.resolution_m).astype(np.int64), 0, g.n_rows - 1)
        pix = row * g.n_cols + col
        can = tw.bs.serving_mask() | free
        kc = min(tw.top_k, self.guard.sleep_candidates)
        cand_u = tw.topk_cell[pix, :kc].astype(np.int64)
        ok_u = (cand_u >= 0) & can[np.maximum(cand_u, 0)]
        top = min(kc, self.guard.affected_rank)
        affected = use & (ok_u[:, :top] & free[np.maximum(cand_u[:, :top], 0)]).any(axis=1)
        if not affected.any():
            return None
        in_set = free.copy()
        in_set[cand_u[affected][ok_u[affected]]] = True
        cells = np.flatnonzero(in_set)
        p_now = max(tw.population.profile.at(sim.wall_clock_s), 1e-9)
        scale = max(1.0, self._profile_level() / p_now) * self._plan_margin
        # traffic of the other users on the cells of the problem (resource share at their current SE)
        bw_mhz = tw.bandwidth_hz / 1e6
        srv = u.ho.serving_cell[:n].astype(np.int64)
        se_u = sim.se_bps_hz[:n]
        bg = use & ~affected & (srv >= 0) & (se_u > 0)
        bg &= in_set[np.maximum(srv, 0)]
        util = np.bincount(srv[bg], weights=demand[bg] * scale / (bw_mhz * se_u[bg]), minlength=n_cells)
        share = np.clip(1.0 - util / self.settings.rho_max, self.guard.min_bandwidth_share, 1.0)
        # demand points: affected users' pixels aggregated into blocks
        d = demand[affected] * scale
        r_a, c_a, p_a = row[affected], col[affected], pix[affected]
        f = 1
        while True:
            n_bc = (g.n_cols + f - 1) // f
            block = (r_a // f) * n_bc + c_a // f
            counts = np.bincount(block)
            n_pts = int(np.count_nonzero(counts))
            if n_pts <= self.settings.max_demand_points:
                break
            f *= 2
        remap = np.cumsum(counts > 0) - 1
        inv = remap[block]
        dem_pts = np.bincount(inv, weights=d, minlength=n_pts)
        order = np.lexsort((-d, inv))
        first = order[np.searchsorted(inv[order], np.arange(n_pts))]
        rep = p_a[first]
        cand = tw.topk_cell[rep].astype(np.int64)  # (J, K): all K for the interference sum
        rx_dbm = tw.topk_rx_dbm[rep].astype(np.float64)
        rx_mw = tw.topk_rx_mw[rep]
        radiates = tw.bs.interfering_mask()
        lf = np.clip(np.nan_to_num(sim.cell_kpi_table()["load"] if load is None else load, nan=0.0), 0.0, 1.0)
        lf = np.where(radiates, lf, 0.0)
        valid = cand >= 0
        cidx = np.where(valid, cand, 0)
        own = np.where(valid, lf[cidx] * rx_mw, 0.0)
        interf = own.sum(axis=1, keepdims=True)
        sinr_db = 10.0 * np.log10(np.maximum(rx_mw, 1e-300) / (np.maximum(interf - own, 0.0) + tw.noise_mw))
        se_k = spectral_efficiency_bps_hz(sinr_db, self.scenario.simulation.se_model)
        pos = np.full(n_cells, -1, np.int64)
        pos[cells] = np.arange(cells.size)
        keep = valid & (pos[cidx] >= 0) & can[cidx]
        keep[:, kc:] = False
        j_idx = np.broadcast_to(np.arange(len(rep))[:, None], cand.shape)
        se = np.zeros((cells.size, len(rep)))
        rsrp = np.full((cells.size, len(rep)), -np.inf)
        se[pos[cidx[keep]], j_idx[keep]] = se_k[keep]
        rsrp[pos[cidx[keep]], j_idx[keep]] = rx_dbm[keep]
        served = (se > 0).any(axis=0)
        if not served.any():
            return None
        se, rsrp, dem_pts = se[:, served], rsrp[:, served], dem_pts[served]
        pt = tw.bs.power_table
        sub = np.ones(cells.size)
        must = np.flatnonzero(~free[cells])
        period_h = self.ticks_per_epoch * sim.tick_s / 3600.0
        problem = RruSleepProblem(
            demand_mbps=dem_pts[:, None], spectral_efficiency_bps_hz=se, rsrp_dbm=rsrp,
            # total received power over the carrier vs noise + SINR_MIN: "covered" = SNR >= SINR_MIN (§4.1)
            rsrp_floor_dbm=float(tw.noise_dbm + SINR_MIN_DB),
            bandwidth_mhz=bw_mhz * share[cells], rho_max=self.settings.rho_max,
            period_h=period_h, n_trx=sub, p0_w=np.asarray(pt.p_idle_w, float)[cells],
            delta_p=sub, p_max_w=np.asarray(pt.p_slope_w, float)[cells],
            p_sleep_w=np.asarray(pt.state_power_w[:, int(CellState.DEEP_SLEEP)], float)[cells],
            must_stay_on=[int(c) for c in must], initial_on=~asleep_mask(tw.bs.state[cells]),
            max_unserved_fraction=None, unserved_penalty_wh_per_mbit=UNSERVED_PENALTY_WH_PER_MBIT,
            max_candidates=kc)
        return problem, cells

    def _close_outcomes(self) -> None:
        done = [p for p in self._pending if p.tick_to <= len(self._cell_rows)]
        if not done:
            return
        self._pending = [p for p in self._pending if p.tick_to > len(self._cell_rows)]
        qos = self.settings.qos
        for p in done:
            w = measure_window(self._cell_rows, self._net_rows, p.tick_from, p.tick_to, p_idle_w=self.p_idle_w,
                               tick_s=self.sim.tick_s, neighbours=self._neighbours, reference=p.reference)
            self.stats.outcome_windows += 1
            self.outcome_log.append({
                "time_s": p.tick_from * self.sim.tick_s, "time_to_s": p.tick_to * self.sim.tick_s,
                "energy_saved_kwh": w.energy_saved_kwh, "expected_saving_kwh": p.expected_saving_kwh,
                "qos_lost_pct": w.qos_lost_pct, "qos_target_pct": qos.unsatisfied_demand_pct,
                "affected_unsatisfied_pct": w.unsatisfied_pct, "reference_unsatisfied_pct": w.reference_unsatisfied_pct,
                "control_drift_pct": w.control_drift_pct, "unassigned_pct": w.unassigned_pct,
                "rate_p5_mbps": w.rate_p5_mbps, "rate_p5_change_mbps": w.rate_p5_change_mbps,
                "detections_missed": w.detections_missed, "sleeping_cell_ticks": w.sleeping_cell_ticks,
                "qos_lost_all_on_pct": w.paired_loss_pct, "network_lost_all_on_pct": w.network_loss_pct,
                "rate_p5_all_on_mbps": w.rate_p5_all_on_mbps, "plan_margin": self._plan_margin,
                "all_on_exact": self.shadow.exact})
            if p.expected_saving_kwh > 0:  # recommendation quality: windows of a solved plan only
                self.stats.expected_saving_kwh += p.expected_saving_kwh
                self.stats.measured_saving_kwh += w.energy_saved_kwh
            measure = w.qos_lost_pct
            if measure > qos.unsatisfied_demand_pct:
                self.stats.qos_violations += 1
                self._plan_margin = min(self.guard.plan_margin_max, self._plan_margin + self.guard.plan_margin_step)
                # the prediction was optimistic: its share of the target shrinks (loop.guard.predict_share_*)
                self._predict_share = max(self.guard.predict_share_min,
                                          self._predict_share * self.guard.predict_share_cut)
            elif measure <= 0.5 * qos.unsatisfied_demand_pct:
                self._plan_margin = max(1.0, self._plan_margin - 0.25 * self.guard.plan_margin_step)
                self._predict_share = min(self.guard.predict_target_share,
                                          self._predict_share + self.guard.predict_share_recover)
            t_from = p.tick_from * self.sim.tick_s
            label = f"{t_from / 3600:.2f}h-{p.tick_to * self.sim.tick_s / 3600:.2f}h"
            outcome = Outcome(qos_measure=measure, qos_target=qos.unsatisfied_demand_pct, qos_scale=qos.scale_pct,
                              benefit=w.energy_saved_kwh, window=label)
            for ch in self.book.update(p.names, outcome):
                self.threshold_log.append({"time_s": float(self.sim.time_s), "name": ch.name, "value": ch.new,
                                           "version": ch.version, "reason": ch.reason, "slack": ch.slack,
                                           "benefit": ch.benefit, "window": ch.window})
