"""The store: one DuckDB catalog plus Parquet files per run (DESIGN.md, "Store").

Layout under the store root (default ``./dientine_store``; env ``DIENTINE_STORE`` or the ``root`` argument):

```
<root>/catalog.duckdb           runs, variants, decisions, thresholds (full history), run_thresholds, policies,
                                jobs, api_keys
<root>/runs/<run_id>/           one complete run: *.parquet + manifest.json (written last, then renamed in)
<root>/runs/.tmp-<run_id>-<pid>-<x>/  a run being written; swept on an open once process <pid> is gone
<root>/jobs/<job_id>/           one finished job's output (result.json + files)
<root>/jobs/.tmp-<job_id>/      a job being written; removed when its job fails or on the next open
```

The decision log keeps ``rule_ids``, ``inputs``, ``outputs`` and ``outcome`` as JSON text (VARCHAR: cheaper to
append than DuckDB's JSON type; query with ``inputs::JSON ->> 'cell_load'``).

Rules (DESIGN.md): workers write files only (:func:`write_run` needs no catalog); only the coordinating process
opens the catalog (DuckDB itself allows one read-write process per file). A run counts once it is registered, and
it is registered only when its directory holds a complete manifest, so a crash loses at most the runs in flight;
:meth:`Store.recover_runs` registers runs whose files are complete but whose registration was lost.

Registering a run also imports, in the same catalog transaction, what its closed loop logged (files written by
:func:`dientine.loop.run_closed_loop`): ``decisions.parquet`` into ``decisions`` (``run_id`` set, ``source`` =
``run``; :func:`run_decision_records` says how the columns map) and ``thresholds.parquet`` into
``run_thresholds`` (the run's threshold trajectory: initial values and every adaptation with its reason). A run's
thresholds are not written to ``thresholds``: that table is the live threshold store the API decides with, and
a simulated run's adaptation must not change it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import re
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

_log = logging.getLogger(__name__)

ENV_STORE = "DIENTINE_STORE"
DEFAULT_ROOT = "dientine_store"
CATALOG_NAME = "catalog.duckdb"
MANIFEST_NAME = "manifest.json"
TMP_PREFIX = ".tmp-"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS runs(
        run_id VARCHAR PRIMARY KEY, scenario VARCHAR, variant VARCHAR, seed BIGINT, status VARCHAR,
        created TIMESTAMP, completed TIMESTAMP, path VARCHAR, summary JSON)""",
    """CREATE TABLE IF NOT EXISTS variants(
        variant_id VARCHAR PRIMARY KEY, scenario VARCHAR, name VARCHAR, params JSON, created TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS decisions(
        decision_id VARCHAR, time TIMESTAMP, "table" VARCHAR, table_version INTEGER, rule_ids VARCHAR,
        inputs VARCHAR, outputs VARCHAR, action VARCHAR, solver_status VARCHAR, solver_objective DOUBLE,
        decide_time_ms DOUBLE, adopted BOOLEAN, outcome VARCHAR, outcome_time TIMESTAMP, run_id VARCHAR,
        source VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS thresholds(
        name VARCHAR, version INTEGER, value DOUBLE, min DOUBLE, max DOUBLE, reason VARCHAR,
        changed_at TIMESTAMP, changed_by VARCHAR, PRIMARY KEY(name, version))""",
    """CREATE TABLE IF NOT EXISTS run_thresholds(
        run_id VARCHAR, time_s DOUBLE, name VARCHAR, value DOUBLE, version INTEGER, reason VARCHAR, slack DOUBLE,
        benefit DOUBLE, "window" VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS policies(
        name VARCHAR, version INTEGER, format VARCHAR, text VARCHAR, changed_at TIMESTAMP, changed_by VARCHAR,
        PRIMARY KEY(name, version))""",
    """CREATE TABLE IF NOT EXISTS jobs(
        job_id VARCHAR PRIMARY KEY, kind VARCHAR, payload JSON, status VARCHAR, created TIMESTAMP,
        started TIMESTAMP, finished TIMESTAMP, result_path VARCHAR, error VARCHAR, worker_pid INTEGER)""",
    """CREATE TABLE IF NOT EXISTS api_keys(
        key_id VARCHAR PRIMARY KEY, name VARCHAR, scopes VARCHAR[], salt BLOB, hash BLOB,
        created TIMESTAMP, revoked BOOLEAN, revoked_at TIMESTAMP)""",
]

_DECISION_COLUMNS = (
    ("decision_id", pa.string()),
    ("time", pa.timestamp("us")),
    ("table", pa.string()),
    ("table_version", pa.int32()),
    ("rule_ids", pa.string()),
    ("inputs", pa.string()),
    ("outputs", pa.string()),
    ("action", pa.string()),
    ("solver_status", pa.string()),
    ("solver_objective", pa.float64()),
    ("decide_time_ms", pa.float64()),
    ("adopted", pa.bool_()),
    ("outcome", pa.string()),
    ("outcome_time", pa.timestamp("us")),
    ("run_id", pa.string()),
    ("source", pa.string()),
)
_JSON_DECISION_FIELDS = ("rule_ids", "inputs", "outputs", "outcome")


class StoreError(ValueError):
    """A store operation was asked for something inconsistent (unknown id, bad name, incomplete run)."""


class NotFound(StoreError):
    """The named row does not exist."""


class VersionConflict(StoreError):
    """Optimistic concurrency: the caller's version is not the current one."""

    def __init__(self, message: str, current_version: int | None) -> None:
        super().__init__(message)
        self.current_version = current_version


class StoreBusyError(OSError):
    """The catalog is locked by another process (DuckDB allows one writing process per file).

    ``root`` is the store directory, ``pid`` the holder's process id when DuckDB reports it (else None).
    ``str()`` is a complete message for the user.
    """

    def __init__(self, root: Path, pid: int | None) -> None:
        self.root = root
        self.pid = pid
        who = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"store {root} is in use by {who}; stop that process (e.g. the `dientine serve` on this "
                         f"store) or use another store directory; while a server runs, manage keys with "
                         f"POST /v1/keys")


_LOCK_PID = re.compile(r"\(PID (\d+)\)")


_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count(1)


def new_id() -> str:
    """A 32-hex-digit id unique across processes: a random per-process prefix and a counter.

    Cheaper than ``uuid4()`` per call (one ``os.urandom`` per process instead of one per id; measured here at
    ~0.5 ms per ``getrandom`` call under load, more than a whole decision evaluation).
    """
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def utcnow() -> datetime:
    """Naive UTC timestamp (the catalog stores TIMESTAMP in UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def check_name(name: str, what: str) -> str:
    """Names become paths and keys: letters, digits, ``_.-``, at most 128 characters."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise StoreError(f"{what}: invalid name {name!r}; expected [A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}")
    return name


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Store root: the argument, else env ``DIENTINE_STORE``, else ``./dientine_store``.

    A path ending in ``.duckdb`` names the catalog file itself; its parent is the root.
    """
    chosen = root if root is not None else os.environ.get(ENV_STORE) or DEFAULT_ROOT
    path = Path(chosen).expanduser()
    if path.suffix == ".duckdb":
        path = path.parent
    return path.resolve()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    """fsync every file under ``path`` and the directories themselves."""
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            _fsync_path(Path(dirpath) / f)
        _fsync_path(Path(dirpath))


def commit_dir(tmp: Path, final: Path) -> None:
    """Atomically publish a fully written directory: fsync contents, rename, fsync the parent."""
    _fsync_tree(tmp)
    if final.exists():
        raise StoreError(f"{final}: already exists; refusing to overwrite a completed directory")
    os.rename(tmp, final)
    _fsync_path(final.parent)


@dataclass
class StagedRun:
    """A run being written: files go into ``path`` (a temp directory inside the store); set the metadata."""

    run_id: str
    path: Path
    scenario: str = ""
    variant: str = ""
    seed: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)


_TMP_PID = re.compile(r"-(\d+)-[0-9a-f]{8}$")


def _writer_alive(name: str) -> bool:
    """Whether the process staging the temp run directory ``name`` (its pid is in the name) still runs on this
    machine (this process included); False for a name without a pid (written before pids were recorded). A store is
    used from one machine (DuckDB's lock is per machine too)."""
    m = _TMP_PID.search(name)
    if m is None:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


@contextmanager
def stage_run(root: str | os.PathLike[str] | None, run_id: str) -> Iterator[StagedRun]:
    """Write one run's files atomically; safe in a worker process (no catalog access).

    ``with stage_run(root, "r1") as run: run_scenario(sc, run.path); run.seed = 7``. The files go to
    ``<root>/runs/.tmp-<run_id>-<pid>-<random>/``; on a normal exit ``manifest.json`` (every file, the row count of each
    Parquet table, the metadata) is written last, everything is fsynced and the directory is renamed to
    ``<root>/runs/<run_id>``; on an exception the temp directory is removed. The coordinating process then calls
    :meth:`Store.register_run`.
    """
    check_name(run_id, "run_id")
    runs = resolve_root(root) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    final = runs / run_id
    if final.exists():
        raise StoreError(f"run {run_id!r}: {final} already exists")
    tmp = runs / f"{TMP_PREFIX}{run_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # the writer's pid: see sweep_temp
    tmp.mkdir()
    staged = StagedRun(run_id, tmp)
    try:
        yield staged
        tables, other = {}, []
        for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
            rel = str(f.relative_to(tmp))
            if f.suffix == ".parquet" and f.parent == tmp:
                tables[f.stem] = {"file": rel, "rows": pq.ParquetFile(f).metadata.num_rows}
            else:
                other.append(rel)
        manifest = {
            "run_id": run_id,
            "scenario": staged.scenario,
            "variant": staged.variant,
            "seed": staged.seed,
            "summary": dict(staged.summary),
            "created": utcnow().isoformat(),
            "files": tables,
            "other_files": other,
        }
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, default=str))
        commit_dir(tmp, final)
        staged.path = final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(
    root: str | os.PathLike[str] | None,
    run_id: str,
    tables: Mapping[str, pa.Table],
    *,
    scenario: str = "",
    variant: str = "",
    seed: int | None = None,
    summary: Mapping[str, Any] | None = None,
) -> Path:
    """Write Arrow tables as one run (``<name>.parquet`` each) through :func:`stage_run`; returns the final dir."""
    with stage_run(root, run_id) as run:
        for name, table in tables.items():
            check_name(name, f"run {run_id!r} table")
            if not isinstance(table, pa.Table):
                raise StoreError(f"run {run_id!r} table {name!r}: expected a pyarrow.Table, got {type(table)}")
            pq.write_table(table, run.path / f"{name}.parquet")
        run.scenario, run.variant, run.seed, run.summary = scenario, variant, seed, dict(summary or {})
    return run.path


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST_NAME
    if not path.is_file():
        raise StoreError(f"{run_dir}: no {MANIFEST_NAME}; the run is incomplete")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: unreadable manifest ({exc})") from None
    files = manifest.get("files", {}) if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                              for e in files.values()):
        raise StoreError(f"{path}: not a run manifest (expected an object with 'files': {{name: {{'file': ...}}}})")
    if "created" in manifest:
        try:
            datetime.fromisoformat(manifest["created"])
        except (TypeError, ValueError):
            raise StoreError(f"{path}: created: expected an ISO timestamp, found {manifest['created']!r}") from None
    for name, entry in files.items():
        if not (run_dir / entry["file"]).is_file():
            raise StoreError(f"{run_dir}: table {name!r} listed in the manifest but {entry['file']} is missing")
    return manifest


def run_decision_records(run_id: str, table: pa.Table, logged_at: datetime) -> list[DecisionRecord]:
    """A closed loop's ``decisions.parquet`` as catalog rows.

    Per row: ``table``, ``action``, ``inputs`` (JSON text), ``rule_id`` → ``rule_ids``, ``applied`` → ``adopted``,
    ``solver_status``, ``solver_objective``, ``decide_ms`` → ``decide_time_ms``; the simulated instant and the
    rest (``time_s``, ``tick``, ``epoch``, ``row`` = cell or track, ``rule``, ``reason``, ``solver``,
    ``solver_time_s``) go to ``outputs``. ``time`` is ``logged_at`` (when the run completed): the catalog's
    timestamps are wall-clock, a run's own clock is ``outputs.time_s``. Missing columns are null.
    """
    rows = table.to_pylist()
    out = []
    for r in rows:
        inputs = r.get("inputs")
        if isinstance(inputs, str):
            try:
                inputs = json.loads(inputs)
            except json.JSONDecodeError:
                inputs = {"text": inputs}
        outputs = {k: r.get(k) for k in ("action", "applied", "time_s", "tick", "epoch", "row", "rule", "reason",
                                         "solver", "solver_time_s") if k in r}
        objective = r.get("solver_objective")
        out.append(DecisionRecord(
            decision_id=new_id(), time=logged_at, table=str(r.get("table") or ""), inputs=inputs or {},
            outputs=outputs, rule_ids=[r["rule_id"]] if r.get("rule_id") else [], action=r.get("action") or None,
            solver_status=r.get("solver_status") or None,
            solver_objective=None if objective is None else float(objective),
            decide_time_ms=r.get("decide_ms"), adopted=r.get("applied"), run_id=run_id, source="run",
        ))
    return out


_RUN_THRESHOLD_COLUMNS = (("time_s", pa.float64()), ("name", pa.string()), ("value", pa.float64()),
                          ("version", pa.int32()), ("reason", pa.string()), ("slack", pa.float64()),
                          ("benefit", pa.float64()), ("window", pa.string()))


def run_threshold_table(run_id: str, table: pa.Table) -> pa.Table:
    """A closed loop's ``thresholds.parquet`` as ``run_thresholds`` rows (missing columns are null)."""
    n = table.num_rows
    cols = {"run_id": pa.array([run_id] * n, pa.string())}
    for name, typ in _RUN_THRESHOLD_COLUMNS:
        cols[name] = table[name].cast(typ) if name in table.column_names else pa.nulls(n, typ)
    return pa.table(cols)


@dataclass(frozen=True)
class DecisionRecord:
    """One logged decision (a row of the ``decisions`` table)."""

    decision_id: str
    time: datetime
    table: str
    inputs: Mapping[str, Any]
    outputs: Any
    rule_ids: Sequence[str] = ()
    table_version: int | None = None
    action: str | None = None
    solver_status: str | None = None
    solver_objective: float | None = None
    decide_time_ms: float | None = None
    adopted: bool | None = None
    outcome: Mapping[str, Any] | None = None
    run_id: str | None = None
    source: str | None = None


def _row_dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _loads_json_fields(row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    for f in fields:
        if row.get(f) is not None and isinstance(row[f], str):
            row[f] = json.loads(row[f])
    return row


class Store:
    """The coordinating process's handle on the catalog; thread-safe (one connection behind a lock)."""

    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, read_only: bool = False, threads: int | None = None
    ) -> None:
        """Open (create) the catalog; ``threads`` caps DuckDB's worker threads (default: DuckDB's, one per core)."""
        self.root = resolve_root(root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file, not a store directory")
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir = self.root / "runs"
        self.jobs_dir = self.root / "jobs"
        self.runs_dir.mkdir(exist_ok=True)
        self.jobs_dir.mkdir(exist_ok=True)
        self.catalog_path = self.root / CATALOG_NAME
        self._lock = threading.RLock()
        config = {"threads": threads} if threads is not None else {}
        try:
            self._con = duckdb.connect(str(self.catalog_path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():  # not a DuckDB file, unreadable, ...
                raise StoreError(f"{self.catalog_path}: cannot open the store's catalog ({exc})") from None
            m = _LOCK_PID.search(str(exc))
            raise StoreBusyError(self.root, int(m.group(1)) if m else None) from exc
        self._finalizer = weakref.finalize(self, self._con.close)
        if not read_only:
            with self._lock:
                for stmt in _SCHEMA:
                    self._con.execute(stmt)
            self.sweep_temp()

    # -- plumbing -------------------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._finalizer()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query on the catalog and return rows as dicts (for reports and tests)."""
        with self._lock:
            return _row_dicts(self._con.execute(sql, params or []))

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._con.execute(sql, params or [])

    def sweep_temp(self) -> list[Path]:
        """Remove temp directories left by crashed writers (runs and jobs); return what was removed.

        A run being staged by a live process (``.tmp-<run_id>-<pid>-<random>``, :func:`stage_run`) is kept: runs
        are staged without the catalog, so another ``dientine run`` on the same store may be writing one now."""
        removed = []
        for base in (self.runs_dir, self.jobs_dir):
            for p in base.glob(f"{TMP_PREFIX}*"):
                if base == self.runs_dir and _writer_alive(p.name):
                    continue
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        return removed

    # -- runs -----------------------------------------------------------------------------------------------
    def register_run(self, run_id: str) -> dict[str, Any]:
        """Register a complete run directory written by :func:`stage_run` / :func:`write_run`, with its decision log
        and threshold trajectory (see the module docstring), all in one transaction; idempotent."""
        check_name(run_id, "run_id")
        run_dir = self.runs_dir / run_id
        manifest = read_manifest(run_dir)
        if "created" not in manifest:
            raise StoreError(f"{run_dir / MANIFEST_NAME}: no 'created' timestamp; not a complete run")
        created = datetime.fromisoformat(manifest["created"])
        files = manifest["files"]
        try:
            decisions = (run_decision_records(run_id, pq.read_table(run_dir / files["decisions"]["file"]), created)
                         if "decisions" in files else [])
            thresholds = (run_threshold_table(run_id, pq.read_table(run_dir / files["thresholds"]["file"]))
                          if "thresholds" in files else None)
        except (OSError, pa.ArrowException, TypeError, KeyError) as exc:  # a damaged or foreign file
            raise StoreError(f"{run_dir}: cannot import its decision log / thresholds ({exc})") from None
        with self._lock:
            existing = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
            if existing:
                return _loads_json_fields(existing[0], ["summary"])
            self._con.begin()
            try:
                self._con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, 'complete', ?, ?, ?, ?)",
                    [
                        run_id,
                        manifest.get("scenario", ""),
                        manifest.get("variant", ""),
                        manifest.get("seed"),
                        created,
                        utcnow(),
                        str(run_dir),
                        json.dumps(manifest.get("summary", {})),
                    ],
                )
                self.log_decisions(decisions)
                if thresholds is not None and thresholds.num_rows:
                    self._con.from_arrow(thresholds).insert_into("run_thresholds")
                self._con.commit()
            except BaseException:
                self._con.rollback()
                raise
        return self.get_run(run_id)

    def run_thresholds(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """A run's threshold trajectory (initial values, then every change), in time order."""
        sql = "SELECT * FROM run_thresholds WHERE run_id = ?" + (" AND name = ?" if name else "")
        return self.query(sql + " ORDER BY time_s, name, version", [run_id, *([name] if name else [])])

    def recover_runs(self) -> list[str]:
        """Register complete run directories whose registration was lost (crash after the rename)."""
        registered = {r["run_id"] for r in self.query("SELECT run_id FROM runs")}
        done = []
        for d in sorted(self.runs_dir.iterdir()):
            if d.is_dir() and not d.name.startswith(TMP_PREFIX) and d.name not in registered:
                try:
                    self.register_run(d.name)
                except (StoreError, duckdb.Error) as exc:  # left for a person to look at; the store stays usable
                    _log.warning("store %s: run directory %s not registered: %s", self.root, d.name, exc)
                    continue
                done.append(d.name)
        return done

    def get_run(self, run_id: str) -> dict[str, Any]:
        rows = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if not rows:
            raise NotFound(f"run {run_id!r}: not in the catalog")
        return _loads_json_fields(rows[0], ["summary"])

    def list_runs(self, scenario: str | None = None) -> list[dict[str, Any]]:
        if scenario is None:
            rows = self.query("SELECT * FROM runs ORDER BY created")
        else:
            rows = self.query("SELECT * FROM runs WHERE scenario = ? ORDER BY created", [scenario])
        return [_loads_json_fields(r, ["summary"]) for r in rows]

    def read_run_table(self, run_id: str, name: str) -> pa.Table:
        run = self.get_run(run_id)
        manifest = read_manifest(Path(run["path"]))
        if name not in manifest["files"]:
            raise NotFound(f"run {run_id!r}: no table {name!r}; has {sorted(manifest['files'])}")
        return pq.read_table(Path(run["path"]) / manifest["files"][name]["file"])

    # -- variants -------------------------------------------------------------------------------------------
    def add_variant(self, variant_id: str, scenario: str, name: str, params: Mapping[str, Any]) -> None:
        check_name(variant_id, "variant_id")
        with self._lock:
            self._con.execute("DELETE FROM variants WHERE variant_id = ?", [variant_id])
            self._con.execute(
                "INSERT INTO variants VALUES (?, ?, ?, ?, ?)",
                [variant_id, scenario, name, json.dumps(dict(params), default=str), utcnow()],
            )

    def list_variants(self, scenario: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM variants" + (" WHERE scenario = ?" if scenario else "") + " ORDER BY created"
        return [_loads_json_fields(r, ["params"]) for r in self.query(sql, [scenario] if scenario else [])]

    # -- decisions ------------------------------------------------------------------------------------------
    def log_decisions(self, records: Sequence[DecisionRecord]) -> None:
        """Append decisions in one columnar insert."""
        if not records:
            return
        cols: dict[str, list[Any]] = {name: [] for name, _ in _DECISION_COLUMNS}
        for r in records:
            for name, _ in _DECISION_COLUMNS:
                v = None if name == "outcome_time" else getattr(r, name)
                if name in _JSON_DECISION_FIELDS and v is not None:
                    v = json.dumps(list(v) if name == "rule_ids" else v, default=str)
                cols[name].append(v)
        table = pa.table({name: pa.array(cols[name], type=t) for name, t in _DECISION_COLUMNS})
        with self._lock:
            self._con.from_arrow(table).insert_into("decisions")

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        rows = self.query("SELECT * FROM decisions WHERE decision_id = ?", [decision_id])
        if not rows:
            raise NotFound(f"decision {decision_id!r}: not in the decision log")
        return _loads_json_fields(rows[0], _JSON_DECISION_FIELDS)

    def list_decisions(
        self, table: str | None = None, limit: int = 100, offset: int = 0, since: datetime | None = None,
        run_id: str | None = None,
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if table is not None:
            where.append('"table" = ?')
            params.append(table)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        sql = "SELECT * FROM decisions" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY time DESC, decision_id LIMIT ? OFFSET ?"
        rows = self.query(sql, [*params, int(limit), int(offset)])
        return [_loads_json_fields(r, _JSON_DECISION_FIELDS) for r in rows]

    def count_decisions(self) -> int:
        return int(self.query("SELECT count(*) AS n FROM decisions")[0]["n"])

    def record_outcome(
        self, decision_id: str, *, adopted: bool | None, outcome: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        with self._lock:
            self.get_decision(decision_id)
            self._con.execute(
                "UPDATE decisions SET adopted = coalesce(?, adopted), outcome = coalesce(?, outcome), "
                "outcome_time = ? WHERE decision_id = ?",
                [adopted, None if outcome is None else json.dumps(dict(outcome)), utcnow(), decision_id],
            )
            return self.get_decision(decision_id)

    # -- thresholds (raw rows; the versioning logic lives in dientine.thresholds) -----------------------------
    def threshold_current(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM thresholds QUALIFY row_number() OVER (PARTITION BY name ORDER BY version DESC) = 1 "
            "ORDER BY name"
        )

    def threshold_history(self, name: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM thresholds WHERE name = ? ORDER BY version", [name])

    def insert_threshold(
        self,
        name: str,
        *,
        value: float,
        minimum: float | None,
        maximum: float | None,
        reason: str,
        changed_by: str,
        expected_version: int | None,
    ) -> dict[str, Any]:
        """Append version ``expected_version + 1`` (or 1 when ``expected_version`` is None and none exists)."""
        with self._lock:
            cur = self.query("SELECT max(version) AS v FROM thresholds WHERE name = ?", [name])[0]["v"]
            if cur != expected_version:
                raise VersionConflict(
                    f"threshold {name!r}: version {expected_version} is not current ({cur})", cur
                )
            version = 1 if cur is None else cur + 1
            row = [name, version, float(value), minimum, maximum, reason, utcnow(), changed_by]
            self._con.execute("INSERT INTO thresholds VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            return self.threshold_history(name)[-1]

    # -- policies (uploaded decision tables, versioned) -----------------------------------------------------
    def get_policy(self, name: str, version: int | None = None) -> dict[str, Any]:
        if version is None:
            rows = self.query("SELECT * FROM policies WHERE name = ? ORDER BY version DESC LIMIT 1", [name])
        else:
            rows = self.query("SELECT * FROM policies WHERE name = ? AND version = ?", [name, version])
        if not rows:
            raise NotFound(f"policy {name!r}: not stored")
        return rows[0]

    def list_policies(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT name, version, format, changed_at, changed_by FROM policies "
            "QUALIFY row_number() OVER (PARTITION BY name ORDER BY version DESC) = 1 ORDER BY name"
        )

    def put_policy(
        self, name: str, *, text: str, fmt: str, changed_by: str, expected_version: int | None
    ) -> dict[str, Any]:
        check_name(name, "policy name")
        with self._lock:
            cur = self.query("SELECT max(version) AS v FROM policies WHERE name = ?", [name])[0]["v"]
            if cur != expected_version:
                raise VersionConflict(f"policy {name!r}: version {expected_version} is not current ({cur})", cur)
            version = 1 if cur is None else cur + 1
            self._con.execute(
                "INSERT INTO policies VALUES (?, ?, ?, ?, ?, ?)", [name, version, fmt, text, utcnow(), changed_by]
            )
            return self.get_policy(name)

    # -- jobs -----------------------------------------------------------------------------------------------
    def create_job(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        job_id = new_id()
        self._exec(
            "INSERT INTO jobs VALUES (?, ?, ?, 'queued', ?, NULL, NULL, NULL, NULL, NULL)",
            [job_id, kind, json.dumps(dict(payload), default=str), utcnow()],
        )
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> dict[str, Any]:
        rows = self.query("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        if not rows:
            raise NotFound(f"job {job_id!r}: not in the catalog")
        return _loads_json_fields(rows[0], ["payload"])

    def list_jobs(self, status: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        where = " WHERE status = ?" if status else ""
        rows = self.query(
            f"SELECT * FROM jobs{where} ORDER BY created DESC, job_id LIMIT ? OFFSET ?",
            [*([status] if status else []), int(limit), int(offset)],
        )
        return [_loads_json_fields(r, ["payload"]) for r in rows]

    def claim_next_job(self) -> dict[str, Any] | None:
        """Oldest queued job → running (the caller starts its worker and then calls :meth:`set_job_pid`)."""
        with self._lock:
            rows = self.query("SELECT job_id FROM jobs WHERE status = 'queued' ORDER BY created, job_id LIMIT 1")
            if not rows:
                return None
            job_id = rows[0]["job_id"]
            self._con.execute(
                "UPDATE jobs SET status = 'running', started = ? WHERE job_id = ?", [utcnow(), job_id]
            )
            return self.get_job(job_id)

    def set_job_pid(self, job_id: str, pid: int) -> None:
        self._exec("UPDATE jobs SET worker_pid = ? WHERE job_id = ?", [pid, job_id])

    def finish_job(
        self, job_id: str, status: str, *, result_path: str | None = None, error: str | None = None
    ) -> dict[str, Any]:
        if status not in JOB_STATUSES[2:]:
            raise StoreError(f"job {job_id!r}: finish status must be one of {JOB_STATUSES[2:]}, got {status!r}")
        self._exec(
            "UPDATE jobs SET status = ?, finished = ?, result_path = ?, error = ? WHERE job_id = ?",
            [status, utcnow(), result_path, error, job_id],
        )
        return self.get_job(job_id)

    def requeue_job(self, job_id: str) -> dict[str, Any]:
        """running → queued (clean shutdown): the job runs again from scratch on the next start."""
        self._exec(
            "UPDATE jobs SET status = 'queued', started = NULL, worker_pid = NULL WHERE job_id = ?", [job_id]
        )
        return self.get_job(job_id)

    def cancel_queued_job(self, job_id: str) -> bool:
        """queued → cancelled; False when the job is not queued (anymore)."""
        with self._lock:
            job = self.get_job(job_id)
            if job["status"] != "queued":
                return False
            self.finish_job(job_id, "cancelled", error="cancelled before start")
            return True

    def job_tmp_dir(self, job_id: str) -> Path:
        return self.jobs_dir / f"{TMP_PREFIX}{job_id}"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def recover_jobs(self) -> list[str]:
        """After a restart: jobs still 'running' were interrupted → failed, partial output removed.

        Queued jobs stay queued. A job whose complete output directory exists (killed after its atomic
        rename) is marked succeeded. Returns the ids of the jobs marked failed.
        """
        failed = []
        for job in self.list_jobs(status="running", limit=1_000_000):
            jid = job["job_id"]
            shutil.rmtree(self.job_tmp_dir(jid), ignore_errors=True)
            final = self.job_dir(jid)
            if (final / "result.json").is_file():
                self.finish_job(jid, "succeeded", result_path=str(final))
            else:
                shutil.rmtree(final, ignore_errors=True)
                self.finish_job(jid, "failed", error="interrupted: the coordinating process stopped mid-run")
                failed.append(jid)
        return failed

    # -- API keys -------------------------------------------------------------------------------------------
    def insert_key(self, key_id: str, name: str, scopes: Sequence[str], salt: bytes, digest: bytes) -> None:
        self._exec(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, false, NULL)",
            [key_id, name, list(scopes), salt, digest, utcnow()],
        )

    def get_key(self, key_id: str) -> dict[str, Any]:
        rows = self.query("SELECT * FROM api_keys WHERE key_id = ?", [key_id])
        if not rows:
            raise NotFound(f"api key {key_id!r}: unknown")
        return rows[0]

    def list_keys(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT key_id, name, scopes, created, revoked, revoked_at FROM api_keys ORDER BY created"
        )

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        with self._lock:
            self.get_key(key_id)
            self._con.execute(
                "UPDATE api_keys SET revoked = true, revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?",
                [utcnow(), key_id],
            )
            return self.get_key(key_id)


class DecisionLogWriter:
    """Batches decision records on a background thread so request handlers never wait on DuckDB.

    ``submit`` is a queue put. The thread writes what is queued every ``interval_s`` (in batches of at most
    ``max_batch`` rows); ``flush()`` drains synchronously (read paths call it first); ``close()`` stops the
    thread and drains, so a clean shutdown loses nothing.
    """

    def __init__(self, store: Store, *, interval_s: float = 0.2, max_batch: int = 5000) -> None:
        self.store = store
        self.interval_s = interval_s
        self.max_batch = max_batch
        self._q: queue.SimpleQueue[DecisionRecord] = queue.SimpleQueue()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
        self._thread.start()

    def submit(self, record: DecisionRecord) -> None:
        if self._closed:
            raise RuntimeError("decision log writer is closed")
        self._q.put(record)

    def _drain(self) -> None:
        batch: list[DecisionRecord] = []
        while True:
            try:
                batch.append(self._q.get_nowait())
            except queue.Empty:
                break
            if len(batch) >= self.max_batch:
                self.store.log_decisions(batch)
                batch = []
        self.store.log_decisions(batch)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._flush_lock:
                try:
                    self._drain()
                except Exception:  # keep the writer alive; the error is reported, that batch is lost
                    _log.exception("decision log writer: batch insert failed")

    def flush(self) -> None:
        with self._flush_lock:
            self._drain()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        self.flush()
