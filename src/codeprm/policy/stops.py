"""Stop sequences: where a completion ends, shared by every backend so they all truncate alike."""

from __future__ import annotations

from typing import Sequence

# Top-level code a model writes *after* the function it was asked for: demos and tests. Stopping there
# saves tokens and keeps the program free of asserts that could fail on their own.
DEMO_STOPS = ["\nif __name__", "\nprint(", "\nassert "]

# The closing fence of a chat answer's code block (chat policies open the block themselves).
FENCE_STOP = "```"

# Base (non-chat) models have no fence to close, so after the function they tend to start the *next*
# function or class of some unrelated file. Stopping at a new top-level ``def``/``class`` is the Codex
# convention; its known cost is that a helper defined *after* the target function is cut off (and the
# program then fails with a NameError). Chat policies do not use these two: their answer ends at the
# closing fence, so a helper written after the main function is kept.
BASE_MODEL_STOPS = ["\ndef ", "\nclass "]


def find_stop(text: str, stops: Sequence[str], start: int = 0) -> int:
    """Index in ``text`` where the earliest stop sequence begins (searching from ``start``), or -1."""
    best = -1
    for stop in stops:
        if not stop:
            continue
        at = text.find(stop, start)
        if at != -1 and (best == -1 or at < best):
            best = at
    return best


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` cut before its earliest stop sequence, and whether a stop was found."""
    at = find_stop(text, stops)
    return (text, False) if at == -1 else (text[:at], True)
