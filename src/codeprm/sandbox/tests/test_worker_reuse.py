"""What a worker reuses between samples (its cgroups, its zygote) carries nothing of an earlier sample.

The zygote decides that a sample left nothing behind from ``pids.current`` alone (it counts the zygote,
every process of the sample and every zombie not yet released), and removes an empty work directory
with one rmdir. These tests pin the invariants those shortcuts rely on.
"""

import textwrap
from pathlib import Path

import pytest

from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Sandbox
from codeprm.sandbox.tests.conftest import HONEST, inc_problem

# Returns at once, leaving a daemon (double fork: it is re-parented to the zygote) that burns CPU forever.
LEAVES_A_SPINNER = textwrap.dedent('''
    import os
    def f(x):
        if os.fork() == 0:
            if os.fork() == 0:
                while True:
                    pass
            os._exit(0)
        os.wait()
        return x + 1
''')


def _cgroup_procs(sandbox) -> dict[str, list[int]]:
    z = sandbox._workers[0]
    return {c: [int(p) for p in Path(path, "cgroup.procs").read_text().split()] for c, path in z.cgroups.items()}


def test_reused_cgroup_holds_no_process_of_an_earlier_sample():
    with Sandbox(workers=1) as sandbox:
        z = sandbox._workers[0]
        if "pids" not in z.cgroups:
            pytest.skip("no pids cgroup on this host")
        spinner = sandbox.run(LEAVES_A_SPINNER, inc_problem())
        assert spinner.passed
        procs = _cgroup_procs(sandbox)
        assert procs["pids"] == [z.proc.pid], procs  # the zygote alone
        assert procs.get("memory", []) == [] and procs.get("cpuacct", [z.proc.pid]) == [z.proc.pid], procs
        assert Path(z.cgroups["pids"], "pids.current").read_text().strip() == "1"
        # the next sample's CPU starts from zero: nothing of the spinner is charged to it
        after = sandbox.run(HONEST, inc_problem())
        assert after.passed and sum(t.cpu_time_s for t in after.tests) < 0.2, after.tests


def test_directory_left_full_or_locked_is_still_replaced_by_a_fresh_empty_one():
    # the one-rmdir shortcut fails on these; the full removal must take over, and the next sample must
    # start in an empty directory of its own with the worker unharmed
    leave_mess = textwrap.dedent('''
        import os
        def f(x):
            if x == 1:
                os.makedirs("a/b/c")
                open("a/b/c/f", "w").write("x")
                open("top", "w").write("y")
                os.chmod("a/b", 0)
            return x + 1
    ''')
    look = Problem(id="look", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=[])])
    with Sandbox(workers=1) as sandbox:
        zygote = sandbox._workers[0].proc.pid
        assert sandbox.run(leave_mess, inc_problem()).passed
        seen = sandbox.run("import os\ndef f():\n    return sorted(os.listdir('.'))\n", look)
        assert sandbox._workers[0].proc.pid == zygote  # removed in full: the zygote did not have to retire
    assert seen.passed and not seen.infra_error, seen.tests
