"""The sample's filesystem is an allow-list: host secrets outside it are unreadable, / lists only it.

The layout tests are pure (no sandbox); the rest start real sandboxes (root, namespaces) like the other
sandbox tests."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Sandbox, doctor, rootfs
from codeprm.sandbox.tests.conftest import FAST

CHECKOUT = Path(__file__).resolve().parents[4]  # the repository the tests run from


# ---- pure: the plan and the layout --------------------------------------------------------------------
def test_plan_has_interpreter_stdlib_and_libc_only():
    plan = rootfs.plan()
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    assert stdlib in plan["binds"]
    assert os.path.realpath(sys.executable) in plan["binds"]
    assert any(os.path.basename(b).startswith("libc.so") for b in plan["binds"]), plan["binds"]
    # nothing but the stdlib directory, the executable, shared objects and the loader cache
    others = [b for b in plan["binds"] if b not in (stdlib, os.path.realpath(sys.executable), "/etc/ld.so.cache")]
    assert all(".so" in os.path.basename(b) for b in others), others
    assert plan["missing"] == []


def test_resolve_records_every_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "lib.so.1.2").write_text("x")
    (tmp_path / "real" / "lib.so.1").symlink_to("lib.so.1.2")
    (tmp_path / "alias").symlink_to("real")
    links: dict[str, str] = {}
    real = rootfs.resolve(str(tmp_path / "alias" / "lib.so.1"), links)
    base = os.path.realpath(tmp_path)
    assert real == f"{base}/real/lib.so.1.2"
    assert links[f"{base}/alias"] == "real" and links[f"{base}/real/lib.so.1"] == "lib.so.1.2"


def test_elf_deps_reads_needed_libraries():
    needed, _, _ = rootfs.elf_deps(os.path.realpath(sys.executable))
    closure, _ = rootfs.library_closure([os.path.realpath(sys.executable)], rootfs.loader_dirs())
    assert needed and any("libc.so" in p for p in closure)
    assert rootfs.elf_deps(__file__) == ([], [], None)  # not an ELF file


def test_layout_hides_site_packages_and_binds_packages_inside():
    plan = {"binds": ["/py/lib/python3", "/py/lib/python3/lib-dynload/x.so", "/py/lib/python3/site-packages/numpy",
                      "/usr/lib/libc.so.6"],
            "links": {"/lib": "usr/lib", "/py/lib/python3/os.py": "elsewhere"}, "sys_path": [], "missing": [], "libraries": 1}
    ops = rootfs.layout(plan, ["/py/lib/python3/site-packages", "/does/not/exist"], ["/sys/fs/cgroup/pids/w"], "size=8m")
    order = [op[:2] for op in ops]
    assert ("bind", "/py/lib/python3/lib-dynload/x.so") not in order  # visible through its bound parent
    assert ("link", "/py/lib/python3/os.py") not in order
    assert order.index(("bind", "/py/lib/python3")) < order.index(("tmpfs", "/py/lib/python3/site-packages")) \
        < order.index(("bind", "/py/lib/python3/site-packages/numpy"))
    assert ("link", "/lib") in order and ("proc", "/proc") in order and ("tmpfs", "/tmp") in order
    assert ("dir", "/sys", 0o700) in ops
    assert rootfs.top_level(ops) == ["dev", "lib", "proc", "py", "sys", "tmp", "usr"]
    assert "/py/lib/python3/site-packages/numpy" in rootfs.visible_mounts(ops)


# ---- bad input ------------------------------------------------------------------------------------------
def test_missing_extra_path_refused_at_start_up_naming_it():
    with pytest.raises(CodeprmError) as info:
        Sandbox(extra_paths=["/srv/no-such-dataset"])
    assert "/srv/no-such-dataset" in str(info.value) and "\n" not in str(info.value)


def test_extra_path_under_a_replaced_directory_refused():
    with pytest.raises(CodeprmError, match="under /tmp"):
        Sandbox(extra_paths=["/tmp"])


def test_unknown_package_refused_naming_it():
    with pytest.raises(CodeprmError, match="no_such_pkg_xyz"):
        Sandbox(packages=["no_such_pkg_xyz"])


# ---- real sandboxes ---------------------------------------------------------------------------------------
READ_SECRETS = '''
import os
def f(paths, token):
    leaked = []
    for path in paths:
        try:
            with open(path) as fh:
                if token in fh.read():
                    leaked.append(path)
        except OSError:
            pass
        try:
            if os.path.basename(path) in os.listdir(os.path.dirname(path)):
                leaked.append("listed " + path)
        except OSError:
            pass
    return leaked
'''


@pytest.fixture(scope="module")
def planted():
    """World-readable secret files in world-readable directories: readable by any uid on the host."""
    token = secrets.token_hex(16)
    made, paths = [], []
    for base in ("/srv", "/home", "/opt", "/var", "/etc", str(CHECKOUT)):
        if not os.path.isdir(base):
            os.makedirs(base)
            made.append(base)
        d = tempfile.mkdtemp(prefix="codeprm-secret-", dir=base)
        os.chmod(d, 0o755)
        made.append(d)
        path = os.path.join(d, "expected_output.txt")
        Path(path).write_text(f"answer: {token}\n")
        os.chmod(path, 0o644)
        paths.append(path)
    yield token, paths
    for d in reversed(made):
        shutil.rmtree(d, ignore_errors=True)


def test_planted_secrets_are_readable_by_another_uid_on_the_host(planted):
    """The control: an unprivileged uid outside the sandbox could read every planted file."""
    token, paths = planted
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os._exit(0 if all(token in Path(p).read_text() for p in paths) else 3)
        except BaseException:
            os._exit(4)
    assert os.waitpid(pid, 0)[1] == 0


def test_secrets_outside_the_allow_list_are_unreadable(sb, planted):
    token, paths = planted
    problem = Problem(id="secrets", prompt="", entry_point="f", tests=[TestCase.call(args=[paths, token], expected=[])])
    result = sb.run(READ_SECRETS, problem)
    assert result.passed, result.tests[0].detail


def test_root_lists_only_the_allow_list(sb):
    ops = doctor.expected_layout(sb.config, list(sb._workers[0].cgroups.values()))
    view = doctor.expected_view(ops)
    assert doctor.probe(sb, view) == {key: "ok" for key in view}  # /, /etc, /dev, mount points, host files
    assert view["/etc"] == (["ld.so.cache"] if os.path.exists("/etc/ld.so.cache") else [])
    binds = rootfs.plan()["binds"]
    for host_only in ("srv", "home", "opt", "var", "work", "mnt", "boot", "bin", "sbin", "run"):
        if not any(b.startswith(f"/{host_only}/") for b in binds):  # unless the interpreter lives there
            assert host_only not in view["/"], view["/"]
    assert set(view["/"]) <= {"dev", "etc", "proc", "sys", "tmp"} | {b.split("/")[1] for b in binds} | {"lib", "lib64"}
    assert "visible" in sb.mechanisms and "allow-list" in sb.mechanisms["filesystem"]


def test_probe_reports_a_difference(sb):
    """The doctor's check can fail: a wrong expectation is reported with what the sample saw."""
    seen = doctor.probe(sb, {"/": ["bin", "dev"], "readable": ["/etc/passwd"]})
    assert seen["/"].startswith("fail") and "proc" in seen["/"]
    assert seen["readable"].startswith("fail")


def test_packages_and_extra_paths_are_added_by_name_only(planted):
    pytest.importorskip("numpy")
    token, paths = planted
    shown, hidden = paths[0], paths[1]  # /srv/... given by path; /home/... not
    program = ("import os, numpy\n"
               "def f(shown, hidden):\n"
               "    site = os.path.dirname(os.path.dirname(numpy.__file__))\n"
               "    return [int(numpy.arange(5).sum()), open(shown).read().split()[0], os.path.exists(hidden),\n"
               "            sorted(n for n in os.listdir(site) if not n.startswith('numpy'))]\n")
    problem = Problem(id="pkg", prompt="", entry_point="f", memory_limit_mb=512,
                      tests=[TestCase.call(args=[shown, hidden], expected=[10, "answer:", False, []])])
    with Sandbox(workers=1, packages=["numpy"], extra_paths=[shown]) as sandbox:
        result = sandbox.run(program, problem)
    assert result.passed, (result.tests[0].detail, result.tests[0].stderr)


def test_allow_list_failure_falls_back_loudly_only_in_weaker_mode(monkeypatch, caplog):
    """If the allow-list root cannot be built, isolation="weaker" (asked for by name) uses the host
    filesystem minus hide_paths and the start-up line is a warning that says so; "full" refuses
    (test_round3.test_full_isolation_refuses_to_start_without_the_allow_list_root)."""
    bad = dict(rootfs.plan(), binds=["/no/such/library.so"])
    monkeypatch.setattr(rootfs, "plan", lambda *args: bad)  # the module attribute the worker calls
    with caplog.at_level(logging.INFO, logger="codeprm.sandbox"):
        with Sandbox(workers=1, isolation="weaker", **{k: v for k, v in FAST.items() if k != "workers"}) as sandbox:
            mechanisms = dict(sandbox.mechanisms)
            result = sandbox.run("def f(x):\n    return x + 1\n", Problem(
                id="inc", prompt="", entry_point="f", tests=[TestCase.call(args=[1], expected=2)]))
    assert result.passed
    assert "host filesystem visible" in mechanisms["filesystem"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "host filesystem visible" in r.getMessage()]
    assert warnings, [r.getMessage() for r in caplog.records]


def test_doctor_command_reports_and_verifies():
    from typer.testing import CliRunner

    from codeprm.cli import app

    result = CliRunner().invoke(app, ["sandbox", "doctor", "--set", "tmp_size_mb=8"])
    assert result.exit_code == 0, result.output
    assert "verified inside a sample: it sees exactly that" in result.output
    assert "visible: only an allow-list" in result.output
    weak = CliRunner().invoke(app, ["sandbox", "doctor", "--isolation", "rlimits-only"])
    assert weak.exit_code == 1 and "PROBLEM: the sample sees the host's filesystem" in weak.output, weak.output
    bad = CliRunner().invoke(app, ["sandbox", "doctor", "--extra-path", "/srv/no-such-thing"])
    assert bad.exit_code != 0 and "/srv/no-such-thing" in str(bad.exception or bad.output)
