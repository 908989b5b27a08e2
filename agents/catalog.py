"""Archetype catalog: user classes, traffic classes, drone classes, ISAC sensing defaults and base-station
equipment, loaded from ``agents/catalog.yaml`` and validated by pydantic.

Every number in the catalog is a :class:`Param`: ``{value: 3.0, source: "3GPP ..."}`` (cited) or
``{value: 2.0, assumption: users.pedestrian.pause_max_s}`` (a documented assumption with a key). A scenario
overrides assumptions by key (:meth:`Catalog.with_overrides` / ``load_catalog(overrides=...)``); cited values
can be overridden only by naming them explicitly with ``allow_sourced=True``.

The ``equipment:`` section belongs to the base-station models (``agents.equipment.EquipmentSpec``); it is
validated with that model when the module is importable, otherwise kept as plain mappings.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")


class CatalogError(ValueError):
    """A catalog file or override is invalid; the message names the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Strict):
    """One number with its provenance: exactly one of ``source`` (a citation) or ``assumption`` (a key)."""

    value: float
    unit: str | None = None
    source: str | None = None
    assumption: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_provenance(self) -> Param:
        if (self.source is None) == (self.assumption is None):
            raise ValueError("a catalog number needs exactly one of 'source' (citation) or 'assumption' (key)")
        if self.assumption is not None and not self.assumption.strip():
            raise ValueError("'assumption' key must be a non-empty dotted name")
        return self

    def __float__(self) -> float:
        return float(self.value)


class SpeedDist(_Strict):
    """Speed distribution in m/s: ``fixed`` (value), ``uniform`` (low, high) or ``normal`` (mean, std,
    truncated at 0)."""

    kind: Literal["fixed", "uniform", "normal"]
    value: Param | None = None
    low: Param | None = None
    high: Param | None = None
    mean: Param | None = None
    std: Param | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> SpeedDist:
        need = {"fixed": ("value",), "uniform": ("low", "high"), "normal": ("mean", "std")}[self.kind]
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"speed kind '{self.kind}' needs {', '.join(missing)}")
        a, b = self.as_pair()
        if a < 0 or b < 0:
            raise ValueError(f"speeds must be >= 0 m/s, found {a}, {b}")
        if self.kind == "uniform" and b < a:
            raise ValueError(f"uniform speed: high ({b}) < low ({a})")
        return self

    def as_pair(self) -> tuple[float, float]:
        """(low, high) for fixed/uniform, (mean, std) for normal."""
        if self.kind == "fixed":
            return float(self.value), float(self.value)  # type: ignore[arg-type]
        if self.kind == "uniform":
            return float(self.low), float(self.high)  # type: ignore[arg-type]
        return float(self.mean), float(self.std)  # type: ignore[arg-type]

    @property
    def max_mps(self) -> float:
        """Largest speed the distribution can produce (normal: mean + 6 std, the kernel's clip)."""
        a, b = self.as_pair()
        return b if self.kind != "normal" else a + 6.0 * b


class TrafficClass(_Strict):
    """Per-UE traffic: ``full_buffer``; ``ftp3`` (Poisson file arrivals, TR 36.889/36.872 FTP model 3);
    ``cbr`` (constant ``rate_mbps``, or periodic reports of ``payload_bytes`` every ``period_s``); ``xr``
    (sessions at ``rate_mbps``, a share ``active_share`` of XR users in a session at the busy hour)."""

    kind: Literal["full_buffer", "ftp3", "cbr", "xr"]
    description: str = ""
    diurnal: bool = True
    file_size_bytes: Param | None = None
    arrival_rate_per_s: Param | None = None
    payload_bytes: Param | None = None
    period_s: Param | None = None
    rate_mbps: Param | None = None
    active_share: Param | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> TrafficClass:
        need = {
            "full_buffer": (),
            "ftp3": ("file_size_bytes", "arrival_rate_per_s"),
            "cbr": ("rate_mbps",) if self.rate_mbps is not None else ("payload_bytes", "period_s"),
            "xr": ("rate_mbps", "active_share"),
        }[self.kind]
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"traffic kind '{self.kind}' needs {', '.join(missing)}")
        for n in need:
            if float(getattr(self, n)) <= 0:
                raise ValueError(f"{n} must be > 0, found {float(getattr(self, n))}")
        if self.active_share is not None and not 0 < float(self.active_share) <= 1:
            raise ValueError(f"active_share must be in (0, 1], found {float(self.active_share)}")
        return self


class UserClass(_Strict):
    """A user archetype: speed distribution, indoor share, UE height, mobility model, traffic class."""

    description: str = ""
    mobility: Literal["random_waypoint", "street_grid", "stationary"]
    speed_mps: SpeedDist
    pause_max_s: Param | None = None
    block_m: Param | None = None
    indoor_share: Param
    height_m: Param
    traffic: str

    @model_validator(mode="after")
    def _check(self) -> UserClass:
        if not 0.0 <= float(self.indoor_share) <= 1.0:
            raise ValueError(f"indoor_share must be in [0, 1], found {float(self.indoor_share)}")
        if float(self.height_m) <= 0:
            raise ValueError(f"height_m must be > 0, found {float(self.height_m)}")
        if self.mobility == "street_grid" and (self.block_m is None or float(self.block_m) <= 0):
            raise ValueError("street_grid mobility needs a positive block_m")
        if self.mobility == "random_waypoint" and self.pause_max_s is None:
            raise ValueError("random_waypoint mobility needs pause_max_s")
        return self


class Band(_Strict):
    low: Param
    high: Param

    @model_validator(mode="after")
    def _order(self) -> Band:
        if float(self.high) < float(self.low):
            raise ValueError(f"band high ({float(self.high)}) < low ({float(self.low)})")
        return self


class DroneClass(_Strict):
    """A drone archetype: altitude band, speed, flight pattern, registration, radar cross section."""

    description: str = ""
    pattern: Literal["corridor", "survey", "zigzag"]
    registered: bool
    altitude_m: Band
    speed_mps: SpeedDist
    legs: Param
    rcs_dbsm: Param
    rcs_std_db: Param
    traffic: str | None = None

    @model_validator(mode="after")
    def _check(self) -> DroneClass:
        if float(self.altitude_m.low) <= 0:
            raise ValueError("altitude_m.low must be > 0")
        if int(float(self.legs)) < 1:
            raise ValueError("legs must be >= 1")
        return self


class SensingSpec(_Strict):
    """Monostatic ISAC radar parameters (see ``agents.sensing`` for the equations)."""

    tx_power_dbm: Param
    antenna_gain_dbi: Param
    array_gain_db: Param
    noise_figure_db: Param
    temperature_k: Param
    bandwidth_mhz: Param
    cpi_s: Param
    losses_db: Param
    pfa: Param
    max_range_m: Param
    angle_cells: Param
    position_error_m: Param
    gate_m: Param
    confirm_m: Param
    confirm_n: Param

    @model_validator(mode="after")
    def _check(self) -> SensingSpec:
        if not 0 < float(self.pfa) < 1:
            raise ValueError(f"pfa must be in (0, 1), found {float(self.pfa)}")
        m, n = int(float(self.confirm_m)), int(float(self.confirm_n))
        if not 1 <= m <= n:
            raise ValueError(f"need 1 <= confirm_m <= confirm_n, found {m} of {n}")
        for name in ("bandwidth_mhz", "cpi_s", "max_range_m", "angle_cells", "temperature_k"):
            if float(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be > 0")
        return self


class UsersSection(_Strict):
    traffic_classes: dict[str, TrafficClass]
    archetypes: dict[str, UserClass]

    @model_validator(mode="after")
    def _traffic_refs(self) -> UsersSection:
        for name, uc in self.archetypes.items():
            if uc.traffic not in self.traffic_classes:
                raise ValueError(
                    f"archetype '{name}': traffic '{uc.traffic}' is not one of {sorted(self.traffic_classes)}"
                )
        return self


class DronesSection(_Strict):
    archetypes: dict[str, DroneClass]
    sensing: SensingSpec


class Catalog(BaseModel):
    """The validated catalog. ``equipment`` holds ``agents.equipment.EquipmentSpec`` objects when that module
    exists, plain mappings otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    users: UsersSection
    drones: DronesSection
    equipment: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict, repr=False, exclude=True)
    path: str = ""

    def user_class(self, name: str) -> UserClass:
        try:
            return self.users.archetypes[name]
        except KeyError:
            raise KeyError(f"unknown user archetype '{name}'; known: {sorted(self.users.archetypes)}") from None

    def drone_class(self, name: str) -> DroneClass:
        try:
            return self.drones.archetypes[name]
        except KeyError:
            raise KeyError(f"unknown drone archetype '{name}'; known: {sorted(self.drones.archetypes)}") from None

    def traffic_class(self, name: str) -> TrafficClass:
        try:
            return self.users.traffic_classes[name]
        except KeyError:
            raise KeyError(
                f"unknown traffic class '{name}'; known: {sorted(self.users.traffic_classes)}"
            ) from None

    def kind_of(self, name: str) -> Literal["user", "drone", "equipment"]:
        """Which section an archetype name belongs to (scenarios list users and drones in one population)."""
        if name in self.users.archetypes:
            return "user"
        if name in self.drones.archetypes:
            return "drone"
        if name in self.equipment:
            return "equipment"
        known = sorted([*self.users.archetypes, *self.drones.archetypes, *self.equipment])
        raise KeyError(f"unknown archetype '{name}'; known: {known}")

    def assumptions(self) -> dict[str, float]:
        """Every assumption key in the catalog with its current value (equipment keys as
        ``equipment.<name>.<key>``)."""
        out: dict[str, float] = {}
        _walk_params(self.raw, lambda d, path: out.__setitem__(d["assumption"], float(d["value"]))
                     if "assumption" in d else None)
        for name, spec in self.equipment.items():
            if hasattr(spec, "assumption_keys"):
                for key, value in spec.assumption_keys().items():
                    out[f"equipment.{name}.{key}"] = value
        return out

    def with_overrides(self, overrides: dict[str, float], *, allow_sourced: bool = False) -> Catalog:
        """A new catalog with assumption values replaced by key. Keys ``equipment.<name>.<key>`` go to that
        equipment's ``with_overrides``. ``allow_sourced`` also accepts dotted field paths of the users/drones
        sections (``users.archetypes.pedestrian.height_m``) for cited values."""
        mine = {k: v for k, v in overrides.items() if not k.startswith("equipment.")}
        theirs = {k: v for k, v in overrides.items() if k.startswith("equipment.")}
        raw = _apply_overrides(self.raw, mine, allow_sourced) if mine else self.raw
        cat = _build(raw, self.path, text=None) if mine else self
        if not theirs:
            return cat
        equipment = dict(cat.equipment)
        per_spec: dict[str, dict[str, float]] = {}
        for key, value in theirs.items():
            _, name, rest = (key.split(".", 2) + ["", ""])[:3]
            if name not in equipment or not rest:
                raise CatalogError(f"catalog override '{key}': unknown equipment '{name}' "
                                   f"(known: {sorted(equipment)})")
            per_spec.setdefault(name, {})[rest] = value
        for name, ov in per_spec.items():
            spec = equipment[name]
            if not hasattr(spec, "with_overrides"):
                raise CatalogError(f"catalog override: equipment '{name}' is not validated (agents.equipment "
                                   "missing); cannot override")
            try:
                equipment[name] = spec.with_overrides(ov)
            except ValueError as e:
                raise CatalogError(str(e)) from None
        return cat.model_copy(update={"equipment": equipment})


def _walk_params(node: Any, fn, path: tuple = ()) -> None:
    if isinstance(node, dict):
        if "value" in node and ("source" in node or "assumption" in node):
            fn(node, path)
            return
        for k, v in node.items():
            _walk_params(v, fn, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk_params(v, fn, (*path, i))


def _apply_overrides(raw: dict, overrides: dict[str, float], allow_sourced: bool) -> dict:
    data = copy.deepcopy(raw)
    hits: dict[str, int] = dict.fromkeys(overrides, 0)

    def visit(d: dict, path: tuple) -> None:
        dotted = ".".join(str(p) for p in path)
        key = d.get("assumption")
        if key in overrides:
            d["value"] = _as_float(overrides[key], key)
            hits[key] += 1
        elif allow_sourced and dotted in overrides:
            d["value"] = _as_float(overrides[dotted], dotted)
            hits[dotted] += 1

    _walk_params(data, visit)
    unknown = sorted(k for k, n in hits.items() if n == 0)
    if unknown:
        raise CatalogError(f"catalog overrides: unknown assumption key(s) {unknown}")
    return data


def _as_float(v: Any, key: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise CatalogError(f"catalog override '{key}': expected a number, found {v!r}") from None


def _line_of(text: str | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (best effort: deepest existing node)."""
    if not text:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(key):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _format_errors(err: ValidationError, path: str, text: str | None, prefix: tuple = ()) -> str:
    lines = []
    for e in err.errors():
        loc = (*prefix, *e["loc"])
        ln = _line_of(text, loc)
        where = f"{path}:{ln}" if ln else path
        field = ".".join(str(p) for p in loc) or "<root>"
        lines.append(f"{where}: {field}: {e['msg']} (found {e.get('input')!r:.80})")
    return "invalid catalog:\n  " + "\n  ".join(lines)


def _equipment_parser():
    """``agents.equipment.parse_equipment`` (the base-station models) or None while that module is absent."""
    try:
        from agents.equipment import parse_equipment  # noqa: PLC0415  (optional at import time)
    except ModuleNotFoundError as exc:
        if exc.name == "agents.equipment":
            return None
        raise
    return parse_equipment


def _build(data: Any, path: str, text: str | None) -> Catalog:
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping with users/drones/equipment, found {type(data).__name__}")
    for section in ("users", "drones"):
        if section not in data:
            raise CatalogError(f"{path}: missing section '{section}:'")
    try:
        users = UsersSection.model_validate(data["users"])
    except ValidationError as e:
        raise CatalogError(_format_errors(e, path, text, ("users",))) from None
    try:
        drones = DronesSection.model_validate(data["drones"])
    except ValidationError as e:
        raise CatalogError(_format_errors(e, path, text, ("drones",))) from None
    for name, dc in drones.archetypes.items():
        if dc.traffic is not None and dc.traffic not in users.traffic_classes:
            raise CatalogError(f"{path}: drones.archetypes.{name}.traffic: unknown traffic class '{dc.traffic}'")
    overlap = set(users.archetypes) & set(drones.archetypes)
    if overlap:
        raise CatalogError(f"{path}: archetype names used by both users and drones: {sorted(overlap)}")
    equipment_raw = data.get("equipment") or {}
    if not isinstance(equipment_raw, dict):
        raise CatalogError(f"{path}: equipment: expected a mapping of name -> spec")
    parser = _equipment_parser()
    if parser is None:
        equipment: dict[str, Any] = dict(equipment_raw)
    else:
        try:
            equipment = dict(parser(equipment_raw, file=path))
        except ValueError as e:
            raise CatalogError(str(e)) from None
    return Catalog(users=users, drones=drones, equipment=equipment, raw=data, path=path)


def parse_catalog(text: str, path: str = "<string>", overrides: dict[str, float] | None = None) -> Catalog:
    """Validate catalog YAML text. Errors raise :class:`CatalogError` naming ``path:line: field``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise CatalogError(f"{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    cat = _build(data, path, text)
    return cat.with_overrides(overrides) if overrides else cat


@lru_cache(maxsize=8)
def _load_default(path: str) -> Catalog:
    return parse_catalog(Path(path).read_text(), path)


def load_catalog(path: str | Path | None = None, overrides: dict[str, float] | None = None) -> Catalog:
    """Load and validate the catalog (default: the bundled ``agents/catalog.yaml``), then apply assumption
    overrides by key."""
    p = Path(path) if path is not None else CATALOG_PATH
    if not p.is_file():
        raise CatalogError(f"catalog file not found: {p}")
    cat = _load_default(str(p.resolve()))
    return cat.with_overrides(overrides) if overrides else cat
