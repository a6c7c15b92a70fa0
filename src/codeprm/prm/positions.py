"""Where the reward model reads each line: the token that covers the line's last character.

The PRM reads ``policy_prompt + completion`` tokenised *once*: tokenising lines one by one gives other
tokens (BPE merges run across line breaks, leading spaces join the next word), so a line end is mapped
to a token through the tokenizer's character offsets on the full text.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from codeprm.errors import CodeprmError
from codeprm.labels.lines import split_lines


@dataclass
class Encoded:
    """One tokenised text: its token ids and, per completion line, the token read for it (None when the
    line has no visible character or was cut off by truncation)."""

    input_ids: list[int]
    line_positions: list[int | None]
    truncated: bool


def line_last_chars(completion: str, completion_start: int) -> list[int | None]:
    """Per physical line of ``completion``, the index in the full text of its last non-whitespace
    character (None for a blank line). Trailing spaces and a CR of a CRLF ending are skipped: the line's
    content ends at its last visible character, and a token covering only trailing whitespace often
    merges with the newline and the next line's indentation."""
    ends: list[int | None] = []
    start = completion_start
    for line in split_lines(completion):
        visible = len(line.rstrip())
        ends.append(start + visible - 1 if visible else None)
        start += len(line) + 1  # the "\n" that split_lines removed
    return ends


def char_to_token(offsets: list[tuple[int, int]], chars: list[int | None]) -> list[int | None]:
    """For each character index, the index of the *last* token whose span starts at or before it.

    That is the token covering the character (the last one, when byte-level BPE splits a multi-byte
    character over several tokens sharing one span), or, when a normaliser dropped the character, the
    token just before it. Special tokens (empty spans) are never chosen. A character at or beyond the end
    of the last token's span (truncated text) maps to None."""
    real = [(start, end, i) for i, (start, end) in enumerate(offsets) if end > start]
    if not real:
        return [None] * len(chars)
    starts = [start for start, _, _ in real]
    covered_until = max(end for _, end, _ in real)
    result: list[int | None] = []
    for c in chars:
        if c is None or c >= covered_until:
            result.append(None)
            continue
        k = bisect.bisect_right(starts, c) - 1
        result.append(real[k][2] if k >= 0 else None)
    return result


def encode_with_lines(tokenizer, text: str, completion_start: int, max_length: int | None = None) -> Encoded:
    """Tokenise ``text`` (= prompt + completion, the completion starting at ``completion_start``) and
    find the token read for each completion line."""
    if not getattr(tokenizer, "is_fast", False):
        raise CodeprmError(f"tokenizer {type(tokenizer).__name__} is not a fast tokenizer; the PRM needs character offsets")
    enc = tokenizer(text, return_offsets_mapping=True, truncation=max_length is not None, max_length=max_length)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    chars = line_last_chars(text[completion_start:], completion_start)
    positions = char_to_token(offsets, chars)
    full_length = len(tokenizer(text)["input_ids"]) if max_length is not None else len(enc["input_ids"])
    return Encoded(input_ids=list(enc["input_ids"]), line_positions=positions, truncated=full_length > len(enc["input_ids"]))


def line_end_positions(text: str, completion_start: int, tokenizer, max_length: int | None = None) -> list[int | None]:
    """Token index read for each physical line of the completion in ``text`` (None for blank lines and
    lines lost to truncation). Comment-only lines get a position too; callers skip neutral lines."""
    return encode_with_lines(tokenizer, text, completion_start, max_length).line_positions
