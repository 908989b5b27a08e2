"""Decision API: every endpoint's happy path and errors, auth, dry runs, ETags, jobs through the API."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dientine.api.app import create_app
from dientine.api.deps import get_solver
from dientine.api.keys import create_key
from dientine.api.settings import Settings

ADMIN = "test-admin-key-0123456789"

TABLE = """\
name: Energy saving
input_data:
  - {name: cell_load, type: number}
  - {name: hour, type: number}
  - {name: threshold_sleep_load, type: number}
decisions:
  - name: energy_saving
    requires: {inputs: [cell_load, hour, threshold_sleep_load]}
    table:
      hit_policy: FIRST
      inputs: [{expression: cell_load, type: number}, {expression: hour, type: number}]
      outputs: [{name: action, type: string}]
      rules:
        - {id: sleep_at_night, when: ["< threshold_sleep_load", "[0..6]"], then: ['"sleep"']}
        - {id: keep, when: ["-", "-"], then: ['"keep"']}
"""

POLICY = TABLE.replace('"sleep"', '"deep_sleep"')

THRESHOLDS = """\
thresholds:
  threshold_sleep_load: {default: 0.1, min: 0.0, max: 0.5, description: "cell load below which a cell may sleep"}
"""


def make_settings(tmp_path: Path, **kw: Any) -> Settings:
    tables = tmp_path / "tables"
    tables.mkdir(exist_ok=True)
    (tables / "energy_saving.yaml").write_text(TABLE)
    (tmp_path / "thresholds.yaml").write_text(THRESHOLDS)
    base = dict(store_path=str(tmp_path / "store"), admin_key=ADMIN, tables_dir=str(tables),
                thresholds_spec=str(tmp_path / "thresholds.yaml"), run_jobs=False, announce_admin_key=False,
                job_poll_interval_s=0.05, log_flush_interval_s=0.01)
    base.update(kw)
    return Settings(**base)


@pytest.fixture()
def app(tmp_path: Path):
    app = create_app(make_settings(tmp_path))
    yield app
    app.state.dientine.close()


@pytest.fixture()
def client(app):
    with TestClient(app) as c:
        yield c


def h(key: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_with(app, *scopes: str) -> str:
    key, _ = create_key(app.state.dientine.store, "-".join(scopes), scopes)
    return key


def problem(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and "instance" in body
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


NIGHT = {"cell_load": 0.05, "hour": 3}


# -- meta and auth ----------------------------------------------------------------------------------------------
def test_health_needs_no_key(client):
    r = client.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_auth_missing_wrong_scope_revoked(app, client):
    url = "/v1/decisions/energy_saving/evaluate"
    body = problem(client.post(url, json={"inputs": NIGHT}), 401)
    assert "no API key" in body["detail"]
    assert client.post(url, json={"inputs": NIGHT}).headers["www-authenticate"] == "Bearer"
    problem(client.post(url, json={"inputs": NIGHT}, headers=h("not-a-key-at-all-xxxx")), 401)
    reader = key_with(app, "read")
    body = problem(client.post(url, json={"inputs": NIGHT}, headers=h(reader)), 403)
    assert "lacks the 'decide' scope" in body["detail"]
    assert client.get("/v1/thresholds", headers={"X-API-Key": reader}).status_code == 200
    decider = key_with(app, "decide")
    assert client.post(url, json={"inputs": NIGHT}, headers={"X-API-Key": decider}).status_code == 200
    problem(client.get("/v1/thresholds", headers=h(decider)), 403)  # decide does not imply read
    problem(client.post("/v1/keys", json={"name": "x", "scopes": ["read"]}, headers=h(decider)), 403)
    key_id = next(k["key_id"] for k in client.get("/v1/keys", headers=h()).json()["keys"] if k["name"] == "decide")
    assert client.delete(f"/v1/keys/{key_id}", headers=h()).json()["key"]["revoked"] is True
    body = problem(client.post(url, json={"inputs": NIGHT}, headers=h(decider)), 401)
    assert "revoked" in body["detail"]


def test_keys_create_list_revoke_dry_run(client):
    r = client.post("/v1/keys", json={"name": "ctl", "scopes": ["read", "control"], "dry_run": True}, headers=h())
    assert r.status_code == 201 and r.json()["key"] is None
    n_before = len(client.get("/v1/keys", headers=h()).json()["keys"])
    assert n_before == 1  # only the bootstrap admin key
    r = client.post("/v1/keys", json={"name": "ctl", "scopes": ["read", "control"]}, headers=h())
    created = r.json()
    assert r.status_code == 201 and created["key"].startswith("dtn_") and created["scopes"] == ["control", "read"]
    listed = client.get("/v1/keys", headers=h()).json()["keys"]
    assert len(listed) == 2 and all("hash" not in k and "key" not in k for k in listed)
    assert client.get("/v1/thresholds", headers=h(created["key"])).status_code == 200
    r = client.delete(f"/v1/keys/{created['key_id']}?dry_run=true", headers=h())
    assert r.json()["dry_run"] is True
    assert client.get("/v1/thresholds", headers=h(created["key"])).status_code == 200
    body = problem(client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=h()), 422)
    assert fields(body) == ["scopes.0"]
    problem(client.delete("/v1/keys/nope", headers=h()), 404)


# -- evaluate ---------------------------------------------------------------------------------------------------
def test_evaluate_fills_thresholds_and_logs(app, client):
    r = client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT, "source": "cell-7"},
                    headers=h())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["result"] == {"energy_saving": "sleep"}
    assert out["matched_rules"] == ["sleep_at_night"] and out["explanation"] is None
    assert out["decision_id"] and out["dry_run"] is False and out["table_version"] is None
    day = client.post("/v1/decisions/energy_saving/evaluate",
                      json={"inputs": {"cell_load": 0.05, "hour": 14}, "explain": True}, headers=h()).json()
    assert day["result"] == {"energy_saving": "keep"} and day["matched_rules"] == ["keep"]
    trace = day["explanation"]["energy_saving"]
    assert [m["id"] for m in trace["selected"]] == ["keep"]
    # explicit input overrides the threshold store
    over = client.post("/v1/decisions/energy_saving/evaluate",
                       json={"inputs": {**NIGHT, "threshold_sleep_load": 0.01}}, headers=h()).json()
    assert over["result"] == {"energy_saving": "keep"}
    row = client.get(f"/v1/decisions/{out['decision_id']}", headers=h()).json()
    assert row["inputs"] == {"cell_load": 0.05, "hour": 3, "threshold_sleep_load": 0.1}
    assert row["outputs"] == {"energy_saving": "sleep"} and row["rule_ids"] == ["sleep_at_night"]
    assert row["source"] == "cell-7" and row["decide_time_ms"] > 0
    log = client.get("/v1/decisions?table=energy_saving&limit=2", headers=h()).json()
    assert len(log["decisions"]) == 2 and log["limit"] == 2
    assert client.get("/v1/decisions?since=2999-01-01T00:00:00Z", headers=h()).json()["decisions"] == []
    assert len(client.get("/v1/decisions?since=2000-01-01T00:00:00%2B01:00", headers=h()).json()["decisions"]) == 3
    assert client.get("/v1/tables", headers=h()).json()["tables"] == [
        {"name": "energy_saving", "source": "bundled", "version": None}]


def test_evaluate_errors_name_the_field(client):
    url = "/v1/decisions/energy_saving/evaluate"
    body = problem(client.post("/v1/decisions/nope/evaluate", json={"inputs": NIGHT}, headers=h()), 404)
    assert "nope" in body["detail"]
    assert fields(problem(client.post(url, json={}, headers=h()), 422)) == ["inputs"]
    assert fields(problem(client.post(url, json={"inputs": [1, 2]}, headers=h()), 422)) == ["inputs"]
    body = problem(client.post(url, json={"inputs": NIGHT, "bogus": 1}, headers=h()), 422)
    assert fields(body) == ["bogus"] and body["errors"][0]["pointer"] == "/bogus"
    assert body["type"] == "urn:dientine:problem:validation"
    body = problem(client.post(url, json={"inputs": NIGHT, "decision": "nope"}, headers=h()), 422)
    assert fields(body) == ["decision"] and "unknown decision 'nope'" in body["errors"][0]["message"]
    body = problem(client.post(url, content=b"{not json", headers={**h(), "content-type": "application/json"}),
                   422)
    assert "malformed JSON" in body["errors"][0]["message"]
    problem(client.get("/v1/nowhere", headers=h()), 404)
    problem(client.put("/v1/health"), 405)


def test_evaluate_dry_run_logs_nothing(app, client):
    r = client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT, "dry_run": True}, headers=h())
    assert r.json()["decision_id"] is None and r.json()["result"] == {"energy_saving": "sleep"}
    assert client.get("/v1/decisions", headers=h()).json()["decisions"] == []


def test_outcome_happy_errors_dry_run(client):
    did = client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h()).json()[
        "decision_id"]
    url = f"/v1/decisions/{did}/outcome"
    r = client.post(url, json={"adopted": True, "outcome": {"energy_kwh": 3.5}, "dry_run": True}, headers=h())
    assert r.status_code == 200 and r.json()["decision"]["adopted"] is True
    assert client.get(f"/v1/decisions/{did}", headers=h()).json()["adopted"] is None
    r = client.post(url, json={"adopted": True, "outcome": {"energy_kwh": 3.5}}, headers=h())
    assert r.json()["decision"]["outcome"] == {"energy_kwh": 3.5}
    assert client.get(f"/v1/decisions/{did}", headers=h()).json()["adopted"] is True
    assert fields(problem(client.post(url, json={}, headers=h()), 422)) == ["adopted"]
    problem(client.post("/v1/decisions/nope/outcome", json={"adopted": False}, headers=h()), 404)
    problem(client.get("/v1/decisions/nope", headers=h()), 404)


# -- thresholds -------------------------------------------------------------------------------------------------
def test_thresholds_etag_if_match(client):
    url = "/v1/thresholds/threshold_sleep_load"
    r = client.get(url, headers=h())
    assert r.json()["value"] == 0.1 and r.headers["etag"] == '"1"'
    body = problem(client.put(url, json={"value": 0.2, "reason": "r"}, headers=h()), 428)
    assert "If-Match" in body["detail"]
    problem(client.put(url, json={"value": 0.2, "reason": "r"}, headers={**h(), "If-Match": '"7"'}), 412)
    r = client.put(url, json={"value": 0.2, "reason": "r", "dry_run": True}, headers={**h(), "If-Match": '"1"'})
    assert r.json()["threshold"]["version"] == 2 and r.json()["dry_run"] is True
    assert client.get(url, headers=h()).json()["value"] == 0.1
    r = client.put(url, json={"value": 0.02, "reason": "fewer sleeps"}, headers={**h(), "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert r.json()["threshold"]["changed_by"].startswith("bootstrap-admin")
    # a second controller still holding ETag "1" cannot overwrite
    r2 = client.put(url, json={"value": 0.3, "reason": "mine"}, headers={**h(), "If-Match": '"1"'})
    assert problem(r2, 412) and r2.headers["etag"] == '"2"'
    body = problem(client.put(url, json={"value": 0.9, "reason": "x"}, headers={**h(), "If-Match": '"2"'}), 422)
    assert fields(body) == ["value"] and "outside the bounds" in body["detail"]
    hist = client.get(f"{url}/history", headers=h()).json()["history"]
    assert [(x["version"], x["value"]) for x in hist] == [(1, 0.1), (2, 0.02)]
    # the evaluate path sees the new value at once
    out = client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h()).json()
    assert out["result"] == {"energy_saving": "keep"}
    problem(client.get("/v1/thresholds/nope", headers=h()), 404)
    problem(client.put("/v1/thresholds/nope", json={"value": 1, "reason": "x"}, headers=h()), 404)
    assert [t["name"] for t in client.get("/v1/thresholds", headers=h()).json()["thresholds"]] == [
        "threshold_sleep_load"]


# -- policies ---------------------------------------------------------------------------------------------------
def test_policies_versioned_and_override_bundled(client):
    url = "/v1/policies/energy_saving"
    r = client.put(url, json={"text": POLICY, "format": "yaml", "dry_run": True}, headers=h())
    assert r.status_code == 200 and r.json()["policy"]["version"] == 1
    assert client.get("/v1/policies", headers=h()).json()["policies"] == []
    r = client.put(url, json={"text": POLICY, "format": "yaml"}, headers=h())
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    out = client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h()).json()
    assert out["result"] == {"energy_saving": "deep_sleep"} and out["table_version"] == 1
    problem(client.put(url, json={"text": TABLE, "format": "yaml"}, headers=h()), 428)
    problem(client.put(url, json={"text": TABLE, "format": "yaml"}, headers={**h(), "If-None-Match": "*"}), 412)
    r = client.put(url, json={"text": TABLE, "format": "yaml"}, headers={**h(), "If-Match": '"1"'})
    assert r.headers["etag"] == '"2"'
    out = client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h()).json()
    assert out["result"] == {"energy_saving": "sleep"} and out["table_version"] == 2
    problem(client.put(url, json={"text": TABLE, "format": "yaml"}, headers={**h(), "If-Match": '"1"'}), 412)
    body = problem(client.put("/v1/policies/other", json={"text": "decisions: [oops", "format": "yaml"},
                              headers=h()), 422)
    assert fields(body) == ["text"]
    problem(client.put("/v1/policies/new", json={"text": TABLE, "format": "yaml"}, headers={**h(), "If-Match": '"1"'}),
            412)
    got = client.get(url, headers=h())
    assert got.json()["version"] == 2 and got.json()["text"] == TABLE and got.headers["etag"] == '"2"'
    assert client.get(f"{url}?version=1", headers=h()).json()["text"] == POLICY
    problem(client.get("/v1/policies/none", headers=h()), 404)
    assert [(p["name"], p["version"]) for p in client.get("/v1/policies", headers=h()).json()["policies"]] == [
        ("energy_saving", 2)]


# -- twins and telemetry ----------------------------------------------------------------------------------------
def test_twins_and_telemetry(client):
    r = client.post("/v1/twins", json={"name": "live", "cell_ids": ["0", "1"], "dry_run": True}, headers=h())
    assert r.status_code == 201
    assert client.get("/v1/twins", headers=h()).json()["twins"] == []
    assert client.post("/v1/twins", json={"name": "live", "cell_ids": ["0", "1"]}, headers=h()).status_code == 201
    problem(client.post("/v1/twins", json={"name": "live", "cell_ids": ["0"]}, headers=h()), 409)
    url = "/v1/twins/live/telemetry"
    recs = [{"cell_id": "0", "time": "2026-01-01T10:00:00", "kpis": {"prb_util_pct": 40.0}},
            {"cell_id": "1", "kpis": {"prb_util_pct": 5.0, "throughput_mbps": 12.0}}]
    r = client.post(url, json={"records": recs, "dry_run": True}, headers=h())
    assert r.json() == {"twin": "live", "accepted": 2, "dry_run": True}
    assert client.get("/v1/twins/live", headers=h()).json()["records"] == 0
    assert client.post(url, json={"records": recs}, headers=h()).json()["accepted"] == 2
    later = {"cell_id": "0", "time": "2026-01-01T11:00:00", "kpis": {"prb_util_pct": 55.0}}
    client.post(url, json={"records": [later]}, headers=h())
    state = client.get("/v1/twins/live", headers=h()).json()
    assert state["records"] == 3 and state["latest"]["0"]["kpis"] == {"prb_util_pct": 55.0}
    assert state["latest"]["1"]["kpis"]["throughput_mbps"] == 12.0
    bad = [recs[0], {"cell_id": "9", "kpis": {"x": 1.0}}]
    body = problem(client.post(url, json={"records": bad}, headers=h()), 422)
    assert fields(body) == ["records.1.cell_id"]
    assert client.get("/v1/twins/live", headers=h()).json()["records"] == 3  # all or nothing
    body = problem(client.post(url, content=b'{"records":[{"cell_id":"0","kpis":{"x":NaN}}]}',
                               headers={**h(), "content-type": "application/json"}), 422)
    assert fields(body) == ["records.0.kpis.x"]
    problem(client.post("/v1/twins/none/telemetry", json={"records": recs}, headers=h()), 404)
    problem(client.get("/v1/twins/none", headers=h()), 404)


# -- solve ------------------------------------------------------------------------------------------------------
class _FakeSolution(dict):
    pass


def test_solve_with_injected_solver(app, client):
    from pydantic import BaseModel, ValidationError

    class P(BaseModel):
        demand_mbps: list[float]

    def fake(problem: dict, *, time_limit_s: float, backend: str | None):
        P.model_validate({k: v for k, v in problem.items() if k != "kind"})
        if problem["demand_mbps"] and problem["demand_mbps"][0] > 100:
            err = ValueError("demand_mbps[0]: exceeds total capacity")
            err.field = "demand_mbps[0]"  # type: ignore[attr-defined]
            raise err
        return {"kind": problem["kind"], "status": "optimal", "objective": sum(problem["demand_mbps"]),
                "wall_time_s": 0.001, "backend": "fake"}

    app.dependency_overrides[get_solver] = lambda: fake
    body = {"problem": {"kind": "rru_sleep", "demand_mbps": [1.0, 2.5]}, "time_limit_s": 1}
    r = client.post("/v1/solve", json=body, headers=h())
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["objective"], out["kind"]) == ("optimal", 3.5, "rru_sleep")
    row = client.get(f"/v1/decisions/{out['decision_id']}", headers=h()).json()
    assert row["table"] == "solve:rru_sleep" and row["solver_status"] == "optimal" and row["solver_objective"] == 3.5
    assert client.post("/v1/solve", json={**body, "dry_run": True}, headers=h()).json()["decision_id"] is None
    body2 = {"problem": {"kind": "rru_sleep", "demand_mbps": ["x"]}}
    assert fields(problem(client.post("/v1/solve", json=body2, headers=h()), 422)) == ["problem.demand_mbps.0"]
    body3 = {"problem": {"kind": "rru_sleep", "demand_mbps": [500.0]}}
    assert fields(problem(client.post("/v1/solve", json=body3, headers=h()), 422)) == ["problem.demand_mbps[0]"]
    assert fields(problem(client.post("/v1/solve", json={"problem": {}}, headers=h()), 422)) == ["problem.kind"]
    body4 = {"problem": {"kind": "rru_sleep", "demand_mbps": []}, "time_limit_s": 3000}
    assert fields(problem(client.post("/v1/solve", json=body4, headers=h()), 422)) == ["time_limit_s"]
    problem(client.post("/v1/solve", json=body, headers=h(key_with(app, "read"))), 403)
    with pytest.raises(ValidationError):
        P.model_validate({"demand_mbps": "x"})


def test_solve_real_solvers_unknown_kind(client):
    body = problem(client.post("/v1/solve", json={"problem": {"kind": "teleport"}}, headers=h()), 422)
    assert fields(body) == ["problem.kind"]


# -- limits and document ----------------------------------------------------------------------------------------
def test_request_size_limit(tmp_path):
    app = create_app(make_settings(tmp_path, max_body_bytes=2000))
    with TestClient(app) as c:
        big = {"inputs": {f"k{i}": i for i in range(500)}}
        body = problem(c.post("/v1/decisions/energy_saving/evaluate", json=big, headers=h()), 413)
        assert "2000 bytes" in body["detail"]
        raw = json.dumps(big).encode()
        chunks = (raw[i:i + 500] for i in range(0, len(raw), 500))  # no Content-Length: counted while streaming
        body = problem(c.post("/v1/decisions/energy_saving/evaluate", content=chunks,
                              headers={**h(), "content-type": "application/json"}), 413)
        assert body["type"] == "urn:dientine:problem:payload-too-large"
        assert c.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h()).status_code == 200


def test_openapi_complete_with_examples(client):
    doc = client.get("/v1/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            if path != "/v1/health":
                assert "401" in op["responses"] and "403" in op["responses"], (method, path)
                assert op["responses"]["401"]["content"]["application/problem+json"]
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
                assert doc["components"]["schemas"][ref].get("examples"), (method, path, ref)
    assert "/v1/decisions/{table}/evaluate" in doc["paths"]


# -- jobs -------------------------------------------------------------------------------------------------------
def _poll(client, jid: str, statuses: set[str], timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = client.get(f"/v1/jobs/{jid}", headers=h()).json()
        if row["status"] in statuses:
            return row
        time.sleep(0.05)
    raise AssertionError(f"job {jid} never reached {statuses}")


def test_jobs_through_the_api(tmp_path):
    app = create_app(make_settings(tmp_path, run_jobs=True))
    with TestClient(app) as c:
        r = c.post("/v1/jobs", json={"kind": "echo", "params": {"message": "hi"}, "dry_run": True}, headers=h())
        assert r.status_code == 202 and r.json()["status"] == "dry_run" and r.json()["job_id"] is None
        assert c.get("/v1/jobs", headers=h()).json()["jobs"] == []
        r = c.post("/v1/jobs", json={"kind": "echo", "params": {"message": "hi"}}, headers=h())
        assert r.status_code == 202 and r.headers["location"] == f"/v1/jobs/{r.json()['job_id']}"
        jid = r.json()["job_id"]
        assert _poll(c, jid, {"succeeded", "failed"})["status"] == "succeeded"
        res = c.get(f"/v1/jobs/{jid}/result", headers=h()).json()
        assert res["result"] == {"message": "hi"} and "result.json" in res["files"]
        assert fields(problem(c.post("/v1/jobs", json={"kind": "nope"}, headers=h()), 422)) == ["kind"]
        body = problem(c.post("/v1/jobs", json={"kind": "sleep", "params": {"seconds": -1}}, headers=h()), 422)
        assert fields(body) == ["params.seconds"]
        problem(c.get("/v1/jobs/nope", headers=h()), 404)
        problem(c.get("/v1/jobs/nope/result", headers=h()), 404)
        # a job killed mid-run: failed, no partial result anywhere
        jid = c.post("/v1/jobs", json={"kind": "sleep", "params": {"seconds": 60, "steps": 60}},
                     headers=h()).json()["job_id"]
        _poll(c, jid, {"running"})
        store = app.state.dientine.store
        deadline = time.monotonic() + 30
        while not (store.job_tmp_dir(jid) / "part-0000.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        problem(c.get(f"/v1/jobs/{jid}/result", headers=h()), 409)
        os.kill(store.get_job(jid)["worker_pid"], signal.SIGKILL)
        row = _poll(c, jid, {"failed", "succeeded"})
        assert row["status"] == "failed" and "SIGKILL" in row["error"]
        assert not store.job_tmp_dir(jid).exists() and not store.job_dir(jid).exists()
        body = problem(c.get(f"/v1/jobs/{jid}/result", headers=h()), 409)
        assert "failed" in body["detail"]
        problem(c.delete(f"/v1/jobs/{jid}", headers=h()), 409)
        # cancel a running job
        jid = c.post("/v1/jobs", json={"kind": "sleep", "params": {"seconds": 60}}, headers=h()).json()["job_id"]
        _poll(c, jid, {"running"})
        assert c.delete(f"/v1/jobs/{jid}?dry_run=true", headers=h()).json()["status"] == "cancelled"
        assert c.get(f"/v1/jobs/{jid}", headers=h()).json()["status"] == "running"
        assert c.delete(f"/v1/jobs/{jid}", headers=h()).json()["status"] == "cancelled"
        assert [j["status"] for j in c.get("/v1/jobs?status=succeeded", headers=h()).json()["jobs"]] == ["succeeded"]


def test_jobs_survive_restart_as_queued(tmp_path):
    settings = make_settings(tmp_path, run_jobs=True)
    app = create_app(settings)
    with TestClient(app) as c:
        jid = c.post("/v1/jobs", json={"kind": "sleep", "params": {"seconds": 30, "steps": 30}},
                     headers=h()).json()["job_id"]
        _poll(c, jid, {"running"})
    # clean shutdown (lifespan exit): the running job was put back in the queue, partial files removed
    app2 = create_app(settings.model_copy(update={"run_jobs": False}))
    with TestClient(app2) as c:
        row = c.get(f"/v1/jobs/{jid}", headers=h()).json()
        assert row["status"] == "queued" and row["started"] is None
        assert not app2.state.dientine.store.job_tmp_dir(jid).exists()


def test_decision_log_survives_restart(tmp_path):
    settings = make_settings(tmp_path)
    app = create_app(settings)
    with TestClient(app) as c:
        ids = [c.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h()).json()[
            "decision_id"] for _ in range(50)]
    app2 = create_app(settings)
    with TestClient(app2) as c:
        got = c.get("/v1/decisions?limit=1000", headers=h()).json()["decisions"]
        assert sorted(d["decision_id"] for d in got) == sorted(ids)
    app2.state.dientine.close()


def test_bootstrap_key_printed_once(tmp_path, capsys):
    settings = make_settings(tmp_path, admin_key=None, announce_admin_key=True)
    app = create_app(settings)
    key = app.state.dientine.bootstrap_key
    assert key and key in capsys.readouterr().err
    app.state.dientine.close()
    app = create_app(settings)
    assert app.state.dientine.bootstrap_key is None and capsys.readouterr().err == ""
    with TestClient(app) as c:
        assert c.get("/v1/keys", headers=h(key)).status_code == 200
    json.dumps({})


def test_solve_real_power_problem(client):
    # two cells, one receiver each, cross gain 0.1: min total power meeting 3 dB SINR has the closed form
    # p = gamma * n / (1 - 0.1 gamma) per cell (Foschini-Miljanic fixed point), gamma = 10^(3/10)
    problem_json = {"kind": "power", "gain": [[1.0, 0.1], [0.1, 1.0]], "serving_cell": [0, 1],
                    "noise_w": [0.01, 0.01], "sinr_target_db": [3.0, 3.0], "p_max_w": [1.0, 1.0]}
    r = client.post("/v1/solve", json={"problem": problem_json, "time_limit_s": 10}, headers=h())
    assert r.status_code == 200, r.text
    out = r.json()
    gamma = 10 ** 0.3
    p = gamma * 0.01 / (1 - 0.1 * gamma)
    assert out["status"] == "optimal" and out["objective"] == pytest.approx(2 * p, rel=1e-5)
    assert out["solution"]["power_w"] == pytest.approx([p, p], rel=1e-5)
    bad = dict(problem_json, serving_cell=[0, 1, 1])
    body = problem(client.post("/v1/solve", json={"problem": bad}, headers=h()), 422)
    assert body["errors"][0]["field"].startswith("problem")


def test_telemetry_timestamps_with_offsets_are_utc(client):
    client.post("/v1/twins", json={"name": "tz", "cell_ids": ["a"]}, headers=h())
    recs = [{"cell_id": "a", "time": "2026-01-01T12:00:00+02:00", "kpis": {"load": 1.0}},
            {"cell_id": "a", "time": "2026-01-01T10:30:00Z", "kpis": {"load": 0.25}}]
    assert client.post("/v1/twins/tz/telemetry", json={"records": recs}, headers=h()).status_code == 200
    latest = client.get("/v1/twins/tz", headers=h()).json()["latest"]["a"]
    assert latest == {"time": "2026-01-01T10:30:00Z", "kpis": {"load": 0.25}, "state": None}


def test_bundled_tables_with_the_threshold_store(tmp_path):
    """The real wiring: decisions/tables/*.dmn and thresholds.yaml, thresholds filled from the store."""
    import yaml

    from dientine.api.engine import BUNDLED_TABLES

    settings = make_settings(tmp_path, tables_dir=None, thresholds_spec=None)
    app = create_app(settings)
    with TestClient(app) as c:
        names = [t["name"] for t in c.get("/v1/tables", headers=h()).json()["tables"]]
        assert names == sorted(p.stem for p in BUNDLED_TABLES.glob("*.dmn"))
        spec = yaml.safe_load((BUNDLED_TABLES / "thresholds.yaml").read_text())["thresholds"]
        got = {t["name"]: t for t in c.get("/v1/thresholds", headers=h()).json()["thresholds"]}
        assert set(got) == set(spec)
        assert all((got[n]["value"], got[n]["min"], got[n]["max"]) == (s["default"], s["min"], s["max"])
                   for n, s in spec.items())
        kpis = {"is_coverage_cell": False, "cell_asleep": False, "cell_load": 0.05, "hour": 3,
                "neighbour_headroom": 0.6}
        url = "/v1/decisions/energy_saving/evaluate"
        out = c.post(url, json={"inputs": kpis}, headers=h()).json()
        # load 0.05 below threshold_sleep_load, 03:00 inside [start, end), neighbour headroom above its threshold
        assert out["result"] == {"energy_saving": "rru_sleep"}
        assert out["matched_rules"] and out["table_version"] is None
        # the same DMN XML uploaded as a policy: validated by the engine, stored with a version, evaluated
        dmn = (BUNDLED_TABLES / "energy_saving.dmn").read_text()
        r = c.put("/v1/policies/es_copy", json={"text": dmn, "format": "dmn"}, headers=h())
        assert r.status_code == 200 and r.headers["etag"] == '"1"'
        copy = c.post("/v1/decisions/es_copy/evaluate", json={"inputs": kpis, "decision": "energy_saving"},
                      headers=h()).json()
        assert copy["result"] == out["result"] and copy["table_version"] == 1
        broken = dmn.replace("</definitions>", "")
        body = problem(c.put("/v1/policies/es_bad", json={"text": broken, "format": "dmn"}, headers=h()), 422)
        assert fields(body) == ["text"]
        etag = c.get("/v1/thresholds/threshold_sleep_load", headers=h()).headers["etag"]
        r = c.put("/v1/thresholds/threshold_sleep_load", json={"value": 0.04, "reason": "test"},
                  headers={**h(), "If-Match": etag})
        assert r.status_code == 200
        assert c.post(url, json={"inputs": kpis}, headers=h()).json()["result"] == {"energy_saving": "keep"}
        assert c.post(url, json={"inputs": {**kpis, "hour": 12}}, headers=h()).json()["result"] == {
            "energy_saving": "keep"}


def _snapshot(app) -> dict[str, Any]:
    state = app.state.dientine
    state.log.flush()
    tables = ["runs", "variants", "decisions", "thresholds", "policies", "jobs", "api_keys"]
    snap: dict[str, Any] = {t: state.store.query(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    snap["twins"] = [t.state() for t in state.twins.list()]
    snap["files"] = sorted(str(p.relative_to(state.store.root)) for p in state.store.root.rglob("*")
                           if p.suffix != ".wal" and "catalog" not in p.name)
    return snap


def test_dry_run_changes_nothing_anywhere(app, client):
    """Every state-changing endpoint with dry_run: the whole catalog, the twins and the files stay identical."""
    did = client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h()).json()[
        "decision_id"]
    jid = client.post("/v1/jobs", json={"kind": "echo"}, headers=h()).json()["job_id"]  # stays queued (no runner)
    client.post("/v1/twins", json={"name": "t", "cell_ids": ["0"]}, headers=h())
    client.put("/v1/policies/p", json={"text": TABLE, "format": "yaml"}, headers=h())
    ctl = client.post("/v1/keys", json={"name": "ctl", "scopes": ["control"]}, headers=h()).json()
    before = _snapshot(app)
    calls = [
        ("post", "/v1/decisions/energy_saving/evaluate", {"inputs": NIGHT, "dry_run": True}, {}),
        ("post", f"/v1/decisions/{did}/outcome", {"adopted": True, "outcome": {"x": 1}, "dry_run": True}, {}),
        ("post", "/v1/solve", {"problem": {"kind": "power", "gain": [[1.0]], "serving_cell": [0],
                                           "noise_w": [0.01], "sinr_target_db": [0.0], "p_max_w": [1.0]},
                               "dry_run": True}, {}),
        ("post", "/v1/jobs", {"kind": "echo", "dry_run": True}, {}),
        ("delete", f"/v1/jobs/{jid}?dry_run=true", None, {}),
        ("post", "/v1/twins", {"name": "t2", "cell_ids": ["0"], "dry_run": True}, {}),
        ("post", "/v1/twins/t/telemetry", {"records": [{"cell_id": "0", "kpis": {"x": 1.0}}], "dry_run": True}, {}),
        ("put", "/v1/thresholds/threshold_sleep_load", {"value": 0.2, "reason": "r", "dry_run": True},
         {"If-Match": '"1"'}),
        ("put", "/v1/policies/p", {"text": POLICY, "format": "yaml", "dry_run": True}, {"If-Match": '"1"'}),
        ("put", "/v1/policies/q", {"text": POLICY, "format": "yaml", "dry_run": True}, {}),
        ("post", "/v1/keys", {"name": "k", "scopes": ["read"], "dry_run": True}, {}),
        ("delete", f"/v1/keys/{ctl['key_id']}?dry_run=true", None, {}),
    ]
    for method, url, body, extra in calls:
        r = client.request(method, url, json=body, headers={**h(), **extra})
        assert r.status_code < 300, (url, r.text)
        assert r.json().get("dry_run", True) is True or r.json().get("status") in ("dry_run", "cancelled")
    assert _snapshot(app) == before


def test_job_kinds_listed(client):
    got = {k["name"]: k for k in client.get("/v1/jobs/kinds", headers=h()).json()["kinds"]}
    assert {"echo", "sleep", "whatif"} <= set(got) and got["whatif"]["available"] is True
    assert "seconds" in got["sleep"]["params_schema"]["properties"]


def test_decision_log_of_a_store_run(app, client):
    """A closed-loop run registered in the store: its decisions are in the log, filtered by run_id."""
    import pyarrow as pa

    from dientine.store import write_run

    store = app.state.dientine.store
    loop_log = pa.table({"time_s": [3600.0], "table": ["energy_saving"], "row": [3], "rule_id": ["r4"],
                         "inputs": ['{"cell_load": 0.05}'], "action": ["rru_sleep"], "applied": [True]})
    write_run(store.root, "run-1", {"decisions": loop_log}, scenario="night", seed=1)
    store.register_run("run-1")
    client.post("/v1/decisions/energy_saving/evaluate", json={"inputs": NIGHT}, headers=h())
    everything = client.get("/v1/decisions", headers=h()).json()["decisions"]
    assert {d["source"] for d in everything} == {None, "run"}
    (row,) = client.get("/v1/decisions?run_id=run-1", headers=h()).json()["decisions"]
    assert row["run_id"] == "run-1" and row["adopted"] is True and row["outputs"]["row"] == 3
    assert row["inputs"] == {"cell_load": 0.05} and row["rule_ids"] == ["r4"]
    missing = client.get("/v1/decisions?run_id=nope", headers=h())
    assert missing.status_code == 404 and "run_id" in missing.json()["detail"] and "'nope'" in missing.json()["detail"]
    assert missing.headers["content-type"].startswith("application/problem+json")
