"""Decision-API benchmark (issue 6): decision evaluations per second through the API on loopback, p50/p99 latency.

Run: ``.venv/bin/python bench/api.py [--quick]``. Starts ``dientine.api.serve`` (uvicorn, one process, as
``dientine serve`` does) on 127.0.0.1 with a fresh temporary store, then drives it from this process with a
concurrent asyncio HTTP/1.1 keep-alive client (``--conns`` connections, ``--requests`` requests per repeat; every
request is authenticated with an API key and carries different inputs from a seeded generator).

Measured per repeat (median of ``--repeats``):
* evaluate: ``POST /v1/decisions/energy_saving/evaluate`` on the bundled ``decisions/tables/energy_saving.dmn``
  (5 KPI inputs per request, 5 thresholds filled from the store), logging on (not a dry run): auth, body
  validation, threshold fill, rule-traced evaluation, decision-log record (batched writer thread).
* baseline: ``GET /v1/health`` through the same server and client: the HTTP floor of this stack on this machine.
* engine only (footnote): the same evaluations in-process without HTTP.

Target (issue 6): >= 1,000 evaluations/s with p99 <= 20 ms on 2 cores. The client shares the machine's cores with
the server, so the figure is conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATE = 1000.0
TARGET_P99_MS = 20.0
ADMIN = "bench-admin-key-0123456789abcdef"

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    code = (
        "from dientine.api import serve; "
        f"serve('127.0.0.1', {port}, {str(tmp / 'store')!r}, admin_key={ADMIN!r}, run_jobs=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not come up within 60 s")


def kpi_inputs(n: int, seed: int) -> list[dict[str, object]]:
    """Per-cell KPI inputs of decisions/tables/energy_saving.dmn (thresholds come from the server's store)."""
    rng = np.random.default_rng(seed)
    return [
        {"is_coverage_cell": bool(c), "cell_asleep": bool(a), "cell_load": round(float(x), 4), "hour": int(hr),
         "neighbour_headroom": round(float(nh), 4)}
        for c, a, x, hr, nh in zip(rng.random(n) < 0.1, rng.random(n) < 0.2, rng.uniform(0, 1, n),
                                   rng.integers(0, 24, n), rng.uniform(0, 1, n), strict=True)
    ]


def build_requests(n: int, port: int, seed: int) -> list[bytes]:
    out = []
    for inputs in kpi_inputs(n, seed):
        body = json.dumps({"inputs": inputs}).encode()
        out.append(
            b"POST /v1/decisions/energy_saving/evaluate HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {ADMIN}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
    return out


def health_requests(n: int, port: int) -> list[bytes]:
    return [f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()] * n


async def _conn(port: int, reqs: list[bytes], it: list[int], lat: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while it[0] < len(reqs):
            i = it[0]
            it[0] += 1
            t0 = time.perf_counter()
            writer.write(reqs[i])
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n", 1)[0].decode() + " " + body[:200].decode(errors="replace"))
    finally:
        writer.close()


async def _drive(port: int, reqs: list[bytes], conns: int) -> tuple[float, np.ndarray, list[str]]:
    it, lat, errors = [0], [], []
    t0 = time.perf_counter()
    await asyncio.gather(*(_conn(port, reqs, it, lat, errors) for _ in range(conns)))
    wall = time.perf_counter() - t0
    return len(reqs) / wall, np.array(lat) * 1e3, errors


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(port: int, reqs: list[bytes], conns: int, pid: int) -> tuple[float, float, float, float]:
    """(requests/s, p50 ms, p99 ms, server CPU µs per request)."""
    c0 = cpu_s(pid)
    rate, lat_ms, errors = asyncio.run(_drive(port, reqs, conns))
    cpu_us = (cpu_s(pid) - c0) / len(reqs) * 1e6
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return rate, float(np.percentile(lat_ms, 50)), float(np.percentile(lat_ms, 99)), cpu_us


def engine_only(n: int) -> float:
    from dientine.api.engine import DecisionService
    from dientine.thresholds import load_specs

    svc = DecisionService(None)
    inputs = kpi_inputs(n, 1)
    defaults = {name: spec.default for name, spec in load_specs().items()}
    svc.evaluate("energy_saving", inputs[0], defaults=defaults)
    t0 = time.perf_counter()
    for x in inputs:
        svc.evaluate("energy_saving", x, defaults=defaults)
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=4000, help="requests per repeat")
    ap.add_argument("--conns", type=int, default=4, help="concurrent keep-alive connections")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1,000 requests x 3 repeats")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.repeats = 1000, 3

    tmp = Path(tempfile.mkdtemp(prefix="dientine-bench-api-"))
    port = free_port()
    server = start_server(tmp, port)
    try:
        pid = server.pid
        drive(port, build_requests(300, port, 0), args.conns, pid)  # warm-up: key cache, model cache, code paths
        drive(port, health_requests(300, port), args.conns, pid)
        ev, base = [], []
        for r in range(args.repeats):
            ev.append(drive(port, build_requests(args.requests, port, 100 + r), args.conns, pid))
            base.append(drive(port, health_requests(args.requests, port), args.conns, pid))
        eng = engine_only(5000)
    finally:
        server.terminate()
        server.wait(timeout=30)
    logged = _count_logged(tmp / "store")

    med = lambda rows, k: statistics.median(x[k] for x in rows)  # noqa: E731
    e_rate, e_p50, e_p99 = med(ev, 0), med(ev, 1), med(ev, 2)
    b_rate, b_p50, b_p99 = med(base, 0), med(base, 1), med(base, 2)
    e_cpu, b_cpu = med(ev, 3), med(base, 3)
    ok_rate, ok_p99 = e_rate >= TARGET_RATE, e_p99 <= TARGET_P99_MS
    print(f"\ndecision API on loopback: {args.requests} requests x {args.repeats} repeats, {args.conns} connections, "
          f"{os.cpu_count()} cores (shared)")
    print(f"{'figure':<30}{'median':>12}{'baseline':>12}{'ratio':>8}   {'target':<14}result")
    print(f"{'evaluations/s':<30}{e_rate:>12.0f}{b_rate:>12.0f}{e_rate / b_rate:>8.2f}   {'>= 1000':<14}"
          f"{'PASS' if ok_rate else 'FAIL'}")
    print(f"{'p50 latency ms':<30}{e_p50:>12.2f}{b_p50:>12.2f}{e_p50 / b_p50:>8.2f}   {'-':<14}")
    print(f"{'p99 latency ms':<30}{e_p99:>12.2f}{b_p99:>12.2f}{e_p99 / b_p99:>8.2f}   {'<= 20':<14}"
          f"{'PASS' if ok_p99 else 'FAIL'}")
    if e_cpu > 0:
        print(f"{'server CPU us per request':<30}{e_cpu:>12.0f}{b_cpu:>12.0f}{e_cpu / b_cpu:>8.2f}   {'(info)':<14}")
        print(f"{'CPU-bound capacity, evals/s':<30}{1e6 / e_cpu:>12.0f}{1e6 / b_cpu:>12.0f}{b_cpu / e_cpu:>8.2f}   "
              f"{'(info)':<14}")
    print(f"{'engine only, evaluations/s':<30}{eng:>12.0f}{'':>12}{'':>8}   {'(info)':<14}")
    print("baseline = GET /v1/health (no auth, no body) through the same server and client, same run.")
    print("server CPU = user+system time of the server process (all threads: event loop, log writer, DuckDB) per")
    print("request; its inverse is the rate one core sustains, a figure that does not depend on other load.")
    print(f"decisions logged by the server (clean shutdown flushes the batch writer): {logged}")
    expected = 300 + args.requests * args.repeats
    if logged != expected:
        print(f"ERROR: expected {expected} logged decisions")
        return 1
    return 0 if ok_rate and ok_p99 else 1


def _count_logged(store: Path) -> int:
    from dientine.store import Store

    with Store(store) as s:
        return s.count_decisions()


if __name__ == "__main__":
    sys.exit(main())
