"""Compiled languages (C, C++, Java) through the same sandbox as Python.

A program is compiled once per sample, in a jail of its own (``jail.py``: namespaces, rlimits, an
unprivileged uid, host data paths hidden), into a *shared object* linked with ``shim.c``. The sample
then runs as a small Python launcher in the ordinary sandbox: the launcher writes the shared object
into its private directory, loads it with ctypes and calls ``codeprm_run()`` (= ``main``). So a compiled
program runs under exactly the Python sample's mechanisms (allow-list root, seccomp with ``execve``
denied, namespaces, cgroups, rlimits, uid): nothing but the program itself can be executed. The C++
runtime (libstdc++ and what it loads) is added to the allow-list root when g++ is present. Java is
compiled by javac into class files and run by a JVM that the launcher starts inside the child through
JNI (``java.py``).

Tests: ``stdio`` tests compare stdout as for Python (``codeprm.sandbox.compare``; a non-zero exit is a
``runtime_error``). An ``assert`` test holds a whole-program harness in the language (HumanEval-X's
``test``: a ``main`` of asserts): the program + harness are compiled together and the exit status
decides, so the verdict is the program's own claim (``trusted=False``, as Python asserts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem, TestCase
from codeprm.sandbox.native import java
from codeprm.sandbox.result import Result, TestResult

HERE = os.path.dirname(os.path.abspath(__file__))
NOBODY = 65534
# SandboxFusion's language names; the ones this module compiles, and the Debian package of each toolchain
LANGUAGES = {
    "cpp": {"compiler": "g++", "flags": ["-std=gnu++17", "-O2", "-pipe"], "suffix": ".cpp", "shim": "c++", "package": "g++"},
    "c": {"compiler": "gcc", "flags": ["-std=gnu11", "-O2", "-pipe"], "suffix": ".c", "shim": "c", "package": "gcc"},
    "java": {"compiler": "javac", "flags": java.JAVAC_FLAGS, "suffix": ".java", "package": "default-jdk-headless"},
}
KNOWN = ("python", "cpp", "c", "java", "nodejs", "go", "rust", "bash")
LINK = ["-shared", "-fPIC", "-Wl,--wrap=exit", "-Wl,--wrap=__assert_fail", "-lm"]


def _libcrypto() -> str | None:
    """OpenSSL's libcrypto when its development files are here (HumanEval-X's C++ MD5 problem links it)."""
    found = subprocess.run(["gcc", "-print-file-name=libcrypto.so"], capture_output=True, text=True).stdout.strip()
    return os.path.realpath(found) if os.path.isabs(found) and os.path.exists(found) else None


def link_flags() -> list[str]:
    """LINK, plus libcrypto as needed (linked only into programs that use it) when it is here."""
    return LINK + (["-Wl,--as-needed", "-lcrypto"] if shutil.which("gcc") and _libcrypto() else [])
# host paths a compiler must not read (so a source cannot #include the host's data); those that exist
HIDE = ("/root", "/home", "/srv", "/work", "/mnt", "/media", "/opt", "/var", "/dev/shm", "/run", "/boot")


@dataclass(frozen=True)
class CompileLimits:
    cpu_s: int = 30
    wall_s: float = 90.0  # generous: a loaded machine stretches a 2 s compile past 20 s of wall clock
    memory_mb: int = 2048
    output_mb: int = 64
    diagnostics_bytes: int = 64 << 10
    processes: int = 512  # RLIMIT_NPROC counts every thread of the uid: concurrent javac JVMs have ~20 each


@dataclass(frozen=True)
class Compiled:
    ok: bool
    shared_object: bytes
    stderr: str
    return_code: int | None  # None: killed at a limit (timed_out says which)
    time_s: float
    cached: bool = False
    timed_out: bool = False


def available() -> list[str]:
    """Compiled languages whose toolchain is on PATH here."""
    return [name for name, spec in LANGUAGES.items()
            if shutil.which(spec["compiler"]) and (name != "java" or java.libjvm() is not None)]


def missing_message(language: str) -> str:
    spec = LANGUAGES.get(language)
    if spec is None:
        return f"language {language!r} is not supported (supported: python, {', '.join(LANGUAGES)})"
    return f"language {language!r} needs {spec['compiler']} (Debian package {spec['package']}; scripts/install.sh installs it)"


def runtime_paths(languages: list[str] | tuple[str, ...] = ("cpp", "c")) -> list[str]:
    """Host files the compiled programs of ``languages`` need in the sandbox's root: the C++ runtime (and
    libcrypto), the JDK for java, and what they load."""
    from codeprm.sandbox import rootfs

    jvm = java.runtime_paths() if "java" in languages and "java" in available() else []
    if not {"cpp", "c"} & set(languages) or "cpp" not in available():
        return jvm

    found = subprocess.run(["g++", "-print-file-name=libstdc++.so.6"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(found) or not os.path.exists(found):
        return []
    libraries, _ = rootfs.library_closure([found], rootfs.loader_dirs())
    crypto = _libcrypto()
    if crypto:
        more, _ = rootfs.library_closure([crypto], rootfs.loader_dirs())
        libraries += [crypto, *more]
    return sorted({found, *libraries, *jvm})


class Compiler:
    """Compiles sources to shared objects under ``CompileLimits``, with a cache keyed by language, flags
    and source (bounded by entries; a hit costs a dict lookup)."""

    def __init__(self, limits: CompileLimits | None = None, isolate: bool = True, cache_entries: int = 512):
        self.limits = limits or CompileLimits()
        self.isolate = isolate and os.geteuid() == 0
        self.cache: OrderedDict[str, Compiled] = OrderedDict()
        self.cache_entries = cache_entries
        self.lock = threading.Lock()
        self.root = tempfile.mkdtemp(prefix="codeprm-compile-")
        os.chmod(self.root, 0o711)  # traversable, not listable: a compile cannot find another's directory
        self.shims: dict[str, str] = {}
        self.link = link_flags()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _shim(self, language: str) -> str:
        """The shim object for a language, compiled once (trusted code, outside the jail)."""
        with self.lock:
            if language not in self.shims:
                spec = LANGUAGES[language]
                out = os.path.join(self.root, f"shim-{language}.o")
                subprocess.run([spec["compiler"], "-x", spec["shim"], *spec["flags"], "-fPIC", "-c", os.path.join(HERE, "shim.c"),
                                "-o", out], check=True, capture_output=True)
                os.chmod(out, 0o644)
                self.shims[language] = out
            return self.shims[language]

    def compile(self, language: str, source: str, limits: CompileLimits | None = None) -> Compiled:
        if language not in LANGUAGES or language not in available():
            raise CodeprmError(missing_message(language))
        spec = LANGUAGES[language]
        key = hashlib.sha256("\0".join([language, *spec["flags"], *self.link, source]).encode()).hexdigest()
        with self.lock:
            hit = self.cache.get(key)
            if hit is not None:
                self.cache.move_to_end(key)
                return Compiled(hit.ok, hit.shared_object, hit.stderr, hit.return_code, 0.0, True, hit.timed_out)
        result = self._compile(language, spec, source, limits or self.limits)
        if result.return_code is not None:  # a limit depends on the caller's limits: not cached
            with self.lock:
                self.cache[key] = result
                while len(self.cache) > self.cache_entries:
                    self.cache.popitem(last=False)
        return result

    def _compile(self, language: str, spec: dict, source: str, lim: CompileLimits) -> Compiled:
        shim = self._shim(language) if "shim" in spec else ""
        work = tempfile.mkdtemp(dir=self.root)
        try:
            src = os.path.join(work, ("Main" if language == "java" else "main") + spec["suffix"])
            with open(src, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(source)
            if self.isolate:
                os.chown(work, NOBODY, NOBODY)
            config = {"isolate": self.isolate, "hide": [p for p in HIDE if os.path.isdir(p)], "cpu_s": lim.cpu_s,
                      "memory_bytes": lim.memory_mb << 20, "file_bytes": lim.output_mb << 20, "processes": lim.processes,
                      "uid": NOBODY, "cwd": work}
            if language == "java":
                cmd = [java.javac(), *spec["flags"], "-d", "classes", os.path.basename(src)]
            else:
                cmd = [shutil.which(spec["compiler"]), *spec["flags"], "-o", "main.so", os.path.basename(src), shim, *self.link]
            import json

            start = time.monotonic()
            with open(os.path.join(work, ".diagnostics"), "wb") as err:
                proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.join(HERE, "jail.py"), json.dumps(config), *cmd],
                                        stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
                timed_out = False
                try:
                    rc = proc.wait(timeout=lim.wall_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    try:
                        os.killpg(proc.pid, 9)  # the driver's children (cc1plus, as, ld) too
                    except ProcessLookupError:
                        pass
                    rc = proc.wait()
            elapsed = time.monotonic() - start
            with open(os.path.join(work, ".diagnostics"), "rb") as fh:
                diagnostics = fh.read(lim.diagnostics_bytes).decode("utf-8", "replace")
            if rc == 125 and diagnostics.startswith("codeprm compile jail:"):
                raise CodeprmError(diagnostics.strip() + " (the compile jail needs root and namespaces; "
                                   "isolation='rlimits-only' compiles without them)")
            if timed_out or rc < 0:  # killed: the wall clock here, RLIMIT_CPU (SIGXCPU/SIGKILL), or a crash
                limit = timed_out or rc in (-9, -24)
                why = "compile time limit" if limit else f"signal {-rc}"
                return Compiled(False, b"", (diagnostics + f"\ncompiler stopped: {why}").strip(), None, elapsed, timed_out=limit)
            so = b""
            if rc == 0 and language == "java":
                so = java.collect(os.path.join(work, "classes"))
            elif rc == 0:
                with open(os.path.join(work, "main.so"), "rb") as fh:
                    so = fh.read()
            return Compiled(rc == 0, so, diagnostics, rc, elapsed)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def launcher(shared_object: bytes, whole_program: bool, language: str = "cpp", memory_mb: int = 512) -> str:
    """The Python program the sandbox runs for a compiled one: load it and run its ``main`` once.
    stdio: a non-zero exit status is the program's exit status. Whole-program: the entry point
    ``codeprm_main`` raises AssertionError on a non-zero status (the harness's asserts failed)."""
    if language == "java":
        return java.launcher(shared_object, whole_program, memory_mb)
    load = (f"import ctypes as _c, os as _o\nwith open('.codeprm_program.so', 'wb') as _f:\n    _f.write({shared_object!r})\n"
            "_program = _c.CDLL(_o.path.abspath('.codeprm_program.so'))\n")
    if whole_program:
        return load + ("def codeprm_main():\n    _rc = _program.codeprm_run()\n"
                       "    if _rc:\n        raise AssertionError(f'exit status {_rc}')\n")
    return load + "_rc = _program.codeprm_run()\nif _rc:\n    raise SystemExit(_rc)\n"


@dataclass
class _Part:
    """One compiled unit of a sample: its source, the original test indices it answers, its kind."""

    pair: int
    source: str
    tests: list[int]
    whole_program: bool


def split(program: str, problem: Problem, pair: int) -> list[_Part]:
    """A sample's compile units: one for all its stdio tests, one per whole-program (assert) test."""
    stdio = [i for i, t in enumerate(problem.tests) if t.kind == "stdio"]
    parts = [_Part(pair, program, stdio, False)] if stdio else []
    for i, t in enumerate(problem.tests):
        if t.kind == "assert":
            parts.append(_Part(pair, program + "\n" + t.code + "\n", [i], True))
        elif t.kind == "call":
            raise CodeprmError(f"problem {problem.id!r} ({problem.language}): call tests need Python; use stdio or "
                               "whole-program (assert) tests")
    return parts


def sub_problem(problem: Problem, part: _Part) -> Problem:
    if part.whole_program:
        tests = [TestCase.assert_("candidate()")]
        return problem.model_copy(update={"language": "python", "entry_point": "codeprm_main", "tests": tests, "test_setup": ""})
    return problem.model_copy(update={"language": "python", "tests": [problem.tests[i] for i in part.tests]})


def run_pairs(sandbox, compiler: Compiler, pairs: list[tuple[str, Problem]], run) -> list[Result]:
    """Results for (program, problem) pairs of any language: compiled ones are compiled (in parallel,
    cached) and run as launchers through ``run(pairs) -> results``; Python pairs go through as they are."""
    parts: list[_Part] = []
    plain: list[tuple[int, str, Problem]] = []
    for index, (program, problem) in enumerate(pairs):
        if problem.language in ("python", "python3"):
            plain.append((index, program, problem))
        elif problem.language not in LANGUAGES or problem.language not in available():
            raise CodeprmError(missing_message(problem.language))
        elif problem.language not in sandbox.config.languages:
            raise CodeprmError(f"problem {problem.id!r} is in {problem.language!r}, which this sandbox was not started for "
                               f"(SandboxConfig.languages={sandbox.config.languages})")
        else:
            parts += split(program, problem, index)
    workers = max(1, min(len(parts), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        built = list(pool.map(lambda p: compiler.compile(pairs[p.pair][1].language, p.source), parts))
    jobs = [(program, problem) for _, program, problem in plain]
    owners: list[_Part | tuple[int, None]] = [(index, None) for index, _, _ in plain]
    for part, compiled in zip(parts, built):
        if compiled.ok:
            problem = pairs[part.pair][1]
            jobs.append((launcher(compiled.shared_object, part.whole_program, problem.language, problem.memory_limit_mb),
                         sub_problem(problem, part)))
            owners.append(part)
    ran = run(jobs) if jobs else []
    tests: list[list[TestResult | None]] = [[None] * len(problem.tests) for _, problem in pairs]
    results: list[Result | None] = [None] * len(pairs)
    times = [0.0] * len(pairs)
    for owner, result in zip(owners, ran):
        if isinstance(owner, tuple):
            results[owner[0]] = result
            continue
        for i, t in zip(owner.tests, result.tests):
            tests[owner.pair][i] = t
        times[owner.pair] += result.time_s
    for part, compiled in zip(parts, built):
        times[part.pair] += compiled.time_s
        if not compiled.ok:  # a compile error: every test of the unit, as Python's syntax errors
            detail = ("compile error: " + compiled.stderr)[:2000]
            for i in part.tests:
                tests[part.pair][i] = TestResult(status="timeout" if compiled.timed_out else "syntax_error",
                                                 detail=detail, trusted=True)
    for index, (_, problem) in enumerate(pairs):
        if results[index] is None:
            results[index] = Result(problem_id=problem.id, tests=[t or TestResult(status="skipped") for t in tests[index]],
                                    time_s=times[index])
    return results  # type: ignore[return-value]
