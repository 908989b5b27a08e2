"""Job runner: worker processes, atomic results, kill mid-run, restart behaviour."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from dientine.jobs import JobRunner, UnknownJobKind, validate_params
from dientine.store import Store


@pytest.fixture()
def store(tmp_path: Path):
    s = Store(tmp_path / "st")
    yield s
    s.close()


def _wait(pred, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_validate_params():
    assert validate_params("sleep", {"seconds": 0.5}) == {"seconds": 0.5, "steps": 4, "fail": False}
    with pytest.raises(UnknownJobKind, match="unknown job kind 'nope'"):
        validate_params("nope", {})
    with pytest.raises(ValidationError, match="seconds"):
        validate_params("sleep", {"seconds": -1})
    with pytest.raises(ValidationError, match="extra"):
        validate_params("echo", {"mesage": "typo"})


def test_echo_and_failing_job(store: Store):
    runner = JobRunner(store, max_workers=2, poll_interval_s=0.05)
    ok = store.create_job("echo", validate_params("echo", {"message": "hi"}))
    bad = store.create_job("sleep", validate_params("sleep", {"seconds": 0.0, "steps": 2, "fail": True}))
    assert runner.wait_idle(60)
    ok_row, bad_row = store.get_job(ok["job_id"]), store.get_job(bad["job_id"])
    assert ok_row["status"] == "succeeded"
    out = Path(ok_row["result_path"])
    assert json.loads((out / "result.json").read_text()) == {"message": "hi"}
    assert bad_row["status"] == "failed"
    assert "asked to fail after 2 steps" in bad_row["error"]
    assert not store.job_dir(bad["job_id"]).exists() and not store.job_tmp_dir(bad["job_id"]).exists()


def test_killed_job_leaves_no_partial_results(store: Store):
    runner = JobRunner(store, poll_interval_s=0.05)
    job = store.create_job("sleep", validate_params("sleep", {"seconds": 60, "steps": 60}))
    jid = job["job_id"]
    runner.step()
    tmp = store.job_tmp_dir(jid)
    _wait(lambda: (tmp / "part-0000.txt").exists())  # partial output exists while running
    pid = store.get_job(jid)["worker_pid"]
    assert pid == runner.active_pids()[jid]
    os.kill(pid, signal.SIGKILL)
    assert runner.wait_idle(30)
    row = store.get_job(jid)
    assert row["status"] == "failed" and "SIGKILL" in row["error"]
    assert not tmp.exists() and not store.job_dir(jid).exists()


def test_clean_stop_requeues_and_crash_recovery_fails(tmp_path: Path):
    s = Store(tmp_path / "st")
    runner = JobRunner(s, poll_interval_s=0.05)
    runner.start()
    jid = s.create_job("sleep", validate_params("sleep", {"seconds": 60, "steps": 60}))["job_id"]
    runner.wake()
    _wait(lambda: (s.job_tmp_dir(jid) / "part-0000.txt").exists())
    runner.stop()  # clean shutdown: the job goes back to the queue, partial output removed
    assert s.get_job(jid)["status"] == "queued"
    assert not s.job_tmp_dir(jid).exists()
    # a crash: the job is 'running' in the catalog with partial files, and nobody is running it
    assert s.claim_next_job()["job_id"] == jid
    s.job_tmp_dir(jid).mkdir()
    (s.job_tmp_dir(jid) / "part-0000.txt").write_text("partial")
    s.close()
    s = Store(tmp_path / "st")  # next start sweeps temp dirs
    assert not s.job_tmp_dir(jid).exists()
    JobRunner(s).store.recover_jobs()
    row = s.get_job(jid)
    assert row["status"] == "failed" and "interrupted" in row["error"]
    s.close()


def test_cancel_queued_and_running(store: Store):
    runner = JobRunner(store, poll_interval_s=0.05)
    a = store.create_job("sleep", validate_params("sleep", {"seconds": 60, "steps": 60}))["job_id"]
    b = store.create_job("echo", validate_params("echo", {}))["job_id"]
    runner.step()
    assert store.get_job(a)["status"] == "running"
    assert runner.cancel(b) is True and store.get_job(b)["status"] == "cancelled"
    assert runner.cancel(a) is True
    row = store.get_job(a)
    assert row["status"] == "cancelled"
    assert not store.job_tmp_dir(a).exists() and not store.job_dir(a).exists()
    assert runner.cancel(a) is False


WHATIF = """\
name: wi
seed: 5
area: {width_m: 1400, height_m: 1200, resolution_m: 50}
network:
  layout: {hex: {rings: 1, isd_m: 500}}
  carrier: {fc_ghz: 3.5, bandwidth_mhz: 100, scenario: UMa}
variants:
  low_power: {network.tx_power_dbm: 30.0}
"""


def test_whatif_job_runs_in_a_worker(store: Store):
    with pytest.raises(ValidationError, match="exactly one of"):
        validate_params("whatif", {})
    with pytest.raises(ValidationError, match="no file 'nope.yaml'"):
        validate_params("whatif", {"scenario": "nope.yaml"})
    with pytest.raises(ValidationError, match=r"fc_ghz"):
        validate_params("whatif", {"scenario_yaml": WHATIF.replace("fc_ghz: 3.5", "fc_ghz: 500")})
    runner = JobRunner(store, poll_interval_s=0.1)
    jid = store.create_job("whatif", validate_params("whatif", {"scenario_yaml": WHATIF}))["job_id"]
    assert runner.wait_idle(240)
    row = store.get_job(jid)
    assert row["status"] == "succeeded", row["error"]
    result = json.loads((Path(row["result_path"]) / "result.json").read_text())
    rows = {(r["variant"], r["kpi"]): r for r in result["rows"]}
    # 16 dB less transmit power: RSRP drops by exactly 16 dB at the median (same seed, same draws)
    assert rows[("low_power", "rsrp_p50_dbm")]["delta"] == pytest.approx(-16.0, abs=1e-3)
    assert (Path(row["result_path"]) / "whatif" / "comparison.json").is_file()
    # the baseline and the variant are store runs too, the job's own output untouched
    runs = {r["variant"]: r for r in store.list_runs()}
    assert set(runs) == {"baseline", "low_power"} and runs["low_power"]["run_id"] == f"job-{jid}.low_power"
    assert runs["low_power"]["summary"]["rsrp_p50_dbm"] == pytest.approx(rows[("low_power", "rsrp_p50_dbm")]["value"])
    assert {v["name"]: v["params"] for v in store.list_variants()}["low_power"] == {"network.tx_power_dbm": 30.0}
    assert (Path(row["result_path"]) / "whatif" / "low_power" / "summary.json").is_file()
