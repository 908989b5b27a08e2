"""Background jobs (what-if runs and friends): a runner thread in the coordinating process, one worker process per job.

Only the coordinating process (the API server) opens the DuckDB catalog, so workers never touch it:

* :class:`JobRunner` (a thread in the coordinator) claims the oldest queued job, writes ``job.json`` into
  ``<store>/jobs/.tmp-<id>/`` and starts ``python -m dientine.jobs <tmp> <final>`` as a subprocess.
* The worker runs the job kind's function, which writes its files into the temp directory and returns a JSON
  summary; the worker writes ``result.json``, fsyncs and renames the directory to ``<store>/jobs/<id>/``
  (:func:`dientine.store.commit_dir`). A job's output therefore exists completely or not at all.
* The runner sees the worker exit and records succeeded (the final directory exists) or failed (error text,
  temp directory removed) in the catalog.

Restarts: a clean shutdown (:meth:`JobRunner.stop`) kills running workers and puts their jobs back to *queued*;
after a crash, :meth:`dientine.store.Store.recover_jobs` marks jobs still *running* as *failed* and removes their
partial output. A worker whose coordinator died exits by itself (it watches its parent pid).

Job kinds are registered by name with a pydantic params model (validated at submission) and a ``module:function``
target ``fn(params: dict, out_dir: Path) -> dict``. Built in: ``echo``, ``sleep`` (test and smoke kinds) and
``whatif`` (``dientine.whatif.run``, available once that module exists).

A succeeded ``whatif`` job's baseline and variants also become store runs ``job-<job id>.<variant>`` (files
hard-linked from the job's output, registered by the runner with their scenario, seed, variant, summary KPIs,
decision log and threshold trajectory, :func:`dientine.runner.stage_whatif_runs`); the job's own output stays as
it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dientine.store import Store, commit_dir

_log = logging.getLogger(__name__)

RESULT_NAME = "result.json"
ERROR_NAME = "error.txt"
JOB_NAME = "job.json"


class UnknownJobKind(ValueError):
    """The job kind is not registered or its module is not available."""


class EchoParams(BaseModel):
    """``echo``: return the message (after an optional delay)."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field("hello", max_length=10_000)
    delay_s: float = Field(0.0, ge=0.0, le=60.0)


class SleepParams(BaseModel):
    """``sleep``: sleep in steps, writing one part file per step (a stand-in for a long run with partial output)."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(1.0, ge=0.0, le=3600.0)
    steps: int = Field(4, ge=1, le=1000)
    fail: bool = False


SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"
ENV_SCENARIOS = "DIENTINE_SCENARIOS"


def scenarios_dir() -> Path:
    """Where ``whatif`` jobs find scenario files by name: env ``DIENTINE_SCENARIOS``, else the repo's scenarios/."""
    return Path(os.environ.get(ENV_SCENARIOS) or SCENARIOS_DIR).resolve()


class WhatIfParams(BaseModel):
    """``whatif``: baseline + variants of one scenario (``dientine.whatif.run_whatif``), compared KPI by KPI.

    Give ``scenario`` (a file name under the server's scenarios directory, e.g. ``city_day.yaml``) or
    ``scenario_yaml`` (the scenario text itself; relative ``sites:`` files are not available then). The scenario
    and its variants are validated at submission, so errors come back at once with file, line and field.
    """

    model_config = ConfigDict(extra="forbid")
    scenario: str | None = Field(None, max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*\.ya?ml$")
    scenario_yaml: str | None = Field(None, min_length=1, max_length=1_000_000)
    max_workers: int = Field(1, ge=1, le=64, description="Processes for the baseline and variants")

    @field_validator("scenario")
    @classmethod
    def _scenario_file(cls, name: str | None) -> str | None:
        if name is None:
            return None
        base = scenarios_dir()
        path = (base / name).resolve()
        if ".." in Path(name).parts or not path.is_relative_to(base) or not path.is_file():
            raise ValueError(f"no file {name!r} in the server's scenarios directory")
        _check_scenario(path, shown_as=name, base=base)
        return name

    @field_validator("scenario_yaml")
    @classmethod
    def _scenario_text(cls, text: str | None) -> str | None:
        if text is None:
            return None
        _refuse_file_references(text)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "scenario.yaml"
            path.write_text(text, encoding="utf-8")
            _check_scenario(path, shown_as="scenario_yaml", base=Path(d))
        return text

    @model_validator(mode="after")
    def _one_source(self) -> WhatIfParams:
        if (self.scenario is None) == (self.scenario_yaml is None):
            raise ValueError("give exactly one of 'scenario' (a file name) or 'scenario_yaml' (the text)")
        return self


def _sites_keys(node: Any, where: str = "") -> list[str]:
    """Dotted paths of every ``sites`` key (also inside dotted variant overrides such as
    ``network.layout.sites``) in a parsed YAML tree."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key).split(".")[-1] == "sites":
                found.append(path)
            found += _sites_keys(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _sites_keys(value, f"{where}[{i}]")
    return found


def _refuse_file_references(text: str) -> None:
    """An inline scenario must not make the server read its files: a ``sites:`` CSV path (absolute or relative, in
    the scenario or a variant) would be opened on the server and its first line echoed in the error."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # the scenario loader reports it with its line
    keys = _sites_keys(data)
    if keys:
        raise ValueError(f"scenario_yaml: {keys[0]}: an inline scenario cannot name a file on the server; use a hex "
                         "layout, or give 'scenario', a file in the server's scenarios directory")


def _check_scenario(path: Path, shown_as: str, base: Path) -> None:
    """Load the scenario and its variants; a problem is a ValueError naming line and field, with the server's
    paths replaced: ``path`` is shown as ``shown_as``, other files under ``base`` relative to it."""
    from dientine.scenario import load_variants

    try:
        load_variants(path)  # ScenarioError is a ValueError naming file, line and field
    except ValueError as exc:
        message = str(exc)
        for p, b in ((path.resolve(), base.resolve()), (path, base)):
            message = message.replace(str(p), shown_as).replace(str(b) + os.sep, "")
        raise ValueError(message) from None


@dataclass(frozen=True)
class JobKind:
    name: str
    params_model: type[BaseModel]
    target: str  # "module:function"
    module: str

    def available(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False


_KINDS: dict[str, JobKind] = {}


def register_kind(name: str, params_model: type[BaseModel], target: str, requires: str | None = None) -> None:
    """Register a job kind: ``target`` is ``"package.module:function"``, importable in a fresh process.

    ``requires`` names a module that must be importable for the kind to be offered (default: the target's).
    """
    module, _, func = target.partition(":")
    if not module or not func:
        raise ValueError(f"job kind {name!r}: target must be 'module:function', got {target!r}")
    _KINDS[name] = JobKind(name, params_model, target, requires or module)


def kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


def validate_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` for ``kind`` (pydantic ValidationError names the field); return the normalised dict."""
    spec = _KINDS.get(kind)
    if spec is None:
        raise UnknownJobKind(f"unknown job kind {kind!r}; known: {sorted(_KINDS)}")
    if not spec.available():
        raise UnknownJobKind(f"job kind {kind!r} is not available here (module {spec.module} missing)")
    return spec.params_model.model_validate(dict(params)).model_dump(mode="json")


# -- built-in kinds ---------------------------------------------------------------------------------------------
def run_echo(params: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    p = EchoParams.model_validate(params)
    if p.delay_s:
        time.sleep(p.delay_s)
    return {"message": p.message}


def run_sleep(params: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    p = SleepParams.model_validate(params)
    for i in range(p.steps):
        (out_dir / f"part-{i:04d}.txt").write_text(f"step {i + 1} of {p.steps}\n")
        time.sleep(p.seconds / p.steps)
    if p.fail:
        raise RuntimeError(f"sleep job asked to fail after {p.steps} steps")
    return {"steps": p.steps, "seconds": p.seconds}


def run_whatif(params: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    from dientine.whatif import run_whatif as _run

    p = WhatIfParams.model_validate(params)
    if p.scenario is not None:
        path = scenarios_dir() / p.scenario
    else:
        path = out_dir / "scenario.yaml"
        path.write_text(p.scenario_yaml or "", encoding="utf-8")
    if p.max_workers == 1:  # this worker is already a separate process: run the variants in it, one by one
        with ThreadPoolExecutor(max_workers=1) as pool:
            return _run(path, out_dir / "whatif", executor=pool)
    return _run(path, out_dir / "whatif", max_workers=p.max_workers)


register_kind("echo", EchoParams, "dientine.jobs:run_echo")
register_kind("sleep", SleepParams, "dientine.jobs:run_sleep")
register_kind("whatif", WhatIfParams, "dientine.jobs:run_whatif", requires="dientine.whatif")


# -- the worker process ---------------------------------------------------------------------------------------
def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(0.5)


def worker_main(tmp_dir: Path, final_dir: Path) -> int:
    """Run the job described by ``tmp_dir/job.json``; publish ``tmp_dir`` as ``final_dir`` on success."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        job = json.loads((tmp_dir / JOB_NAME).read_text())
        module, _, func = job["target"].partition(":")
        fn: Callable[[dict[str, Any], Path], dict[str, Any]] = getattr(importlib.import_module(module), func)
        result = fn(job["params"], tmp_dir)
        (tmp_dir / RESULT_NAME).write_text(json.dumps(result, default=str))
        commit_dir(tmp_dir, final_dir)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            (tmp_dir / ERROR_NAME).write_text(detail)
        except OSError:
            pass
        return 1
    return 0


# -- the runner (coordinating process) ------------------------------------------------------------------------
@dataclass
class _Active:
    job_id: str
    proc: subprocess.Popen[bytes]
    started: float
    cancelled: bool = False
    kind: str = ""
    payload: dict[str, Any] | None = None


class JobRunner:
    """Claims queued jobs and runs each in its own worker process; the only writer of job rows."""

    def __init__(
        self,
        store: Store,
        *,
        max_workers: int = 1,
        poll_interval_s: float = 0.1,
        job_timeout_s: float = 3600.0,
        python: str = sys.executable,
    ) -> None:
        self.store = store
        self.max_workers = max_workers
        self.poll_interval_s = poll_interval_s
        self.job_timeout_s = job_timeout_s
        self.python = python
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Recover from a previous crash, then start polling."""
        self.store.recover_jobs()
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # keep the runner alive; the failing job is marked by step()
                traceback.print_exc()
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()

    def step(self) -> None:
        """Reap finished workers, then start queued jobs up to ``max_workers``."""
        with self._lock:
            for active in list(self._active.values()):
                self._reap(active)
            while len(self._active) < self.max_workers and not self._stop.is_set():
                job = self.store.claim_next_job()
                if job is None:
                    break
                self._launch(job)

    def _launch(self, job: dict[str, Any]) -> None:
        job_id = job["job_id"]
        tmp, final = self.store.job_tmp_dir(job_id), self.store.job_dir(job_id)
        try:
            spec = _KINDS[job["kind"]]
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            (tmp / JOB_NAME).write_text(
                json.dumps({"job_id": job_id, "kind": job["kind"], "target": spec.target, "params": job["payload"]})
            )
            proc = subprocess.Popen(
                [self.python, "-m", "dientine.jobs", str(tmp), str(final)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            self.store.finish_job(job_id, "failed", error=f"could not start worker: {exc}")
            return
        self.store.set_job_pid(job_id, proc.pid)
        self._active[job_id] = _Active(job_id, proc, time.monotonic(), kind=job["kind"], payload=job["payload"])

    def _reap(self, active: _Active) -> None:
        rc = active.proc.poll()
        timed_out = rc is None and time.monotonic() - active.started > self.job_timeout_s
        if timed_out:
            active.proc.kill()
            rc = active.proc.wait()
        if rc is None:
            return
        del self._active[active.job_id]
        tmp, final = self.store.job_tmp_dir(active.job_id), self.store.job_dir(active.job_id)
        if (final / RESULT_NAME).is_file() and not active.cancelled:
            self.store.finish_job(active.job_id, "succeeded", result_path=str(final))
            if active.kind == "whatif":
                self._register_whatif_runs(active.job_id, active.payload or {})
            return
        error_file = tmp / ERROR_NAME
        if active.cancelled:
            status, error = "cancelled", "cancelled while running"
        elif timed_out:
            status, error = "failed", f"timed out after {self.job_timeout_s} s"
        elif error_file.is_file():
            status, error = "failed", error_file.read_text()[-4000:]
        else:
            sig = f" (signal {signal.Signals(-rc).name})" if rc < 0 and -rc in signal.valid_signals() else ""
            status, error = "failed", f"worker exited with code {rc}{sig}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        self.store.finish_job(active.job_id, status, error=error)

    def _register_whatif_runs(self, job_id: str, payload: Mapping[str, Any]) -> None:
        """A succeeded what-if job's baseline and variants as store runs (module docstring); a failure here is
        logged and leaves the job succeeded (complete run directories are registered by the next
        :meth:`Store.recover_runs`)."""
        from dientine.runner import stage_whatif_runs, whatif_variant_rows
        from dientine.scenario import load_scenario

        final = self.store.job_dir(job_id)
        try:
            path = scenarios_dir() / payload["scenario"] if payload.get("scenario") else final / "scenario.yaml"
            base = load_scenario(path)
            result = json.loads((final / RESULT_NAME).read_text())
            runs = stage_whatif_runs(self.store.root, f"job-{job_id}", final / "whatif", base, result["variants"],
                                     move=False)
            for row in whatif_variant_rows(base, runs):
                self.store.add_variant(*row)
            for run_id in runs.values():
                self.store.register_run(run_id)
        except Exception:
            _log.exception("job %s: its what-if runs could not be registered in the store", job_id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it has already finished."""
        with self._lock:
            if self.store.cancel_queued_job(job_id):
                return True
            active = self._active.get(job_id)
            if active is None:
                return False
            active.cancelled = True
            active.proc.kill()
            active.proc.wait()
            self._reap(active)
            return True

    def active_pids(self) -> dict[str, int]:
        with self._lock:
            return {jid: a.proc.pid for jid, a in self._active.items()}

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until no job is queued or running (tests, CLI)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.step()
            busy = self.store.query("SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'running')")
            if busy[0]["n"] == 0:
                return True
            time.sleep(self.poll_interval_s)
        return False

    def stop(self) -> None:
        """Clean shutdown: stop polling, kill running workers, put their jobs back to queued."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for active in list(self._active.values()):
                active.proc.kill()
                active.proc.wait()
                del self._active[active.job_id]
                tmp, final = self.store.job_tmp_dir(active.job_id), self.store.job_dir(active.job_id)
                if (final / RESULT_NAME).is_file():
                    self.store.finish_job(active.job_id, "succeeded", result_path=str(final))
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
                    self.store.requeue_job(active.job_id)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dientine.jobs <tmp_dir> <final_dir>", file=sys.stderr)
        return 2
    return worker_main(Path(args[0]), Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
