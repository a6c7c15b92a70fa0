"""``codeprm bench serve``: load test of ``codeprm serve``'s /run_code with real model samples.

Workload: real CodeGen-16B HumanEval completions (``../shared/data``), each turned into one self-checking
program ``program_text(problem, completion)`` + asserts over the problem's call tests, run as SandboxFusion
clients run code (stdout, exit code). Three measurements against one real ``codeprm serve`` process:

1. burst: ``requests`` requests sent at once; every reply must be 200 or 429, and every 200's verdict
   must equal a direct ``Sandbox.run`` of the same program (the baseline, in this process);
2. closed loop: ``clients`` clients each sending requests back to back (retrying a 429 after its
   Retry-After): requests/s and p50/p99 latency;
3. /healthz afterwards, and the server's peak RSS (VmHWM of the server process; zygotes are separate).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import Field

from codeprm.config import StrictModel
from codeprm.errors import CodeprmError
from codeprm.integrations.workload import DATA, load_programs, verdict_of_result



class ServeBenchConfig(StrictModel):
    samples_path: Path = Field(DATA, description="real samples: {prompt, samples[]} per HumanEval problem, rows in lexicographic id order")
    requests: int = Field(1000, ge=1, le=100_000, description="requests of the burst (all sent at once)")
    clients: int = Field(100, ge=1, le=10_000, description="concurrent clients of the closed-loop phase")
    loop_requests: int = Field(1000, ge=1, le=1_000_000, description="requests of the closed-loop phase in all")
    workers: int = Field(4, ge=1, le=256, description="server sandbox workers (and the direct baseline's)")
    queue: int = Field(256, ge=0, le=100_000, description="server queue; the burst is sized to overflow it")
    run_timeout: float = Field(1.0, gt=0, le=60, description="CPU seconds per program (looping samples cost this)")
    seed: int = Field(0, description="which samples (a shuffled pick over problems and their 100 samples)")


def verdict_of_reply(reply: dict) -> str:
    run = reply.get("run_result") or {}
    if run.get("status") == "Finished":
        return "exit0" if run.get("return_code") == 0 else "exit!=0"
    if run.get("status") == "TimeLimitExceeded":
        return "timeout"
    return (reply.get("message") or "error").split(":", 1)[0]


def direct_verdicts(programs: list[str], cfg: ServeBenchConfig) -> tuple[list[str], float, float]:
    """The baseline: the same programs through an in-process Sandbox (no HTTP): their verdicts, samples/s,
    and samples/s of the /run_code runner programs (the server's sandbox work without the HTTP)."""
    from codeprm.problems import Problem, TestCase
    from codeprm.sandbox import Sandbox

    problem = Problem(id="direct", prompt="", style="instruct", time_limit_s=cfg.run_timeout, memory_limit_mb=1024,
                      tests=[TestCase.stdio(stdin="", stdout="")])
    from codeprm.serve import runcode

    runners = [runcode.runner_problem(runcode.RunCodeRequest(code=p, run_timeout=cfg.run_timeout, memory_limit_MB=1024))[:2]
               for p in programs]
    with Sandbox(workers=cfg.workers, **runcode.sandbox_options()) as sandbox:
        start = time.perf_counter()
        results = sandbox.run_many([(p, problem) for p in programs])
        plain_s = time.perf_counter() - start
        start = time.perf_counter()
        sandbox.run_many(runners)  # what the server runs per request, without HTTP
        runner_s = time.perf_counter() - start
    return [verdict_of_result(r) for r in results], len(programs) / plain_s, len(programs) / runner_s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of one process (the server's own: HTTP and the sandbox's host side)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class _Connection:
    """A minimal keep-alive HTTP/1.1 client (a load generator must cost less CPU than the server it
    loads: httpx took ~5 ms of CPU per request here, this takes a fraction of that)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        code = int(head[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return code, headers, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def _body(code: str, cfg: ServeBenchConfig) -> bytes:
    return json.dumps({"code": code, "language": "python", "run_timeout": cfg.run_timeout}).encode()


async def _burst(port: int, programs: list[str], cfg: ServeBenchConfig) -> list[tuple[int, dict | None]]:
    async def one(code: str):
        conn = _Connection(port)
        try:
            status, _, data = await conn.post("/run_code", _body(code, cfg))
        finally:
            conn.close()
        return status, (json.loads(data) if status == 200 else None)

    return await asyncio.gather(*(one(p) for p in programs))


async def _closed_loop(port: int, programs: list[str], cfg: ServeBenchConfig) -> tuple[list[float], int, float]:
    todo = iter(range(cfg.loop_requests))
    latencies: list[float] = []
    rejected = 0

    async def client():
        nonlocal rejected
        conn = _Connection(port)
        try:
            for i in todo:
                body = _body(programs[i % len(programs)], cfg)
                while True:
                    start = time.perf_counter()
                    status, headers, _ = await conn.post("/run_code", body)
                    if status != 429:
                        latencies.append(time.perf_counter() - start)
                        break
                    rejected += 1
                    await asyncio.sleep(float(headers.get("retry-after", "1")))
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(cfg.clients)))
    return latencies, rejected, time.perf_counter() - start


def run_serve_bench(cfg: ServeBenchConfig, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    import httpx

    progress("loading real samples")
    programs = load_programs(cfg.samples_path, cfg.requests, cfg.seed)
    progress(f"direct Sandbox.run of {len(programs)} programs (baseline)")
    direct, direct_rate, runner_rate = direct_verdicts(programs, cfg)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    load_start = os.getloadavg()[0]
    server = subprocess.Popen([sys.executable, "-c", "from codeprm.cli import main; main()", "serve", "--port", str(port),
                               "--workers", str(cfg.workers), "--queue", str(cfg.queue)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise CodeprmError(f"codeprm serve did not start (exit code {server.poll()})")
            time.sleep(0.2)
        progress(f"burst of {len(programs)} concurrent /run_code requests")
        replies = asyncio.run(_burst(port, programs, cfg))
        progress(f"{cfg.clients} clients, {cfg.loop_requests} requests back to back")
        cpu_before, client_before = _cpu_s(server.pid), time.process_time()
        latencies, rejected, elapsed = asyncio.run(_closed_loop(port, programs, cfg))
        server_cpu = _cpu_s(server.pid) - cpu_before
        client_cpu = time.process_time() - client_before
        health = httpx.get(f"{url}/healthz", timeout=10)
        peak = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    counts: dict[str, int] = {}
    mismatched = []
    for i, (code, reply) in enumerate(replies):
        counts[str(code)] = counts.get(str(code), 0) + 1
        if code == 200 and verdict_of_reply(reply) != direct[i]:
            mismatched.append({"index": i, "served": verdict_of_reply(reply), "direct": direct[i]})
    verdicts: dict[str, int] = {}
    for v in direct:
        verdicts[v] = verdicts.get(v, 0) + 1
    return {
        "requests": len(programs), "status_counts": counts, "mismatched_verdicts": len(mismatched),
        "mismatches": mismatched[:20], "direct_verdicts": verdicts, "peak_rss_mb": round(peak, 1),
        "healthz_after": health.status_code == 200 and health.json().get("ok") is True,
        "clients": cfg.clients, "loop_requests": cfg.loop_requests, "loop_429_retries": rejected,
        "rps_at_100" if cfg.clients == 100 else f"rps_at_{cfg.clients}": round(len(latencies) / elapsed, 1),
        "p50_ms_at_100" if cfg.clients == 100 else f"p50_ms_at_{cfg.clients}": round(1000 * _pct(latencies, 0.50), 1),
        "p99_ms_at_100" if cfg.clients == 100 else f"p99_ms_at_{cfg.clients}": round(1000 * _pct(latencies, 0.99), 1),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, len(latencies)), 2),
        "client_cpu_ms_per_request": round(1000 * client_cpu / max(1, len(latencies)), 2),
        "baseline_direct_sandbox_samples_per_s": round(direct_rate, 1),
        "baseline_direct_runner_samples_per_s": round(runner_rate, 1),
        "workers": cfg.workers, "queue": cfg.queue, "run_timeout_s": cfg.run_timeout, "seed": cfg.seed,
        "cpus": os.cpu_count(), "load_average_at_start": load_start, "load_average_at_end": os.getloadavg()[0],
        "samples_path": str(cfg.samples_path),
    }
