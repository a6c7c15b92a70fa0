"""CLI: ``codeprm prm train | score | eval | show | export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from codeprm.errors import CodeprmError


def _problem(benchmark: str, problem_id: str):
    from codeprm.problems import load_benchmark

    for problem in load_benchmark(benchmark):
        if problem.id == problem_id:
            return problem
    raise CodeprmError(f"benchmark '{benchmark}' has no problem '{problem_id}'")


def _read_code(code: str) -> str:
    if code == "-":
        return sys.stdin.read()
    path = Path(code)
    if not path.is_file():
        raise CodeprmError(f"code file {path} does not exist")
    return path.read_text(encoding="utf-8")


def _prompt_and_completion(benchmark: Optional[str], problem_id: Optional[str], code: str, policy: Optional[str]):
    """(problem or None, the text the policy continued, the completion). A code file holding the whole
    program (prompt included) is cut back to the completion."""
    text = _read_code(code)
    if benchmark is None or problem_id is None:
        if benchmark or problem_id:
            raise CodeprmError("give both --benchmark and --problem, or neither")
        return None, "", text
    problem = _problem(benchmark, problem_id)
    prompt = problem.prompt
    if policy:
        from codeprm.policy.registry import load_policy

        prompt = load_policy(policy).prompt_for(problem)
    if text.startswith(problem.prompt):
        text = text[len(problem.prompt):]
    return problem, prompt, text


def _verdicts(problem, completion: str, fallback_status: str = ""):
    """Per-test verdicts from the sandbox when it is available, else the stored overall verdict."""
    from codeprm.prm.html import Verdict

    from codeprm.programs import program_text
    from codeprm.sandbox import Sandbox

    if problem is not None:
        with Sandbox() as sandbox:
            result = sandbox.run(program_text(problem, completion), problem)
        return [Verdict(f"test {i + 1} ({tc.kind})", tr.status, tr.detail[:200]) for i, (tc, tr) in enumerate(zip(problem.tests, result.tests))]
    return [Verdict("all tests (stored verdict)", fallback_status)] if fallback_status else []


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    prm_app = typer.Typer(no_args_is_help=True, help="The line-level process reward model: train, score, evaluate, show.")
    app.add_typer(prm_app, name="prm")

    @prm_app.command("train")
    def train_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of TrainConfig fields; flags override it"),
        data: Optional[Path] = typer.Option(None, "--data", help="label export directory from 'codeprm label' (or its labels.jsonl/.parquet)"),
        base: Optional[str] = typer.Option(None, "--base", help="backbone: tiny | embedded | hf:DIR | a Hugging Face model directory"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="output directory (model, checkpoint/, tb/); rerun to resume"),
        mode: Optional[str] = typer.Option(None, "--mode", help="prm (line labels, default) | orm (program pass/fail, the baseline)"),
        loss: Optional[str] = typer.Option(None, "--loss", help="bce (default) | mse"),
        lora: Optional[bool] = typer.Option(None, "--lora/--full", help="LoRA adapters or full fine-tuning (default)"),
        lora_rank: Optional[int] = typer.Option(None, "--lora-rank", help="LoRA rank (default 16; alpha defaults to twice it)"),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="maximum epochs (default 4)"),
        lr: Optional[float] = typer.Option(None, "--lr", help="learning rate (default 1e-4)"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="texts per step (default 8)"),
        val_frac: Optional[float] = typer.Option(None, "--val-frac", help="fraction of problems held out for validation"),
        patience: Optional[int] = typer.Option(None, "--patience", help="epochs without better validation loss before stopping"),
        max_length: Optional[int] = typer.Option(None, "--max-length", help="tokens read per text (default 1024)"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        balance: Optional[bool] = typer.Option(None, "--balance/--no-balance", help="weight correct and wrong lines equally in the loss"),
        threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads"),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="continue from OUT's checkpoint (default) or train from the base"),
        sets: list[str] = typer.Option([], "--set", help="KEY=VALUE override of any TrainConfig field (repeatable)"),
    ) -> None:
        """Train a PRM (or, with --mode orm, the outcome-model baseline) on label rows."""
        from codeprm.config import build_from_cli
        from codeprm.prm.train import TrainConfig, train

        flags = dict(data=str(data) if data else None, base=base, out=str(out) if out else None, mode=mode, loss=loss, lora=lora,
                     lora_rank=lora_rank, lora_alpha=2 * lora_rank if lora_rank else None, epochs=epochs, lr=lr,
                     batch_size=batch_size, val_frac=val_frac, patience=patience, max_length=max_length, seed=seed,
                     balance=balance, threads=threads)
        config = build_from_cli(TrainConfig, config_path, flags, sets)
        try:
            result = train(config, restart=not resume)
        except KeyboardInterrupt:
            Console(stderr=True).print(f"interrupted; rerun the same command to resume from {config.out}/checkpoint")
            raise typer.Exit(130) from None
        state = result.state
        Console().print(f"{config.mode.upper()} saved to {config.out} (best epoch {state.best_epoch}, val loss {state.best_val_loss:.4f}); "
                        f"TensorBoard: tensorboard --logdir {Path(config.out) / 'tb'}")

    @prm_app.command("export")
    def export_command(
        model: Path = typer.Option(..., "--model", help="PRM checkpoint directory (codeprm prm train --out)"),
        out: Path = typer.Option(..., "--out", "-o", help="output directory"),
        fmt: str = typer.Option("verl-critic", "--format", "-f", help="verl-critic: a one-label token-classification model (critic.model.path)"),
    ) -> None:
        """The PRM in the layout a trainer's critic loads (verl: critic.model.path=OUT)."""
        from codeprm.prm.export import export_critic

        Console().print(f"critic written to {export_critic(model, out, fmt)}")

    @prm_app.command("score")
    def score_command(
        model: Path = typer.Option(..., "--model", help="PRM directory from 'codeprm prm train'"),
        code: str = typer.Option(..., "--code", help="file holding the completion (or the whole program), or - for stdin"),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="benchmark of the problem, e.g. synth:heldout"),
        problem: Optional[str] = typer.Option(None, "--problem", help="problem id; its prompt is the text the code continues"),
        policy: Optional[str] = typer.Option(None, "--policy", help="policy whose prompt_for(problem) to use (default: the problem prompt)"),
    ) -> None:
        """Print the code with the PRM's score on each line."""
        from codeprm.labels.lines import split_lines
        from codeprm.prm.html import goodness
        from codeprm.prm.model import load_reward_model

        prm = load_reward_model(model, mode="prm")
        _, prompt, completion = _prompt_and_completion(benchmark, problem, code, policy)
        scores = prm.score(prompt, completion)
        table = Table(title=f"line scores ({prm.config.loss}, threshold {prm.config.threshold:g})", show_edge=False, box=None)
        table.add_column("#", justify="right", style="dim")
        table.add_column("score", justify="right")
        table.add_column("code", no_wrap=True)
        for i, (line, score) in enumerate(zip(split_lines(completion), scores)):
            if score is None:
                shown = Text("·", style="dim")
            else:
                shown = Text(f"{score:.3f}", style="green" if goodness(score, prm.config.loss) >= 0 else "bold red")
            table.add_row(str(i + 1), shown, Text(line))
        Console().print(table)

    @prm_app.command("eval")
    def eval_command(
        model: Path = typer.Option(..., "--model", help="PRM directory"),
        data: Path = typer.Option(..., "--data", help="held-out label export (several samples per problem, with pass/fail)"),
        orm: Optional[Path] = typer.Option(None, "--orm", help="ORM directory ('codeprm prm train --mode orm'), the baseline"),
        samples: Optional[int] = typer.Option(None, "--samples", "-n", help="samples per problem in the candidate pool (default: the usual count in the data)"),
        candidates: int = typer.Option(8, "--candidates", help="N of best-of-N, averaged exactly over every N-subset of the pool"),
        execute: bool = typer.Option(True, "--execute/--no-execute", help="also rank by the public example test in the prompt (PRM + execution)"),
        batch_size: int = typer.Option(8, "--batch-size"),
        threads: int = typer.Option(1, "--threads", help="torch CPU threads"),
        seed: int = typer.Option(0, "--seed", help="seed of the bootstrap resampling"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="write the metrics here"),
    ) -> None:
        """Line AUROC, first-error accuracy and best-of-N pass@1 (PRM min/last/mean vs ORM, random, oracle,
        with and without execution on the public example), with paired bootstrap 95% intervals."""
        from codeprm.prm.data import load_label_rows
        from codeprm.prm.evaluation import evaluate_reward_models
        from codeprm.prm.model import load_reward_model

        if samples is not None and samples < 1:
            raise CodeprmError("--samples must be at least 1")
        if candidates < 1:
            raise CodeprmError("--candidates must be at least 1")
        if threads < 1:
            raise CodeprmError("--threads must be at least 1")
        import torch

        torch.set_num_threads(threads)
        rows = load_label_rows(data)
        prm = load_reward_model(model, mode="prm")
        orm_model = load_reward_model(orm, mode="orm") if orm is not None else None
        public = None
        if execute:
            from codeprm.prm.selection import public_test_results
            from codeprm.sandbox import Sandbox

            with Sandbox() as sandbox:
                public = public_test_results(rows, sandbox)
            if all(p is None for p in public):
                public = None  # no prompt shows an example: nothing to execute
            else:
                public = [bool(p) for p in public]
        result = evaluate_reward_models(prm, rows, orm_model, n=samples, batch_size=batch_size, candidates=candidates,
                                        public=public, seed=seed)
        table = Table(title=f"reward model on {data} ({result['problems']} problems, best-of-{result['candidates']} "
                            f"from {result['samples_per_problem']})")
        for name in ("selector", "pass@1", "minus random", "95% CI", "gap closed"):
            table.add_column(name, justify="right")
        for name, m in result["methods"].items():
            ci = m["minus_random_ci95"]
            table.add_row(name, f"{m['pass1']:.3f}", f"{m['minus_random']:+.3f}", f"[{ci[0]:+.3f}, {ci[1]:+.3f}]",
                          "-" if m["gap_closed"] is None else f"{m['gap_closed']:.2f}")
        for name in ("random", "oracle"):
            key = f"bon_pass1_{name}"
            table.add_row(name, "-" if result[key] is None else f"{result[key]:.3f}", "", "", "")
        Console().print(table)
        if "prm_minus_orm" in result:
            lo, hi = result["prm_minus_orm_ci95"]
            Console().print(f"{result['best_prm_signal']} - ORM: {result['prm_minus_orm']:+.3f} (95% CI [{lo:+.3f}, {hi:+.3f}]); "
                            f"line AUROC {result['line_auroc']}, first-error accuracy {result['first_error_accuracy']}")
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    @prm_app.command("show")
    def show_command(
        model: Path = typer.Option(..., "--model", help="PRM directory"),
        html_path: Path = typer.Option(..., "--html", help="HTML file to write"),
        data: Optional[Path] = typer.Option(None, "--data", help="label export: show one of its rows (with its labels)"),
        problem: Optional[str] = typer.Option(None, "--problem", help="problem id (default with --data: the first row's)"),
        sample: int = typer.Option(0, "--sample", help="with --data: which row of the problem (0-based)"),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="benchmark of the problem (default: the export's config.json)"),
        code: Optional[str] = typer.Option(None, "--code", help="without --data: the completion file (or - for stdin)"),
        tests: bool = typer.Option(True, "--tests/--no-tests", help="run the tests in the sandbox to list each verdict"),
    ) -> None:
        """Write a static HTML page: each line coloured by its score, the labelled first error marked,
        the test verdicts listed."""
        from codeprm.prm.html import render_line_scores
        from codeprm.prm.model import load_reward_model

        prm = load_reward_model(model, mode="prm")
        labels = first_error = None
        status = ""
        if data is not None:
            from codeprm.prm.data import group_by_problem, load_label_rows

            groups = group_by_problem(load_label_rows(data))
            pid = problem or next(iter(groups))
            if pid not in groups:
                raise CodeprmError(f"{data} has no rows of problem '{pid}'")
            if not 0 <= sample < len(groups[pid]):
                raise CodeprmError(f"--sample {sample}: problem '{pid}' has {len(groups[pid])} rows")
            row = groups[pid][sample]
            prompt, completion, labels, first_error, status = row.policy_prompt, row.completion, row.labels, row.first_error, row.status
            config_file = (data if data.is_dir() else data.parent) / "config.json"
            if benchmark is None and config_file.is_file():
                benchmark = json.loads(config_file.read_text(encoding="utf-8")).get("benchmark")
            problem_obj = _problem(benchmark, pid) if (benchmark and tests) else None
            if problem_obj is not None and problem_obj.prompt != row.prompt:
                # The benchmark changed since labelling: its tests would judge another problem.
                Console(stderr=True).print(f"[yellow]{benchmark} {pid} is not the problem this row was labelled on; "
                                           "listing the stored verdict instead of running tests[/yellow]")
                problem_obj = None
            title = f"{pid} · sample {sample} · {'passed' if row.passed else 'failed: ' + row.status}"
        else:
            if code is None:
                raise CodeprmError("give --data (a label export) or --code (a completion file)")
            problem_obj, prompt, completion = _prompt_and_completion(benchmark, problem, code, None)
            pid = problem or "code"
            title = pid
        scores = prm.score(prompt, completion)
        verdicts = _verdicts(problem_obj if tests else None, completion, status)
        from codeprm.labels.lines import split_lines

        page = render_line_scores(title, split_lines(completion), scores, prm.config.loss, labels=labels, first_error=first_error,
                                  verdicts=verdicts, prompt=prompt,
                                  meta=f"model {model} ({prm.config.mode}, {prm.config.loss}, base {prm.config.base_model})")
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(page, encoding="utf-8")
        Console(stderr=True).print(f"wrote {html_path}")
