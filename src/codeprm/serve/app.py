"""``codeprm serve``: one process holding a sandbox pool (and optionally a PRM) behind HTTP.

    POST /run_code     SandboxFusion's API for Python (its clients and verl's sandbox_fusion point here)
    POST /judge        {"problem": SPEC, "program" | "completion": TEXT} -> codeprm's Result
    POST /get_reward   OpenRLHF's remote reward model: {"query", "prompts", "labels"} -> {"rewards", "scores", "extra_logs"}
    POST /score_lines  {"prompt", "completion"} -> PRM line scores (needs --prm)
    GET  /healthz, GET /metrics (Prometheus text)

Bad input gets a 4xx whose JSON ``detail`` is one line; a full queue a 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from codeprm.errors import CodeprmError
from codeprm.integrations.core import details, resolve_problem
from codeprm.lines import split_lines
from codeprm.programs import program_text
from codeprm.sandbox import native
from codeprm.serve import runcode
from codeprm.serve.config import ServeConfig
from codeprm.serve.gate import Full, Gate, Gone, Metrics

log = logging.getLogger("codeprm.serve")


IN_SANDBOX_PER_WORKER = 2


class HTTPError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class JudgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    problem: str | dict[str, Any] = Field(description="'BENCHMARK#ID' or a Problem")
    program: str | None = Field(None, max_length=runcode.MAX_CODE_BYTES, description="the code that runs, as is")
    completion: str | None = Field(None, max_length=runcode.MAX_CODE_BYTES, description="a completion: program_text decides what runs")

    @model_validator(mode="after")
    def _one(self) -> "JudgeRequest":
        if (self.program is None) == (self.completion is None):
            raise ValueError("give exactly one of 'program' and 'completion'")
        return self


class RewardRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenRLHF versions add fields; the three below are what we read
    query: list[str] = Field(description="prompt + response as the trainer decoded it")
    prompts: list[str] = Field(description="the prompts, to cut the response out of each query")
    labels: list[str | dict[str, Any] | None] = Field(description="problem spec per query ('BENCHMARK#ID' or a Problem)")


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field("", max_length=runcode.MAX_CODE_BYTES, description="text the PRM reads before the completion")
    completion: str = Field(max_length=runcode.MAX_CODE_BYTES, description="code whose lines are scored")


# special tokens a decoded query may end with (OpenRLHF decodes with skip_special_tokens=False)
_TRAILING_SPECIAL = re.compile(r"(?:\s*(?:<\|[^<>|]{1,40}\|>|</s>|<eos>|<pad>))+\s*$")


def response_of(query: str, prompt: str, index: int = 0) -> str:
    """The response inside an OpenRLHF query: after the prompt, without trailing special tokens; 422 when
    the prompt is not in the query (judging the whole query would score a program that was never written)."""
    at = query.find(prompt) if prompt else 0
    if at < 0:
        raise HTTPError(422, f"prompts[{index}] is not in query[{index}], so the response cannot be cut out of it "
                             f"(the prompt must appear verbatim; it starts {prompt[:60]!r}, the query {query[:60]!r})")
    return _TRAILING_SPECIAL.sub("", query[at + len(prompt):])


def check_labels(labels: list) -> None:
    """422 naming the first missing label: OpenRLHF sends "" without --data.label_key and None for an empty cell."""
    for i, label in enumerate(labels):
        if label is None or (isinstance(label, str) and not label.strip()):
            raise HTTPError(422, f"labels[{i}] is {label!r}: each query needs its problem spec; start OpenRLHF with "
                                 "--data.label_key naming the dataset column that holds it ('problem' in codeprm export --format openrlhf)")


def problem_of(spec: Any, config: ServeConfig):
    """``resolve_problem`` for a client's spec; 422 naming what is wrong. Specs naming files on this
    machine are refused unless the server allows them (``benchmark_paths``)."""
    if isinstance(spec, str) and not spec.lstrip().startswith("{") and not config.benchmark_paths:
        benchmark = spec.rpartition("#")[0]
        if "/" in benchmark or "\\" in benchmark:
            raise HTTPError(422, f"problem spec {spec[:80]!r} names a file; this server serves built-in benchmarks only "
                                 "(start it with --set benchmark_paths=true to allow files)")
    try:
        return resolve_problem(spec)
    except CodeprmError as exc:
        raise HTTPError(422, str(exc)) from None


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return f"field '{field}': {err['msg']}"


async def read_model(request: Request, model: type[BaseModel], limit: int) -> Any:
    """The body as ``model``: 413 past ``limit`` bytes, 400 for bad JSON, 422 naming the bad field."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body of {length} bytes is larger than the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"body is not valid JSON ({exc})"[:300]) from None
    if not isinstance(data, dict):
        raise HTTPError(422, f"body must be a JSON object, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HTTPError(422, _one_line(exc)) from None


class Server:
    """The state behind the app: sandbox, optional PRM, gate, metrics."""

    def __init__(self, config: ServeConfig, sandbox=None, prm=None):
        self.config, self.sandbox, self.prm = config, sandbox, prm
        self.own_sandbox = sandbox is None
        self.gate: Gate | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.metrics = Metrics()
        self.prm_lock = threading.Lock()

    def start(self) -> None:
        from codeprm.sandbox import Sandbox

        if self.sandbox is None:
            self.sandbox = Sandbox(workers=self.config.workers, isolation=self.config.isolation,
                                   packages=runcode.default_packages(self.config.packages), **runcode.sandbox_options())
        if self.prm is None and self.config.prm:
            from codeprm.prm.model import load_reward_model

            self.prm = load_reward_model(self.config.prm, mode="prm")
        # two requests per worker inside the sandbox: when a worker frees, a thread already blocked on it
        # starts the next sample at once (no round trip through the event loop, which a loaded machine
        # can delay by tens of ms per hand-off)
        inside = IN_SANDBOX_PER_WORKER * self.config.workers
        self.gate = Gate(inside, self.config.queue)
        self.pool = ThreadPoolExecutor(inside, thread_name_prefix="codeprm-serve")

    async def run(self, program: str, problem):
        return await asyncio.get_running_loop().run_in_executor(self.pool, self.sandbox.run, program, problem)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        if self.own_sandbox and self.sandbox is not None:
            self.sandbox.close()

    async def guarded(self, request, endpoint: str, work: Callable[[], Awaitable[Any]], start: float):
        """Run ``work`` in a sandbox slot; 429 when the queue is full; metrics (latency since ``start``,
        when the handler began reading the body) either way."""
        try:
            await self.gate.enter(request.is_disconnected)
        except Full:
            self.metrics.rejected += 1
            response = JSONResponse({"detail": "server busy: the queue is full, retry later"}, 429,
                                    headers={"Retry-After": str(self.config.retry_after_s)})
        except Gone:
            response = Response(status_code=499)  # nobody is listening; nothing ran
        else:
            try:
                body = await work()
                response = JSONResponse(body)
            except HTTPError as exc:
                response = JSONResponse({"detail": exc.detail}, exc.status, headers=exc.headers)
            except CodeprmError as exc:
                response = JSONResponse({"detail": str(exc)}, 400)
            finally:
                self.gate.leave()
        self.metrics.observe(endpoint, response.status_code, time.perf_counter() - start)
        return response

    async def in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def score_lines(self, prompts: list[str], completions: list[str]) -> list[list[float | None]]:
        if self.prm is None:
            raise HTTPError(404, "no PRM loaded: start the server with --prm DIR")
        with self.prm_lock:
            return self.prm.score_many(prompts, completions)


def create_app(config: ServeConfig | None = None, sandbox=None, prm=None):
    """The FastAPI app; ``sandbox``/``prm`` may be given (tests), else started from ``config``."""
    server = Server(config or ServeConfig(), sandbox, prm)

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.get_running_loop().run_in_executor(None, server.start)
        yield
        server.stop()

    app = FastAPI(title="codeprm serve", lifespan=lifespan)
    app.state.server = server

    @app.exception_handler(HTTPError)
    async def _http_error(request, exc: HTTPError):
        server.metrics.observe(request.url.path.strip("/"), exc.status, 0.0)
        body = {"detail": exc.detail}
        if request.url.path == "/get_reward":  # OpenRLHF logs only the status line, at INFO: say why here
            log.warning("/get_reward %d: %s", exc.status, exc.detail)
        if request.url.path == "/run_code":  # SandboxFusion's clients read status/message
            body.update(status="SandboxError", message=exc.detail)
        return JSONResponse(body, exc.status, headers=exc.headers)

    @app.post("/run_code")
    async def run_code(request: Request):
        start = time.perf_counter()
        req = await read_model(request, runcode.RunCodeRequest, server.config.max_body_bytes)
        compiled_language = req.language in native.LANGUAGES and req.language in native.available()
        try:  # checks the request before it queues; a compiled language is compiled inside its slot
            runner = runcode.runner_problem(req, "" if compiled_language else None)
        except runcode.BadRequest as exc:
            raise HTTPError(400, str(exc)) from None

        async def work():
            compile_result = None
            if compiled_language:
                built = await server.in_thread(server.sandbox.compiler().compile, req.language, req.code,
                                               runcode.compile_limits(req))
                compile_result = runcode.compile_result(built)
                if not built.ok:
                    server.metrics.verdicts[("run_code", "CompileError")] += 1
                    return runcode.RunCodeResponse(status="Failed", compile_result=compile_result).model_dump()
                launcher = native.launcher(built.shared_object, False, req.language, runcode.memory_mb(req))
                program, problem, mark = runcode.runner_problem(req, launcher)
            else:
                program, problem, mark = runner
            result = await server.run(program, problem)
            reply = runcode.to_response(result, mark, compile_result)
            server.metrics.verdicts[("run_code", reply.run_result.status if reply.run_result else reply.status)] += 1
            return reply.model_dump()

        return await server.guarded(request, "run_code", work, start)

    @app.post("/judge")
    async def judge(request: Request):
        start = time.perf_counter()
        req = await read_model(request, JudgeRequest, server.config.max_body_bytes)
        problem = problem_of(req.problem, server.config)
        program = req.program if req.program is not None else program_text(problem, req.completion)

        async def work():
            try:
                result = await server.run(program, problem)
            except CodeprmError as exc:  # the sandbox refuses a malformed problem before running it
                raise HTTPError(422, str(exc)) from None
            server.metrics.verdicts[("judge", result.status)] += 1
            return {**result.model_dump(mode="json"), **details(result)}

        return await server.guarded(request, "judge", work, start)

    @app.post("/get_reward")
    async def get_reward(request: Request):
        start = time.perf_counter()
        req = await read_model(request, RewardRequest, server.config.max_body_bytes)
        if not (len(req.query) == len(req.prompts) == len(req.labels)):
            raise HTTPError(422, f"query, prompts and labels differ in length ({len(req.query)}, {len(req.prompts)}, {len(req.labels)})")
        if len(req.query) > server.config.max_batch:
            raise HTTPError(413, f"{len(req.query)} queries in one request, more than the limit of {server.config.max_batch}")
        check_labels(req.labels)
        problems = [problem_of(label, server.config) for label in req.labels]
        responses = [response_of(q, p, i) for i, (q, p) in enumerate(zip(req.query, req.prompts))]
        pairs = [(program_text(pr, r), pr) for pr, r in zip(problems, responses)]

        async def work():
            try:
                results = await server.in_thread(server.sandbox.run_many, pairs)
            except CodeprmError as exc:
                raise HTTPError(422, str(exc)) from None
            rewards = [float(r.passed) for r in results]
            logs: dict[str, list] = {k: [] for k in ("passed", "pass_rate", "n_tests", "infra_error")}
            for r in results:
                server.metrics.verdicts[("get_reward", r.status)] += 1
                for k in logs:
                    logs[k].append(details(r)[k])
            if server.prm is not None and server.config.prm_weight > 0:
                heads = [p.prompt for p in problems]  # the PRM reads the problem's prompt, as in training
                lows = [min((x for x in row if x is not None), default=None)
                        for row in await server.in_thread(server.score_lines, heads, responses)]
                logs["prm_min"] = [0.0 if v is None else v for v in lows]
                rewards = [r + server.config.prm_weight * (v or 0.0) for r, v in zip(rewards, lows)]
            return {"rewards": rewards, "scores": rewards, "extra_logs": logs}

        return await server.guarded(request, "get_reward", work, start)

    @app.post("/score_lines")
    async def score_lines(request: Request):
        start = time.perf_counter()
        req = await read_model(request, ScoreRequest, server.config.max_body_bytes)
        if server.prm is None:
            raise HTTPError(404, "no PRM loaded: start the server with --prm DIR")

        async def work():
            scores = (await server.in_thread(server.score_lines, [req.prompt], [req.completion]))[0]
            return {"scores": scores, "lines": split_lines(req.completion)}

        return await server.guarded(request, "score_lines", work, start)

    @app.get("/v1/ping")
    async def ping():  # SandboxFusion's liveness probe (its clients and deployments call it)
        return "pong"

    @app.get("/healthz")
    async def healthz():
        gate = server.gate
        return {"ok": True, "workers": server.config.workers, "running": gate.running if gate else 0,
                "queued": gate.waiting if gate else 0, "prm": server.prm is not None}

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(server.metrics.render(server.gate), media_type="text/plain; version=0.0.4")

    return app
