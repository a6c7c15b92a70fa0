"""Lines of a completion for labelling: the line rule itself lives in ``codeprm.lines``; this adds the
prefix text a rollout continues."""

from __future__ import annotations

from codeprm.lines import is_neutral, scored_indices, split_lines

__all__ = ["is_neutral", "prefix_text", "scored_indices", "split_lines"]


def prefix_text(lines: list[str], m: int) -> str:
    """The first ``m`` lines of a completion, up to the end of line ``m`` *without* its newline (the
    empty string for ``m == 0``). A rollout continues ``prompt + prefix`` and must start a new line
    itself (``Policy.continue_lines``): a context ending in a bare newline is one no BPE tokenizer
    produces mid-code, and after it models end the program (see ``codeprm.policy.heal``)."""
    if not 0 <= m <= len(lines):
        raise ValueError(f"prefix of {m} lines asked of a completion with {len(lines)}")
    return "\n".join(lines[:m])
