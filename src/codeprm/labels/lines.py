"""Physical lines of a completion: splitting, neutral lines, and the prefix text a rollout continues."""

from __future__ import annotations


def split_lines(completion: str) -> list[str]:
    """``completion.split("\\n")`` without the empty string a final newline leaves behind."""
    lines = completion.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def is_neutral(line: str) -> bool:
    """Blank and comment-only lines carry no label and are never chosen as the first error."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def scored_indices(lines: list[str]) -> list[int]:
    """0-based indices of the non-neutral lines, in order."""
    return [i for i, line in enumerate(lines) if not is_neutral(line)]


def prefix_text(lines: list[str], m: int) -> str:
    """The first ``m`` lines, each ending in a newline (the empty string for ``m == 0``): the exact text
    the policy continues after its prompt, so a rollout starts on a fresh line."""
    if not 0 <= m <= len(lines):
        raise ValueError(f"prefix of {m} lines asked of a completion with {len(lines)}")
    return "".join(line + "\n" for line in lines[:m])
