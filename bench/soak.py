"""`make soak`: the host under sustained load, for figures rather than timed assertions.

Starts `cagent-sidecar run --port 0` (embedded by default), then for --seconds keeps 50
streamed runs going at once (each: POST /agent/runs, then GET /agent/stream/{id} read to
its end) and 4 clients calling POST /agent/execute back to back. It checks what must
hold whatever the machine: every stream ends with its `result` event, and no answer is a
5xx (exit status 1 otherwise). It prints what it measured: runs, calls, latencies and
the host's resident memory (its children's too, in subprocess mode) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ROOT / "python" / "tests" / "agents_fixtures" / "good"


@dataclass
class Tally:
    streams: int = 0
    stream_events: int = 0
    executes: int = 0
    failures: list[str] = field(default_factory=list)
    server_errors: int = 0
    stream_ms: list[float] = field(default_factory=list)
    execute_ms: list[float] = field(default_factory=list)


def rss_kib(pid: int) -> int:
    """VmRSS of pid and every process below it, in KiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (OSError, StopIteration, ValueError):
            continue
    return total


async def stream_worker(client: httpx.AsyncClient, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        started = time.monotonic()
        response = await client.post("/agent/runs", json={"agent_id": "steps", "input": {"count": 3}})
        if response.status_code >= 500:
            tally.server_errors += 1
        if response.status_code != 202:
            tally.failures.append(f"POST /agent/runs answered {response.status_code}: {response.text[:200]}")
            continue
        request_id = response.json()["request_id"]
        last, events = None, 0
        async with client.stream("GET", f"/agent/stream/{request_id}") as stream:
            if stream.status_code >= 500:
                tally.server_errors += 1
            if stream.status_code != 200:
                tally.failures.append(f"GET /agent/stream answered {stream.status_code}")
                continue
            async for line in stream.aiter_lines():
                if line.startswith("event: ") and line != "event: keepalive":
                    last = line.removeprefix("event: ")
                    events += 1
        if last != "result":
            tally.failures.append(f"stream of run {request_id} ended with {last!r}, not result")
            continue
        tally.streams += 1
        tally.stream_events += events
        tally.stream_ms.append((time.monotonic() - started) * 1000)


async def execute_worker(client: httpx.AsyncClient, deadline: float, tally: Tally) -> None:
    n = 0
    while time.monotonic() < deadline:
        n += 1
        started = time.monotonic()
        response = await client.post("/agent/execute", json={"agent_id": "echo", "input": {"n": n}})
        if response.status_code >= 500:
            tally.server_errors += 1
        if response.status_code != 200 or response.json().get("result") != {"n": n}:
            tally.failures.append(f"POST /agent/execute answered {response.status_code}: {response.text[:200]}")
            continue
        tally.executes += 1
        tally.execute_ms.append((time.monotonic() - started) * 1000)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def soak(url: str, token: str, seconds: float, streams: int, executors: int, pid: int) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=streams + executors + 8, max_keepalive_connections=streams + executors + 8)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        # Warm up (imports, first runs) before the "before" figure.
        for _ in range(20):
            await client.post("/agent/execute", json={"agent_id": "echo", "input": {}})
        before = rss_kib(pid)
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(stream_worker(client, deadline, tally) for _ in range(streams)),
            *(execute_worker(client, deadline, tally) for _ in range(executors)),
        )
        after = rss_kib(pid)
    print(f"soak: {seconds:g} s, {streams} concurrent streamed runs, {executors} execute clients")
    print(f"  streamed runs: {tally.streams} ({tally.streams / seconds:.1f}/s), events read: {tally.stream_events}")
    print(f"    run + stream latency ms: p50 {percentile(tally.stream_ms, 0.5):.1f}, p99 {percentile(tally.stream_ms, 0.99):.1f}")
    print(f"  execute calls: {tally.executes} ({tally.executes / seconds:.1f}/s)")
    print(f"    latency ms: p50 {percentile(tally.execute_ms, 0.5):.1f}, p99 {percentile(tally.execute_ms, 0.99):.1f}"
          f", mean {statistics.fmean(tally.execute_ms) if tally.execute_ms else float('nan'):.1f}")
    print(f"  5xx answers: {tally.server_errors}, failures: {len(tally.failures)}")
    print(f"  host RSS (with children): before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB, "
          f"change {(after - before) / 1024:+.1f} MiB")
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="cagent-sidecar")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--executors", type=int, default=4)
    parser.add_argument("--mode", choices=["embedded", "subprocess"], default="embedded")
    options = parser.parse_args()

    token = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAGENT_")}
    env.update(CAGENT_TOKEN=token, CAGENT_AGENTS_DIR=str(AGENTS), CAGENT_RUN_RETENTION_S="30")
    with tempfile.TemporaryFile() as stderr:
        host = subprocess.Popen(
            [options.binary, "run", "--port", "0", "--mode", options.mode, "--log-level", "warning",
             "--python-home", str(ROOT / ".venv"), "--service-dir", str(ROOT / "python")],
            env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        try:
            assert host.stdout is not None
            line = host.stdout.readline()
            if not line.startswith("listening on "):
                stderr.seek(0)
                print(f"soak: the host did not start: {line!r}\n{stderr.read().decode(errors='replace')}", file=sys.stderr)
                return 1
            url = line.removeprefix("listening on ").strip()
            tally = asyncio.run(soak(url, token, options.seconds, options.streams, options.executors, host.pid))
        finally:
            host.send_signal(signal.SIGTERM)
            try:
                status = host.wait(60)
            except subprocess.TimeoutExpired:
                host.kill()
                status = host.wait()
        stderr.seek(0)
        errors = [line for line in stderr.read().decode(errors="replace").splitlines() if " error " in line or "ERROR" in line]
    print(f"  host exit status: {status}; error lines in its log: {len(errors)}")
    for line in errors[:5]:
        print(f"    {line}")
    for failure in tally.failures[:10]:
        print(f"  FAILED: {failure}")
    ok = not tally.failures and tally.server_errors == 0 and status == 0
    print("soak: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
