"""The closed loop: KPI table -> decision tables (batch) -> actions -> solvers -> twin changes -> outcomes ->
threshold feedback.

:class:`ClosedLoop` wraps a :class:`dientine.sim.Simulation`. At each *decision epoch* (every
``clock.decision_every``, default one hour -- the period of the sleep plan, REFERENCES.md §6.1; an assumption
when the scenario does not state it) it

1. builds the per-cell KPI table (:meth:`Simulation.cell_kpi_table`) and, for each table named in the
   scenario's ``decisions:``, the table's input columns (KPIs as arrays, thresholds as scalars from the
   :class:`decisions.feedback.ThresholdBook`), and evaluates the table over all rows at once
   (``model.evaluate_batch``);
2. turns the matched actions into twin changes, calling a solver when the action says so
   (``decisions/tables/README.md``):

   * ``energy_saving``: ``rru_sleep`` -> :mod:`solvers.rru_sleep` (one-period facility-location MILP built
     from the twin and reduced to the area the free cells touch: demand points = the users whose best or
     second-best cell is free, aggregated into pixel blocks; cells = the free cells and those users' candidate
     servers, every other user's traffic taken off those cells' bandwidth; spectral efficiency and received
     power from the twin's top-K gain cache with the current load-weighted interference, EARTH power of each
     cell from its equipment; demand scaled up to the diurnal profile's peak over the coming interval; warm
     start = the plan in force). The MILP decides which candidates really sleep (adoption) and wakes sleeping
     cells the coming demand needs. ``rru_wake`` rows are applied at once (a wake only adds capacity). The
     MILP is solved again only when :meth:`~dientine.loop.energy.EnergyMixin._replan_reason` says so (no plan,
     absorbing cells forecast overloaded or the sleeping cells' area over the QoS target: whole plan); new
     candidates or a diurnal level 20 % lower only add cells (at most 8 per epoch, least loaded first), checked
     by the predictive guard without a MILP;
     otherwise the plan stands without a solver call. **QoS guards** (:mod:`dientine.loop.predict`,
     :mod:`dientine.loop.shadow`): every plan (and, at every epoch, the plan in force) is *predicted* by
     running the twin's own tick on the current users with the plan's masks against every cell on (demand at
     the coming interval's forecast): the plan is cut (to the longest prefix of its cells, asleep ones first
     then the least loaded, that passes) until the predicted window loss is within 70 % of the QoS target; after every
     tick, when an open outcome window is projected over the target, the cells whose area lost more than the
     target against the same-tick all-on comparison are woken at once and held awake for one window; the
     MILP's demand margin grows after every trimmed plan or breached window;
   * ``incumbent_protection`` (every tick, a safety function): ``vacate_channel`` -> the cell leaves the
     channel (``off``); ``reassign_channel`` -> :mod:`solvers.spectrum` (CP-SAT: which cells may keep the single
     channel with the aggregate at every active protection point <= threshold - margin; the others go off);
     ``reduce_power`` -> a closed-form uniform back-off of the contributing cells by the excess over
     (threshold - margin - early warning), capped by ``loop.max_power_backoff_db``. When no incumbent is
     active, cells the protection changed are restored;
   * ``drone_response`` (rows = the sensing tracks): ``track`` / ``alert`` / ``hand_to_authorities`` are logged
     (no twin change; alerts are counted);
   * ``power_adjustment``: ``power_up`` / ``power_down`` -> :mod:`solvers.power` (``min_power`` LP over the
     twin's gains at up to ``loop.max_demand_points`` users' pixels, fixed association, every receiver kept
     at SINR >= min(SINR_MIN, its SINR at the current powers) at full load): ``power_down`` cells may go down
     to ``loop.max_power_backoff_db`` below their nominal power, ``power_up`` cells return to nominal, the
     others stay fixed;
   * ``coverage_tilt``: ``tilt_optimise`` -> :mod:`solvers.tilt` (:mod:`dientine.loop.tilt`: the flagged cell and
     its neighbours, received power per tilt from the tilt-aware gain on a sample of their users, the other
     cells' load-weighted power as fixed interference, step-limited tilt ranges, the table's ``tilt_goal`` as
     objective), applied with ``set_tilt``; ``overshoot_pct``, which the twin does not measure, is null;

3. logs every recommendation (every row whose action is not the table's no-op): time, table, row, matched rule
   (number, id, annotation), inputs, action, whether it was applied, solver kind / status / objective and the
   time the epoch took to decide;
4. opens an outcome window for the energy-saving thresholds when cells are asleep (or when none is although
   the hour lies in the range the sleep window may reach: no QoS lost, slack); when it closes (after
   ``loop.outcome_window``, default the decision interval) it measures the QoS lost against the **same-tick
   all-cells-on comparison** (:class:`dientine.loop.shadow.AllOnShadow`: the tick's users, positions and
   demand draws evaluated again with every cell the policy switched on; bit for bit an actual all-on run with
   the same seed; :func:`dientine.outcomes.paired_loss`) against ``loop.qos`` and the saved energy, and
   updates the thresholds of :data:`ADAPTED_THRESHOLDS` with :meth:`ThresholdBook.update` (bounded,
   step-limited, versioned with reason and evidence, revertible); every change is a row of
   ``thresholds.parquet``, every window (with its 5th-percentile rate against the all-on one and missed
   detections) a row of ``outcomes.parquet``; ``overshoot_pct`` in the summary is the share of windows over
   the QoS target.

Energy reference of ``energy_saved_pct``: the EARTH counterfactual of :mod:`dientine.outcomes` (sleeping cells
at idle power), or -- with ``loop.compare_all_on: true`` -- a same-seed run of the scenario without decisions
(``energy_reference`` in the summary says which).

Modules: :mod:`dientine.loop.core` (:class:`ClosedLoop`, :func:`run_closed_loop`), :mod:`~dientine.loop.inputs`
(table columns), :mod:`~dientine.loop.energy`, :mod:`~dientine.loop.power`, :mod:`~dientine.loop.protection`,
:mod:`~dientine.loop.tilt` (actions), :mod:`~dientine.loop.common` (constants, threshold book, records).
"""

from dientine.loop.common import (
    ADAPTED_THRESHOLDS,
    DEFAULT_DECISION_EVERY_S,
    FEEDBACK_GAIN,
    FEEDBACK_GAMMA,
    NOOP_ACTION,
    UNSERVED_PENALTY_WH_PER_MBIT,
    LoopError,
    LoopStats,
    load_table,
    threshold_book,
)
from dientine.loop.core import ClosedLoop, run_closed_loop

__all__ = ["ADAPTED_THRESHOLDS", "DEFAULT_DECISION_EVERY_S", "FEEDBACK_GAIN", "FEEDBACK_GAMMA", "NOOP_ACTION",
           "UNSERVED_PENALTY_WH_PER_MBIT", "ClosedLoop", "LoopError", "LoopStats", "load_table", "run_closed_loop",
           "threshold_book"]
