"""Back-pressure and metrics for the server: a bounded queue in front of the sandbox, Prometheus text.

At most ``running`` requests use the sandbox at once and at most ``queue`` more wait for a turn; one
more is refused at once (``Full`` -> 429 with ``Retry-After``) instead of piling up memory and latency.
A request whose client went away while it waited leaves the queue without running anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from typing import Awaitable, Callable


class Full(Exception):
    """The queue is full: answer 429."""


class Gone(Exception):
    """The client disconnected while its request waited: nothing ran."""


class Gate:
    def __init__(self, running: int, queue: int):
        self.running_limit, self.queue_limit = running, queue
        self.running = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(running)

    async def enter(self, disconnected: Callable[[], Awaitable[bool]] | None = None, poll_s: float = 0.25) -> None:
        """Take a running slot, waiting in the queue; Full when the queue is full, Gone when the client left."""
        if not self._slots.locked():  # a free slot and nobody waiting: take it now
            await self._slots.acquire()
            self.running += 1
            return
        if self.waiting >= self.queue_limit:
            raise Full()
        self.waiting += 1
        # one acquire per request, never re-queued, so requests get slots in arrival order
        acquire = asyncio.ensure_future(self._slots.acquire())
        try:
            while not acquire.done():
                await asyncio.wait({acquire}, timeout=poll_s)
                if not acquire.done() and disconnected is not None and await disconnected():
                    break
            if not acquire.done():  # the client left while waiting
                acquire.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acquire
                if not acquire.cancelled():
                    self._slots.release()
                raise Gone()
        except asyncio.CancelledError:  # this request's own task was cancelled
            if acquire.done() and not acquire.cancelled():
                self._slots.release()
            else:
                acquire.cancel()
            raise
        finally:
            self.waiting -= 1
        self.running += 1

    def leave(self) -> None:
        self.running -= 1
        self._slots.release()


BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters and latency histograms in Prometheus' text format (no client library needed)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.verdicts: Counter[tuple[str, str]] = Counter()  # (endpoint, status)
        self.rejected = 0
        self.latency: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS_S) + 1))
        self.latency_sum: Counter[str] = Counter()
        self.started = time.time()

    def observe(self, endpoint: str, code: int, seconds: float) -> None:
        self.requests[(endpoint, code)] += 1
        counts = self.latency[endpoint]
        counts[next((i for i, b in enumerate(BUCKETS_S) if seconds <= b), len(BUCKETS_S))] += 1
        self.latency_sum[endpoint] += seconds

    def render(self, gate: Gate) -> str:
        out = ["# HELP codeprm_queue_depth requests waiting for a sandbox slot", "# TYPE codeprm_queue_depth gauge",
               f"codeprm_queue_depth {gate.waiting}",
               "# HELP codeprm_running requests using the sandbox now", "# TYPE codeprm_running gauge",
               f"codeprm_running {gate.running}",
               "# HELP codeprm_rejected_total requests refused with 429 (queue full)", "# TYPE codeprm_rejected_total counter",
               f"codeprm_rejected_total {self.rejected}",
               "# HELP codeprm_requests_total requests answered, by endpoint and HTTP status", "# TYPE codeprm_requests_total counter"]
        out += [f'codeprm_requests_total{{endpoint="{e}",code="{c}"}} {n}' for (e, c), n in sorted(self.requests.items())]
        out += ["# HELP codeprm_verdicts_total verdicts: Result.status (judge, get_reward), run_result status (run_code)", "# TYPE codeprm_verdicts_total counter"]
        out += [f'codeprm_verdicts_total{{endpoint="{e}",status="{s}"}} {n}' for (e, s), n in sorted(self.verdicts.items())]
        out += ["# HELP codeprm_request_seconds request latency", "# TYPE codeprm_request_seconds histogram"]
        for endpoint, counts in sorted(self.latency.items()):
            total = 0
            for bound, n in zip([*map(str, BUCKETS_S), "+Inf"], counts):
                total += n
                out.append(f'codeprm_request_seconds_bucket{{endpoint="{endpoint}",le="{bound}"}} {total}')
            out.append(f'codeprm_request_seconds_sum{{endpoint="{endpoint}"}} {self.latency_sum[endpoint]:.6f}')
            out.append(f'codeprm_request_seconds_count{{endpoint="{endpoint}"}} {total}')
        return "\n".join(out) + "\n"
