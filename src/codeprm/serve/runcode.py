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
# what a reply carries (more is cut, and the message says so); base64 of all three must fit the stderr
# excerpt of sandbox_options()
MAX_STDOUT_BYTES = 16 << 20
MAX_STDERR_BYTES = 1 << 20
MAX_FETCH_BYTES = 256 << 10
# memory_limit_MB -1 means "no limit" in SandboxFusion; the host must survive, so a large cap stays
NO_LIMIT_MB = 8192


PYTHON_NAMES = ("python", "python3")


def supported_languages() -> list[str]:
    """SandboxFusion language names this server runs on this machine (compiled ones need their toolchain)."""
    from codeprm.sandbox import native

    return ["python", *native.available()]


class RunCodeRequest(BaseModel):
    """SandboxFusion's RunCodeRequest (the fields its Python clients and verl send)."""

    model_config = ConfigDict(extra="ignore")  # as SandboxFusion: fields of newer clients are ignored

    code: str = Field(max_length=MAX_CODE_BYTES, description="the program")
    language: str = Field(default="python", description="only python (and python3) are run here")
    stdin: str | None = Field(default=None, max_length=MAX_STDIN_BYTES, description="standard input")
    compile_timeout: float = Field(default=10, ge=0, le=600, description="wall-clock seconds the compiler may run (C, C++)")
    run_timeout: float = Field(default=10, gt=0, le=599, description="wall-clock seconds the program may run")
    memory_limit_MB: int = Field(default=-1, ge=-1, le=65536, description=(
        f"address-space limit of the program; -1 (SandboxFusion's default) is no limit of its own: {NO_LIMIT_MB} MB"))
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


_RUNNER = '''import _thread as _th, base64 as _b, json as _j, os as _o, sys as _s, time as _tm, traceback as _t
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
_real_exit = _o._exit
_once = _th.allocate_lock()


def _read(_fd, _cap):
    _o.lseek(_fd, 0, 0)
    _x = b""
    while len(_x) <= _cap:
        _c = _o.read(_fd, 1 << 20)
        if not _c:
            break
        _x += _c
    return _b.b64encode(_x[:_cap]).decode(), len(_x) > _cap


def _reply(_rc, _tle=False):
    # once: the program's end, os._exit or the wall clock, whichever comes first
    if not _once.acquire(False):
        return False
    if _native:
        _native.fflush(None)
    for _f in (_s.stdout, _s.stderr):
        try:
            _f.flush()
        except BaseException:
            pass
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
    _r = {{"stdout": _out, "stderr": _err, "code": _rc, "tle": _tle, "files": _files, "cut": [_cut_out, _cut_err]}}
    _x = memoryview(("{mark}" + _j.dumps(_r) + "{mark}").encode())
    while _x:
        _x = _x[_o.write(_keep, _x):]
    return True


def _os_exit(_c):  # os._exit ends the program as in a plain process: what it wrote so far is its output
    _reply(_c if isinstance(_c, int) else 1)
    _real_exit(_c)


def _watch():  # run_timeout is wall-clock, as in SandboxFusion: stop there, keeping the partial output
    _tm.sleep({timeout!r})
    if _reply(None, True):
        _real_exit(0)


_native = None
if _q["native"]:  # a compiled program's launcher (codeprm.sandbox.native): C stdio is flushed at a timeout
    import ctypes as _c
    _native = _c.CDLL(None)
_o._exit = _os_exit
_th.start_new_thread(_watch, ())
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
_reply(_rc)
'''


def runner_problem(req: RunCodeRequest, launcher: str | None = None) -> tuple[str, Problem, str]:
    """(runner program, one-test problem, marker) for a request; BadRequest for what we do not run.
    ``launcher``: for a compiled language, the Python launcher of its compiled program (``native.launcher``)."""
    if req.language not in PYTHON_NAMES and launcher is None:
        raise BadRequest(f"language {req.language!r} is not supported here (supported: {', '.join(supported_languages())})")
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
    job = {"files": files, "fetch": req.fetch_files, "code": req.code if launcher is None else launcher,
           "native": launcher is not None}
    payload = base64.b64encode(json.dumps(job).encode()).decode()
    program = _RUNNER.format(payload=payload, mark=mark.replace("\n", "\\n"), max_out=MAX_STDOUT_BYTES,
                             max_err=MAX_STDERR_BYTES, max_files=MAX_FETCH_BYTES, timeout=float(req.run_timeout))
    # the runner stops the program at run_timeout of wall clock; the sandbox's CPU limit is the backstop
    # (a C-level call that never returns to the interpreter)
    memory = memory_mb(req)
    problem = Problem(id="run_code", prompt="", style="instruct", time_limit_s=min(600.0, req.run_timeout + 1.0),
                      memory_limit_mb=memory, tests=[TestCase.stdio(stdin=req.stdin or "", stdout=mark)])
    return program, problem, mark


def memory_mb(req: RunCodeRequest) -> int:
    """The program's address-space limit: -1 is SandboxFusion's "no limit" (here NO_LIMIT_MB)."""
    return NO_LIMIT_MB if req.memory_limit_MB <= 0 else max(16, req.memory_limit_MB)


def _text(data: str) -> str:
    return base64.b64decode(data).decode("utf-8", "replace")


def to_response(result: Result, mark: str, compile_result: CommandRunResult | None = None) -> RunCodeResponse:
    """SandboxFusion's reply for the runner's verdict: ``Success`` when the program ended with exit code 0,
    ``Failed`` otherwise (message "", as SandboxFusion), ``SandboxError`` only for our own faults."""
    test = result.tests[0] if result.tests else None
    if test is None or test.status == "infra_error":
        return RunCodeResponse(status="SandboxError", message=(test.detail if test else "no verdict")[:500],
                               compile_result=compile_result)
    parts = test.stderr.rsplit(mark, 2)
    if test.status not in ("timeout", "memory", "output_limit") and len(parts) == 3 and parts[2] == "":
        reply = json.loads(parts[1])
        tle = bool(reply["tle"])
        run = CommandRunResult(status="TimeLimitExceeded" if tle else "Finished", execution_time=test.time_s,
                               return_code=None if tle else int(reply["code"]),
                               stdout=_text(reply["stdout"]), stderr=_text(reply["stderr"]))
        ok = run.return_code == 0
        cut = [name for name, c in zip(("stdout", "stderr"), reply["cut"]) if c]
        message = f"{' and '.join(cut)} cut to the reply's limit" if cut else ""
        return RunCodeResponse(status="Success" if ok else "Failed", message=message, compile_result=compile_result,
                               run_result=run, files=reply["files"])
    # the sandbox stopped the program (a limit), or it died before the runner could reply: no output
    status = "TimeLimitExceeded" if test.status == "timeout" else "Error"
    run = CommandRunResult(status=status, execution_time=test.time_s, return_code=None if test.status == "timeout" else 1,
                           stdout="", stderr=test.detail[:2000])
    return RunCodeResponse(status="Failed", message="", compile_result=compile_result, run_result=run)


def compile_limits(req: RunCodeRequest):
    """The compile jail's limits for a request: ``compile_timeout`` of wall clock (CPU likewise)."""
    from codeprm.sandbox.native import CompileLimits

    return CompileLimits(cpu_s=max(1, int(req.compile_timeout + 0.999)), wall_s=max(1.0, req.compile_timeout))


def compile_result(built) -> CommandRunResult:
    """SandboxFusion's compile_result for a ``native.Compiled``."""
    status = "TimeLimitExceeded" if built.timed_out else "Error" if built.return_code is None else "Finished"
    return CommandRunResult(status=status, execution_time=built.time_s,
                            return_code=built.return_code, stdout="", stderr=built.stderr)


def default_packages(packages: list[str] | None) -> list[str]:
    """The packages a /run_code server binds: the configured list, else numpy when installed here."""
    if packages is not None:
        return packages
    import importlib.util

    return [name for name in ("numpy",) if importlib.util.find_spec(name) is not None]


def sandbox_options() -> dict[str, Any]:
    """SandboxConfig fields a /run_code server needs: stderr big enough to carry the captured stdout."""
    reply = 4 * (MAX_STDOUT_BYTES + MAX_STDERR_BYTES + MAX_FETCH_BYTES) // 3 + (64 << 10)  # base64 + JSON
    from codeprm.sandbox import native

    return {"languages": ["python", *native.available()], "stderr_limit_bytes": reply, "stderr_excerpt_chars": reply, "stdout_limit_bytes": 64 << 10,
            "file_size_limit_mb": 17 + MAX_STDOUT_BYTES // (1 << 20)}
