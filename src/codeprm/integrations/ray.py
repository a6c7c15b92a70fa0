"""A pool of sandboxes on Ray actors: the same ``run``/``run_many`` as ``Sandbox``, spread over machines.

    from codeprm.integrations.ray import RaySandboxPool
    with RaySandboxPool(actors=8, workers_per_actor=4, address="auto") as pool:   # address=None: local Ray
        results = pool.run_many([(program, problem), ...])                        # in input order

Each actor is one process holding a ``Sandbox(workers=workers_per_actor)`` (its zygotes run on the
actor's machine, with the full isolation there). ``run_many`` cuts the list into chunks and hands them
to whichever actor has room (two chunks queued per actor), so a slow chunk does not hold the others.
``make_executor("local" | "ray", ...)`` returns either a local ``Sandbox`` or this pool, for commands
that take ``--executor``.
"""

from __future__ import annotations

from typing import Any, Iterable

from codeprm.errors import CodeprmError
from codeprm.problems import Problem
from codeprm.sandbox import Result, Sandbox


IN_FLIGHT = 2  # chunks queued per actor


class _SandboxActor:
    """Runs inside a Ray actor process: one Sandbox, judging chunks of (program, problem) pairs."""

    def __init__(self, options: dict[str, Any]):
        self.sandbox = Sandbox(**options)

    def run_many(self, pairs: list[tuple[str, Problem]]) -> list[Result]:
        return self.sandbox.run_many(pairs)

    def close(self) -> None:
        self.sandbox.close()


class RaySandboxPool:
    def __init__(self, actors: int = 2, workers_per_actor: int = 2, address: str | None = None,
                 chunk_size: int | None = None, num_cpus_per_actor: float = 1.0, **sandbox_options: Any):
        try:
            import ray
        except ModuleNotFoundError:
            raise CodeprmError("the Ray executor needs the 'ray' extra: pip install 'codeprm[ray]'") from None
        if actors < 1 or workers_per_actor < 1:
            raise CodeprmError(f"actors and workers_per_actor must be >= 1, got {actors} and {workers_per_actor}")
        self._ray = ray
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        actor_cls = ray.remote(num_cpus=num_cpus_per_actor)(_SandboxActor)
        self.actors = [actor_cls.remote({**sandbox_options, "workers": workers_per_actor}) for _ in range(actors)]
        self.chunk_size = chunk_size
        self.workers = actors * workers_per_actor
        ray.get([a.run_many.remote([]) for a in self.actors])  # every actor's sandbox started (or its error raised here)

    def __enter__(self) -> "RaySandboxPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_many(self, pairs: Iterable[tuple[str, Problem]]) -> list[Result]:
        """Results in input order. Each actor has up to ``IN_FLIGHT`` chunks queued, so it starts its
        next chunk without waiting for the driver; a free actor takes the next chunk."""
        ray = self._ray
        pairs = list(pairs)
        if not pairs:
            return []
        size = self.chunk_size or max(1, min(64, len(pairs) // (4 * len(self.actors)) or 1))
        chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
        parts: list[list[Result] | None] = [None] * len(chunks)
        slots = {i: IN_FLIGHT for i in range(len(self.actors))}
        pending: dict[Any, tuple[int, int]] = {}  # object ref -> (chunk, actor)
        todo = 0
        while todo < len(chunks) or pending:
            for a in slots:
                while slots[a] and todo < len(chunks):
                    pending[self.actors[a].run_many.remote(chunks[todo])] = (todo, a)
                    slots[a] -= 1
                    todo += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                chunk, a = pending.pop(ref)
                parts[chunk] = ray.get(ref)
                slots[a] += 1
        return [r for part in parts for r in part]

    def run(self, program: str, problem: Problem) -> Result:
        return self.run_many([(program, problem)])[0]

    def close(self) -> None:
        ray = self._ray
        for actor in self.actors:
            try:
                ray.get(actor.close.remote(), timeout=60)
            except Exception:  # noqa: BLE001 - the actor is killed below anyway
                pass
            ray.kill(actor)
        self.actors = []
        if self._started_ray:
            ray.shutdown()


def make_executor(kind: str = "local", workers: int | None = None, ray_address: str | None = None,
                  actors: int | None = None, **sandbox_options: Any):
    """A sandbox for ``--executor local|ray``: ``Sandbox(workers=...)`` or a ``RaySandboxPool`` whose
    ``actors`` x ``workers`` sandbox workers judge ``run_many`` lists (both are context managers)."""
    if kind == "local":
        return Sandbox(**({"workers": workers} if workers else {}), **sandbox_options)
    if kind == "ray":
        return RaySandboxPool(actors=actors or 2, workers_per_actor=workers or 2, address=ray_address, **sandbox_options)
    raise CodeprmError(f"--executor must be local or ray, not {kind!r}")
