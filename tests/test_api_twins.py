"""Live twins built from a scenario in the API process: telemetry changes the KPIs decisions would read, steps
advance the model, dry runs change nothing, errors name the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import test_api
import yaml
from test_api import fields, h, key_with, make_settings, problem
from test_twin_telemetry import TINY

import dientine.api.twins as api_twins
from dientine.api.app import create_app

URL = "/v1/twins"
client = test_api.client  # the test client fixture, here on this module's ``app``


@pytest.fixture()
def scenarios(tmp_path: Path, monkeypatch) -> Path:
    d = tmp_path / "scenarios"
    (d / "sub").mkdir(parents=True)
    (d / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    no_clock = {k: v for k, v in TINY.items() if k not in ("clock", "decisions", "loop")}
    (d / "sub" / "coverage.yaml").write_text(yaml.safe_dump(no_clock))
    (d / "broken.yaml").write_text(yaml.safe_dump({**TINY, "population": [{"archetype": "nobody", "count": 1}]}))
    monkeypatch.setenv("DIENTINE_SCENARIOS", str(d))
    return d


@pytest.fixture()
def app(tmp_path: Path, scenarios):
    """test_api's ``client`` fixture runs this app: small twin limits, the scenarios above."""
    app = create_app(make_settings(tmp_path, max_live_twins=2, max_step_ticks=4))
    yield app
    app.state.dientine.close()


@pytest.fixture()
def live(client):
    r = client.post(URL, json={"name": "live", "scenario": "tiny.yaml", "seed": 7}, headers=h())
    assert r.status_code == 201, r.text
    return r.json()


def kpis(client, name="live"):
    r = client.get(f"{URL}/{name}/kpis", headers=h())
    assert r.status_code == 200, r.text
    return r.json()


def test_create_from_a_scenario(client, live):
    assert live["scenario"] == "tiny.yaml" and live["seed"] == 7 and live["cells"] == 21
    assert live["tick"] == 0 and live["n_ticks"] == 8 and live["time_s"] == 0.0
    assert live["telemetry_max_age_s"] == 900.0
    assert client.get(URL, headers=h()).json()["twins"][0]["scenario"] == "tiny.yaml"
    got = kpis(client)
    assert got["twin"] == "live" and got["tick"] == 0 and len(got["cells"]) == 21
    assert [c["cell_id"] for c in got["cells"]] == [str(i) for i in range(21)]
    assert all(c["state"] == "on" and c["measured"] == [] for c in got["cells"])


def test_kpis_are_the_model_table_after_steps(app, client, live):
    r = client.post(f"{URL}/live/step", json={"ticks": 3}, headers=h())
    assert r.status_code == 200, r.text
    assert r.json()["ticks_done"] == 3 and r.json()["tick"] == 3 and r.json()["time_s"] == 2700.0
    got = kpis(client)
    sim = app.state.dientine.twins.get("live").attached.sim
    table = sim.cell_kpi_table()
    np.testing.assert_allclose([c["kpis"]["load"] for c in got["cells"]], table["load"])
    np.testing.assert_allclose([c["kpis"]["neighbour_headroom"] for c in got["cells"]], table["neighbour_headroom"])
    assert got["time_s"] == 2700.0 and got["hour"] == pytest.approx(1.75)


def test_telemetry_changes_the_kpis_decisions_read(client, live):
    client.post(f"{URL}/live/step", json={"ticks": 2}, headers=h())
    before = kpis(client)
    recs = [{"cell_id": "4", "kpis": {"prb_util_pct": 90.0}}, {"cell_id": "5", "kpis": {"load": 0.0},
                                                              "state": "deep_sleep"}]
    r = client.post(f"{URL}/live/telemetry", json={"records": recs}, headers=h())
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    after = kpis(client)
    c4, c5 = after["cells"][4], after["cells"][5]
    assert c4["kpis"]["load"] == pytest.approx(0.9) and c4["measured"] == ["load"]
    assert c5["state"] == "deep_sleep" and c5["measured"] == ["load", "state"]
    changed = [i for i in range(21) if after["cells"][i]["kpis"]["neighbour_headroom"]
               != pytest.approx(before["cells"][i]["kpis"]["neighbour_headroom"])]
    assert changed  # the neighbours of cells 4 and 5 have less headroom
    assert all(after["cells"][i]["kpis"]["neighbour_headroom"] < before["cells"][i]["kpis"]["neighbour_headroom"]
               for i in changed)
    latest = client.get(f"{URL}/live", headers=h()).json()["latest"]
    assert latest["5"]["state"] == "deep_sleep" and latest["4"]["kpis"] == {"prb_util_pct": 90.0}
    # two ticks later the model has simulated newer periods: the model's values are back
    client.post(f"{URL}/live/step", json={"ticks": 2}, headers=h())
    assert kpis(client)["cells"][4]["measured"] == []


def test_telemetry_older_than_the_model_tick_or_the_age_limit_does_not_count(client, live, monkeypatch):
    client.post(f"{URL}/live/step", json={"ticks": 2}, headers=h())
    old = {"cell_id": "4", "time": "2020-01-01T00:00:00Z", "kpis": {"load": 0.9}}  # older than the age limit
    body = problem(client.post(f"{URL}/live/telemetry", json={"records": [old]}, headers=h()), 422)
    assert fields(body) == ["records.0.time"] and "older than the twin's telemetry_max_age_s (900 s)" in body["detail"]
    assert kpis(client)["cells"][4]["measured"] == []
    client.post(f"{URL}/live/telemetry", json={"records": [{"cell_id": "4", "kpis": {"load": 0.9}}]}, headers=h())
    assert kpis(client)["cells"][4]["measured"] == ["load"]
    later = api_twins.utcnow() + timedelta(seconds=901)
    monkeypatch.setattr(api_twins, "utcnow", lambda: later)  # the wall clock runs on past the age limit
    got = kpis(client)
    assert got["cells"][4]["measured"] == [] and got["now_s"] >= got["time_s"] + 901


def test_telemetry_errors_name_the_field_and_apply_nothing(client, live):
    url = f"{URL}/live/telemetry"
    good = {"cell_id": "4", "kpis": {"load": 0.5}}
    cases = [({"cell_id": "4", "kpis": {"load": 1.5}}, "records.1.kpis.load", "[0, 1]"),
             ({"cell_id": "4", "kpis": {"lod": 0.5}}, "records.1.kpis.lod", "unknown KPI"),
             ({"cell_id": "99", "kpis": {"load": 0.5}}, "records.1.cell_id", "unknown cell"),
             ({"cell_id": "4", "kpis": {"load": 0.1, "prb_util_pct": 5.0}}, "records.1.kpis.prb_util_pct", "both")]
    for bad, field, fragment in cases:
        body = problem(client.post(url, json={"records": [good, bad]}, headers=h()), 422)
        assert fields(body) == [field] and fragment in body["errors"][0]["message"]
    body = problem(client.post(url, json={"records": [{"cell_id": "4", "kpis": {"load": 0.1}, "state": "nap"}]},
                               headers=h()), 422)
    assert fields(body) == ["records.0.state"]
    assert kpis(client)["cells"][4]["measured"] == []
    assert client.get(f"{URL}/live", headers=h()).json()["records"] == 0


def test_dry_runs_change_nothing(client, live):
    r = client.post(URL, json={"name": "other", "scenario": "tiny.yaml", "dry_run": True}, headers=h())
    assert r.status_code == 201 and r.json()["scenario"] == "tiny.yaml"
    assert [t["name"] for t in client.get(URL, headers=h()).json()["twins"]] == ["live"]
    r = client.post(f"{URL}/live/step?dry_run=true", json={"ticks": 2}, headers=h())
    assert r.json()["ticks_done"] == 0 and r.json()["tick"] == 0 and r.json()["dry_run"] is True
    r = client.post(f"{URL}/live/telemetry", json={"records": [{"cell_id": "4", "kpis": {"load": 0.9}}],
                                                   "dry_run": True}, headers=h())
    assert r.json()["dry_run"] is True
    got = kpis(client)
    assert got["tick"] == 0 and all(c["measured"] == [] for c in got["cells"])


def test_create_errors_name_the_field(client):
    cases = [({"name": "a", "scenario": "nope.yaml"}, "scenario", "no file 'nope.yaml'"),
             ({"name": "a", "scenario": "sub/../tiny.yaml"}, "scenario", "no file"),
             ({"name": "a"}, "scenario", "exactly one"),
             ({"name": "a", "cell_ids": ["0"], "scenario": "tiny.yaml"}, "cell_ids", "exactly one"),
             ({"name": "a", "cell_ids": ["0"], "seed": 3}, "seed", "scenario twin only"),
             ({"name": "a", "scenario": "sub/coverage.yaml"}, "scenario", "clock"),
             ({"name": "a", "scenario": "broken.yaml"}, "scenario", "population[0].archetype")]
    for body, field, fragment in cases:
        got = problem(client.post(URL, json=body, headers=h()), 422)
        assert fields(got) == [field] and fragment in got["errors"][0]["message"], got
    assert client.get(URL, headers=h()).json()["twins"] == []


def test_conflicts_limits_and_scopes(app, client, live):
    problem(client.post(URL, json={"name": "live", "scenario": "tiny.yaml"}, headers=h()), 409)
    assert client.post(URL, json={"name": "cells", "cell_ids": ["a"]}, headers=h()).status_code == 201
    body = problem(client.post(URL, json={"name": "third", "cell_ids": ["a"]}, headers=h()), 409)
    assert "at most 2 live twins" in body["detail"]
    assert "telemetry only" in problem(client.get(f"{URL}/cells/kpis", headers=h()), 409)["detail"]
    problem(client.post(f"{URL}/cells/step", json={"ticks": 1}, headers=h()), 409)
    problem(client.get(f"{URL}/none/kpis", headers=h()), 404)
    assert fields(problem(client.post(f"{URL}/live/step", json={"ticks": 5}, headers=h()), 422)) == ["ticks"]
    reader = key_with(app, "read")
    problem(client.post(f"{URL}/live/step", json={"ticks": 1}, headers=h(reader)), 403)
    assert client.get(f"{URL}/live/kpis", headers=h(reader)).status_code == 200
    for _ in range(2):
        assert client.post(f"{URL}/live/step", json={"ticks": 4}, headers=h()).status_code == 200
    assert "clock has ended" in problem(client.post(f"{URL}/live/step", json={"ticks": 1}, headers=h()), 409)[
        "detail"]


def test_openapi_documents_the_twin_endpoints_with_examples(client):
    doc = client.get("/v1/openapi.json").json()
    paths = doc["paths"]
    assert paths[f"{URL}/{{twin}}/kpis"]["get"]["x-required-scope"] == "read"
    assert paths[f"{URL}/{{twin}}/step"]["post"]["x-required-scope"] == "control"
    schemas = doc["components"]["schemas"]
    assert any("scenario" in ex for ex in schemas["TwinCreate"]["examples"])
    assert schemas["TwinKpis"]["examples"] and schemas["TwinStep"]["examples"]
    for path, method in ((f"{URL}/{{twin}}/kpis", "get"), (f"{URL}/{{twin}}/step", "post")):
        assert "memory only" in paths[path][method]["description"]


def test_kpi_values_must_be_json_numbers_not_booleans_or_text(client, live):
    """``true`` and ``"0.5"`` were coerced to 1.0 and 0.5 and applied: a type error naming the value's field."""
    for value in (True, "0.5", "NaN", None):
        body = problem(client.post(f"{URL}/live/telemetry", json={"records": [
            {"cell_id": "4", "kpis": {"load": 0.5}}, {"cell_id": "4", "kpis": {"load": value}}]}, headers=h()), 422)
        assert fields(body) == ["records.1.kpis.load"], (value, body)
    assert kpis(client)["cells"][4]["measured"] == []
    assert client.get(f"{URL}/live", headers=h()).json()["records"] == 0


def test_times_ahead_of_the_server_clock_are_rejected_not_kept_as_latest(client, live):
    """A record from 2999 was accepted and stayed the cell's ``latest`` for ever, hiding every later record."""
    url = f"{URL}/live/telemetry"
    future = {"cell_id": "4", "time": "2999-01-01T00:00:00Z", "kpis": {"load": 0.9}}
    body = problem(client.post(url, json={"records": [{"cell_id": "4", "kpis": {"load": 0.5}}, future]},
                               headers=h()), 422)
    assert fields(body) == ["records.1.time"] and "ahead of the server's clock" in body["detail"]
    assert "telemetry_clock_skew_s" in body["detail"]
    assert client.get(f"{URL}/live", headers=h()).json()["records"] == 0
    # within the allowed skew a time ahead counts as now, also in the twin's latest sample
    ahead = (api_twins.utcnow() + timedelta(seconds=30)).isoformat() + "Z"
    r = client.post(url, json={"records": [{"cell_id": "4", "time": ahead, "kpis": {"load": 0.5}}]}, headers=h())
    assert r.status_code == 200, r.text
    r = client.post(url, json={"records": [{"cell_id": "4", "kpis": {"load": 0.7}}]}, headers=h())
    assert r.status_code == 200, r.text
    latest = client.get(f"{URL}/live", headers=h()).json()["latest"]["4"]
    assert latest["kpis"] == {"load": 0.7}
    assert kpis(client)["cells"][4]["kpis"]["load"] == pytest.approx(0.7)


def test_a_state_only_record_is_accepted_and_an_empty_one_names_kpis(app, client, live):
    """The twin takes a measured state without KPIs; the API required ``kpis`` (422 on a plain state report)."""
    url = f"{URL}/live/telemetry"
    r = client.post(url, json={"records": [{"cell_id": "6", "state": "failed"}]}, headers=h())
    assert r.status_code == 200, r.text
    assert kpis(client)["cells"][6]["state"] == "failed"
    for record in ({"cell_id": "6"}, {"cell_id": "6", "kpis": {}}):
        body = problem(client.post(url, json={"records": [record]}, headers=h()), 422)
        assert fields(body) == ["records.0.kpis"] and "kpis or a state" in body["detail"]
    assert client.get(f"{URL}/live", headers=h()).json()["records"] == 1


def test_a_full_server_refuses_before_building_and_delete_frees_a_place(client, live, monkeypatch):
    """At ``max_live_twins`` a scenario twin was built (seconds, memory) before the 409, and no twin could ever be
    removed: DELETE frees its place (dry run keeps it), 404 for an unknown one."""
    assert client.post(URL, json={"name": "cells", "cell_ids": ["a"]}, headers=h()).status_code == 201
    built = []
    real = api_twins.SimulationTwin.__init__
    monkeypatch.setattr(api_twins.SimulationTwin, "__init__", lambda self, *a, **kw: built.append(a) or real(
        self, *a, **kw))
    body = problem(client.post(URL, json={"name": "third", "scenario": "tiny.yaml"}, headers=h()), 409)
    assert "at most 2 live twins" in body["detail"] and built == []
    problem(client.post(URL, json={"name": "live", "scenario": "tiny.yaml"}, headers=h()), 409)
    assert built == []
    r = client.delete(f"{URL}/cells?dry_run=true", headers=h())
    assert r.status_code == 200 and r.json()["name"] == "cells"
    assert [t["name"] for t in client.get(URL, headers=h()).json()["twins"]] == ["cells", "live"]
    assert client.delete(f"{URL}/cells", headers=h()).status_code == 200
    problem(client.delete(f"{URL}/cells", headers=h()), 404)
    problem(client.get(f"{URL}/cells", headers=h()), 404)
    assert client.post(URL, json={"name": "third", "scenario": "tiny.yaml"}, headers=h()).status_code == 201
    assert len(built) == 1


def test_concurrent_telemetry_steps_and_reads_lose_nothing(client, live):
    import threading

    errors: list[tuple[str, int, str]] = []
    per_thread, threads_tel = 15, 2

    def post_telemetry() -> None:
        for i in range(per_thread):
            r = client.post(f"{URL}/live/telemetry", json={"records": [{"cell_id": str(i % 21),
                                                                       "kpis": {"load": 0.5}}]}, headers=h())
            if r.status_code != 200:
                errors.append(("telemetry", r.status_code, r.text))

    def step() -> None:
        for _ in range(4):
            r = client.post(f"{URL}/live/step", json={"ticks": 1}, headers=h())
            if r.status_code != 200:
                errors.append(("step", r.status_code, r.text))

    def read() -> None:
        for _ in range(10):
            for url in (f"{URL}/live/kpis", f"{URL}/live", URL):
                r = client.get(url, headers=h())
                if r.status_code != 200:
                    errors.append((url, r.status_code, r.text))

    threads = [threading.Thread(target=f) for f in [post_telemetry] * threads_tel + [step, read]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = client.get(f"{URL}/live", headers=h()).json()
    assert got["records"] == per_thread * threads_tel and got["tick"] == 4


@pytest.mark.parametrize("where", ["scenario", "variant"])
def test_an_inline_whatif_scenario_cannot_read_server_files(client, tmp_path, where):
    """``scenario_yaml`` with ``sites: /some/server/file`` made the server open that file and echo its first line
    in the 422 (a file-read oracle for any control key)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret-line\n")
    layout = {"network": {**TINY["network"], "layout": {"sites": str(secret)}}}
    data = {**TINY, **layout} if where == "scenario" else {
        **TINY, "variants": {"v": {"network.layout.sites": str(secret)}}}
    r = client.post("/v1/jobs", json={"kind": "whatif", "params": {"scenario_yaml": yaml.safe_dump(data)}},
                    headers=h())
    body = problem(r, 422)
    assert fields(body) == ["params.scenario_yaml"], body
    assert "cannot name a file on the server" in body["detail"] and "top-secret" not in r.text
    path = "network.layout.sites" if where == "scenario" else "variants.v.network.layout.sites"
    assert path in body["detail"]
    assert client.get("/v1/jobs", headers=h()).json()["jobs"] == []




@pytest.mark.parametrize("kpis, field", [({"load": 2.0}, "load"), ({"users": -3}, "users"),
                                         ({"prb_util_pct": 101.0}, "prb_util_pct")])
def test_a_telemetry_only_twin_checks_the_ranges_of_known_kpis(client, kpis, field):
    client.post("/v1/twins", json={"name": "ranges", "cell_ids": ["a"]}, headers=h())
    r = client.post("/v1/twins/ranges/telemetry", json={"records": [{"cell_id": "a", "kpis": kpis}]}, headers=h())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == f"records.0.kpis.{field}"
    ok = client.post("/v1/twins/ranges/telemetry", json={"records": [{"cell_id": "a", "kpis": {"my_kpi": 7.0}}]},
                     headers=h())
    assert ok.status_code == 200
