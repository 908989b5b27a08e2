"""Scenario events on the simulation clock: when each event starts and ends, in ticks.

Time convention (documented once, used by :mod:`dientine.sim`):

* Simulated time ``t_s`` runs from 0 at the first tick; tick ``k`` covers ``[k * tick_s, (k + 1) * tick_s)``.
  The wall-clock time of day at ``t_s`` is ``(clock.start_s + t_s) mod 86400``.
* An event's ``at`` written as a clock time (``"18:00"``, ``"d1 07:30"``) is wall-clock time counted from midnight
  of day 0, so it means the same hour whatever ``clock.start`` is; ``at`` written as a duration (``"30h"``,
  ``"5400"``) is simulated time since the start.
* An event fires at the first tick that starts at or after its time (``start_tick = ceil(t / tick_s)``), and an
  event with ``for`` stays in force while the tick start is before ``t + for``. An event that would start before
  the first tick or after the last one is an error that names the event (``events[i]``).

Kinds (schema in :mod:`dientine.scenario`):

* ``crowd``: ``users`` extra users appear uniformly in the disc ``where`` for ``for`` and then leave.
* ``service_launch``: ``users`` new subscribers of a service with a constant offered demand ``demand_mbps`` each
  appear (in ``where`` if given, else over the whole area), until ``for`` ends (or the run ends).
* ``site_failure``: every cell of ``site`` goes to the failed state (until ``for`` ends, if given; then the
  site is repaired and its cells return to service).
* ``cell_sleep`` / ``cell_wake``: one ``cell`` goes to (deep) sleep / back to active.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dientine.scenario import Event, Scenario, parse_clock_time_s, parse_duration_s

_CLOCK_FORM = re.compile(r"^\s*(?:d\d+\s+)?\d{1,2}:\d{2}\s*$")


class EventError(ValueError):
    """An event cannot be placed on the scenario's clock; the message names ``events[i]``."""


def event_time_s(event: Event, start_s: float) -> float:
    """Simulated time (s since the first tick) of ``event.at`` under the module's time convention."""
    at = str(event.at)
    if _CLOCK_FORM.match(at):
        return parse_clock_time_s(at) - start_s
    return parse_duration_s(at)


@dataclass(frozen=True)
class ScheduledEvent:
    """One event placed on the tick axis; ``end_tick`` is exclusive (``None``: in force to the end)."""

    index: int
    event: Event
    start_tick: int
    end_tick: int | None

    @property
    def kind(self) -> str:
        return self.event.kind

    def active_at(self, tick: int) -> bool:
        return self.start_tick <= tick and (self.end_tick is None or tick < self.end_tick)


def schedule_events(scenario: Scenario) -> list[ScheduledEvent]:
    """Place every scenario event on the clock (see the module docstring); raise :class:`EventError` for an
    event outside the run. Whether a named site or cell exists is checked by the twin, which knows the network."""
    if not scenario.events:
        return []
    clock = scenario.clock
    if clock is None:  # the schema already refuses this; kept for direct callers
        raise EventError("events need a 'clock' section")
    n_ticks = clock.n_ticks
    out = []
    for i, event in enumerate(scenario.events):
        t_s = event_time_s(event, clock.start_s)
        if t_s < 0:
            raise EventError(
                f"events[{i}].at: {event.at!r} is before the run starts (clock.start {clock.start!r}); "
                f"write it as 'd1 {event.at}' for the next day or as a duration from the start"
            )
        start = int(math.ceil(t_s / clock.tick - 1e-9))
        if start >= n_ticks:
            raise EventError(
                f"events[{i}].at: {event.at!r} is {t_s / 3600:.2f} h after the start, at or after the end of "
                f"the run ({clock.duration / 3600:.2f} h)"
            )
        end = None
        if event.duration_s is not None:
            end = int(math.ceil((t_s + event.duration_s) / clock.tick - 1e-9))
            end = max(end, start + 1)
        out.append(ScheduledEvent(index=i, event=event, start_tick=start, end_tick=end))
    return out
