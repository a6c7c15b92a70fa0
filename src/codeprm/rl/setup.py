"""Setting up an RL run: the models on their device, optimisers, problems, verifier, PRM scorer, the
run directory's logs, and resuming from its checkpoint."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from codeprm.problems import Problem
from codeprm.problems.stream import ProblemStream
from codeprm.rl.components import (LineScorer, Verifier, ValueModel, add_lora, build_critic, check_same_tokenizer, load_checkpoint,
                                   load_prm, load_rl_policy, prm_line_scorer, sandbox_verifier, save_checkpoint, truncate_metrics)
from codeprm.rl.config import RLConfig
from codeprm.device import Placement, resolve_placement


@dataclass
class Run:
    """Everything the loop touches, built once by ``set_up``."""

    config: RLConfig
    out: Path
    place: Placement
    policy: object  # HFPolicy: .model is trained in place, .generate samples
    model: torch.nn.Module
    reference: torch.nn.Module | None  # None with LoRA: the adapter-free base is the reference
    critic: ValueModel | None
    optimizer: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer | None
    verifier: Verifier
    line_scorer: LineScorer | None
    train_problems: list[Problem]
    stream: "ProblemStream | None"  # fresh problems per step (config.train_stream), else None
    eval_sets: dict[str, list[Problem]]
    log: "RunLog"
    step: int = 0  # policy updates done
    fresh: bool = True  # no checkpoint was loaded
    saved_step: int | None = None  # the step of the checkpoint on disk
    closers: list = field(default_factory=list)

    def checkpoint(self) -> None:
        state = {"step": self.step, "policy": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.critic is not None:
            state |= {"critic": self.critic.state_dict(), "critic_optimizer": self.critic_opt.state_dict()}
        save_checkpoint(self.out, state)
        self.saved_step = self.step

    def close(self) -> None:
        for close in self.closers:
            close()
        self.log.close()


def set_up(config: RLConfig, *, policy=None, verifier: Verifier | None = None, line_scorer: LineScorer | None = None,
           train_problems: Sequence[Problem] | None = None, eval_problems: Sequence[Problem] | None = None) -> Run:
    """Build (or resume) a run; the keyword arguments replace the configured components."""
    from codeprm.problems import load_benchmark

    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if config.resume and (out / "checkpoint.pt").exists():
        check_same_run(config, out / "config.yaml")
    (out / "config.yaml").write_text(config.to_yaml())
    place = resolve_placement(config.device, config.precision)
    rcfg = config.reward

    policy = policy or load_rl_policy(config.policy)
    eval_sets = {"heldout": list(eval_problems or load_benchmark(config.eval_benchmark))[: config.eval_limit]}
    if config.eval_unseen_benchmark:
        eval_sets["unseen"] = load_benchmark(config.eval_unseen_benchmark)[: config.eval_limit]
    stream = None
    if config.train_stream:
        stream = ProblemStream(config.train_stream, config.seed, exclude=[p for ps in eval_sets.values() for p in ps])
        train_problems = []
    else:
        train_problems = list(train_problems or load_benchmark(config.train_benchmark))
    closers = []
    if verifier is None:
        # all_pass reads only `passed`: a failing sample's remaining tests need not run
        only_passed = rcfg.outcome == "all_pass" and not rcfg.mask_unexecuted_lines
        verifier = sandbox_verifier(config.sandbox_workers, stop_at_first_failure=only_passed)
        closers.append(verifier.close)
    prm = None
    if rcfg.prm and (line_scorer is None or (config.uses_critic and config.critic_init == "prm")):
        prm = load_prm(rcfg.prm)
        check_same_tokenizer(prm.tokenizer, policy.tokenizer, rcfg.prm)  # before anything is built on it
    if line_scorer is None and prm is not None:
        prm = place.prepare(prm).eval()
        line_scorer = prm_line_scorer(prm, autocast=place.autocast)

    torch.manual_seed(config.seed)
    model = policy.model = place.prepare(policy.model)  # float32 master weights on the run's device
    policy.device = place.device  # where the policy puts the ids it generates from
    if config.lora_rank:
        model = policy.model = add_lora(model, config.lora_rank)
        reference = None
    else:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    critic = None
    if config.uses_critic:
        critic = place.prepare(build_critic(config.critic_init, model, rcfg.prm, rcfg.outcome_scale, config.critic_calibration))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.algo.lr)
    critic_opt = torch.optim.AdamW(critic.parameters(), lr=config.algo.critic_lr) if critic is not None else None

    ckpt = load_checkpoint(out) if config.resume else None
    step = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["policy"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if critic is not None:
            critic.load_state_dict(ckpt["critic"])
            critic_opt.load_state_dict(ckpt["critic_optimizer"])
        step = ckpt["step"]
    if stream is not None:
        stream.replay(step, config.prompts_per_step)  # what the killed run had drawn stays drawn
    log = RunLog(out, step, resumed=ckpt is not None, progress_total=config.steps if config.progress else 0)
    return Run(config=config, out=out, place=place, policy=policy, model=model, reference=reference, critic=critic, optimizer=optimizer,
               critic_opt=critic_opt, verifier=verifier, line_scorer=line_scorer, train_problems=train_problems, stream=stream, eval_sets=eval_sets,
               log=log, step=step, fresh=ckpt is None, saved_step=step if ckpt is not None else None, closers=closers)


# Fields a resumed run may change: how long it runs and how it is watched, not what it learns.
RESUMABLE_CHANGES = {"steps", "progress", "threads", "sandbox_workers", "eval_every_steps", "save_every_steps", "resume", "device"}


def check_same_run(config: RLConfig, saved: Path) -> None:
    """Refuse to resume a checkpoint written under a different config, naming the first field that differs
    (a resumed run would otherwise mix two experiments in one curve)."""
    import yaml

    from codeprm.errors import CodeprmError

    if not saved.exists():
        return
    old = yaml.safe_load(saved.read_text()) or {}
    new = yaml.safe_load(config.to_yaml())

    def diff(a: dict, b: dict, prefix: str = "") -> str | None:
        for key in sorted(set(a) | set(b)):
            name = f"{prefix}{key}"
            if not prefix and key in RESUMABLE_CHANGES:
                continue
            x, y = a.get(key), b.get(key)
            if isinstance(x, dict) and isinstance(y, dict):
                found = diff(x, y, name + ".")
                if found:
                    return found
            elif x != y:
                return f"{name}: {x!r} in the checkpoint's run, {y!r} now"
        return None

    changed = diff(old, new)
    if changed:
        raise CodeprmError(f"{config.out} holds a run with another config ({changed}); use another --out, or --no-resume to start over")


class RunLog:
    """``metrics.jsonl`` (one row per step and per evaluation), ``evals.jsonl`` (per-problem pass counts),
    TensorBoard events and a progress bar. A resumed run drops rows written after its checkpoint."""

    def __init__(self, out: Path, step: int, resumed: bool, progress_total: int = 0):
        from torch.utils.tensorboard import SummaryWriter

        self.metrics, self.evals = out / "metrics.jsonl", out / "evals.jsonl"
        for path in (self.metrics, self.evals):
            if resumed:
                truncate_metrics(path, step)
            else:
                path.write_text("")
        self.writer = SummaryWriter(str(out / "tb"), purge_step=step + 1 if resumed else None)
        self.bar = None
        if progress_total > step:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("rl"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
            self.task = self.bar.add_task("rl", total=progress_total, completed=step, info="")
            self.bar.start()

    def row(self, row: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and v == v:
                self.writer.add_scalar(k, v, row["step"])
        self.writer.flush()
        if self.bar is not None and "reward" in row:
            self.bar.update(self.task, advance=1, info=f"reward {row['reward']:+.3f} pass {row['pass_rate']:.2f} kl {row['kl']:.3f}")

    def eval_detail(self, step: int, detail: dict) -> None:
        with open(self.evals, "a") as f:
            f.write(json.dumps({"step": step, **detail}) + "\n")

    def eval_history(self, key: str = "eval_pass1") -> list[tuple[int, float]]:
        return [(r["step"], r[key]) for r in read_rows(self.metrics) if key in r]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        self.writer.close()


def read_rows(path: Path) -> list[dict]:
    """The JSON rows of a JSONL file, skipping a row cut short by a kill."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows
