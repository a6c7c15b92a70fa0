"""SandboxFusion's ``/run_code`` for Python, on codeprm's sandbox (its public ``Sandbox.run`` only).

The sandbox judges programs against tests and keeps a program's stdout to itself; SandboxFusion's
clients want the raw stdout, stderr and exit code. So the request runs as one stdin/stdout test of a
small *runner* program: the runner writes the request's files, points fd 1 at a private file, runs the
code as ``__main__`` (``compile`` + ``exec``; a ``SystemExit`` gives the exit code, any other exception its
traceback on stderr and exit code 1), then appends ``MARK + base64(JSON{stdout, code, files}) + MARK`` to
stderr (the real one, kept aside) and ends normally. The test's expected stdout is a marker the runner never prints, so the verdict is
always a ``fail`` carrying the stderr excerpt, from which the reply is decoded; any other verdict
(timeout, memory, output limit) is the sandbox's own and maps to SandboxFusion's statuses. The program
can forge only its own reply. Limits: ``os._exit`` or a kill loses the captured stdout (stderr stays).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Result

MAX_CODE_BYTES = 256 << 10
MAX_STDIN_BYTES = 1 << 20
MAX_FILES_BYTES = 1 << 20
# what a reply carries (more is cut, and the message says so); base64 of all three must fit the sandbox's
# 1 MiB stderr excerpt
MAX_STDOUT_BYTES = 384 << 10
MAX_STDERR_BYTES = 64 << 10
MAX_FETCH_BYTES = 256 << 10


class RunCodeRequest(BaseModel):
    """SandboxFusion's RunCodeRequest (the fields its Python clients and verl send)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=MAX_CODE_BYTES, description="the program")
    language: str = Field(default="python", description="only python (and python3) are run here")
    stdin: str | None = Field(default=None, max_length=MAX_STDIN_BYTES, description="standard input")
    compile_timeout: float = Field(default=10, ge=0, le=600, description="accepted for compatibility (Python has no compile step)")
    run_timeout: float = Field(default=10, gt=0, le=600, description="CPU seconds the program may use (wall clock: 3x + 1 s)")
    memory_limit_MB: int = Field(default=1024, ge=16, le=65536, description="address-space limit of the program")
    files: dict[str, str | None] = Field(default_factory=dict, description="path -> base64 content, written before the run")
    fetch_files: list[str] = Field(default_factory=list, max_length=32, description="paths whose content (base64) comes back")


class CommandRunResult(BaseModel):
    status: Literal["Finished", "Error", "TimeLimitExceeded"]
    execution_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunCodeResponse(BaseModel):
    status: Literal["Success", "Failed", "SandboxError"]
    message: str = ""
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = Field(default_factory=dict)


class BadRequest(ValueError):
    """A request we refuse with a 4xx and this one-line reason."""


_RUNNER = '''import base64 as _b, json as _j, os as _o, sys as _s, traceback as _t
_q = _j.loads(_b.b64decode({payload!r}))
for _p, _d in _q["files"].items():
    if _o.path.dirname(_p):
        _o.makedirs(_o.path.dirname(_p), exist_ok=True)
    with open(_p, "wb") as _f:
        _f.write(_b.b64decode(_d or ""))
_s.stdout.flush()
_s.stderr.flush()
_fds = [_o.open(_n, _o.O_RDWR | _o.O_CREAT | _o.O_TRUNC, 0o600) for _n in (".codeprm_stdout", ".codeprm_stderr")]
_keep = _o.dup(2)
_o.dup2(_fds[0], 1)
_o.dup2(_fds[1], 2)
_rc = 0
try:
    exec(compile(_q["code"], "main.py", "exec"), {{"__name__": "__main__", "__builtins__": __builtins__}})
except SystemExit as _e:
    _rc = _e.code if isinstance(_e.code, int) else 0 if _e.code is None else 1
    if not isinstance(_e.code, (int, type(None))):
        print(_e.code, file=_s.stderr)
except BaseException:
    _t.print_exc()
    _rc = 1
for _f in (_s.stdout, _s.stderr):
    try:
        _f.flush()
    except BaseException:
        pass


def _read(_fd, _cap):
    _o.lseek(_fd, 0, 0)
    _x = b""
    while len(_x) <= _cap:
        _c = _o.read(_fd, 1 << 16)
        if not _c:
            break
        _x += _c
    return _x[:_cap].decode("utf-8", "replace"), len(_x) > _cap


_out, _cut_out = _read(_fds[0], {max_out})
_err, _cut_err = _read(_fds[1], {max_err})
_files = {{}}
_budget = {max_files}
for _p in _q["fetch"]:
    try:
        with open(_p, "rb") as _f:
            _x = _f.read(_budget)
    except OSError:
        continue
    _budget -= len(_x)
    _files[_p] = _b.b64encode(_x).decode()
_r = {{"stdout": _out, "stderr": _err, "code": _rc, "files": _files, "cut": [_cut_out, _cut_err]}}
_r = _b.b64encode(_j.dumps(_r, ensure_ascii=False).encode()).decode()
_o.write(_keep, ("{mark}" + _r + "{mark}").encode())
'''


def runner_problem(req: RunCodeRequest) -> tuple[str, Problem, str]:
    """(runner program, one-test problem, marker) for a request; BadRequest for what we do not run."""
    if req.language not in ("python", "python3"):
        raise BadRequest(f"language {req.language!r} is not supported here (python only)")
    files: dict[str, str] = {}
    total = 0
    for path, data in req.files.items():
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise BadRequest(f"file path {path[:100]!r} must be relative and stay in the work directory")
        try:
            total += len(base64.b64decode(data or "", validate=True))
        except (binascii.Error, ValueError):
            raise BadRequest(f"file {path[:100]!r} is not valid base64") from None
        files[path] = data or ""
    if total > MAX_FILES_BYTES:
        raise BadRequest(f"files hold {total} bytes, more than {MAX_FILES_BYTES}")
    mark = "\n@@codeprm-" + secrets.token_hex(8) + "@@"
    payload = base64.b64encode(json.dumps({"code": req.code, "files": files, "fetch": req.fetch_files}).encode()).decode()
    program = _RUNNER.format(payload=payload, mark=mark.replace("\n", "\\n"), max_out=MAX_STDOUT_BYTES,
                             max_err=MAX_STDERR_BYTES, max_files=MAX_FETCH_BYTES)
    problem = Problem(id="run_code", prompt="", style="instruct", time_limit_s=req.run_timeout,
                      memory_limit_mb=req.memory_limit_MB, tests=[TestCase.stdio(stdin=req.stdin or "", stdout=mark)])
    return program, problem, mark


def to_response(result: Result, mark: str) -> RunCodeResponse:
    """SandboxFusion's reply for the runner's verdict."""
    test = result.tests[0] if result.tests else None
    if test is None or test.status == "infra_error":
        return RunCodeResponse(status="SandboxError", message=(test.detail if test else "no verdict")[:500])
    parts = test.stderr.rsplit(mark, 2)
    if test.status == "fail" and len(parts) == 3 and parts[2] == "":
        reply = json.loads(base64.b64decode(parts[1]))
        run = CommandRunResult(status="Finished", execution_time=test.time_s, return_code=int(reply["code"]),
                               stdout=reply["stdout"], stderr=reply["stderr"])
        ok = run.return_code == 0
        cut = [name for name, c in zip(("stdout", "stderr"), reply["cut"]) if c]
        message = "" if ok else f"exit code {run.return_code}"
        if cut:
            message = "; ".join(filter(None, [message, f"{' and '.join(cut)} cut to the reply's limit"]))
        return RunCodeResponse(status="Success" if ok else "Failed", message=message, run_result=run, files=reply["files"])
    # the sandbox stopped the program: a limit, or it died before the runner could reply
    status = "TimeLimitExceeded" if test.status == "timeout" else "Error"
    run = CommandRunResult(status=status, execution_time=test.time_s, return_code=None if test.status == "timeout" else 1,
                           stdout="", stderr="")
    return RunCodeResponse(status="Failed", message=f"{test.status}: {test.detail}"[:500], run_result=run)


def sandbox_options() -> dict[str, Any]:
    """SandboxConfig fields a /run_code server needs: stderr big enough to carry the captured stdout."""
    return {"stderr_limit_bytes": 1 << 20, "stderr_excerpt_chars": 1 << 20, "stdout_limit_bytes": 64 << 10}
