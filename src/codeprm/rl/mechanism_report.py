"""The mechanism experiment's summary: final held-out pass rates per arm, intervals paired over the seeds
the arms share (hierarchical bootstrap: seeds, then problems), results per reference length, steps for
the dense arms to reach outcome's final, PRM drift (line AUROC against exact labels on the rollouts),
and the plot and table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codeprm.rl.report import HACKING_KEYS, _fmt, _mean, _plot, evals_by_step, rates
from codeprm.rl.setup import read_rows
from codeprm.stats import hierarchical_ci, hierarchical_paired_diff_ci

# (arm, baseline arm): the comparisons the experiment is about
PAIRS = (("oracle", "outcome"), ("dense", "outcome"), ("grpo_oracle", "grpo"), ("grpo_process", "grpo"), ("grpo", "outcome"))
LONG_LINES = 8  # references with at least this many scored lines count as long


def _reference_lines(spec: str) -> list[int]:
    from codeprm.lines import scored_indices, split_lines
    from codeprm.problems import load_benchmark

    return [len(scored_indices(split_lines(p.reference or ""))) for p in load_benchmark(spec)]


def summarise(out: Path, runs_dir: Path, arms: list[str], seeds: list[int], steps: int, command: str, meta: dict) -> dict:
    start_evals = evals_by_step(runs_dir / "start").get(0)
    if start_evals is None:
        return {}
    sets = [s for s in ("heldout", "unseen") if s in start_evals]
    start = {s: rates(start_evals[s]) for s in sets}
    n_lines = np.array(_reference_lines(meta["heldout"])[: len(start["heldout"])])
    s: dict = {"start_pass1": float(start["heldout"].mean()), "start_unseen_pass1": float(start["unseen"].mean()) if "unseen" in start else None,
               "seeds": seeds, "outcome_steps": steps, "fresh_problems_per_step": True, "arms": arms,
               "min_reference_lines": int(n_lines.min()), "max_reference_lines": int(n_lines.max()),
               "heldout_problems": int(len(start["heldout"])), "finished_runs": {}, "final_pass1_per_seed": {}, "curves": {},
               "train_means": {}, "stopped_runs": {}, "meta": meta}
    finals: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for arm in arms:
        finals[arm] = {st: {} for st in sets}
        curve: dict[int, list[float]] = {0: [float(start["heldout"].mean())]}
        hacking: dict[str, list] = {k: [] for k in (*HACKING_KEYS, "prm_line_auroc", "exact_labelled")}
        stopped = []
        for seed in seeds:
            run_dir = runs_dir / f"{arm}-seed{seed}"
            evals = evals_by_step(run_dir)
            for step, row in evals.items():
                if 0 < step <= steps:
                    curve.setdefault(step, []).append(float(rates(row["heldout"]).mean()))
            if steps in evals:
                for st in sets:
                    finals[arm][st][seed] = rates(evals[steps][st])
            rows = [r for r in read_rows(run_dir / "metrics.jsonl") if "reward" in r and r["step"] <= steps]
            for k in hacking:
                hacking[k].append(_mean(r.get(k) for r in rows))
            done = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
            if done.get("stopped"):
                stopped.append(done["stopped"])
        fin = finals[arm]["heldout"]
        s["finished_runs"][arm] = len(fin)
        s["final_pass1_per_seed"][arm] = {str(k): float(v.mean()) for k, v in fin.items()}
        s["curves"][arm] = [{"step": st, "mean": float(np.mean(v)), "sd": float(np.std(v)), "runs": len(v)} for st, v in sorted(curve.items())]
        s["train_means"][arm] = {k: _mean(v) for k, v in hacking.items()}
        s["stopped_runs"][arm] = stopped
        if not fin:
            continue
        s[f"{arm}_final_pass1"] = float(np.mean([v.mean() for v in fin.values()]))
        s[f"{arm}_minus_start_ci95"] = hierarchical_ci([v - start["heldout"] for v in fin.values()])
        for name, mask in (("short", n_lines < LONG_LINES), ("long", n_lines >= LONG_LINES)):
            if mask.any():
                s[f"{arm}_final_pass1_{name}"] = float(np.mean([v[mask].mean() for v in fin.values()]))
                s[f"start_pass1_{name}"] = float(start["heldout"][mask].mean())
                s[f"{name}_problems"] = int(mask.sum())
        if "unseen" in sets and finals[arm]["unseen"]:
            un = finals[arm]["unseen"]
            s[f"{arm}_final_unseen_pass1"] = float(np.mean([v.mean() for v in un.values()]))
            s[f"{arm}_minus_start_unseen_ci95"] = hierarchical_ci([v - start["unseen"] for v in un.values()])
    for arm, base in PAIRS:
        if arm in finals and base in finals:
            for st in sets:
                shared = sorted(set(finals[arm][st]) & set(finals[base][st]))
                if shared:
                    key = f"{arm}_minus_{base}{'_unseen' if st == 'unseen' else ''}"
                    a = [finals[arm][st][k] for k in shared]
                    b = [finals[base][st][k] for k in shared]
                    s[key + "_points"] = 100 * float(np.mean(a) - np.mean(b))
                    s[key + "_ci95"] = hierarchical_paired_diff_ci(a, b)
                    s[key + "_seeds"] = len(shared)
    o = s.get("outcome_final_pass1")
    for arm in ("dense", "oracle"):
        if arm in s["curves"] and o is not None:
            complete = [pt for pt in s["curves"][arm] if pt["step"] > 0 and pt["runs"] == s["finished_runs"].get(arm) and pt["runs"] > 0]
            s[f"{arm}_steps_to_outcome_final"] = next((pt["step"] for pt in complete if pt["mean"] >= o), None)
    aurocs = [x for arm in ("dense", "grpo_process") if arm in s["train_means"] for x in [s["train_means"][arm].get("prm_line_auroc")] if x is not None]
    s["prm_line_auroc_on_rollouts"] = float(np.mean(aurocs)) if aurocs else None
    s["prm_line_auroc_by_step"] = _auroc_by_step(runs_dir, [a for a in ("dense", "grpo_process") if a in arms], seeds, steps)
    if meta.get("labels") and Path(meta["labels"]).exists():
        lab = json.loads(Path(meta["labels"]).read_text())
        s["label_exact_agreement"] = lab.get("label_exact_agreement")
        s["label_rollouts_per_labelled_response"] = lab.get("rollouts_per_labelled_response")
    s["goals"] = _goals(s, steps)
    s["command"] = command
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(s, indent=2) + "\n")
    _plot(out / "pass1_vs_step.png", s["curves"], "tiny-habits policy, fresh problems every step")
    _table(out / "table.md", s, arms)
    return s


def _auroc_by_step(runs_dir: Path, arms: list[str], seeds: list[int], steps: int) -> dict[str, list]:
    out = {}
    for arm in arms:
        by: dict[int, list[float]] = {}
        for seed in seeds:
            for r in read_rows(runs_dir / f"{arm}-seed{seed}" / "metrics.jsonl"):
                x = r.get("prm_line_auroc")
                if "reward" in r and x is not None and x == x and r["step"] <= steps:
                    by.setdefault(r["step"], []).append(x)
        out[arm] = [[st, float(np.mean(v))] for st, v in sorted(by.items())]
    return out


def _goals(s: dict, steps: int) -> dict:
    lo = lambda key: (s.get(key) or [None])[0]  # noqa: E731
    pts = lambda key: s.get(key) if s.get(key) is not None else -1e9  # noqa: E731
    reach = s.get("dense_steps_to_outcome_final")
    return {
        "outcome_minus_start_ge_5_points": (s.get("outcome_final_pass1") or 0) - s["start_pass1"] >= 0.05,
        "outcome_minus_start_ci_lower_gt_0": lo("outcome_minus_start_ci95") is not None and lo("outcome_minus_start_ci95") > 0,
        "oracle_minus_outcome_ge_3_points": pts("oracle_minus_outcome_points") >= 3,
        "oracle_minus_outcome_ci_lower_gt_0": lo("oracle_minus_outcome_ci95") is not None and lo("oracle_minus_outcome_ci95") > 0,
        "dense_minus_outcome_ge_3_points": pts("dense_minus_outcome_points") >= 3,
        "dense_minus_outcome_ci_lower_gt_0": lo("dense_minus_outcome_ci95") is not None and lo("dense_minus_outcome_ci95") > 0,
        "dense_reaches_outcome_final_in_le_60pct_steps": reach is not None and reach <= 0.6 * steps,
        "label_exact_agreement_ge_0_9": (s.get("label_exact_agreement") or 0) >= 0.9,
    }


def _table(path: Path, s: dict, arms: list[str]) -> None:
    lines = ["| arm | runs | final (same dist.) | final − start, 95% CI | final, short refs | final, long refs | final (unseen) | "
             "final − start unseen, 95% CI | train pass rate | KL/sample | PRM line AUROC (rollouts) | s/step |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm in arms:
        t = s["train_means"][arm]
        lines.append(f"| {arm} | {s['finished_runs'][arm]} | {_fmt(s.get(f'{arm}_final_pass1'))} | {_fmt(s.get(f'{arm}_minus_start_ci95'))} | "
                     f"{_fmt(s.get(f'{arm}_final_pass1_short'))} | {_fmt(s.get(f'{arm}_final_pass1_long'))} | "
                     f"{_fmt(s.get(f'{arm}_final_unseen_pass1'))} | {_fmt(s.get(f'{arm}_minus_start_unseen_ci95'))} | {_fmt(t['pass_rate'])} | "
                     f"{_fmt(t['kl'], 2)} | {_fmt(t.get('prm_line_auroc'))} | {_fmt(t['step_time_s'], 1)} |")
    lines += ["", f"start: {_fmt(s['start_pass1'])} same distribution (short refs {_fmt(s.get('start_pass1_short'))}, long refs "
              f"{_fmt(s.get('start_pass1_long'))}), {_fmt(s.get('start_unseen_pass1'))} unseen compositions; seeds {s['seeds']}, "
              f"{s['outcome_steps']} steps", "", "| comparison (paired over shared seeds) | points | 95% CI | seeds |", "|---|---|---|---|"]
    for arm, base in PAIRS:
        key = f"{arm}_minus_{base}"
        if key + "_points" in s:
            lines.append(f"| {arm} − {base} | {_fmt(s[key + '_points'], 1)} | {_fmt(s[key + '_ci95'])} | {s[key + '_seeds']} |")
    path.write_text("\n".join(lines) + "\n")
