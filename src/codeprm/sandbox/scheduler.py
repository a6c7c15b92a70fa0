"""Feeding one zygote: keep its queue full, route each reply to the sample that asked, replace it when needed.

``drive(worker, next_run, finish)`` keeps up to ``PIPELINE_DEPTH`` requests queued at a zygote, so it
starts the next sample without waiting for this process. A zygote that dies or stops answering is
restarted and the requests it held are retried once; only a second failure becomes ``infra_error``.
A zygote that says it must retire (its cleanup or health check failed after a sample) is replaced
too, but that sample keeps its verdict and the others are simply sent again: what one sample did to
its worker never becomes an ``infra_error``, for itself or for anyone else.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Callable

from codeprm.errors import CodeprmError
from codeprm.sandbox.judge import SampleRun
from codeprm.sandbox.result import Result
from codeprm.sandbox.worker import WorkerDied, Zygote, encode_request

log = logging.getLogger("codeprm.sandbox")

PIPELINE_DEPTH = 2  # requests queued at a zygote: it starts the next sample without waiting for us
PIPELINE_MAX_BYTES = 16 << 10  # larger requests wait for an idle zygote (two full pipes would deadlock)


class _InFlight:
    __slots__ = ("run", "steps", "index", "payload", "timeout_s", "attempt")

    def __init__(self, run: SampleRun, steps, index: int, request: tuple):
        control, job, stdin, self.timeout_s = request
        self.run, self.steps, self.index = run, steps, index
        self.payload = encode_request(control, job, stdin)
        self.attempt = 1


NextRun = Callable[[], "tuple[int, SampleRun] | None"]


def drive(worker: Zygote, next_run: NextRun, finish: Callable[[int, Result], None]) -> None:
    inflight: deque[_InFlight] = deque()
    try:
        _loop(worker, next_run, finish, inflight)
    except BaseException:
        if inflight:  # replies we will never read are queued at this zygote: the next user must not get them
            try:
                worker.restart()
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        raise


def _advance(run: SampleRun, steps, index: int, value, finish) -> _InFlight | None:
    try:
        request = steps.send(value)
    except StopIteration as stop:
        finish(index, stop.value)
        return None
    return _InFlight(run, steps, index, request)


def _restart(worker: Zygote, why: str) -> str:
    try:
        worker.restart()
    except CodeprmError as exc:
        why += f"; restart failed: {exc}"
    return why


def _loop(worker: Zygote, next_run: NextRun, finish, inflight: "deque[_InFlight]") -> None:
    to_send: deque[_InFlight] = deque()
    while True:
        while len(inflight) < PIPELINE_DEPTH:
            if to_send:
                if inflight and len(to_send[0].payload) > PIPELINE_MAX_BYTES:
                    break
                item = to_send.popleft()
                try:
                    worker.send(item.payload)
                except WorkerDied:
                    to_send.appendleft(item)
                    break  # noticed at the next recv (or below when nothing is in flight)
                inflight.append(item)
                continue
            got = next_run()
            if got is None:
                break
            index, run = got
            steps = run.steps()
            item = _advance(run, steps, index, None, finish)
            if item is not None:
                to_send.append(item)
        if not inflight:
            if not to_send:
                return
            failed = [to_send.popleft()]  # could not even be sent: the worker is dead
            why = _restart(worker, "the zygote is not running")
        else:
            item = inflight.popleft()
            try:
                reply = worker.recv(item.timeout_s)
            except WorkerDied as exc:
                failed = [item, *inflight]
                inflight.clear()
                why = _restart(worker, str(exc))
            else:
                header = reply[0]
                retire = header.get("retire")
                if retire:  # the zygote exits after this reply: replace it, resend what it still held
                    log.info("sandbox zygote retired after a sample of %s: %s", item.run.problem.id, retire)
                    to_send.extendleft(reversed(inflight))
                    inflight.clear()
                    _restart(worker, str(retire))
                if not header.get("infra"):
                    nxt = _advance(item.run, item.steps, item.index, reply, finish)
                    if nxt is not None:
                        to_send.appendleft(nxt)  # finish started samples first
                    continue
                failed, why = [item], str(header["infra"])
        for item in reversed(failed):
            log.warning("sandbox infra error on %s (attempt %d): %s", item.run.problem.id, item.attempt, why)
            if item.attempt == 1:
                item.attempt = 2
                to_send.appendleft(item)
            else:
                item.run.infra = why
                nxt = _advance(item.run, item.steps, item.index, None, finish)
                if nxt is not None:
                    to_send.appendleft(nxt)
