"""Base-station power per cell from its state and load: the EARTH linear model (default) or the 3GPP TR 38.864
relative model (option).

EARTH (Auer et al., IEEE Wireless Commun. 18(5):40-49, 2011, Table 2; REFERENCES §3.1)::

    P_in = N_TRX (P0 + delta_p * load * P_max)     0 < load <= 1
    P_in = N_TRX * P_sleep                          P_out = 0 (sleep)

In the twin a cell's sleep is its *state*, not a zero load: an ON cell with no traffic draws EARTH's 0+ limit
``N_TRX P0`` (780 W for a macro site), a LIGHT_SLEEP cell the light-sleep power of its equipment (EARTH's
``N_TRX P_sleep`` in the bundled catalog, 450 W per macro site), DEEP_SLEEP, OFF and FAILED the powers of the
equipment entry (see ``agents/catalog.yaml``: deep sleep P_sleep/20, off 0 W, failed 0 W, all assumptions).
Per cell, N_TRX is the site's ``n_trx / n_sectors``.

TR 38.864 relative model (option ``model="tr38864"``; 3GPP TR 38.864 V18.1.0 Table 5.1-1, verify; REFERENCES
§3.2), loaded from ``dientine/data/tr38864_fr1_relative_power.csv``: powers are relative units (deep sleep = 1)
converted to watts with the equipment's ``relative_unit_w_per_trx`` (by default 280 units = EARTH full-load
power per TRX). ON power is linear between the micro-sleep power at zero load and the 'Active DL 100 % PRB'
power at full load (assumption: the TR's load scaling is not transcribed in REFERENCES.md); light/deep sleep
powers and extra transition energies from the table; the table's total transition time is split into entry
and wake by the equipment's ``relative.transition_entry_share`` (assumption, default half each after
Debaillie et al. 2015, REFERENCES §3.3). OFF and FAILED as in the equipment entry.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from agents.equipment import N_STATES, CellState, EquipmentSpec

TR38864_FILE = "tr38864_fr1_relative_power.csv"
TR38864_STATES = ("deep_sleep", "light_sleep", "micro_sleep", "active_ul", "active_dl_full")

PowerModelName = Literal["earth", "tr38864"]


class PowerModelError(ValueError):
    """Bad power-model input; the message names the file/line or the argument."""


# ------------------------------------------------------------------------------------------- EARTH
def earth_p_in_w(load: np.ndarray | float, n_trx: float, p_max_w: float, p0_w: float, delta_p: float,
                 p_sleep_w: float) -> np.ndarray:
    """EARTH input power (Auer et al. 2011, Table 2) for load in [0, 1]: ``N_TRX (P0 + delta_p load P_max)``
    for load > 0 and ``N_TRX P_sleep`` for load == 0 (P_out = 0), exactly as in the paper."""
    load = np.asarray(load, dtype=np.float64)
    if np.any(~np.isfinite(load)) or np.any(load < 0) or np.any(load > 1):
        bad = np.flatnonzero(~np.isfinite(load.ravel()) | (load.ravel() < 0) | (load.ravel() > 1))[0]
        raise PowerModelError(f"earth_p_in_w: load[{bad}] must be in [0, 1], found {load.ravel()[bad]!r}")
    active = n_trx * (p0_w + delta_p * load * p_max_w)
    return np.where(load > 0, active, n_trx * p_sleep_w)


# ------------------------------------------------------------------------------------------- TR 38.864
@dataclass(frozen=True)
class Tr38864Table:
    """FR1 rows of TR 38.864 Table 5.1-1 as loaded (relative power, deep sleep = 1)."""

    header: str
    relative_power: dict[str, float]
    total_transition_time_ms: dict[str, float | None]
    extra_energy_rel_ms: dict[str, float | None]
    status: dict[str, str]

    def ratios(self, states: Sequence[str]) -> tuple[float, ...]:
        """Relative powers of ``states`` divided by the deep-sleep power."""
        deep = self.relative_power["deep_sleep"]
        return tuple(self.relative_power[s] / deep for s in states)


def load_tr38864_table(path: str | Path | None = None) -> Tr38864Table:
    """Read the relative-power CSV (``#`` lines are the header comment); errors name file and line."""
    if path is None:
        text = (resources.files("dientine") / "data" / TR38864_FILE).read_text(encoding="utf-8")
        name = f"dientine/data/{TR38864_FILE}"
    else:
        text = Path(path).read_text(encoding="utf-8")
        name = str(path)
    lines = text.splitlines()
    header = " ".join(ln.lstrip("# ").strip() for ln in lines if ln.startswith("#"))
    if "TR 38.864" not in header:
        raise PowerModelError(f"{name}: header comment must name the TR version and table (TR 38.864 ...)")
    body = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")]
    if not body:
        raise PowerModelError(f"{name}: no column header row")
    reader = csv.reader([ln for _, ln in body])
    columns = next(reader)
    expected = ["state", "relative_power", "total_transition_time_ms", "extra_transition_energy_rel_ms", "status"]
    if columns != expected:
        raise PowerModelError(f"{name}:{body[0][0]}: expected columns {expected}, found {columns}")
    rel, ttime, energy, status = {}, {}, {}, {}

    def number(text: str, line: int, column: str, optional: bool) -> float | None:
        if text.strip() == "" and optional:
            return None
        try:
            value = float(text)
        except ValueError:
            raise PowerModelError(f"{name}:{line}: column {column}: expected a number, found {text!r}") from None
        if not np.isfinite(value) or value < 0:
            raise PowerModelError(f"{name}:{line}: column {column}: expected a finite number >= 0, found {text!r}")
        return value

    for (line, _), row in zip(body[1:], reader, strict=True):
        if len(row) != len(expected):
            raise PowerModelError(f"{name}:{line}: expected {len(expected)} fields, found {len(row)}")
        state = row[0].strip()
        if state not in TR38864_STATES:
            raise PowerModelError(f"{name}:{line}: unknown state {state!r} (expected one of {TR38864_STATES})")
        rel[state] = number(row[1], line, "relative_power", False)
        ttime[state] = number(row[2], line, "total_transition_time_ms", True)
        energy[state] = number(row[3], line, "extra_transition_energy_rel_ms", True)
        status[state] = row[4].strip()
    missing = [s for s in TR38864_STATES if s not in rel]
    if missing:
        raise PowerModelError(f"{name}: missing rows for states {missing}")
    if rel["deep_sleep"] <= 0:
        raise PowerModelError(f"{name}: deep_sleep relative power must be > 0")
    return Tr38864Table(header, rel, ttime, energy, status)


# ------------------------------------------------------------------------------------------- per-cell table
@dataclass(frozen=True)
class PowerTable:
    """Per-cell power parameters (cell totals, i.e. already multiplied by the cell's TRX count).

    ``state_power_w[c, s]`` is the power of cell c in state s at zero load (column ON = ``p_idle_w``);
    ``entry_energy_j[c, s]`` the extra energy charged when cell c enters state s; ``entry_time_s`` and
    ``wake_time_s`` the time to go from ON into s and from s back to ON."""

    model: str
    p_idle_w: np.ndarray
    p_slope_w: np.ndarray
    state_power_w: np.ndarray
    entry_energy_j: np.ndarray
    entry_time_s: np.ndarray
    wake_time_s: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.p_idle_w.shape[0])

    def power_w(self, state: np.ndarray, load: np.ndarray) -> np.ndarray:
        """Power of every cell: ON ``p_idle + p_slope * load`` (load clipped to [0, 1]), else the state power."""
        state = np.asarray(state, dtype=np.int64)
        load = np.clip(np.asarray(load, dtype=np.float64), 0.0, 1.0)
        idx = np.arange(self.n_cells)
        p = self.state_power_w[idx, state]
        on = state == CellState.ON
        return np.where(on, self.p_idle_w + self.p_slope_w * load, p)

    def transition_time_s(self, from_state: np.ndarray, to_state: np.ndarray) -> np.ndarray:
        """Time of each cell's transition: to ON = wake time of the source; from ON = entry time of the
        target; between two non-ON states = wake + entry (via ON); same state = 0."""
        from_state = np.asarray(from_state, dtype=np.int64)
        to_state = np.asarray(to_state, dtype=np.int64)
        idx = np.arange(self.n_cells)
        t = self.wake_time_s[idx, from_state] + self.entry_time_s[idx, to_state]
        return np.where(from_state == to_state, 0.0, t)


def build_power_table(specs: Sequence[EquipmentSpec], equipment_index: np.ndarray,
                      model: PowerModelName = "earth", tr38864: Tr38864Table | None = None) -> PowerTable:
    """Per-cell power parameters for cells whose equipment is ``specs[equipment_index[c]]``."""
    if model not in ("earth", "tr38864"):
        raise PowerModelError(f"power model: expected 'earth' or 'tr38864', found {model!r}")
    eq = np.asarray(equipment_index, dtype=np.int64)
    if eq.size and (eq.min() < 0 or eq.max() >= len(specs)):
        raise PowerModelError(f"equipment_index: values must be in [0, {len(specs) - 1}], "
                              f"found range [{eq.min()}, {eq.max()}]")
    if model == "tr38864" and tr38864 is None:
        tr38864 = load_tr38864_table()
    n_specs = len(specs)
    idle = np.zeros(n_specs)
    slope = np.zeros(n_specs)
    sp = np.zeros((n_specs, N_STATES))
    ee = np.zeros((n_specs, N_STATES))
    et = np.zeros((n_specs, N_STATES))
    wt = np.zeros((n_specs, N_STATES))
    L, D, O, F = CellState.LIGHT_SLEEP, CellState.DEEP_SLEEP, CellState.OFF, CellState.FAILED
    for k, spec in enumerate(specs):
        trx = spec.trx_per_cell
        unit = spec.relative_unit_w_per_trx * trx
        if model == "earth":
            idle[k] = trx * spec.earth.p0_w
            slope[k] = trx * spec.earth.delta_p * spec.earth.p_max_w
            for s, lvl in ((L, spec.sleep.light), (D, spec.sleep.deep)):
                sp[k, s] = trx * lvl.power_w(spec.relative_unit_w_per_trx)
                ee[k, s] = trx * lvl.entry_energy_j(spec.relative_unit_w_per_trx)
                et[k, s] = lvl.entry_time_s
                wt[k, s] = lvl.wake_time_s
        else:
            rel = tr38864.relative_power
            idle[k] = unit * rel["micro_sleep"]
            slope[k] = unit * (rel["active_dl_full"] - rel["micro_sleep"])
            for s, row in ((L, "light_sleep"), (D, "deep_sleep")):
                sp[k, s] = unit * rel[row]
                ee[k, s] = (tr38864.extra_energy_rel_ms[row] or 0.0) * 1e-3 * unit
                total_s = 1e-3 * (tr38864.total_transition_time_ms[row] or 0.0)
                share = spec.relative.transition_entry_share
                et[k, s] = share * total_s
                wt[k, s] = (1.0 - share) * total_s
        sp[k, O] = trx * spec.switched_off.power_w_per_trx
        et[k, O] = spec.switched_off.shutdown_time_s
        wt[k, O] = spec.switched_off.boot_time_s
        sp[k, F] = trx * spec.failed.power_w_per_trx
        sp[k, CellState.ON] = idle[k]
    return PowerTable(model=model, p_idle_w=idle[eq], p_slope_w=slope[eq], state_power_w=sp[eq],
                      entry_energy_j=ee[eq], entry_time_s=et[eq], wake_time_s=wt[eq])


def sleep_break_even_s(table: PowerTable) -> np.ndarray:
    """Per cell and state, the shortest idle gap for which entering the state saves energy:
    ``E_k / (p_active_idle - p_k)`` (TR 38.864 §5.1 accounting, REFERENCES §3.2: sleep k pays only if
    ``(p_active_idle - p_k) t_gap > E_k``), plus the state's entry and wake times (the gap must also exceed the
    transition). ``inf`` where the state does not draw less than idle; 0 for ON."""
    saving = table.p_idle_w[:, None] - table.state_power_w
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(saving > 0, table.entry_energy_j / np.where(saving > 0, saving, 1.0), np.inf)
    t = t + table.entry_time_s + table.wake_time_s
    t[:, CellState.ON] = 0.0
    return t


def joules_to_kwh(energy_j: np.ndarray | float) -> np.ndarray | float:
    """1 kWh = 3.6e6 J."""
    return np.asarray(energy_j) / 3.6e6 if isinstance(energy_j, np.ndarray) else energy_j / 3.6e6
