"""API boundaries found by QA (/work/notes/QA_FINDINGS.md): evaluate input checks (F4), the decision log of
solves (F13), OpenAPI examples (F14), query parameters (F15), live twins' documentation (F22), job errors
(F23) and the separate body limit of /v1/solve (F12). Runs on the bundled tables and thresholds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from dientine.api.app import create_app
from dientine.api.routes.solve import problem_digest
from dientine.api.settings import Settings
from dientine.jobs import UnknownJobKind, validate_params

ADMIN = "boundary-admin-key-0123456789"
NIGHT = {"is_coverage_cell": False, "cell_asleep": False, "cell_load": 0.05, "hour": 3, "neighbour_headroom": 0.6}
RRU = {
    "kind": "rru_sleep", "demand_mbps": [[50.0]], "spectral_efficiency_bps_hz": [[2.0], [1.0], [3.0]],
    "rsrp_dbm": [[-80.0], [-85.0], [-90.0]], "rsrp_floor_dbm": -110.0, "bandwidth_mhz": [20.0, 20.0, 20.0],
    "n_trx": [1.0, 1.0, 1.0], "p0_w": [130.0, 100.0, 150.0], "delta_p": [4.7, 4.7, 4.7],
    "p_max_w": [20.0, 20.0, 20.0], "p_sleep_w": [75.0, 75.0, 75.0],
}


def h() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def make(tmp_path: Path, **kw: Any) -> Any:
    return create_app(Settings(store_path=str(tmp_path / "store"), admin_key=ADMIN, run_jobs=False,
                               announce_admin_key=False, log_flush_interval_s=0.01, **kw))


@pytest.fixture()
def client(tmp_path: Path):
    app = make(tmp_path)
    with TestClient(app) as c:
        yield c
    app.state.dientine.close()


def errors(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in r.json()["errors"]}


URL = "/v1/decisions/energy_saving/evaluate"


def test_evaluate_refuses_unknown_mistyped_and_non_finite_inputs(client):
    errs = errors(client.post(URL, headers=h(), json={"inputs": {**NIGHT, "cell_lod": 0.05}}))
    assert list(errs) == ["inputs.cell_lod"] and "cell_load" in errs["inputs.cell_lod"]  # lists what it reads
    errs = errors(client.post(URL, headers=h(), json={"inputs": {**NIGHT, "cell_load": "low"}}))
    assert errs == {"inputs.cell_load": "expected a number, found string 'low'"}
    errs = errors(client.post(URL, headers=h(), json={"inputs": {**NIGHT, "is_coverage_cell": 0}}))
    assert errs == {"inputs.is_coverage_cell": "expected a boolean, found number 0"}
    r = client.post(URL, headers={**h(), "content-type": "application/json"},
                    content=json.dumps({"inputs": {**NIGHT, "hour": float("inf")}}).encode())
    assert errors(r) == {"inputs.hour": "expected a finite number, found inf"}
    # several problems at once, each named
    errs = errors(client.post(URL, headers=h(), json={"inputs": {"cell_lod": 1, "hour": "3"}}))
    assert set(errs) == {"inputs.cell_lod", "inputs.hour"}
    # nothing refused was logged
    assert client.get("/v1/decisions", headers=h()).json()["decisions"] == []


def test_evaluate_missing_or_null_inputs_are_dmn_null_and_thresholds_come_from_the_store(client):
    ok = client.post(URL, headers=h(), json={"inputs": NIGHT})
    assert ok.status_code == 200 and ok.json()["result"] == {"energy_saving": "rru_sleep"}
    # cell_load missing (or null): no rule testing it matches -> the default action, not an error
    for inputs in ({k: v for k, v in NIGHT.items() if k != "cell_load"}, {**NIGHT, "cell_load": None}, {}):
        r = client.post(URL, headers=h(), json={"inputs": inputs, "dry_run": True})
        assert r.status_code == 200 and r.json()["result"] == {"energy_saving": "keep"}, r.text
    # a threshold given by the caller overrides the store's value
    r = client.post(URL, headers=h(), json={"inputs": {**NIGHT, "threshold_sleep_load": 0.01}, "dry_run": True})
    assert r.json()["result"] == {"energy_saving": "keep"}


def test_openapi_examples_use_the_bundled_table_and_give_what_they_show(client):
    doc = client.get("/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    request_examples = schemas["EvaluateRequest"]["examples"]
    shown = schemas["EvaluateResponse"]["examples"][0]
    first = client.post(URL, headers=h(), json={**request_examples[0], "dry_run": True})
    assert first.status_code == 200, first.text
    assert first.json()["result"] == shown["result"] == {"energy_saving": "rru_sleep"}
    assert first.json()["matched_rules"] == shown["matched_rules"]
    for example in request_examples[1:]:
        assert client.post(URL, headers=h(), json=example).status_code == 200


def test_unknown_query_parameters_are_refused_and_dry_run_is_accepted_in_the_query(client):
    r = client.post("/v1/solve?dryrun=true", headers=h(), json={"problem": RRU})
    errs = errors(r)
    assert list(errs) == ["dryrun"] and r.json()["errors"][0]["location"] == "query"
    assert "dry_run" in errs["dryrun"]
    errs = errors(client.get("/v1/decisions?limit=5&colour=red", headers=h()))
    assert list(errs) == ["colour"]
    assert client.get("/v1/decisions?limit=5", headers=h()).status_code == 200
    # ?dry_run=true on a state-changing endpoint: nothing is logged or stored
    r = client.post("/v1/solve?dry_run=true", headers=h(), json={"problem": RRU, "time_limit_s": 10})
    assert r.status_code == 200 and r.json()["dry_run"] is True and r.json()["decision_id"] is None
    r = client.post(f"{URL}?dry_run=true", headers=h(), json={"inputs": NIGHT})
    assert r.json()["dry_run"] is True and r.json()["decision_id"] is None
    r = client.post("/v1/twins?dry_run=true", headers=h(), json={"name": "t1", "cell_ids": ["a"]})
    assert r.status_code == 201, r.text
    assert client.get("/v1/twins", headers=h()).json()["twins"] == []
    assert client.get("/v1/decisions", headers=h()).json()["decisions"] == []


def test_solve_logs_a_digest_of_the_problem_not_the_problem(client):
    r = client.post("/v1/solve", headers=h(), json={"problem": RRU, "time_limit_s": 10})
    assert r.status_code == 200, r.text
    row = client.get(f"/v1/decisions/{r.json()['decision_id']}", headers=h()).json()
    logged = row["inputs"]
    assert logged == problem_digest(RRU)
    assert set(logged) == {"sha256", "bytes", "fields"} and len(logged["sha256"]) == 64
    assert logged["fields"]["spectral_efficiency_bps_hz"] == {"shape": [3, 1]}
    assert logged["fields"]["p0_w"] == {"shape": [3]} and logged["fields"]["rsrp_floor_dbm"] == -110.0
    assert logged["fields"]["kind"] == "rru_sleep"
    # same problem, same digest; a changed number, another digest
    assert problem_digest(dict(RRU))["sha256"] == logged["sha256"]
    assert problem_digest({**RRU, "p0_w": [130.0, 100.0, 151.0]})["sha256"] != logged["sha256"]
    assert problem_digest({"kind": "x", "a": [[1, 2], [3]]})["fields"]["a"] == {"shape": "ragged"}


def test_solve_has_its_own_larger_body_limit(tmp_path: Path):
    app = make(tmp_path, max_body_bytes=2000, max_solve_body_bytes=200_000)
    body = {"problem": RRU, "time_limit_s": 10, "dry_run": True, "backend": None}
    text = json.dumps(body)
    padded = text[:-1] + " " * 5000 + "}"  # > 2000 bytes, < 200 kB (JSON whitespace)
    with TestClient(app) as c:
        r = c.post("/v1/solve", headers={**h(), "content-type": "application/json"}, content=padded.encode())
        assert r.status_code == 200, r.text[:500]
        assert r.json()["status"] == "optimal"
        big = c.post(URL, headers=h(), json={"inputs": NIGHT, "source": "x" * 3000})
        assert big.status_code == 413 and "2000 bytes" in big.json()["detail"]
        too_big = c.post("/v1/solve", headers=h(), content=b"{" + b" " * 200_001 + b"}",)
        assert too_big.status_code == 413 and "200000 bytes" in too_big.json()["detail"]
    app.state.dientine.close()
    assert Settings().max_solve_body_bytes == 32 * 1024 * 1024


def test_twin_endpoints_say_they_are_in_memory_only(client):
    paths = client.get("/v1/openapi.json").json()["paths"]
    for path, method in (("/v1/twins", "post"), ("/v1/twins", "get"), ("/v1/twins/{twin}", "get"),
                         ("/v1/twins/{twin}/telemetry", "post")):
        assert "memory only" in paths[path][method]["description"], (path, method)


def test_job_errors_name_the_field_without_server_paths(client, tmp_path: Path):
    with pytest.raises(UnknownJobKind) as info:
        validate_params("nope", {})
    assert str(info.value).startswith("unknown job kind 'nope'")
    r = client.post("/v1/jobs", headers=h(), json={"kind": "nope", "params": {}})
    assert errors(r) == {"kind": str(info.value)} and r.json()["detail"].count("kind:") == 1
    bad = "name: x\nseed: 1\nfoo: [\n"
    with pytest.raises(ValidationError) as vinfo:
        validate_params("whatif", {"scenario_yaml": bad})
    err = vinfo.value.errors()[0]
    assert err["loc"] == ("scenario_yaml",)
    r = client.post("/v1/jobs", headers=h(), json={"kind": "whatif", "params": {"scenario_yaml": bad}})
    errs = errors(r)
    assert list(errs) == ["params.scenario_yaml"]
    message = errs["params.scenario_yaml"]
    assert message.startswith("scenario_yaml:") and "/tmp" not in message and "Value error" not in message
    errs = errors(client.post("/v1/jobs", headers=h(), json={"kind": "whatif", "params": {"scenario": "no.yaml"}}))
    assert errs == {"params.scenario": "no file 'no.yaml' in the server's scenarios directory"}


def test_policy_upload_refuses_yaml_aliases_and_lists_every_problem(client):
    alias = "name: p\nbase: &b {name: d}\ndecisions: [*b]\n"
    errs = client.put("/v1/policies/p", headers=h(), json={"text": alias, "format": "yaml"})
    assert errors(errs) == {"text": "line 3: YAML aliases are not supported"}
    two = "name: p\ncolour: red\ndecisions: []\n"
    r = client.put("/v1/policies/p", headers=h(), json={"text": two, "format": "yaml"})
    assert r.status_code == 422
    assert [e["message"] for e in r.json()["errors"]] == [
        "line 2: field colour: unknown key 'colour'", "line 3: field decisions: a model needs at least one decision"]
    assert client.get("/v1/policies", headers=h()).json()["policies"] == []
