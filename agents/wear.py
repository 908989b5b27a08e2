"""Hardware wear: Weibull lives with proportional hazards, degradation, telemetry, failures and repair.

Reliability formulas (REFERENCES §7.2):
  * Weibull ``R(t) = exp(-(t/eta)^beta)``, ``h(t) = (beta/eta)(t/eta)^(beta-1)``, ``MTTF = eta Gamma(1 + 1/beta)``,
    ``L10 = eta (-ln 0.9)^(1/beta)``; annual failure probability at constant rate ``1 - exp(-8760/MTBF)``.
  * Temperature: Arrhenius ``AF = exp[(E_a/k)(1/T_use - 1/T_stress)]``, k = 8.617e-5 eV/K; electrolytic
    capacitors ``L = L0 2^((T0 - T)/10)``; fans: life / 1.5 per +10 degC (Jamicon).
  * Proportional hazards ``h(t) = h0(t) exp(b_T (T - T_ref) + b_L load)`` with a Weibull baseline; every
    coefficient is an assumption with a catalog key (``agents/catalog.yaml``, see :mod:`agents.equipment`).

Simulation (:class:`WearModel`): one *unit* per (site, site-scope component) and per (RRU, RRU-scope component).
Each unit draws a threshold ``E ~ Exp(1)`` and fails when its accumulated cumulative hazard reaches E. Over a
tick the covariates (load, temperature) are constant, so the cumulative hazard increment is
``exp(z) [((a + dt)/eta)^beta - (a/eta)^beta]`` (a = age) and the failure instant inside the tick follows by
exact conditional inversion ``t* = eta ((a/eta)^beta + (E - H)/exp(z))^(1/beta) - a``.

True degradation ``D`` in [0, 1] is a gamma process in the "consumed life" clock ``p = H/E`` conditioned to
reach the failure threshold D = 1 exactly at failure (a gamma bridge: increments are
``(1 - D) Beta(k (p' - p), k (1 - p'))``, k = ``degradation_shape``). Telemetry is a deterministic function
of D, load and temperature (true values) plus Gaussian sensor noise (observed values), kept separate. A failed
unit takes its cells down until repaired after the MTTR; the repair replaces the unit (age 0, new threshold).
Units age in calendar time (sleep lowers their load and temperature, hence their hazard).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from agents.equipment import COMPONENT_NAMES, EquipmentSpec

BOLTZMANN_EV_PER_K = 8.617e-5  # REFERENCES §7.2
HOURS_PER_YEAR = 8760.0


class WearError(ValueError):
    """Bad input to the wear model; the message names the argument."""


# ------------------------------------------------------------------------------------------- formulas
def weibull_eta_from_l10(l10_h: float, beta: float) -> float:
    """Scale from the L10 life: F(L10) = 0.1 -> ``eta = L10 / (-ln 0.9)^(1/beta)``."""
    return l10_h / (-math.log(0.9)) ** (1.0 / beta)


def weibull_l10(eta_h: float, beta: float) -> float:
    return eta_h * (-math.log(0.9)) ** (1.0 / beta)


def weibull_mttf(eta_h: float, beta: float) -> float:
    return eta_h * math.gamma(1.0 + 1.0 / beta)


def weibull_hazard_per_h(t_h: np.ndarray | float, eta_h: float, beta: float) -> np.ndarray | float:
    return beta / eta_h * (np.asarray(t_h) / eta_h) ** (beta - 1.0)


def weibull_cum_hazard(t_h: np.ndarray | float, eta_h: float, beta: float) -> np.ndarray | float:
    return (np.asarray(t_h) / eta_h) ** beta


def weibull_reliability(t_h: np.ndarray | float, eta_h: float, beta: float) -> np.ndarray | float:
    return np.exp(-weibull_cum_hazard(t_h, eta_h, beta))


def sample_weibull_h(rng: np.random.Generator, eta_h: float, beta: float, size: int) -> np.ndarray:
    """Failure times by inversion ``t = eta (-ln U)^(1/beta)`` (E = -ln U ~ Exp(1))."""
    return eta_h * rng.exponential(1.0, size) ** (1.0 / beta)


def annual_failure_probability(mtbf_h: float) -> float:
    """``1 - exp(-8760 / MTBF)`` at constant failure rate."""
    return 1.0 - math.exp(-HOURS_PER_YEAR / mtbf_h)


def fan_life_at_temp_h(l_ref_h: float, t_ref_c: float, t_c: float, factor_per_10c: float = 1.5) -> float:
    """Fan-vendor rule (Jamicon): life divided by 1.5 per +10 degC."""
    return l_ref_h / factor_per_10c ** ((t_c - t_ref_c) / 10.0)


def capacitor_life_10c_rule_h(l0_h: float, t0_c: float, t_c: float) -> float:
    """Electrolytic-capacitor 10-degree rule ``L = L0 2^((T0 - T)/10)``."""
    return l0_h * 2.0 ** ((t0_c - t_c) / 10.0)


def arrhenius_af(ea_ev: float, t_use_c: float, t_stress_c: float) -> float:
    """Arrhenius acceleration factor ``exp[(E_a/k)(1/T_use - 1/T_stress)]`` (temperatures in degC)."""
    return math.exp(ea_ev / BOLTZMANN_EV_PER_K * (1.0 / (t_use_c + 273.15) - 1.0 / (t_stress_c + 273.15)))


def ph_multiplier(b_temp_per_c: np.ndarray | float, temp_c: np.ndarray | float, t_ref_c: np.ndarray | float,
                  b_load: np.ndarray | float, load: np.ndarray | float) -> np.ndarray:
    """Proportional-hazards multiplier ``exp(b_T (T - T_ref) + b_L load)``."""
    return np.exp(np.asarray(b_temp_per_c) * (np.asarray(temp_c) - t_ref_c) + np.asarray(b_load) * load)


def ph_failure_offset_h(age_h: np.ndarray, h_acc: np.ndarray, e_target: np.ndarray, eta_h: np.ndarray,
                        beta: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Time from ``age_h`` until the cumulative hazard reaches ``e_target`` if the multiplier stays ``mult``:
    ``eta ((a/eta)^beta + (E - H)/mult)^(1/beta) - a`` (exact conditional inversion)."""
    base = (age_h / eta_h) ** beta + np.maximum(e_target - h_acc, 0.0) / mult
    return eta_h * base ** (1.0 / beta) - age_h


@numba.njit(cache=True)
def _cell_health(degradation, cell_idx, cell_ptr, n_cells):
    out = np.ones(n_cells)
    for i in range(degradation.shape[0]):
        h = 1.0 - degradation[i]
        for j in range(cell_ptr[i], cell_ptr[i + 1]):
            c = cell_idx[j]
            if h < out[c]:
                out[c] = h
    return out


@numba.njit(cache=True)
def _all_within(a, lo, hi):
    """Every value finite and in [lo, hi]."""
    for v in a:
        if not (v >= lo and v <= hi):
            return False
    return True


@numba.njit(cache=True)
def _hazard_kernel(cell_load, cell_idx, cell_ptr, amb_u, heat, fan_rise, fan_unit, degradation, b_temp, t_ref,
                   b_load, failed, h_acc, cycle_damage, unit_cycles, age, eta, beta, e_target, shape_k, start_off_h,
                   dt_h, out_load, out_mult, out_h_start, out_h_new, out_dt, out_fails, out_grow, out_ka, out_kb,
                   out_ka_g, out_kb_g):
    """Per unit over one tick: mean load of its cells (clipped to [0, 1]), temperature and proportional-hazards
    multiplier (:func:`ph_multiplier`), cumulative hazard at the tick start (plus thermal-cycle damage) and end,
    whether it fails in the tick, and for survivors whose consumed life grows the gamma-bridge Beta
    parameters ``(k (p' - p), max(k (1 - p'), 1e-300))`` (``out_grow``), those of the growing units also packed
    in unit order at the front of ``out_ka_g``/``out_kb_g``. Returns (failing units, growing units)."""
    n_fail = 0
    n_grow = 0
    for i in range(amb_u.shape[0]):
        a0, a1 = cell_ptr[i], cell_ptr[i + 1]
        tot = 0.0
        for j in range(a0, a1):
            tot += cell_load[cell_idx[j]]
        load = min(max(tot / (a1 - a0), 0.0), 1.0)
        out_load[i] = load
        fu = fan_unit[i]
        fan_d = degradation[fu] if fu >= 0 else 0.0
        temp = amb_u[i] + heat[i] * load + fan_rise[i] * fan_d
        mult = np.exp(b_temp[i] * (temp - t_ref[i]) + b_load[i] * load)
        out_mult[i] = mult
        alive = not failed[i]
        dt = dt_h - start_off_h[i] if alive else 0.0
        out_dt[i] = dt
        h_start = h_acc[i] + cycle_damage[i] * unit_cycles[i] if alive else h_acc[i]
        out_h_start[i] = h_start
        a = age[i]
        h_new = h_start + mult * (((a + dt) / eta[i]) ** beta[i] - (a / eta[i]) ** beta[i])
        out_h_new[i] = h_new
        fails = alive and h_new >= e_target[i]
        out_fails[i] = fails
        p_old = min(max(h_acc[i] / e_target[i], 0.0), 1.0)
        p_new = min(max(h_new / e_target[i], 0.0), 1.0)
        grow = alive and not fails and p_new > p_old
        out_grow[i] = grow
        out_ka[i] = shape_k[i] * (p_new - p_old)
        out_kb[i] = max(shape_k[i] * (1.0 - p_new), 1e-300)
        if fails:
            n_fail += 1
        if grow:  # the growing units' parameters, in unit order, at the front of out_ka_g / out_kb_g
            out_ka_g[n_grow] = out_ka[i]
            out_kb_g[n_grow] = out_kb[i]
            n_grow += 1
    return n_fail, n_grow


@numba.njit(cache=True)
def _apply_kernel(fails, grow, inc, h_new, dt_u, degradation, h_acc, age, e_target, failed, repair_at_s, n_failures,
                  fail_units, repair_s, tel_nominal, tel_ratio, tel_per_load, tel_noise, load, amb_u, heat, fan_rise,
                  fan_unit, temp_noise, z_sig, z_temp, eta, beta, mult, sig_true, sig_obs, temp_true, temp_obs, rul):
    """End of a wear tick: degradation increments (``inc``: one per growing unit, in unit order), hazard and age
    of the survivors, failed units (degradation 1, hazard at the threshold, repair time), then telemetry (true
    values and with sensor noise ``z``) and the constant-covariate RUL (:func:`ph_failure_offset_h`; 0 for failed
    units)."""
    n = degradation.shape[0]
    j = 0
    for i in range(n):
        if grow[i]:  # inc: the growing units' increments in unit order
            degradation[i] += (1.0 - degradation[i]) * inc[j]
            j += 1
        if not failed[i] and not fails[i]:
            h_acc[i] = h_new[i]
            age[i] = age[i] + dt_u[i]
    for k in range(fail_units.shape[0]):
        i = fail_units[k]
        degradation[i] = 1.0
        h_acc[i] = e_target[i]
        failed[i] = True
        repair_at_s[i] = repair_s[k]
        n_failures[i] += 1
    for i in range(n):
        d = degradation[i]
        sig_true[i] = tel_nominal[i] * (1.0 + (tel_ratio[i] - 1.0) * d) + tel_per_load[i] * load[i]
        sig_obs[i] = sig_true[i] + z_sig[i] * tel_noise[i]
        fu = fan_unit[i]
        fan_d = degradation[fu] if fu >= 0 else 0.0
        temp_true[i] = amb_u[i] + heat[i] * load[i] + fan_rise[i] * fan_d
        temp_obs[i] = temp_true[i] + z_temp[i] * temp_noise[i]
        if failed[i]:
            rul[i] = 0.0
        else:
            base = (age[i] / eta[i]) ** beta[i] + max(e_target[i] - h_acc[i], 0.0) / mult[i]
            rul[i] = eta[i] * base ** (1.0 / beta[i]) - age[i]


# ------------------------------------------------------------------------------------------- model
def _groups(ids: np.ndarray):
    """(id, indices) for each distinct id in ascending order, indices ascending (O(n log n))."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    cuts = np.flatnonzero(np.diff(sorted_ids)) + 1
    for chunk in np.split(order, cuts):
        if chunk.size:
            yield int(ids[chunk[0]]), chunk


@dataclass(frozen=True)
class WearStep:
    """Output of one tick. Unit arrays are indexed like :attr:`WearModel.unit_component` etc.

    ``signal_true``/``signal_observed`` is each unit's own telemetry channel (:attr:`WearModel.unit_channel`);
    ``rul_h`` is the remaining life if the tick's covariates stayed constant (0 for failed units) - the exact
    RUL label is the time to the unit's next entry in the failure events, known in hindsight.
    ``failed_units``/``failure_time_s``/``repair_time_s`` are the failures that happened during the tick."""

    time_s: float
    health: np.ndarray
    degradation: np.ndarray
    load: np.ndarray
    temperature_true_c: np.ndarray
    temperature_observed_c: np.ndarray
    signal_true: np.ndarray
    signal_observed: np.ndarray
    failed: np.ndarray
    rul_h: np.ndarray
    failed_units: np.ndarray
    failure_time_s: np.ndarray
    repair_time_s: np.ndarray


class WearModel:
    """Wear of every unit of a network (see module docstring).

    site_id, rru_id, equipment_index : per cell, as in :class:`agents.basestations.BaseStations`.
    specs : the equipment specs indexed by ``equipment_index``.
    rng : the run's generator (sub-stream); all draws come from it in a fixed order.
    initial_age_max_h : units start with ages uniform in [0, initial_age_max_h] (0: all new), conditioned on
        having survived to that age at reference conditions (E = H0(age) + Exp(1)).
    """

    def __init__(self, site_id: np.ndarray, rru_id: np.ndarray, equipment_index: np.ndarray,
                 specs: tuple[EquipmentSpec, ...] | list[EquipmentSpec], rng: np.random.Generator,
                 initial_age_max_h: float = 0.0, start_s: float = 0.0):
        site_id = np.asarray(site_id, dtype=np.int64)
        rru_id = np.asarray(rru_id, dtype=np.int64)
        eq = np.asarray(equipment_index, dtype=np.int64)
        if not (site_id.shape == rru_id.shape == eq.shape) or site_id.ndim != 1:
            raise WearError("site_id, rru_id and equipment_index must be 1-D arrays of the same length")
        if initial_age_max_h < 0 or not np.isfinite(initial_age_max_h):
            raise WearError(f"initial_age_max_h: expected a finite value >= 0, found {initial_age_max_h!r}")
        self.rng = rng
        self.time_s = float(start_s)
        self.n_cells = site_id.size
        comp, owner, scope_site, cells_list, spec_of = [], [], [], [], []
        for s, cells in _groups(site_id):
            spec = specs[int(eq[cells[0]])]
            for ci, name in enumerate(COMPONENT_NAMES):
                cr = spec.reliability.components().get(name)
                if cr is not None and cr.scope == "site":
                    comp.append(ci), owner.append(int(s)), scope_site.append(True)
                    cells_list.append(cells), spec_of.append(spec)
        for r, cells in _groups(rru_id):
            spec = specs[int(eq[cells[0]])]
            for ci, name in enumerate(COMPONENT_NAMES):
                cr = spec.reliability.components().get(name)
                if cr is not None and cr.scope == "rru":
                    comp.append(ci), owner.append(int(r)), scope_site.append(False)
                    cells_list.append(cells), spec_of.append(spec)
        n = len(comp)
        self.n_units = n
        self.unit_component = np.asarray(comp, dtype=np.int64)
        self.unit_owner = np.asarray(owner, dtype=np.int64)
        self.unit_scope_site = np.asarray(scope_site, dtype=bool)
        self.unit_site = np.asarray([int(site_id[c[0]]) for c in cells_list], dtype=np.int64)
        self.cell_ptr = np.zeros(n + 1, dtype=np.int64)
        self.cell_ptr[1:] = np.cumsum([c.size for c in cells_list])
        self.cell_idx = np.concatenate(cells_list) if n else np.zeros(0, np.int64)
        crs = [sp.reliability.components()[COMPONENT_NAMES[ci]] for sp, ci in zip(spec_of, comp, strict=True)]
        self.unit_channel = np.asarray([cr.telemetry.channel for cr in crs] or [], dtype=object)
        f = np.asarray
        self.beta = f([cr.beta for cr in crs], float)
        self.eta_h = f([cr.scale_eta_h for cr in crs], float)
        self.t_ref_c = f([cr.t_ref_c for cr in crs], float)
        self.b_temp = f([cr.b_temp_per_c for cr in crs], float)
        self.b_load = f([cr.b_load for cr in crs], float)
        self.self_heating_c = f([cr.self_heating_c for cr in crs], float)
        self.tel_nominal = f([cr.telemetry.nominal for cr in crs], float)
        self.tel_ratio = f([cr.telemetry.failure_ratio for cr in crs], float)
        self.tel_per_load = f([cr.telemetry.per_load for cr in crs], float)
        self.tel_noise = f([cr.telemetry.noise_sd for cr in crs], float)
        self.mttr_h = f([sp.repair.mttr_h for sp in spec_of], float)
        self.mttr_exponential = f([sp.repair.distribution == "exponential" for sp in spec_of], bool)
        self.shape_k = f([sp.reliability.wear.degradation_shape for sp in spec_of], float)
        self.fan_rise_c = f([sp.reliability.wear.fan_failure_temp_rise_c for sp in spec_of], float)
        self.temp_noise = f([sp.reliability.wear.temperature_noise_sd_c for sp in spec_of], float)
        self.cycle_damage = f([cr.cycling.damage_per_cycle if cr.cycling is not None else 0.0 for cr in crs], float)
        # state
        self.age_h = rng.uniform(0.0, initial_age_max_h, n) if initial_age_max_h > 0 else np.zeros(n)
        self.h_acc = (self.age_h / self.eta_h) ** self.beta
        self.e_target = self.h_acc + rng.exponential(1.0, n)
        p0 = self.h_acc / self.e_target
        self.degradation = np.zeros(n)
        pos = p0 > 0
        if pos.any():
            self.degradation[pos] = rng.beta(self.shape_k[pos] * p0[pos], self.shape_k[pos] * (1.0 - p0[pos]))
        self.failed = np.zeros(n, dtype=bool)
        self.repair_at_s = np.full(n, np.nan)
        self.n_failures = np.zeros(n, dtype=np.int64)
        fan_of_site = {int(s): i for i, (s, c) in enumerate(zip(self.unit_site, self.unit_component, strict=True))
                       if COMPONENT_NAMES[c] == "fan"}
        self.n_sites = int(site_id.max()) + 1 if site_id.size else 0
        self.fan_unit = np.asarray([fan_of_site.get(int(s), -1) for s in self.unit_site], dtype=np.int64)
        # per-tick helpers: constant arrays the tick reads (never written), the last scalar ambient temperature
        # and its per-unit array
        self._zeros_units = np.zeros(n)
        self._no_units = np.zeros(0, np.int64)
        self._no_times = np.zeros(0)
        self._amb_key: float | None = None
        self._amb_u = np.zeros(n)

    @classmethod
    def for_basestations(cls, bs, rng: np.random.Generator, initial_age_max_h: float = 0.0) -> WearModel:
        """Units for a :class:`agents.basestations.BaseStations` network (same clock)."""
        return cls(bs.site_id, bs.rru_id, bs.equipment_index, bs.specs, rng, initial_age_max_h, bs.time_s)

    # ------------------------------------------------------------------------------ helpers
    def unit_cells(self, unit: int) -> np.ndarray:
        return self.cell_idx[self.cell_ptr[unit]:self.cell_ptr[unit + 1]]

    def unit_load(self, cell_load: np.ndarray) -> np.ndarray:
        """Mean load of each unit's cells."""
        sums = np.add.reduceat(cell_load[self.cell_idx], self.cell_ptr[:-1]) if self.n_units else np.zeros(0)
        return sums / np.diff(self.cell_ptr)

    def _fan_degradation(self) -> np.ndarray:
        """Degradation of the fan of each unit's site (0 where the site has no fan)."""
        return np.where(self.fan_unit >= 0, self.degradation[np.maximum(self.fan_unit, 0)], 0.0) \
            if self.n_units else np.zeros(0)

    def cell_health(self) -> np.ndarray:
        """Per cell, the lowest health (1 - D) of the units it depends on."""
        return _cell_health(self.degradation, self.cell_idx, self.cell_ptr, self.n_cells)

    # ------------------------------------------------------------------------------ tick
    def step(self, dt_s: float, cell_load: np.ndarray, ambient_c: float | np.ndarray = 25.0,
             cell_cycles: np.ndarray | None = None) -> WearStep:
        """Advance every unit over ``[time_s, time_s + dt_s)`` with this tick's per-cell load (in [0, 1]),
        ambient temperature (scalar or per site) and thermal cycles per cell (entries into sleep/off, e.g.
        ``BaseStations.tick_cycles`` of the previous tick). A unit's cycles are the mean over its cells; their
        Coffin-Manson damage is added to the cumulative hazard at the start of the tick."""
        if not np.isfinite(dt_s) or dt_s <= 0:
            raise WearError(f"step.dt_s: expected a positive finite number, found {dt_s!r}")
        cell_load = np.asarray(cell_load, dtype=np.float64)
        if cell_load.shape != (self.n_cells,):
            raise WearError(f"step.cell_load: expected shape ({self.n_cells},), found {cell_load.shape}")
        if not _all_within(cell_load, 0.0, 1.0 + 1e-9):
            raise WearError("step.cell_load: expected values in [0, 1]")
        amb_u = self._ambient_units(ambient_c)
        if cell_cycles is None:
            unit_cycles = self._zeros_units
        else:
            cyc = np.asarray(cell_cycles, dtype=np.float64)
            if cyc.shape != (self.n_cells,) or np.any(~np.isfinite(cyc)) or np.any(cyc < 0):
                raise WearError(f"step.cell_cycles: expected {self.n_cells} finite counts >= 0")
            unit_cycles = self.unit_load(cyc)
        t0, t1 = self.time_s, self.time_s + float(dt_s)
        dt_h = float(dt_s) / 3600.0
        rng = self.rng
        n = self.n_units

        # repairs due in this tick: replace the unit, it ages from the repair instant
        start_off_h = self._zeros_units
        if self.failed.any():
            due = self.failed & (self.repair_at_s < t1)
            if due.any():
                start_off_h = np.zeros(n)
                start_off_h[due] = np.maximum(self.repair_at_s[due] - t0, 0.0) / 3600.0
                self.failed[due] = False
                self.repair_at_s[due] = np.nan
                self.age_h[due] = 0.0
                self.h_acc[due] = 0.0
                self.e_target[due] = rng.exponential(1.0, int(due.sum()))
                self.degradation[due] = 0.0
        fan_unit, fan_rise, heat = self.fan_unit, self.fan_rise_c, self.self_heating_c
        # the tick's per-unit arrays (rows of one block: they are returned in the WearStep)
        load, mult, h_start, h_new, dt_u, ka, kb, ka_g, kb_g, sig_true, sig_obs, temp_true, temp_obs, rul = np.empty(
            (14, n))
        fails, grow = np.empty((2, n), np.bool_)
        # covariates, cumulative hazard (thermal-cycle damage at the tick start, then the continuous part),
        # failures and the gamma-bridge parameters of the surviving units (one pass: _hazard_kernel)
        n_fail, n_grow = _hazard_kernel(
            cell_load, self.cell_idx, self.cell_ptr, amb_u, heat, fan_rise, fan_unit, self.degradation, self.b_temp,
            self.t_ref_c, self.b_load, self.failed, self.h_acc, self.cycle_damage, unit_cycles, self.age_h,
            self.eta_h, self.beta, self.e_target, self.shape_k, start_off_h, dt_h, load, mult, h_start, h_new, dt_u,
            fails, grow, ka, kb, ka_g, kb_g)
        a, eta, beta = self.age_h, self.eta_h, self.beta
        if n_fail:
            fail_units = np.flatnonzero(fails)
            # exact failure instants by conditional inversion
            off_h = ph_failure_offset_h(a[fails], h_start[fails], self.e_target[fails], eta[fails], beta[fails],
                                        mult[fails])
            fail_time_s = t0 + (start_off_h[fails] + np.minimum(off_h, dt_u[fails])) * 3600.0
            mttr = self.mttr_h[fails].copy()
            expo = self.mttr_exponential[fails]
            if expo.any():
                mttr[expo] = rng.exponential(mttr[expo])
            repair_s = fail_time_s + mttr * 3600.0
        else:
            fail_units = self._no_units
            fail_time_s = repair_s = self._no_times

        # degradation: gamma bridge in consumed-life clock p = H/E; (1 - p_new) can round to 0 just before a
        # failure: the kernel keeps numpy's beta parameters > 0
        inc = rng.beta(ka_g[:n_grow], kb_g[:n_grow]) if n_grow else self._no_times
        # telemetry: true values and separate sensor noise (draws in this order: signal, temperature)
        z_sig = rng.normal(0.0, 1.0, n)
        z_temp = rng.normal(0.0, 1.0, n)
        _apply_kernel(fails, grow, inc, h_new, dt_u, self.degradation, self.h_acc, self.age_h, self.e_target,
                      self.failed, self.repair_at_s, self.n_failures, fail_units, repair_s, self.tel_nominal,
                      self.tel_ratio, self.tel_per_load, self.tel_noise, load, amb_u, heat, fan_rise, fan_unit,
                      self.temp_noise, z_sig, z_temp, eta, beta, mult, sig_true, sig_obs, temp_true, temp_obs, rul)
        d = self.degradation
        self.time_s = t1
        return WearStep(time_s=t1, health=1.0 - d, degradation=d.copy(), load=load,
                        temperature_true_c=temp_true, temperature_observed_c=temp_obs, signal_true=sig_true,
                        signal_observed=sig_obs, failed=self.failed.copy(), rul_h=rul, failed_units=fail_units,
                        failure_time_s=fail_time_s, repair_time_s=repair_s)

    def _ambient_units(self, ambient_c) -> np.ndarray:
        """Per unit, the ambient temperature (a scalar, or one value per site), checked; the array of a scalar is
        kept for the next tick with the same value."""
        if isinstance(ambient_c, float | int) and not isinstance(ambient_c, bool):
            if self._amb_key == ambient_c:
                return self._amb_u
            amb = np.asarray(ambient_c, dtype=np.float64)
        else:
            amb = np.asarray(ambient_c, dtype=np.float64)
            if amb.ndim == 1 and amb.shape != (self.n_sites,):
                raise WearError(f"step.ambient_c: expected a scalar or {self.n_sites} values (one per site), "
                                f"found shape {amb.shape}")
        amb_u = amb[self.unit_site] if amb.ndim == 1 else np.full(self.n_units, float(amb))
        if np.any(~np.isfinite(amb_u)):
            raise WearError("step.ambient_c: expected finite temperatures")
        if amb.ndim == 0:
            self._amb_key, self._amb_u = float(ambient_c), amb_u
        return amb_u

    def failure_cells(self, step: WearStep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cells, at_s, until_s) of the tick's failures, ready for :meth:`BaseStations.fail`."""
        cells, at, until = [], [], []
        for u, tf, tr in zip(step.failed_units.tolist(), step.failure_time_s.tolist(), step.repair_time_s.tolist(),
                             strict=True):
            cs = self.unit_cells(u)
            cells.append(cs)
            at.append(np.full(cs.size, tf))
            until.append(np.full(cs.size, tr))
        if not cells:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        return np.concatenate(cells), np.concatenate(at), np.concatenate(until)


def apply_failures(bs, wear: WearModel, step: WearStep) -> np.ndarray:
    """Take the cells of the tick's failed units down in ``bs`` (an :class:`agents.basestations.BaseStations`
    whose clock is at the start of the tick) and copy the per-cell health into ``bs.health``; returns the
    affected cells."""
    if not step.failed_units.size:
        bs.health = wear.cell_health()
        return np.zeros(0, np.int64)
    cells, at, until = wear.failure_cells(step)
    for c, a, u in zip(cells.tolist(), at.tolist(), until.tolist(), strict=True):
        bs.fail([c], until_s=u, at_s=a)
    bs.health = wear.cell_health()
    return cells


def telemetry_records(wear: WearModel, step: WearStep) -> dict[str, np.ndarray]:
    """One row per unit for this tick (columns of equal length, ready for a Parquet table): time, unit, site,
    owner (site or RRU id), component, channel, true and observed signal and temperature, health, failed flag,
    RUL label (constant-covariate), and whether the unit failed during this tick."""
    n = wear.n_units
    failed_now = np.zeros(n, dtype=bool)
    failed_now[step.failed_units] = True
    return {
        "time_s": np.full(n, step.time_s),
        "unit": np.arange(n),
        "site": wear.unit_site.copy(),
        "owner": wear.unit_owner.copy(),
        "component": np.asarray([COMPONENT_NAMES[c] for c in wear.unit_component], dtype=object),
        "channel": wear.unit_channel.copy(),
        "signal_true": step.signal_true,
        "signal_observed": step.signal_observed,
        "temperature_true_c": step.temperature_true_c,
        "temperature_observed_c": step.temperature_observed_c,
        "load": step.load,
        "health": step.health,
        "failed": step.failed,
        "failed_this_tick": failed_now,
        "rul_h": step.rul_h,
    }
