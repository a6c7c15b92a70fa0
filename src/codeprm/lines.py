"""The line rule, once for every stage: what a line of a completion is, which lines are neutral, and
where a line ends, in characters and in tokens.

A *line* is a physical line of the completion (``split("\\n")``, with no empty line after a final
newline). Blank and comment-only lines are *neutral*: no label, no reward. A line *ends* at its last
visible (non-whitespace) character: a token covering only trailing whitespace often merges with the
newline and the next line's indentation, so the token read for a line is the one covering that character.

Labels split lines here, the PRM reads its scores at ``line_end_chars`` mapped through the tokenizer's
offsets (``char_to_token``), and RL places line rewards at ``line_end_tokens`` of the tokens it sampled.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence


def split_lines(completion: str) -> list[str]:
    """``completion.split("\\n")`` without the empty string a final newline leaves behind."""
    lines = completion.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def is_neutral(line: str) -> bool:
    """Blank and comment-only lines carry no label and no reward and are never the first error."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def scored_indices(lines: Sequence[str]) -> list[int]:
    """0-based indices of the non-neutral lines, in order."""
    return [i for i, line in enumerate(lines) if not is_neutral(line)]


@dataclass(frozen=True)
class LineSpan:
    index: int  # 0-based physical line of the completion
    start: int  # char offset of the line's first character in the completion
    end: int  # char offset one past the line's last visible (non-whitespace) character
    neutral: bool  # blank or comment-only


def line_spans(completion: str) -> list[LineSpan]:
    """One span per physical line of ``completion``."""
    spans, pos = [], 0
    for i, line in enumerate(split_lines(completion)):
        spans.append(LineSpan(i, pos, pos + len(line.rstrip()), is_neutral(line)))
        pos += len(line) + 1  # the "\n" that split_lines removed
    return spans


def line_end_chars(completion: str, offset: int = 0) -> list[int | None]:
    """Per line, the index of its last visible character (plus ``offset``, the completion's start in a
    longer text); None for a line with no visible character."""
    return [offset + s.end - 1 if s.end > s.start else None for s in line_spans(completion)]


def char_to_token(offsets: Sequence[tuple[int, int]], chars: Sequence[int | None]) -> list[int | None]:
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


def token_char_ends(tokenizer, token_ids: Sequence[int], context_ids: Sequence[int] = ()) -> list[int]:
    """For each generated token, the length of the decoded completion up to and including it.

    Decoding prefixes (instead of re-tokenising the text) maps exactly the tokens the policy sampled, even
    when re-tokenisation would split the text differently. ``context_ids`` (the prompt's last tokens) are
    decoded first and their text removed, so SentencePiece tokenizers keep a leading space."""
    def decode(ids):
        return tokenizer.decode(list(context_ids) + ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    context_len = len(decode([])) if context_ids else 0
    ids = list(token_ids)
    return [len(decode(ids[: i + 1])) - context_len for i in range(len(ids))]


def line_end_tokens(char_ends: Sequence[int], spans: Sequence[LineSpan]) -> list[int | None]:
    """Per line, the index of the token covering its last visible character (None for an empty line or
    one the tokens do not reach); ``char_ends`` as from ``token_char_ends``."""
    out: list[int | None] = []
    j = 0
    for span in spans:
        if span.end == span.start:
            out.append(None)
            continue
        while j < len(char_ends) and char_ends[j] < span.end:
            j += 1
        out.append(j if j < len(char_ends) else None)
    return out
