"""Archetype catalog: loading, provenance rule, errors with file:line, assumption overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from agents.catalog import CATALOG_PATH, Catalog, CatalogError, load_catalog, parse_catalog

USER_CLASSES = {"pedestrian", "vehicle", "indoor_stationary", "iot_meter", "xr_user"}
DRONE_CLASSES = {"delivery_drone", "inspection_drone", "intruder_drone"}


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def text() -> str:
    return CATALOG_PATH.read_text()


def test_bundled_catalog_has_the_issue_archetypes(cat):
    assert set(cat.users.archetypes) == USER_CLASSES
    assert set(cat.drones.archetypes) == DRONE_CLASSES
    assert {tc.kind for tc in cat.users.traffic_classes.values()} == {"full_buffer", "ftp3", "cbr", "xr"}
    assert cat.user_class("vehicle").mobility == "street_grid"
    assert cat.user_class("pedestrian").mobility == "random_waypoint"
    assert cat.user_class("iot_meter").mobility == "stationary"
    assert cat.drone_class("intruder_drone").registered is False
    assert cat.drone_class("delivery_drone").registered is True
    assert cat.kind_of("pedestrian") == "user" and cat.kind_of("intruder_drone") == "drone"
    with pytest.raises(KeyError, match="unknown archetype 'unicorn'"):
        cat.kind_of("unicorn")


def test_cited_numbers_are_the_cited_values(cat):
    # 3 km/h and 30 km/h (ITU-R M.2412), 1.5 m UE height (TR 38.901), FTP3 0.5 MB, small-UAV RCS -12.81 dBsm
    assert cat.user_class("pedestrian").speed_mps.as_pair() == pytest.approx((3 / 3.6, 3 / 3.6), abs=1e-4)
    assert cat.user_class("vehicle").speed_mps.as_pair() == pytest.approx((30 / 3.6, 30 / 3.6), abs=1e-4)
    assert float(cat.user_class("pedestrian").height_m) == 1.5
    assert float(cat.traffic_class("mbb_ftp3").file_size_bytes) == 500_000
    assert float(cat.drone_class("intruder_drone").rcs_dbsm) == -12.81
    assert float(cat.drone_class("delivery_drone").altitude_m.high) == 120.0


def test_every_number_in_my_sections_has_provenance(text):
    """Walk the raw YAML: every numeric leaf of users/drones sits in a {value, source|assumption} mapping."""
    data = yaml.safe_load(text)
    bad = []

    def walk(node, path):
        if isinstance(node, dict):
            if "value" in node and not isinstance(node["value"], dict):
                if ("source" in node) == ("assumption" in node):
                    bad.append(path)
                return
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, int | float) and not isinstance(node, bool):
            bad.append(path)

    walk(data["users"], "users")
    walk(data["drones"], "drones")
    assert bad == []


def test_assumption_keys_are_unique_and_overridable(cat, text):
    mine = text[:text.index("\nequipment:")]
    keys = re.findall(r"assumption:\s*([A-Za-z0-9_.]+)", mine)
    assert len(keys) == len(set(keys)), "an assumption key is used twice"
    a = cat.assumptions()
    assert set(keys) <= set(a)
    c2 = cat.with_overrides({"users.pedestrian.pause_max_s": 7.0, "sensing.pfa": 1e-4})
    assert float(c2.user_class("pedestrian").pause_max_s) == 7.0
    assert float(c2.drones.sensing.pfa) == 1e-4
    assert float(cat.user_class("pedestrian").pause_max_s) == 120.0  # original untouched
    c3 = load_catalog(overrides={"traffic.mbb_ftp3.arrival_rate_per_s": 0.5})
    assert float(c3.traffic_class("mbb_ftp3").arrival_rate_per_s) == 0.5


def test_override_errors(cat):
    with pytest.raises(CatalogError, match="unknown assumption key"):
        cat.with_overrides({"users.pedestrian.no_such": 1.0})
    with pytest.raises(CatalogError, match="expected a number"):
        cat.with_overrides({"sensing.pfa": "lots"})
    # an override that breaks validation is reported like a file error
    with pytest.raises(CatalogError, match="pfa must be in"):
        cat.with_overrides({"sensing.pfa": 2.0})
    # cited values are not assumption keys; they need allow_sourced and the dotted path
    with pytest.raises(CatalogError):
        cat.with_overrides({"users.archetypes.pedestrian.height_m": 2.0})
    c = cat.with_overrides({"users.archetypes.pedestrian.height_m": 2.0}, allow_sourced=True)
    assert float(c.user_class("pedestrian").height_m) == 2.0


def test_equipment_section_validated_by_equipment_model(cat):
    eq = pytest.importorskip("agents.equipment")
    assert cat.equipment, "equipment section is empty"
    assert all(isinstance(v, eq.EquipmentSpec) for v in cat.equipment.values())
    keys = [k for k in cat.assumptions() if k.startswith("equipment.")]
    assert keys
    name, rest = keys[0].split(".", 2)[1:]
    c2 = cat.with_overrides({keys[0]: cat.assumptions()[keys[0]]})
    assert c2.equipment[name].assumption_keys()[rest] == cat.assumptions()[keys[0]]
    with pytest.raises(CatalogError, match="unknown equipment"):
        cat.with_overrides({"equipment.nope.x": 1.0})


def _mutate(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_missing_provenance_is_reported_with_file_line_and_field(text):
    bad = _mutate(text, "indoor_share: {value: 0.0, source: \"definition of the class (outdoor users)\"}",
                  "indoor_share: {value: 0.0}")
    with pytest.raises(CatalogError) as ei:
        parse_catalog(bad, "cat.yaml")
    msg = str(ei.value)
    line = next(i + 1 for i, ln in enumerate(bad.splitlines()) if "indoor_share: {value: 0.0}" in ln)
    assert f"cat.yaml:{line}" in msg
    assert "users.archetypes.pedestrian.indoor_share" in msg
    assert "exactly one of 'source'" in msg


def test_bad_reference_and_bad_yaml(text):
    with pytest.raises(CatalogError, match="traffic 'mbb_ftp9' is not one of"):
        parse_catalog(_mutate(text, "traffic: mbb_ftp3", "traffic: mbb_ftp9"), "x.yaml")
    with pytest.raises(CatalogError, match=r"x.yaml:\d+: not valid YAML"):
        parse_catalog("users: [1, 2\ndrones: {}", "x.yaml")
    with pytest.raises(CatalogError, match="missing section 'drones:'"):
        parse_catalog("users: {traffic_classes: {}, archetypes: {}}", "x.yaml")
    with pytest.raises(CatalogError, match="speed kind 'normal' needs mean, std"):
        parse_catalog(_mutate(text, "kind: uniform\n        low: {value: 10", "kind: normal\n        low: {value: 10"),
                      "x.yaml")
    with pytest.raises(CatalogError, match="street_grid mobility needs a positive block_m"):
        parse_catalog(_mutate(text, "value: 200\n        unit: m\n        source: \"ETSI",
                              "value: 0\n        unit: m\n        source: \"ETSI"), "x.yaml")


def test_load_catalog_missing_file(tmp_path: Path):
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope.yaml")
    p = tmp_path / "c.yaml"
    p.write_text(CATALOG_PATH.read_text())
    assert set(load_catalog(p).users.archetypes) == USER_CLASSES
