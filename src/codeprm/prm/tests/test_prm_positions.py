"""Line ends map to the token that covers each line's last visible character, on the full text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeprm.errors import CodeprmError
from codeprm.lines import char_to_token, line_end_chars as line_last_chars
from codeprm.prm.positions import encode_with_lines, line_end_positions
from codeprm.prm.tests.tiny import split_lines, tiny_tokenizer

TOKENIZERS = {
    "bpe": tiny_tokenizer(),
    "merged": tiny_tokenizer(merge_across_lines=True),
    "bos": tiny_tokenizer(bos=True),
}


def assert_covers(tokenizer, text: str, completion_start: int, positions: list[int | None]) -> None:
    """Decoding tokens up to the chosen one reaches the line's last visible character; one token fewer
    does not. This checks the choice without looking at the offsets it was made from."""
    ids = tokenizer(text)["input_ids"]
    decode = lambda k: tokenizer.decode(ids[:k], skip_special_tokens=True, clean_up_tokenization_spaces=False)  # noqa: E731
    start = completion_start
    for line, p in zip(split_lines(text[completion_start:]), positions):
        visible = len(line.rstrip())
        if visible == 0:
            assert p is None
        else:
            last = start + visible - 1
            assert p is not None
            assert decode(p + 1).startswith(text[: last + 1]), f"token {p} stops before the end of {line!r}"
            # (a multi-byte character split over tokens decodes to U+FFFD until its last byte)
            assert not decode(p).startswith(text[: last + 1]), f"token {p - 1} already covers the end of {line!r}"
        start += len(line) + 1


@pytest.mark.parametrize("name", list(TOKENIZERS))
@pytest.mark.parametrize("prompt, completion", [
    ("def f(xs):\n", "    s = 0\n    for x in xs:\n        s += x\n    return s\n"),
    ("def f(xs):\n", "    s = 0\n\n    # sum\n    return s"),  # blank + comment lines, last line ends the text
    ("def f(xs):\n", "    a = 1\r\n    b = 2   \r\n    return a + b\r\n"),  # CRLF and trailing spaces
    ("def f(xs):", "\n    return [x for x in xs if x != 'é€']\n"),  # completion starts mid-line; multi-byte chars
    ("", "x=1\ny=2"),
])
def test_positions_cover_line_ends(name, prompt, completion):
    tokenizer = TOKENIZERS[name]
    text = prompt + completion
    positions = line_end_positions(text, len(prompt), tokenizer)
    assert len(positions) == len(split_lines(completion))
    assert_covers(tokenizer, text, len(prompt), positions)


def test_merged_tokens_span_newlines_and_are_still_chosen():
    tokenizer = TOKENIZERS["merged"]
    prompt, completion = "def f(xs):\n", "    s = 0\n    for x in xs:\n        s += x\n    return s\n"
    text = prompt + completion
    enc = tokenizer(text, return_offsets_mapping=True)
    positions = line_end_positions(text, len(prompt), tokenizer)
    spans = [enc["offset_mapping"][p] for p in positions]
    ends = [len(prompt) + len(line) + sum(len(l) + 1 for l in split_lines(completion)[:i]) for i, line in enumerate(split_lines(completion))]
    # This tokenizer merges a line's end with the newline: the chosen token runs past the line's end.
    assert any(span[1] > end for span, end in zip(spans, ends))
    assert_covers(tokenizer, text, len(prompt), positions)


def test_line_by_line_tokenisation_differs_from_full_text():
    tokenizer = TOKENIZERS["merged"]
    completion = "    s = 0\n    for x in xs:\n        s += x\n"
    whole = tokenizer(completion)["input_ids"]
    pieces = [i for line in completion.splitlines(keepends=True) for i in tokenizer(line)["input_ids"]]
    assert whole != pieces  # why positions must come from offsets on the full text


def test_special_tokens_and_crlf_choice():
    tokenizer = TOKENIZERS["bos"]
    text = "a = 1\r\nb = 2"
    positions = line_end_positions(text, 0, tokenizer)
    enc = tokenizer(text, return_offsets_mapping=True)
    assert enc["input_ids"][0] == tokenizer.bos_token_id and 0 not in positions
    first_span = enc["offset_mapping"][positions[0]]
    assert first_span[0] <= text.index("1") < first_span[1]  # the '1', not the '\r'


def test_truncated_lines_have_no_position():
    tokenizer = TOKENIZERS["bpe"]
    completion = "".join(f"    v{i} = {i}\n" for i in range(40))
    encoded = encode_with_lines(tokenizer, "def f():\n" + completion, len("def f():\n"), max_length=32)
    assert encoded.truncated and len(encoded.input_ids) == 32
    assert encoded.line_positions[0] is not None and encoded.line_positions[-1] is None
    assert all(p < 32 for p in encoded.line_positions if p is not None)
    kept = [p for p in encoded.line_positions if p is not None]
    assert kept == sorted(kept) and len(set(kept)) == len(kept)


def test_char_to_token_edges():
    offsets = [(0, 0), (0, 3), (3, 3), (5, 8)]  # special, a token, an empty span, a gap at 3-4
    assert char_to_token(offsets, [0, 2, 3, 4, 5, 7, 8, None]) == [1, 1, 1, 1, 3, 3, None, None]
    assert line_last_chars("ab  \n\n c\r\n", 10) == [11, None, 17]


def test_slow_tokenizer_is_refused():
    class Slow:
        is_fast = False

    with pytest.raises(CodeprmError, match="fast tokenizer"):
        line_end_positions("x", 0, Slow())


line_text = st.text(alphabet=st.sampled_from(list("ab:=( )x1é\t\r#")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(line_text, min_size=1, max_size=6), final_newline=st.booleans(), name=st.sampled_from(list(TOKENIZERS)))
def test_positions_property(lines, final_newline, name):
    completion = "\n".join(lines) + ("\n" if final_newline else "")
    prompt = "def f(xs):\n"
    positions = line_end_positions(prompt + completion, len(prompt), TOKENIZERS[name])
    assert len(positions) == len(split_lines(completion))
    assert_covers(TOKENIZERS[name], prompt + completion, len(prompt), positions)
