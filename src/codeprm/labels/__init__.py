"""codeprm.labels: line labels from unit tests, found by searching over policy rollouts.

``label(problem, completion, policy, sandbox)`` labels one response; ``codeprm label`` runs a resumable
labeling job (``job.py``) and ``codeprm bench label`` compares binary search with the linear scan.
"""

from __future__ import annotations

from typing import Any, Sequence

from codeprm.labels.lines import is_neutral, prefix_text, scored_indices, split_lines
from codeprm.labels.rows import LineLabels

__all__ = ["LineLabels", "label", "is_neutral", "prefix_text", "scored_indices", "split_lines"]


def label(problem, completion: str, policy: Any, sandbox: Any, method: str = "binary", rollouts: int = 4,
          temperature: float = 0.8, top_p: float = 0.95, max_new_tokens: int = 256, seed: int = 0,
          siblings: Sequence[str] = (), evidence: bool = False, truncated: bool = False) -> list[LineLabels]:
    """Rows for one response (one row, plus failing mutants for ``mutation``), with a private
    in-memory cache. For many responses use ``codeprm.labels.job.run_label_job`` (resumable, cached)."""
    from codeprm.labels.cache import ProbeCache
    from codeprm.labels.job import LabelConfig, build_labeler
    from codeprm.labels.probe import Judge

    config = LabelConfig(policy=getattr(policy, "name", "policy"), method=method, rollouts=rollouts, temperature=temperature,
                         top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, evidence=evidence)
    cache = ProbeCache()
    labeler = build_labeler(config, policy, Judge(sandbox, cache), cache)
    return labeler.label_all(problem, completion, siblings=siblings, truncated=truncated)
