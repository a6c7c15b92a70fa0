"""Where the reward model reads each line: the token that covers the line's last character.

The PRM reads ``policy_prompt + completion`` tokenised *once*: tokenising lines one by one gives other
tokens (BPE merges run across line breaks, leading spaces join the next word), so a line end is mapped
to a token through the tokenizer's character offsets on the full text.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeprm.errors import CodeprmError
from codeprm.lines import char_to_token, line_end_chars


@dataclass
class Encoded:
    """One tokenised text: its token ids and, per completion line, the token read for it (None when the
    line has no visible character or was cut off by truncation)."""

    input_ids: list[int]
    line_positions: list[int | None]
    truncated: bool


def encode_with_lines(tokenizer, text: str, completion_start: int, max_length: int | None = None) -> Encoded:
    """Tokenise ``text`` (= prompt + completion, the completion starting at ``completion_start``) and
    find the token read for each completion line."""
    if not getattr(tokenizer, "is_fast", False):
        raise CodeprmError(f"tokenizer {type(tokenizer).__name__} is not a fast tokenizer; the PRM needs character offsets")
    enc = tokenizer(text, return_offsets_mapping=True, truncation=max_length is not None, max_length=max_length)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    chars = line_end_chars(text[completion_start:], completion_start)
    positions = char_to_token(offsets, chars)
    full_length = len(tokenizer(text)["input_ids"]) if max_length is not None else len(enc["input_ids"])
    return Encoded(input_ids=list(enc["input_ids"]), line_positions=positions, truncated=full_length > len(enc["input_ids"]))


def line_end_positions(text: str, completion_start: int, tokenizer, max_length: int | None = None) -> list[int | None]:
    """Token index read for each physical line of the completion in ``text`` (None for blank lines and
    lines lost to truncation). Comment-only lines get a position too; callers skip neutral lines."""
    return encode_with_lines(tokenizer, text, completion_start, max_length).line_positions
