"""Run a labeling job on the fake problems with the fake policy and the real sandbox (used by the
kill-and-resume test as a subprocess). Usage: python job_script.py OUT BENCH_JSONL DELAY_S METHOD"""

import sys

from codeprm.labels.job import LabelConfig, run_label_job
from codeprm.labels.tests.fakes import FakePolicy
from codeprm.sandbox import Sandbox


def config(bench: str, method: str = "binary") -> LabelConfig:
    return LabelConfig(policy="fake", benchmark=f"jsonl:{bench}", method=method, rollouts=2, samples=3, seed=7)


if __name__ == "__main__":
    out, bench, delay, method = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    with Sandbox() as sb:
        run_label_job(config(bench, method), out, policy=FakePolicy(delay_s=delay), sandbox=sb, show_progress=False)
