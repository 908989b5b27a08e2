"""agents: the twin's models of people, drones and base stations (arrays for many, objects for few).

Public names are loaded lazily (PEP 562) so ``import agents`` stays cheap and imports no Numba kernel until
a name is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    # archetype catalog
    "Catalog": "agents.catalog", "CatalogError": "agents.catalog", "load_catalog": "agents.catalog",
    "parse_catalog": "agents.catalog",
    # users, mobility, traffic, handover
    "Population": "agents.users", "UserArrays": "agents.users", "CrowdEvent": "agents.users",
    "step_mobility": "agents.mobility",
    "DiurnalProfile": "agents.traffic", "load_diurnal_profile": "agents.traffic", "update_demand": "agents.traffic",
    "HandoverParams": "agents.handover", "HandoverState": "agents.handover", "step_handover": "agents.handover",
    # drones and ISAC sensing
    "DroneArrays": "agents.drones", "build_drones": "agents.drones", "step_drones": "agents.drones",
    "aerial_path_loss_db": "agents.drones",
    "IsacSensing": "agents.sensing", "RadarParams": "agents.sensing",
    # base stations (equipment, states, power, scheduler, wear)
    "EquipmentSpec": "agents.equipment", "load_equipment": "agents.equipment", "get_equipment": "agents.equipment",
    "BaseStations": "agents.basestations", "PowerTable": "agents.power", "build_power_table": "agents.power",
    "schedule": "agents.scheduler", "ScheduleResult": "agents.scheduler", "WearModel": "agents.wear",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
