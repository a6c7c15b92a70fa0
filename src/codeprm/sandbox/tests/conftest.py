import os

import pytest

from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Sandbox

# Small limits so that bombs hit them fast and the whole suite stays quick on 2 busy cores.
FAST = dict(workers=2, wall_time_factor=2.0, wall_time_extra_s=0.5, max_processes=16, tmp_size_mb=8,
            tmp_inodes=256, file_size_limit_mb=2, stdout_limit_bytes=64 << 10, stderr_limit_bytes=64 << 10,
            result_limit_bytes=1 << 20)


@pytest.fixture(scope="session")
def sb():
    with Sandbox(**FAST) as sandbox:
        yield sandbox


def inc_problem(time_limit_s: float = 0.4, memory_limit_mb: int = 64) -> Problem:
    return Problem(id="inc", prompt="", entry_point="f", time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb,
                   tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[-1], expected=0),
                          TestCase.call(args=[41], expected=42)])


HONEST = "def f(x):\n    return x + 1\n"
WRONG = "def f(x):\n    return x + 2\n"


def sample_uid_processes(sandbox) -> list[int]:
    """Processes still running as any worker's sample uid (there must be none between samples)."""
    uids = {str(z.uid) for z in sandbox._workers if z.uid is not None}
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:") and line.split()[1] in uids:
                        found.append(int(pid))
        except OSError:
            pass
    return found
