"""Resume after ``kill -9``: a run SIGKILLed mid-way and resumed ends bit-identical to one never killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

pytest.importorskip("codeprm.policy.hf")

STEPS = 6


def run(out, wait=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "codeprm.rl.tests.toy_run", str(out), str(STEPS)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    return proc


def train_rows(out):
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "step_time_s"} for r in rows]


def test_sigkill_then_resume_loses_nothing(tmp_path):
    from codeprm.rl.tests.toy_run import main

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    proc = run(killed, wait=False)
    deadline = time.time() + 180
    metrics = killed / "metrics.jsonl"
    # kill once step 3 is logged: the last checkpoint is step 2, so step 3 must be redone on resume
    while time.time() < deadline:
        if metrics.exists() and any(json.loads(l).get("step") == 3 and "reward" in l for l in metrics.read_text().splitlines() if l.strip().endswith("}")):
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final_state.pt").exists()
    assert torch.load(killed / "checkpoint.pt", weights_only=False)["step"] < STEPS

    main(str(straight), STEPS)  # the uninterrupted run, in this process
    run(killed)  # resumes from the checkpoint
    a = torch.load(straight / "final_state.pt")
    b = torch.load(killed / "final_state.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert train_rows(straight) == train_rows(killed)
    assert json.loads((killed / "summary.json").read_text())["steps"] == STEPS
