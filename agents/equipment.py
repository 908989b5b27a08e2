"""Base-station equipment specifications: EARTH power parameters, sleep levels, component reliability.

An :class:`EquipmentSpec` describes one kind of base-station site (macro with RRUs, RRH, micro, pico, femto) as
it appears in the ``equipment:`` section of ``agents/catalog.yaml``. Every number either cites its source
(the ``source`` string of the sub-model it lives in) or is an *assumption*: its field name is listed in that
sub-model's ``assumed`` list, which makes it overridable by a scenario under the dotted key
``<section>.<field>`` (e.g. ``reliability.pa_rf.mtbf_h``); see :meth:`EquipmentSpec.assumption_keys` and
:meth:`EquipmentSpec.with_overrides`. A sub-model without a source must list every numeric field it sets as
assumed, or validation fails.

Sources (REFERENCES.md):
  * EARTH linear model: Auer et al., "How much energy is needed to run a wireless network?", IEEE Wireless
    Commun. 18(5):40-49, 2011, Table 2 (REFERENCES §3.1; verify: Table 2). Parameters are per *site*;
    ``n_trx`` counts the transceiver chains of all sectors (macro/RRH: 3 sectors x 2 antennas = 6).
  * Sleep-state transition times and energies: 3GPP TR 38.864 V18.1.0 Table 5.1-1 (REFERENCES §3.2, verify);
    the entry/wake split (half each) after Debaillie et al. VTC-Spring 2015 (REFERENCES §3.3).
  * Reliability: REFERENCES §7.1/§7.2 (Weibull, L10, MTBF figures, temperature rules).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")

COMPONENT_NAMES = ("fan", "psu", "pa_rf")


class CellState(IntEnum):
    """State code of a cell (stored as int8 in the cell arrays)."""

    ON = 0
    LIGHT_SLEEP = 1
    DEEP_SLEEP = 2
    OFF = 3
    FAILED = 4


N_STATES = len(CellState)


class EquipmentError(ValueError):
    """An equipment entry or override is invalid; the message names the entry and the field path."""


class _Sourced(BaseModel):
    """Base for sub-models whose numbers are either sourced or listed as assumptions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field("", description="citation for every numeric field not listed in `assumed`")
    assumed: tuple[str, ...] = Field((), description="names of fields whose values are assumptions "
                                                      "(overridable by a scenario)")

    def _numeric_fields(self) -> list[str]:
        out = []
        for name in type(self).model_fields:
            if name in ("source", "assumed"):
                continue
            value = getattr(self, name)
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int | float):
                out.append(name)
        return out

    @model_validator(mode="after")
    def _every_number_accounted(self) -> _Sourced:
        fields = set(type(self).model_fields) - {"source", "assumed"}
        unknown = [a for a in self.assumed if a not in fields]
        if unknown:
            raise ValueError(f"assumed: {unknown} are not fields of {type(self).__name__} "
                             f"(fields: {sorted(fields)})")
        if not self.source.strip():
            missing = [f for f in self._numeric_fields() if f not in self.assumed]
            if missing:
                raise ValueError(f"fields {missing} have neither a `source` nor an entry in `assumed`")
        return self


class EarthPower(_Sourced):
    """EARTH linear power model of a whole site (REFERENCES §3.1, Auer et al. 2011 Table 2).

    ``P_in = N_TRX (P0 + delta_p * load * P_max)`` for load in (0, 1], ``N_TRX * P_sleep`` in sleep.
    """

    n_trx: int = Field(gt=0, description="transceiver chains of the whole site")
    p_max_w: float = Field(gt=0, description="maximum RF output power per TRX")
    p0_w: float = Field(gt=0, description="power at the minimum non-zero output, per TRX")
    delta_p: float = Field(gt=0, description="slope of the load-dependent power")
    p_sleep_w: float = Field(ge=0, description="sleep-mode power per TRX")

    @model_validator(mode="after")
    def _sleep_below_idle(self) -> EarthPower:
        if self.p_sleep_w > self.p0_w:
            raise ValueError(f"p_sleep_w ({self.p_sleep_w}) must not exceed p0_w ({self.p0_w})")
        return self

    def p_in_w(self, load: float) -> float:
        """Site input power at uniform ``load`` in (0, 1]; load <= 0 is EARTH's sleep case (P_out = 0)."""
        if load <= 0:
            return self.n_trx * self.p_sleep_w
        return self.n_trx * (self.p0_w + self.delta_p * min(load, 1.0) * self.p_max_w)

    @property
    def full_load_w_per_trx(self) -> float:
        return self.p0_w + self.delta_p * self.p_max_w


class SleepLevel(_Sourced):
    """One sleep level of a cell. Power is per TRX, given either in watts or in TR 38.864 relative units
    (converted with :attr:`EquipmentSpec.relative_unit_w_per_trx`); the same for the extra entry energy
    (38.864 gives it in relative-power x ms).

    The entry energy is charged once per entry into the level (it stands for the whole ramp down and up,
    TR 38.864 §5.1 accounting ``E = P_ref (sum p_s t_s + sum n_k E_k)``)."""

    power_w_per_trx: float | None = Field(None, ge=0)
    relative_power: float | None = Field(None, ge=0)
    entry_time_s: float = Field(ge=0)
    wake_time_s: float = Field(ge=0)
    entry_energy_j_per_trx: float | None = Field(None, ge=0)
    relative_entry_energy_ms: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_of_each(self) -> SleepLevel:
        if (self.power_w_per_trx is None) == (self.relative_power is None):
            raise ValueError("give exactly one of power_w_per_trx, relative_power")
        if self.entry_energy_j_per_trx is not None and self.relative_entry_energy_ms is not None:
            raise ValueError("give at most one of entry_energy_j_per_trx, relative_entry_energy_ms")
        return self

    def power_w(self, relative_unit_w: float) -> float:
        if self.power_w_per_trx is not None:
            return self.power_w_per_trx
        return float(self.relative_power) * relative_unit_w

    def entry_energy_j(self, relative_unit_w: float) -> float:
        if self.entry_energy_j_per_trx is not None:
            return self.entry_energy_j_per_trx
        if self.relative_entry_energy_ms is not None:
            return self.relative_entry_energy_ms * 1e-3 * relative_unit_w
        return 0.0


class SleepLevels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    light: SleepLevel
    deep: SleepLevel


class OffState(_Sourced):
    """Switched-off cell (radio unit powered down) and its boot/shutdown times."""

    power_w_per_trx: float = Field(ge=0)
    shutdown_time_s: float = Field(ge=0)
    boot_time_s: float = Field(ge=0)


class FailedState(_Sourced):
    """A cell taken down by a hardware failure."""

    power_w_per_trx: float = Field(ge=0)


class Telemetry(_Sourced):
    """The observable a component exposes: its true value is
    ``nominal * (1 + (failure_ratio - 1) * D) + per_load * load`` for degradation D in [0, 1] (D = 1 at
    failure); sensors add Gaussian noise with standard deviation ``noise_sd`` (kept separate from the true
    value)."""

    channel: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    nominal: float
    failure_ratio: float = Field(gt=0)
    per_load: float = 0.0
    noise_sd: float = Field(ge=0)


class ThermalCycling(_Sourced):
    """Coffin-Manson damage of on/sleep thermal cycles (REFERENCES §7.2: ``N_f ~ dT^(-m)``): each cycle of
    amplitude ``delta_t_c`` adds ``(delta_t_c / delta_t_ref_c)^m / n_ref_cycles`` to the unit's cumulative
    hazard (Miner's rule against the Exp(1) failure threshold). A cycle is one entry of a cell into a sleep or
    off state."""

    delta_t_c: float = Field(ge=0)
    n_ref_cycles: float = Field(gt=0)
    delta_t_ref_c: float = Field(gt=0)
    exponent_m: float = Field(gt=0)

    @property
    def damage_per_cycle(self) -> float:
        return (self.delta_t_c / self.delta_t_ref_c) ** self.exponent_m / self.n_ref_cycles


class ComponentReliability(_Sourced):
    """Weibull life of one component with proportional-hazards acceleration (REFERENCES §7.2):
    ``h(t) = (beta/eta)(t/eta)^(beta-1) * exp(b_T (T - t_ref_c) + b_load * load)``.

    The temperature coefficient comes from a life rule "life / f per +10 degC" (fans f = 1.5, Jamicon;
    electrolytic capacitors f = 2, the 10-degree rule, REFERENCES §7.2): under proportional hazards a hazard
    multiplier m scales the Weibull life by m^(-1/beta), so ``b_T = beta ln(f) / 10`` per degC.

    Give exactly one of ``eta_h`` (Weibull scale), ``l10_h`` (10 % failed) or ``mtbf_h`` (mean life),
    all at the reference temperature ``t_ref_c`` and zero load.
    ``scope`` says what a failure takes down: the whole ``site`` or one ``rru`` (its cells).
    """

    scope: Literal["site", "rru"]
    beta: float = Field(gt=0)
    eta_h: float | None = Field(None, gt=0)
    l10_h: float | None = Field(None, gt=0)
    mtbf_h: float | None = Field(None, gt=0)
    t_ref_c: float
    life_factor_per_10c: float = Field(ge=1.0, description="life divided by this factor per +10 degC "
                                       "above t_ref_c (1 = no temperature effect)")
    b_load: float
    self_heating_c: float = Field(ge=0, description="temperature rise at full load over ambient")
    telemetry: Telemetry
    cycling: ThermalCycling | None = None

    @model_validator(mode="after")
    def _one_life(self) -> ComponentReliability:
        given = [n for n in ("eta_h", "l10_h", "mtbf_h") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of eta_h, l10_h, mtbf_h (found {given or 'none'})")
        return self

    @property
    def b_temp_per_c(self) -> float:
        return self.beta * math.log(self.life_factor_per_10c) / 10.0

    @property
    def scale_eta_h(self) -> float:
        """Weibull scale eta: from L10 ``eta = L10 / (-ln 0.9)^(1/beta)``, from the mean
        ``eta = MTTF / Gamma(1 + 1/beta)`` (REFERENCES §7.2)."""
        if self.eta_h is not None:
            return self.eta_h
        if self.l10_h is not None:
            return self.l10_h / (-math.log(0.9)) ** (1.0 / self.beta)
        return float(self.mtbf_h) / math.gamma(1.0 + 1.0 / self.beta)


class WearParams(_Sourced):
    """Parameters of the degradation/telemetry model shared by a site's components.

    ``degradation_shape`` is the shape (per unit of consumed life) of the gamma process whose bridge gives the
    true degradation D (large: smooth drift, small: jumps); ``fan_failure_temp_rise_c`` is the temperature rise
    of the site's units when the fan has fully degraded (D_fan = 1); ``temperature_noise_sd_c`` is the sensor
    noise of every temperature reading."""

    degradation_shape: float = Field(gt=0)
    fan_failure_temp_rise_c: float = Field(ge=0)
    temperature_noise_sd_c: float = Field(ge=0)


class Reliability(BaseModel):
    """Components of a site; ``fan: null`` means convection-cooled (no fan)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fan: ComponentReliability | None
    psu: ComponentReliability
    pa_rf: ComponentReliability
    wear: WearParams

    def components(self) -> dict[str, ComponentReliability]:
        out = {}
        for name in COMPONENT_NAMES:
            comp = getattr(self, name)
            if comp is not None:
                out[name] = comp
        return out


class Repair(_Sourced):
    """Repair after a failure: the cells stay down ``mttr_h`` (fixed, or exponential with that mean)."""

    mttr_h: float = Field(gt=0)
    distribution: Literal["fixed", "exponential"] = "fixed"


class Relative(_Sourced):
    """Anchor of TR 38.864 relative powers to watts per TRX. ``unit_w_per_trx`` None means: anchor the
    38.864 'Active DL, 100 % PRB' relative power ``dl_full_relative`` to EARTH's full-load power per TRX.
    ``transition_entry_share`` is the share of the TR's total transition time spent entering a sleep state
    (the rest is the wake-up), used by the ``tr38864`` power model."""

    unit_w_per_trx: float | None = Field(None, gt=0)
    dl_full_relative: float = Field(gt=0)
    transition_entry_share: float = Field(0.5, ge=0, le=1)


class EquipmentSpec(BaseModel):
    """One catalog equipment entry (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    n_sectors: int = Field(gt=0, description="cells (sectors) per site that share the EARTH n_trx")
    earth: EarthPower
    relative: Relative
    sleep: SleepLevels
    switched_off: OffState
    failed: FailedState
    reliability: Reliability
    repair: Repair

    @model_validator(mode="after")
    def _trx_split(self) -> EquipmentSpec:
        if self.earth.n_trx % self.n_sectors:
            raise ValueError(f"earth.n_trx ({self.earth.n_trx}) must be a multiple of n_sectors ({self.n_sectors})")
        return self

    @property
    def trx_per_cell(self) -> int:
        return self.earth.n_trx // self.n_sectors

    @property
    def relative_unit_w_per_trx(self) -> float:
        """Watts per TRX of one TR 38.864 relative power unit (see :class:`Relative`)."""
        if self.relative.unit_w_per_trx is not None:
            return self.relative.unit_w_per_trx
        return self.earth.full_load_w_per_trx / self.relative.dl_full_relative

    # ------------------------------------------------------------------------------ assumptions / overrides
    def _sourced_parts(self) -> dict[str, _Sourced]:
        parts: dict[str, _Sourced] = {
            "earth": self.earth, "relative": self.relative, "sleep.light": self.sleep.light,
            "sleep.deep": self.sleep.deep, "switched_off": self.switched_off, "failed": self.failed,
            "repair": self.repair,
        }
        for name, comp in self.reliability.components().items():
            parts[f"reliability.{name}"] = comp
            parts[f"reliability.{name}.telemetry"] = comp.telemetry
            if comp.cycling is not None:
                parts[f"reliability.{name}.cycling"] = comp.cycling
        parts["reliability.wear"] = self.reliability.wear
        return parts

    def assumption_keys(self) -> dict[str, Any]:
        """Every assumed number as ``{dotted key: value}`` (the keys a scenario may override)."""
        out: dict[str, Any] = {}
        for prefix, part in self._sourced_parts().items():
            for field in part.assumed:
                out[f"{prefix}.{field}"] = getattr(part, field)
        return out

    def with_overrides(self, overrides: Mapping[str, Any], *, allow_sourced: bool = False) -> EquipmentSpec:
        """A copy with assumption values replaced. Only keys from :meth:`assumption_keys` are accepted, unless
        ``allow_sourced`` (a what-if on a cited number): then any dotted path to a numeric field
        (e.g. ``earth.p0_w``) is accepted and the field is added to its block's ``assumed`` list, so the copy
        no longer claims the source for it."""
        allowed = self.assumption_keys()
        sourced = self._sourced_parts()
        data = self.model_dump()
        for key, value in overrides.items():
            prefix, _, field = key.rpartition(".")
            part = sourced.get(prefix)
            numeric = part is not None and field in part._numeric_fields()
            if key not in allowed and not (allow_sourced and numeric):
                raise EquipmentError(f"equipment.{self.name}: '{key}' is not an assumption key that may be "
                                     f"overridden (valid: {sorted(allowed)})")
            node = data
            for p in prefix.split("."):
                node = node[p]
            node[field] = value
            if key not in allowed:
                node["assumed"] = (*node["assumed"], field)
        try:
            return EquipmentSpec.model_validate(data)
        except ValidationError as err:
            raise EquipmentError(f"equipment.{self.name} after overrides {dict(overrides)}: "
                                 f"{_format_errors(err)}") from err


def _format_errors(err: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        found = repr(e.get("input"))
        found = found if len(found) <= 80 else found[:77] + "..."
        parts.append(f"{prefix}{loc}: {e['msg']} (found {found})")
    return "; ".join(parts)


def parse_equipment(section: Mapping[str, Any], *, file: str = "<equipment>") -> dict[str, EquipmentSpec]:
    """Validate an ``equipment:`` mapping (name -> entry) into specs; errors name file and field path."""
    if not isinstance(section, Mapping):
        raise EquipmentError(f"{file}: equipment: expected a mapping of name -> entry, "
                             f"found {type(section).__name__}")
    out = {}
    for name, entry in section.items():
        if not isinstance(entry, Mapping):
            raise EquipmentError(f"{file}: equipment.{name}: expected a mapping, found {type(entry).__name__}")
        try:
            out[str(name)] = EquipmentSpec.model_validate({"name": str(name), **entry})
        except ValidationError as err:
            raise EquipmentError(f"{file}: {_format_errors(err, prefix=f'equipment.{name}.')}") from err
    return out


def load_equipment(path: str | Path | None = None) -> dict[str, EquipmentSpec]:
    """All equipment entries of a catalog file (default: the bundled ``agents/catalog.yaml``)."""
    p = Path(path) if path is not None else CATALOG_PATH
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise EquipmentError(f"{p}: not valid YAML: {err}") from err
    return parse_equipment(data.get("equipment") or {}, file=str(p))


def get_equipment(name: str, overrides: Mapping[str, Any] | None = None,
                  path: str | Path | None = None) -> EquipmentSpec:
    """One catalog entry by name, with optional assumption overrides."""
    specs = load_equipment(path)
    if name not in specs:
        raise EquipmentError(f"equipment '{name}' is not in the catalog (known: {sorted(specs)})")
    spec = specs[name]
    return spec.with_overrides(overrides) if overrides else spec
