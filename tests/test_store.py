"""Store: atomic run files + catalog registration, decision log, thresholds with history, job rows."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from dientine.store import (
    CATALOG_NAME,
    DecisionLogWriter,
    DecisionRecord,
    NotFound,
    Store,
    StoreError,
    VersionConflict,
    resolve_root,
    stage_run,
    utcnow,
    write_run,
)
from dientine.thresholds import ThresholdError, ThresholdStore, load_specs

SPEC = """\
thresholds:
  low_load_pct: {default: 20, min: 5, max: 50, description: "sleep below this load"}
  high_load_pct: {default: 80, min: 50, max: 95}
"""


@pytest.fixture()
def store(tmp_path: Path):
    s = Store(tmp_path / "st")
    yield s
    s.close()


def _kpis(n: int = 5) -> pa.Table:
    return pa.table({"tick": list(range(n)), "load_pct": [10.0 * i for i in range(n)]})


def test_resolve_root_argument_env_default(tmp_path, monkeypatch):
    monkeypatch.delenv("DIENTINE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_root(None) == tmp_path / "dientine_store"
    monkeypatch.setenv("DIENTINE_STORE", str(tmp_path / "envstore"))
    assert resolve_root(None) == tmp_path / "envstore"
    assert resolve_root(tmp_path / "x" / CATALOG_NAME) == tmp_path / "x"
    assert resolve_root(tmp_path / "arg") == tmp_path / "arg"


def test_run_written_atomically_and_registered(store: Store):
    path = write_run(store.root, "r1", {"kpis": _kpis()}, scenario="city", variant="base", seed=7,
                     summary={"energy_kwh": 12.5})
    assert path == store.runs_dir / "r1"
    assert not list(store.runs_dir.glob(".tmp-*"))
    assert store.list_runs() == []  # files alone do not count: registration does
    row = store.register_run("r1")
    assert (row["scenario"], row["variant"], row["seed"], row["status"]) == ("city", "base", 7, "complete")
    assert row["summary"] == {"energy_kwh": 12.5}
    assert store.register_run("r1")["run_id"] == "r1"  # idempotent
    assert len(store.list_runs()) == 1
    t = store.read_run_table("r1", "kpis")
    assert t.column("load_pct").to_pylist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    with pytest.raises(NotFound, match="no table 'maps'"):
        store.read_run_table("r1", "maps")
    with pytest.raises(StoreError, match="already exists"):
        write_run(store.root, "r1", {"kpis": _kpis()})


def test_failed_write_leaves_nothing(store: Store):
    with pytest.raises(StoreError, match="expected a pyarrow.Table"):
        write_run(store.root, "bad", {"kpis": _kpis(), "oops": [1, 2, 3]})  # type: ignore[dict-item]
    assert list(store.runs_dir.iterdir()) == []
    with pytest.raises(StoreError, match="invalid name"):
        write_run(store.root, "../escape", {"kpis": _kpis()})


def test_crashed_run_swept_and_lost_registration_recovered(tmp_path: Path):
    s = Store(tmp_path / "st")
    crashed = s.runs_dir / ".tmp-r2-deadbeef"
    crashed.mkdir()
    (crashed / "kpis.parquet").write_bytes(b"partial")
    write_run(s.root, "r3", {"kpis": _kpis(3)}, scenario="s")  # complete on disk, never registered
    incomplete = s.runs_dir / "r4"
    incomplete.mkdir()  # no manifest: not a run
    s.close()
    s = Store(tmp_path / "st")
    assert not crashed.exists()
    assert s.recover_runs() == ["r3"]
    assert [r["run_id"] for r in s.list_runs()] == ["r3"]
    with pytest.raises(StoreError, match="incomplete"):
        s.register_run("r4")
    s.close()


def test_decision_log_and_outcome(store: Store):
    rec = DecisionRecord(decision_id="d1", time=utcnow(), table="energy_saving", inputs={"load_pct": 3.0},
                         outputs={"action": "sleep"}, rule_ids=["r1"], action="sleep", decide_time_ms=0.1)
    store.log_decisions([rec])
    row = store.get_decision("d1")
    assert row["inputs"] == {"load_pct": 3.0} and row["rule_ids"] == ["r1"] and row["adopted"] is None
    row = store.record_outcome("d1", adopted=True, outcome={"energy_kwh": 4.0})
    assert row["adopted"] is True and row["outcome"] == {"energy_kwh": 4.0} and row["outcome_time"] is not None
    with pytest.raises(NotFound):
        store.record_outcome("nope", adopted=True, outcome=None)


def test_log_writer_loses_nothing_on_clean_close(store: Store):
    w = DecisionLogWriter(store, interval_s=0.01, max_batch=64)
    for i in range(1000):
        w.submit(DecisionRecord(decision_id=f"d{i}", time=utcnow(), table="t", inputs={"i": i}, outputs=i % 2))
    w.flush()
    assert store.count_decisions() == 1000
    for i in range(1000, 1500):
        w.submit(DecisionRecord(decision_id=f"d{i}", time=utcnow(), table="t", inputs={}, outputs=None))
    w.close()
    assert store.count_decisions() == 1500
    assert len({r["decision_id"] for r in store.query("SELECT decision_id FROM decisions")}) == 1500
    with pytest.raises(RuntimeError, match="closed"):
        w.submit(DecisionRecord(decision_id="x", time=utcnow(), table="t", inputs={}, outputs=None))


def test_thresholds_versioned_bounded_with_history(store: Store, tmp_path: Path):
    spec = tmp_path / "thresholds.yaml"
    spec.write_text(SPEC)
    th = ThresholdStore(store, spec)
    assert th.values() == {"high_load_pct": 80.0, "low_load_pct": 20.0}
    t = th.get("low_load_pct")
    assert (t.version, t.minimum, t.maximum, t.changed_by) == (1, 5.0, 50.0, "system")
    t2 = th.set("low_load_pct", 25.0, expected_version=1, reason="nights are quiet", changed_by="ops")
    assert (t2.value, t2.version, t2.etag) == (25.0, 2, '"2"')
    with pytest.raises(VersionConflict) as err:  # a second controller still holding version 1
        th.set("low_load_pct", 30.0, expected_version=1, reason="x", changed_by="other")
    assert err.value.current_version == 2
    with pytest.raises(ThresholdError, match=r"low_load_pct.value: 60.0 outside the bounds \[5.0, 50.0\]"):
        th.set("low_load_pct", 60.0, expected_version=2, reason="x", changed_by="ops")
    dry = th.set("low_load_pct", 40.0, expected_version=2, reason="try", changed_by="ops", dry_run=True)
    assert dry.version == 3 and th.get("low_load_pct").value == 25.0
    assert [(h.version, h.value) for h in th.history("low_load_pct")] == [(1, 20.0), (2, 25.0)]
    # a reopened store keeps the current value (no re-seeding over it)
    th2 = ThresholdStore(store, spec)
    assert th2.get("low_load_pct").value == 25.0
    with pytest.raises(NotFound, match="unknown"):
        th.get("nope")


def test_threshold_spec_errors(tmp_path: Path):
    bad = tmp_path / "t.yaml"
    bad.write_text("thresholds:\n  x: {default: 100, min: 0, max: 10}\n")
    with pytest.raises(ThresholdError, match=r"thresholds.x: default 100.0 outside \[0.0, 10.0\]"):
        load_specs(bad)
    bad.write_text("- {name: y, default: 'high'}\n")
    with pytest.raises(ThresholdError, match="thresholds.y.default: expected a number"):
        load_specs(bad)
    bad.write_text("- {name: z, default: 3, min: 1, max: 5}\n")
    assert load_specs(bad)["z"].maximum == 5.0


def test_job_rows_and_recovery(store: Store):
    a = store.create_job("echo", {"message": "a"})
    b = store.create_job("echo", {"message": "b"})
    assert a["status"] == "queued" and a["payload"] == {"message": "a"}
    claimed = store.claim_next_job()
    assert claimed["job_id"] == a["job_id"] and claimed["status"] == "running"
    tmp = store.job_tmp_dir(a["job_id"])
    tmp.mkdir()
    (tmp / "part-0000.txt").write_text("partial")
    assert store.recover_jobs() == [a["job_id"]]
    assert not tmp.exists()
    got = store.get_job(a["job_id"])
    assert got["status"] == "failed" and "interrupted" in got["error"]
    assert store.get_job(b["job_id"])["status"] == "queued"
    assert store.cancel_queued_job(b["job_id"]) is True
    assert store.cancel_queued_job(b["job_id"]) is False


def test_keys_rows(store: Store):
    store.insert_key("k1", "ctl", ["read", "decide"], b"salt", b"hash")
    assert store.get_key("k1")["scopes"] == ["read", "decide"]
    assert store.revoke_key("k1")["revoked"] is True
    assert os.path.exists(store.catalog_path)


def test_feedback_changes_persisted_as_versions(store: Store, tmp_path: Path):
    from decisions.feedback import Outcome, ThresholdBook
    from dientine.thresholds import BUNDLED_SPEC

    th = ThresholdStore(store)  # the bundled decisions/tables/thresholds.yaml
    assert th.specs and all(t.startswith("threshold_") for t in th.specs)
    assert all(s.minimum <= s.default <= s.maximum for s in th.specs.values())
    import yaml

    raw = yaml.safe_load(BUNDLED_SPEC.read_text())["thresholds"]
    book = ThresholdBook.from_mapping(raw)
    # QoS far better than its target: the rule steps the threshold towards aggressive
    outcome = Outcome(qos_measure=0.0, qos_target=0.05, qos_scale=0.05, benefit=3.0, window="w1")
    changes = book.update(["threshold_sleep_load"], outcome)
    saved = th.apply_changes(changes)
    assert len(changes) == 1 and changes[0].new != changes[0].old
    assert [(t.name, t.version, t.value) for t in saved] == [("threshold_sleep_load", 2, changes[0].new)]
    assert th.get("threshold_sleep_load").changed_by == "decisions.feedback"


def test_stage_run_for_a_worker_writing_its_own_files(store: Store):
    import pyarrow.parquet as pq

    with stage_run(store.root, "sim1") as run:
        pq.write_table(_kpis(4), run.path / "kpis_cell.parquet")
        (run.path / "summary.json").write_text("{}")
        (run.path / "maps").mkdir()
        (run.path / "maps" / "rsrp.npy").write_bytes(b"\x00")
        run.scenario, run.seed, run.summary = "city", 3, {"coverage_pct": 97.5}
        assert store.list_runs() == [] and not (store.runs_dir / "sim1").exists()
    assert run.path == store.runs_dir / "sim1"
    row = store.register_run("sim1")
    assert row["summary"] == {"coverage_pct": 97.5} and row["seed"] == 3
    assert store.read_run_table("sim1", "kpis_cell").num_rows == 4
    with pytest.raises(RuntimeError, match="crash"), stage_run(store.root, "sim2") as run:
        (run.path / "part.parquet").write_bytes(b"partial")
        raise RuntimeError("crash")
    assert sorted(p.name for p in store.runs_dir.iterdir()) == ["sim1"]


def test_store_in_use_by_another_process_names_directory_and_pid(tmp_path):
    """QA F6: a catalog locked by another process gives StoreBusyError naming the directory and the PID."""
    import subprocess
    import sys

    from dientine.store import StoreBusyError

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dientine.store import Store; s = Store(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(30)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError) as info:
            Store(tmp_path)
        assert isinstance(info.value, OSError)
        assert info.value.pid == holder.pid and info.value.root == tmp_path.resolve()
        assert str(tmp_path.resolve()) in str(info.value) and f"process {holder.pid}" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    Store(tmp_path).close()  # free again once the holder is gone


# -- a closed-loop run's decision log and threshold trajectory ----------------------------------------------------
def _loop_decisions() -> pa.Table:
    """Rows as :meth:`dientine.loop.ClosedLoop.decisions_table` writes them."""
    return pa.table({
        "time_s": [3600.0, 3600.0], "tick": [4, 4], "epoch": [0, 0], "table": ["energy_saving"] * 2,
        "row": [3, 7], "rule": [4, 4], "rule_id": ["energy_saving_table_rule_4", ""], "reason": ["low load", ""],
        "inputs": ['{"cell_load": 0.05, "hour": 1.0}', '{"cell_load": 0.02, "hour": 1.0}'],
        "action": ["rru_sleep", "rru_sleep"], "applied": [True, False], "solver": ["rru_sleep", "rru_sleep"],
        "solver_status": ["optimal", "optimal"], "solver_objective": [1292.4, None],
        "solver_time_s": [0.03, 0.03], "decide_ms": [12.5, 12.5],
    })


def _loop_thresholds() -> pa.Table:
    return pa.table({"time_s": [0.0, 7200.0], "name": ["threshold_sleep_load"] * 2, "value": [0.15, 0.18],
                     "version": [0, 1], "reason": ["initial value", "slack 0.4"], "slack": [None, 0.4],
                     "benefit": [None, 1.2], "window": ["", "3600-7200"]})


def test_register_run_imports_the_loop_log_under_the_run(store: Store):
    th = ThresholdStore(store, None)
    live = {t.name: (t.version, t.value) for t in th.all()}
    write_run(store.root, "loop1", {"decisions": _loop_decisions(), "thresholds": _loop_thresholds()},
              scenario="night", seed=21)
    assert store.count_decisions() == 0  # files alone do not count
    store.register_run("loop1")
    rows = store.list_decisions(run_id="loop1")
    assert len(rows) == 2 and {r["run_id"] for r in rows} == {"loop1"} and {r["source"] for r in rows} == {"run"}
    first = next(r for r in rows if r["outputs"]["row"] == 3)
    assert first["inputs"] == {"cell_load": 0.05, "hour": 1.0} and first["rule_ids"] == ["energy_saving_table_rule_4"]
    assert first["adopted"] is True and first["solver_status"] == "optimal" and first["solver_objective"] == 1292.4
    assert first["outputs"]["time_s"] == 3600.0 and first["outputs"]["reason"] == "low load"
    assert first["decide_time_ms"] == 12.5 and first["action"] == "rru_sleep"
    second = next(r for r in rows if r["outputs"]["row"] == 7)
    assert second["rule_ids"] == [] and second["adopted"] is False and second["solver_objective"] is None
    traj = store.run_thresholds("loop1", "threshold_sleep_load")
    assert [(t["version"], t["value"], t["reason"]) for t in traj] == [(0, 0.15, "initial value"),
                                                                      (1, 0.18, "slack 0.4")]
    # the run's adaptation is its own history: the live thresholds the API decides with are unchanged
    assert {t.name: (t.version, t.value) for t in ThresholdStore(store, None).all()} == live
    assert "threshold_sleep_load" in live
    store.register_run("loop1")  # idempotent: nothing imported twice
    assert store.count_decisions() == 2 and len(store.run_thresholds("loop1")) == 2
    assert store.list_decisions(run_id="other") == []


def test_registration_is_one_transaction(store: Store, monkeypatch):
    write_run(store.root, "loop2", {"decisions": _loop_decisions(), "thresholds": _loop_thresholds()})

    def broken(records):
        raise RuntimeError("catalog write failed")

    monkeypatch.setattr(store, "log_decisions", broken)
    with pytest.raises(RuntimeError, match="catalog write failed"):
        store.register_run("loop2")
    assert store.list_runs() == [] and store.run_thresholds("loop2") == []  # nothing of the run counts
    monkeypatch.undo()
    assert store.recover_runs() == ["loop2"] and store.count_decisions() == 2


@pytest.mark.parametrize(("damage", "fragment"), [
    ("manifest", "unreadable manifest"), ("list", "not a run manifest"), ("created", "created: expected an ISO"),
    ("parquet", "cannot import its decision log"),
])
def test_a_damaged_run_directory_is_skipped_and_named_not_fatal(tmp_path: Path, caplog, damage, fragment):
    """One damaged run directory under runs/ made recover_runs raise (JSONDecodeError, ArrowInvalid): every later
    `dientine run` reported a failure after finishing and `dientine serve` could not start."""
    import json

    s = Store(tmp_path / "st")
    write_run(s.root, "good", {"kpis": _kpis(3)}, scenario="s")
    write_run(s.root, "bad", {"decisions": _loop_decisions()}, scenario="s")
    manifest = s.runs_dir / "bad" / "manifest.json"
    if damage == "manifest":
        manifest.write_text("{not json")
    elif damage == "list":
        manifest.write_text("[1, 2]")
    elif damage == "created":
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "created": "yesterday"}))
    else:
        (s.runs_dir / "bad" / json.loads(manifest.read_text())["files"]["decisions"]["file"]).write_bytes(b"junk")
    with pytest.raises(StoreError, match=fragment):
        s.register_run("bad")
    with caplog.at_level("WARNING", logger="dientine.store"):
        assert s.recover_runs() == ["good"]
    assert "bad not registered" in caplog.text and fragment in caplog.text
    assert [r["run_id"] for r in s.list_runs()] == ["good"] and s.count_decisions() == 0
    assert (s.runs_dir / "bad").is_dir()  # left for a person to look at
    s.close()


def test_opening_the_store_keeps_runs_other_live_processes_are_staging(tmp_path: Path):
    """Every Store() open swept all runs/.tmp-* directories, also those of a `dientine run` still writing on the same
    store: of three concurrent runs only one survived, the others failed with FileNotFoundError."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    root = tmp_path / "st"
    Store(root).close()
    crashed = root / "runs" / f".tmp-r9-{dead_pid}-0123abcd"  # its writer has exited
    crashed.mkdir()
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dientine.store import stage_run\n"
                               "with stage_run(sys.argv[1], 'other') as run:\n"
                               "    (run.path / 'a.txt').write_text('x'); print(run.path, flush=True); time.sleep(30)",
         str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        theirs = Path(writer.stdout.readline().strip())
        with stage_run(root, "mine") as run:
            (run.path / "b.txt").write_text("y")
            with Store(root) as s:  # another process (or this one) opens the store meanwhile: sweeps at open
                assert not crashed.exists() and s.sweep_temp() == []
            assert run.path.is_dir() and theirs.is_dir() and (theirs / "a.txt").is_file()
        assert not crashed.exists()
    finally:
        writer.kill()
        writer.wait()
    with Store(root) as s:  # once its writer is gone, its directory is swept
        assert not theirs.exists() and s.recover_runs() == ["mine"]


def test_a_catalog_that_is_not_a_duckdb_file_is_a_store_error_naming_it(tmp_path: Path):
    """It raised duckdb.IOException, a traceback at `dientine run`; the file is left as it is."""
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / CATALOG_NAME).write_text("garbage")
    with pytest.raises(StoreError, match=f"{CATALOG_NAME}: cannot open the store's catalog"):
        Store(tmp_path / "st")
    assert (tmp_path / "st" / CATALOG_NAME).read_text() == "garbage"
    (tmp_path / "file").write_text("x")  # a file as the store: FileExistsError before
    with pytest.raises(StoreError, match="is a file, not a store directory"):
        Store(tmp_path / "file")
