"""``codeprm sandbox doctor``: what isolation is in force and what a sample can see, checked from inside.

The allow-list comes from ``rootfs.plan`` (what the host asked for); the probe is a real sample that lists
``/``, its mount points and ``/etc``, and tries to read well-known host places. Its report travels back on
stderr (the verdict channel carries only values the host compares), so a mismatch is shown in full.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

from codeprm.sandbox import rootfs
from codeprm.sandbox.config import SandboxConfig

PROBE = '''
import json, os, sys
def f(tries):
    def listing(path):
        try:
            return sorted(os.listdir(path))
        except OSError as exc:
            return exc.__class__.__name__
    readable = []
    for path in tries:
        try:
            with open(path, "rb") as fh:
                fh.read(1)
            readable.append(path)
        except OSError:
            pass
    try:
        mounts = sorted({line.split()[4] for line in open("/proc/self/mountinfo")})
    except OSError as exc:
        mounts = exc.__class__.__name__
    sys.stderr.write(json.dumps({"root": listing("/"), "etc": listing("/etc"), "mounts": mounts,
                                 "readable": readable, "cwd": os.getcwd()}))
    return None
'''

# host places a sample must never read (all exist on a typical Linux host; absent ones prove nothing)
TRIES = ["/etc/passwd", "/etc/hostname", "/etc/os-release", "/proc/1/cmdline", "/proc/1/environ", "/var/log/dpkg.log",
         "/usr/bin/env", "/bin/sh"]


def expected_layout(config: SandboxConfig, cgroups: list[str]) -> list[tuple]:
    """The mount operations the zygote performs for ``config`` (what ``build`` runs)."""
    from codeprm.sandbox.worker import default_hide_paths

    hide = config.hide_paths if config.hide_paths is not None else default_hide_paths()
    plan = rootfs.plan(tuple(config.extra_paths), tuple(config.packages))
    return rootfs.layout(plan, rootfs.existing_dirs(hide), cgroups, f"size={config.tmp_size_mb}m")


def probe(sandbox: Any, tries: list[str] | None = None) -> dict:
    """Run the probe as a sample in ``sandbox``; returns what it saw."""
    from codeprm.problems import Problem, TestCase

    problem = Problem(id="doctor", prompt="", entry_point="f", tests=[TestCase.call(args=[tries or TRIES], expected="<report>")])
    result = sandbox.run(PROBE, problem)
    test = result.tests[0]
    try:
        return json.loads(test.stderr)
    except ValueError:
        return {"error": f"{test.status}: {test.detail} {test.stderr}"[:500]}


def run_doctor(config: SandboxConfig) -> dict:
    """Start a sandbox with ``config``, probe it, and compare with the allow-list."""
    from codeprm.sandbox import Sandbox

    config = config.model_copy(update={"workers": 1, "stderr_excerpt_chars": 1 << 20})
    with Sandbox(config) as sandbox:
        mechanisms = dict(sandbox.mechanisms)
        seen = probe(sandbox)
        cgroups = list(sandbox._workers[0].cgroups.values())
    out: dict[str, Any] = {"isolation": config.isolation, "mechanisms": mechanisms, "seen": seen,
                           "python": sys.executable, "problems": []}
    plan = rootfs.plan(tuple(config.extra_paths), tuple(config.packages))
    out["allow_list"] = plan["binds"]
    out["links"] = plan["links"]
    if config.isolation != "full" or "host filesystem visible" in mechanisms.get("filesystem", ""):
        out["problems"].append("the sample sees the host's filesystem (no allow-list root): " + mechanisms.get("filesystem", ""))
        return out
    ops = expected_layout(config, cgroups)
    want = {"root": rootfs.top_level(ops), "mounts": rootfs.visible_mounts(ops)}
    out["expected"] = want
    for key, value in want.items():
        if seen.get(key) != value:
            out["problems"].append(f"{key}: expected {value}, the sample saw {seen.get(key)}")
    if seen.get("readable"):
        out["problems"].append(f"host files readable: {', '.join(seen['readable'])}")
    return out


def format_report(out: dict) -> str:
    lines = [f"isolation: {out['isolation']}"]
    lines += [f"  {name}: {text}" for name, text in out["mechanisms"].items()]
    lines.append(f"allow-list ({len(out['allow_list'])} host paths, read-only, at the same path inside):")
    lines += [f"  {path}" for path in out["allow_list"]]
    seen = out["seen"]
    if "error" in seen:
        lines.append(f"probe failed: {seen['error']}")
    else:
        lines.append(f"a sample sees: / = {' '.join(seen['root']) if isinstance(seen['root'], list) else seen['root']}; "
                     f"/etc = {seen['etc']}; cwd {seen['cwd']}; {len(seen['mounts'])} mount points")
    lines += [f"PROBLEM: {p}" for p in out["problems"]] or ["verified: what the sample sees matches the allow-list"]
    return "\n".join(lines)


def register(app: Any) -> None:
    """Add ``codeprm sandbox doctor``."""
    import typer

    sandbox_app = typer.Typer(no_args_is_help=True, help="The sandbox: what it enforces and what a sample can see.")
    app.add_typer(sandbox_app, name="sandbox")

    @sandbox_app.command("doctor")
    def doctor_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="SandboxConfig as YAML"),
        isolation: Optional[str] = typer.Option(None, "--isolation", help="full | rlimits-only"),
        packages: Optional[List[str]] = typer.Option(None, "--package", help="add an installed package by name (repeatable)"),
        extra_paths: Optional[List[str]] = typer.Option(None, "--extra-path", help="add a host path read-only (repeatable)"),
        sets: Optional[List[str]] = typer.Option(None, "--set", help="KEY=VALUE override of a SandboxConfig field (repeatable)"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="also write the report as JSON"),
    ) -> None:
        """Start one worker, print the mechanisms in force and the allow-list, and check from inside a sample
        that it sees exactly that (exit 1 if not)."""
        from codeprm.config import build_from_cli

        flags = {"isolation": isolation, "packages": packages or None, "extra_paths": extra_paths or None}
        config = build_from_cli(SandboxConfig, config_path, flags, sets or [])
        out = run_doctor(config)
        print(format_report(out))
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(out, indent=2) + "\n")
        if out["problems"]:
            raise typer.Exit(1)

