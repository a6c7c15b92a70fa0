"""``codeprm sandbox doctor``: what isolation is in force and what a sample can see, checked from inside.

The allow-list comes from ``rootfs.plan`` (what the host asked for); the probe is a real sample whose call
tests list ``/``, ``/etc``, ``/dev`` and its mount points and try to read well-known host files; the host
compares each with what ``rootfs.layout`` says a sample must see, as it compares any verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

from codeprm.sandbox import rootfs
from codeprm.sandbox.config import SandboxConfig

PROBE = '''
import os
def f(what, tries):
    if what == "mounts":  # the worker's own cgroup directories under /sys (not enterable) left out
        with open("/proc/self/mountinfo") as fh:  # the sample's own tmpfs (its random name) as <workdir>
            seen = {line.split()[4] for line in fh} - {p for p in tries if p.startswith("/sys/")}
        return sorted("<workdir>" if p == os.getcwd() else p for p in seen)
    if what == "readable":
        found = []
        for path in tries:
            try:
                with open(path, "rb") as fh:
                    fh.read(1)
                found.append(path)
            except OSError:
                pass
        return found
    try:
        return sorted(os.listdir(what))
    except OSError as exc:
        return type(exc).__name__
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


def expected_view(ops: list[tuple]) -> dict[str, Any]:
    """What the probe must find: the listings of /, /etc and /dev, /sys not enterable, the mount points
    (the worker's cgroup directories aside: they differ between workers), no readable host file."""
    return {"/": rootfs.top_level(ops), "/etc": rootfs.top_level(ops, "/etc"), "/dev": rootfs.top_level(ops, "/dev"),
            "/sys": "PermissionError" if "sys" in rootfs.top_level(ops) else "FileNotFoundError",
            "mounts": sorted([m for m in rootfs.visible_mounts(ops) if not m.startswith("/sys/")] + ["<workdir>"]),
            "readable": []}


def probe(sandbox: Any, expected: dict[str, Any]) -> dict[str, str]:
    """Run the probe as one sample in ``sandbox``, one call test per entry of ``expected`` (compared by the
    trusted side like any verdict); returns {entry: "ok" or what differed}."""
    from codeprm.problems import Problem, TestCase

    keys = list(expected)
    cgroups = [p for z in sandbox._workers for p in z.cgroups.values()]  # to leave out of the mount points
    problem = Problem(id="doctor", prompt="", entry_point="f",
                      tests=[TestCase.call(args=[key, TRIES + cgroups], expected=expected[key]) for key in keys])
    result = sandbox.run(PROBE, problem)
    return {key: "ok" if t.status == "pass" else f"{t.status}: {t.detail} {t.stderr}".strip() for key, t in zip(keys, result.tests)}


def run_doctor(config: SandboxConfig) -> dict:
    """Start a sandbox with ``config``, probe it, and compare with the allow-list."""
    from codeprm.sandbox import Sandbox

    config = config.model_copy(update={"workers": 1})
    plan = rootfs.plan(tuple(config.extra_paths), tuple(config.packages))
    out: dict[str, Any] = {"isolation": config.isolation, "python": sys.executable, "allow_list": plan["binds"],
                           "links": plan["links"], "problems": []}
    with Sandbox(config) as sandbox:
        out["mechanisms"] = dict(sandbox.mechanisms)
        fs = out["mechanisms"].get("filesystem", "")
        if config.isolation != "full":  # never called full: the caller chose less, by name
            out["problems"].append(f"mode '{config.isolation}' is weaker than full")
        if config.isolation == "rlimits-only" or "host filesystem visible" in fs:
            out["problems"].append(f"the sample sees the host's filesystem (no allow-list root): {fs}")
            return out
        # the sandbox's own config: it adds the runtimes of compiled languages (native.runtime_paths)
        out["expected"] = expected_view(expected_layout(sandbox.config, list(sandbox._workers[0].cgroups.values())))
        out["seen"] = probe(sandbox, out["expected"])
    out["problems"] += [f"{key}: {what}" for key, what in out["seen"].items() if what != "ok"]
    return out


def format_report(out: dict) -> str:
    full = out["isolation"] == "full" and not out["problems"]
    lines = [f"mode: {out['isolation']}" + (" (every mechanism of full isolation verified)" if full else " (NOT full)")]
    lines += [f"  {name}: {text}" for name, text in out["mechanisms"].items()]
    lines.append(f"allow-list ({len(out['allow_list'])} host paths, read-only, at the same path inside):")
    lines += [f"  {path}" for path in out["allow_list"]]
    if "expected" in out:
        want = out["expected"]
        lines.append(f"a sample must see: / = {' '.join(want['/'])}; /etc = {' '.join(want['/etc']) or '(empty)'}; "
                     f"/dev = {' '.join(want['/dev'])}; {len(want['mounts'])} mount points; none of {len(TRIES)} host files readable")
    lines += [f"PROBLEM: {p}" for p in out["problems"]] or ["verified inside a sample: it sees exactly that"]
    return "\n".join(lines)


def register(app: Any) -> None:
    """Add ``codeprm sandbox doctor``."""
    import typer

    sandbox_app = typer.Typer(no_args_is_help=True, help="The sandbox: what it enforces and what a sample can see.")
    app.add_typer(sandbox_app, name="sandbox")

    @sandbox_app.command("doctor")
    def doctor_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="SandboxConfig as YAML"),
        isolation: Optional[str] = typer.Option(None, "--isolation", help="full | weaker | rlimits-only"),
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

