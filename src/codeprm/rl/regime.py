"""A regime where dense rewards can matter: problems the starting policy solves *sometimes but rarely*.

Outcome-only RL learns nothing from a problem whose samples all fail (no signal) or all pass (nothing to
improve). ``build_regime`` samples ``n`` completions of each candidate problem with the starting policy,
keeps those with between ``lo`` and ``hi`` passes, and writes three JSONL problem files (readable as
``jsonl:PATH`` benchmarks):

- ``rl_train.jsonl``   RL problems: train-split compositions with fresh constants;
- ``heldout_same.jsonl``  held-out problems of the same distribution (other draws, never trained on);
- ``heldout_unseen.jsonl``  held-out problems of compositions never seen in SFT or RL (``synth:heldout``);

plus ``regime.json`` with the pass-count histograms. The filter's samples use ``seed``; evaluations
later use their own seed, so a problem's measured start rate is a fresh draw, not the filter's.

    python -m codeprm.rl.regime --policy hf:runs/tiny --out runs/regime
"""

from __future__ import annotations

import argparse
import collections
import json
import random
from pathlib import Path
from typing import Sequence

from codeprm.problems import Problem
from codeprm.programs import program_text


def pass_counts(policy, problems: Sequence[Problem], verifier, n: int, temperature: float, max_new_tokens: int, seed: int) -> list[int]:
    """Passing samples out of ``n`` per problem (an infra error counts as not passing here)."""
    outs = policy.generate([policy.prompt_for(p) for p in problems], n=n, temperature=temperature, max_new_tokens=max_new_tokens,
                           stop=policy.default_stop(problems[0]), seed=seed)
    flat = [(p, c.text) for p, cs in zip(problems, outs) for c in cs]
    results = verifier([p for p, _ in flat], [program_text(p, t) for p, t in flat], False)
    counts = [0] * len(problems)
    for k, r in enumerate(results):
        counts[k // n] += int(r.passed and not r.infra_error)
    return counts


def sometimes(problems: Sequence[Problem], counts: Sequence[int], lo: int, hi: int) -> list[Problem]:
    """The problems solved at least ``lo`` and at most ``hi`` times."""
    return [p for p, c in zip(problems, counts) if lo <= c <= hi]


def _write(path: Path, problems: Sequence[Problem]) -> None:
    path.write_text("".join(p.model_dump_json() + "\n" for p in problems))


def build_regime(policy, verifier, out: Path, train_candidates: Sequence[Problem], unseen_candidates: Sequence[Problem], *,
                 n: int = 8, lo: int = 1, hi: int = 6, heldout_size: int = 48, temperature: float = 1.0, max_new_tokens: int = 96,
                 seed: int = 7) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    train_counts = pass_counts(policy, train_candidates, verifier, n, temperature, max_new_tokens, seed)
    unseen_counts = pass_counts(policy, unseen_candidates, verifier, n, temperature, max_new_tokens, seed)
    kept = sometimes(train_candidates, train_counts, lo, hi)
    random.Random(seed).shuffle(kept)
    same, train = kept[:heldout_size], kept[heldout_size:]
    unseen = sometimes(unseen_candidates, unseen_counts, lo, hi)[:heldout_size]
    _write(out / "rl_train.jsonl", train)
    _write(out / "heldout_same.jsonl", same)
    _write(out / "heldout_unseen.jsonl", unseen)
    hist = lambda counts: dict(sorted(collections.Counter(counts).items()))  # noqa: E731
    info = {"n": n, "lo": lo, "hi": hi, "seed": seed, "temperature": temperature, "max_new_tokens": max_new_tokens,
            "train_candidates": len(train_candidates), "unseen_candidates": len(unseen_candidates),
            "train_pass_hist": hist(train_counts), "unseen_pass_hist": hist(unseen_counts),
            "rl_train": len(train), "heldout_same": len(same), "heldout_unseen": len(unseen),
            "mean_pass_rate": {"train_candidates": sum(train_counts) / (n * len(train_counts)),
                               "unseen_candidates": sum(unseen_counts) / (n * len(unseen_counts))}}
    (out / "regime.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> dict:
    from codeprm.problems import load_benchmark
    from codeprm.rl.components import load_rl_policy, sandbox_verifier

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", "-p", default="tiny")
    ap.add_argument("--out", "-o", type=Path, required=True)
    ap.add_argument("--train-candidates", default="synth:train?seed=11&size=600&difficulty=3-6")
    ap.add_argument("--unseen-candidates", default="synth:heldout?difficulty=3-6")
    ap.add_argument("--samples", "-n", type=int, default=8)
    ap.add_argument("--lo", type=int, default=1)
    ap.add_argument("--hi", type=int, default=6)
    ap.add_argument("--heldout-size", type=int, default=48)
    ap.add_argument("--temperature", "-t", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    verifier = sandbox_verifier(1)
    try:
        info = build_regime(load_rl_policy(args.policy), verifier, args.out, load_benchmark(args.train_candidates),
                            load_benchmark(args.unseen_candidates), n=args.samples, lo=args.lo, hi=args.hi,
                            heldout_size=args.heldout_size, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                            seed=args.seed)
    finally:
        verifier.close()
    print(json.dumps(info, indent=2))
    return info


if __name__ == "__main__":
    main()
