"""The experiment's summary: final held-out pass rate per arm, hierarchical bootstrap intervals, steps for
dense to reach outcome's final, what reveals reward hacking, and the plot and table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codeprm.rl.setup import read_rows
from codeprm.stats import hierarchical_ci as bootstrap_mean_ci, hierarchical_diff_ci as bootstrap_diff_ci

HACKING_KEYS = ("pass_rate", "kl", "response_length", "lines", "neutral_line_share", "line_reward_mean", "prm_mean_passed",
                "prm_mean_failed", "explained_variance", "updates", "early_stopped", "step_time_s")


def rates(detail: dict) -> np.ndarray:
    """Per-problem pass rate of one evaluation of one set (a problem with no judged sample counts 0)."""
    passes, judged = np.asarray(detail["passes"], float), np.asarray(detail["judged"], float)
    return np.divide(passes, judged, out=np.zeros_like(passes), where=judged > 0)


def evals_by_step(run_dir: Path) -> dict[int, dict]:
    return {row["step"]: row for row in read_rows(run_dir / "evals.jsonl")}


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None and x == x]
    return float(np.mean(xs)) if xs else None


def summarise(out: Path, runs_dir: Path, arms: list[str], seeds: list[int], steps: int, command: str) -> dict:
    start_evals = evals_by_step(runs_dir / "start").get(0)
    sets = ["heldout", "unseen"] if start_evals and "unseen" in start_evals else ["heldout"]
    start = {s: rates(start_evals[s]) for s in sets} if start_evals else None
    summary: dict = {"start_pass1": float(start["heldout"].mean()) if start else None,
                     "start_unseen_pass1": float(start["unseen"].mean()) if start and "unseen" in start else None,
                     "seeds": seeds, "outcome_steps": steps, "finished_runs": {}, "final_pass1_per_seed": {}, "curves": {},
                     "train_means": {}, "stopped_runs": {}}
    finals: dict[str, dict[str, list[np.ndarray]]] = {}
    for arm in arms:
        finals[arm] = {s: [] for s in sets}
        curve: dict[int, list[float]] = {0: [float(start["heldout"].mean())]} if start else {}
        per_seed, hacking, stopped = [], {k: [] for k in HACKING_KEYS}, []
        for seed in seeds:
            run_dir = runs_dir / f"{arm}-seed{seed}"
            evals = evals_by_step(run_dir)
            for step, row in evals.items():
                if 0 < step <= steps:
                    curve.setdefault(step, []).append(float(rates(row["heldout"]).mean()))
            if steps in evals:
                for s in sets:
                    finals[arm][s].append(rates(evals[steps][s]))
                per_seed.append(float(finals[arm]["heldout"][-1].mean()))
            rows = [r for r in read_rows(run_dir / "metrics.jsonl") if "reward" in r and r["step"] <= steps]
            for k in HACKING_KEYS:
                hacking[k].append(_mean(r.get(k) for r in rows))
            done = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
            if done.get("stopped"):
                stopped.append(done["stopped"])
        summary["finished_runs"][arm] = len(per_seed)
        summary["final_pass1_per_seed"][arm] = per_seed
        summary["curves"][arm] = [{"step": st, "mean": float(np.mean(v)), "sd": float(np.std(v)), "runs": len(v)} for st, v in sorted(curve.items())]
        summary["train_means"][arm] = {k: _mean(v) for k, v in hacking.items()}
        summary["stopped_runs"][arm] = stopped
        summary[f"{arm}_final_pass1"] = _mean(per_seed)
        if "unseen" in sets:
            summary[f"{arm}_final_unseen_pass1"] = _mean([float(r.mean()) for r in finals[arm]["unseen"]])
        if start is not None:
            for s in sets:
                if finals[arm][s]:
                    key = f"{arm}_minus_start{'_unseen' if s == 'unseen' else ''}_ci95"
                    summary[key] = bootstrap_mean_ci([r - start[s] for r in finals[arm][s]])
    if {"dense", "outcome"} <= set(arms):
        for s in sets:
            if finals["dense"][s] and finals["outcome"][s]:
                summary[f"dense_minus_outcome{'_unseen' if s == 'unseen' else ''}_ci95"] = bootstrap_diff_ci(finals["dense"][s], finals["outcome"][s])
        d, o = summary.get("dense_final_pass1"), summary.get("outcome_final_pass1")
        summary["dense_minus_outcome_points"] = 100 * (d - o) if d is not None and o is not None else None
        complete = lambda pt: pt["runs"] == len(finals["dense"]["heldout"]) and pt["runs"] > 0  # noqa: E731
        summary["dense_steps_to_outcome_final"] = next(
            (pt["step"] for pt in summary["curves"]["dense"] if pt["step"] > 0 and complete(pt) and o is not None and pt["mean"] >= o), None)
        summary["goals"] = _goals(summary, steps)
    summary["command"] = command
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(out / "pass1_vs_step.png", summary["curves"])
    _table(out / "table.md", summary, arms)
    return summary


def _goals(s: dict, steps: int) -> dict:
    lo = lambda key: (s.get(key) or [None])[0]  # noqa: E731
    reach = s.get("dense_steps_to_outcome_final")
    return {"dense_above_start_ci_lower_gt_0": lo("dense_minus_start_ci95") is not None and lo("dense_minus_start_ci95") > 0,
            "dense_minus_outcome_ge_3_points": (s.get("dense_minus_outcome_points") or -1e9) >= 3,
            "dense_minus_outcome_ci_lower_gt_0": lo("dense_minus_outcome_ci95") is not None and lo("dense_minus_outcome_ci95") > 0,
            "dense_reaches_outcome_final_in_le_60pct_steps": reach is not None and reach <= 0.6 * steps}


def _plot(path: Path, curves: dict, title: str = "tiny policy, sometimes-solved synth problems") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, pts in curves.items():
        if not pts:
            continue
        xs = [p["step"] for p in pts]
        ys, sd = np.array([p["mean"] for p in pts]), np.array([p["sd"] for p in pts])
        ax.plot(xs, ys, marker="o", label=arm)
        ax.fill_between(xs, ys - sd, ys + sd, alpha=0.15)
    ax.set_xlabel("RL step")
    ax.set_ylabel("held-out mean pass rate, 8 samples/problem\n(mean ± sd over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    if isinstance(x, list):
        return "[" + ", ".join(_fmt(v, digits) for v in x) + "]"
    return f"{x:.{digits}f}"


def _table(path: Path, s: dict, arms: list[str]) -> None:
    lines = ["| arm | runs | final pass rate (same dist.) | final − start, 95% CI | final (unseen) | final − start unseen, 95% CI | "
             "train pass rate | KL/sample | tokens | lines | comment/blank share | PRM mean pass / fail | s/step |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm in arms:
        t = s["train_means"][arm]
        lines.append(f"| {arm} | {s['finished_runs'][arm]} | {_fmt(s.get(f'{arm}_final_pass1'))} | {_fmt(s.get(f'{arm}_minus_start_ci95'))} | "
                     f"{_fmt(s.get(f'{arm}_final_unseen_pass1'))} | {_fmt(s.get(f'{arm}_minus_start_unseen_ci95'))} | {_fmt(t['pass_rate'])} | "
                     f"{_fmt(t['kl'], 2)} | {_fmt(t['response_length'], 1)} | {_fmt(t['lines'], 1)} | {_fmt(t['neutral_line_share'])} | "
                     f"{_fmt(t['prm_mean_passed'])} / {_fmt(t['prm_mean_failed'])} | {_fmt(t['step_time_s'], 1)} |")
    lines += ["", f"start: {_fmt(s['start_pass1'])} (same distribution), {_fmt(s.get('start_unseen_pass1'))} (unseen compositions); "
              f"dense − outcome: {_fmt(s.get('dense_minus_outcome_points'), 1)} points, 95% CI {_fmt(s.get('dense_minus_outcome_ci95'))}; "
              f"dense reaches outcome's final at step {s.get('dense_steps_to_outcome_final')} of {s['outcome_steps']}; seeds {s['seeds']}"]
    path.write_text("\n".join(lines) + "\n")
