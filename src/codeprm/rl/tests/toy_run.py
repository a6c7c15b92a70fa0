"""A toy RL run in its own process (``python -m codeprm.rl.tests.toy_run OUT STEPS``), for the kill -9 test."""

from __future__ import annotations

import sys
import time

import torch

from codeprm.rl.tests.test_rl_trainer import PROBLEMS, base_config, make_policy, toy_line_scorer, toy_verifier


def slow_verifier(problems, programs, coverage=False):
    time.sleep(0.2)  # gives the test time to kill the run mid-way
    return toy_verifier(problems, programs, coverage)


def main(out: str, steps: int) -> None:
    from pathlib import Path

    from codeprm.rl.trainer import train

    config = base_config(Path(out).parent, **{"out": out, "steps": steps, "save_every_steps": 2, "eval_every_steps": 3,
                                              "reward.prm": "unused", "critic_init": "policy"})
    policy = make_policy()
    train(config, policy=policy, verifier=slow_verifier, line_scorer=toy_line_scorer, train_problems=PROBLEMS, eval_problems=PROBLEMS[:2])
    torch.save(policy.model.state_dict(), Path(out) / "final_state.pt")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
