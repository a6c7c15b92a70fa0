"""Lines of a completion for labelling: the line rule itself lives in ``codeprm.lines``; this adds the
prefix text a rollout continues."""

from __future__ import annotations

from codeprm.lines import is_neutral, scored_indices, split_lines

__all__ = ["is_neutral", "prefix_text", "scored_indices", "split_lines"]


def prefix_text(lines: list[str], m: int) -> str:
    """The first ``m`` lines, each ending in a newline (the empty string for ``m == 0``): the exact text
    the policy continues after its prompt, so a rollout starts on a fresh line."""
    if not 0 <= m <= len(lines):
        raise ValueError(f"prefix of {m} lines asked of a completion with {len(lines)}")
    return "".join(line + "\n" for line in lines[:m])
