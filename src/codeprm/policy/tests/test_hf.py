"""HFPolicy on a tiny random Llama: batching, padding, stops, seeds and log-probs checked against the model."""

from __future__ import annotations

import pytest
import torch

from codeprm.errors import CodeprmError
from codeprm.policy.hf import HFPolicy, HFPolicyConfig
from codeprm.problems import Problem

# Lengths differ a lot, so batched rows carry plenty of left padding.
PROMPTS = [
    "def add(a, b):\n",
    "x",
    "for i in range(10):\n    print(i)\nresult = [x * x for x in values if x > 0]\nwhile left < right:\n",
    "class Point:\n    def __init__(self, x, y):\n",
]


def with_batch_size(policy: HFPolicy, batch_size: int) -> HFPolicy:
    return HFPolicy(policy.model, policy.tokenizer, policy.config.model_copy(update={"batch_size": batch_size}), name=policy.name)


def forward_logprobs(policy: HFPolicy, prompt: str, token_ids: list[int]) -> list[float]:
    """log p(token) of each generated token, from one unpadded forward pass over prompt + tokens."""
    prompt_ids = policy.encode(prompt)
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids) - 1
    return [logp[start + i, t].item() for i, t in enumerate(token_ids)]


def test_batched_greedy_equals_one_at_a_time(tiny_policy):
    batched = tiny_policy.generate(PROMPTS, max_new_tokens=24, return_logprobs=True)
    single = with_batch_size(tiny_policy, 1)
    for prompt, got in zip(PROMPTS, batched):
        alone = single.generate([prompt], max_new_tokens=24, return_logprobs=True)[0][0]
        assert got[0].token_ids == alone.token_ids
        assert got[0].text == alone.text
        # Left padding must not leak into the numbers either.
        assert got[0].logprobs == pytest.approx(alone.logprobs, abs=1e-4)


def test_greedy_runs_to_length_and_logprobs_match_forward_pass(tiny_policy):
    out = tiny_policy.generate(PROMPTS, max_new_tokens=16, return_logprobs=True)
    for prompt, (completion,) in zip(PROMPTS, out):
        assert completion.finish_reason == "length"
        assert len(completion.token_ids) == len(completion.logprobs) == 16
        assert completion.logprobs == pytest.approx(forward_logprobs(tiny_policy, prompt, completion.token_ids), abs=1e-4)
        # greedy picks the argmax, so every chosen token has the highest log-prob at its step
        assert all(lp <= 0 for lp in completion.logprobs)


def test_sampled_logprobs_are_raw_model_logprobs(tiny_policy):
    """Sampling at temperature 0.7 with top-p still reports temperature-1 log-probs of the raw logits."""
    out = tiny_policy.generate(PROMPTS[:2], n=2, temperature=0.7, top_p=0.9, max_new_tokens=12, seed=3, return_logprobs=True)
    for prompt, samples in zip(PROMPTS, out):
        for completion in samples:
            assert completion.logprobs == pytest.approx(forward_logprobs(tiny_policy, prompt, completion.token_ids), abs=1e-4)


def test_stop_sequence_truncates_text_and_tokens(tiny_policy):
    prompt = PROMPTS[0]
    full = tiny_policy.generate([prompt], max_new_tokens=40, return_logprobs=True)[0][0]
    text = full.text
    assert len(text) > 12
    stop = text[8:10]  # a stop that first appears somewhere inside the greedy text
    cut = text.index(stop)
    got = tiny_policy.generate([prompt, PROMPTS[2]], max_new_tokens=40, stop=[stop, "\x00never"], return_logprobs=True)[0][0]
    assert got.text == text[:cut]
    assert got.finish_reason == "stop"
    # the kept tokens are the shortest prefix of the greedy tokens whose text covers the cut text
    keep = len(got.token_ids)
    assert got.token_ids == full.token_ids[:keep]
    assert got.logprobs == pytest.approx(full.logprobs[:keep], abs=1e-4)
    decoded = tiny_policy.tokenizer.decode(got.token_ids, clean_up_tokenization_spaces=False)
    shorter = tiny_policy.tokenizer.decode(got.token_ids[:-1], clean_up_tokenization_spaces=False) if keep else ""
    assert decoded.startswith(got.text)
    assert keep == 0 or len(shorter) < len(got.text)
    # the row left the batch at the stop instead of running to max_new_tokens
    assert got.meta["generated_tokens"] < 40


def test_earliest_of_several_stops_wins(tiny_policy):
    text = tiny_policy.generate([PROMPTS[3]], max_new_tokens=40)[0][0].text
    early, late = text[4:6], text[20:23]
    if late in text[:20] or early == late:
        pytest.skip("random text repeats itself")
    got = tiny_policy.generate([PROMPTS[3]], max_new_tokens=40, stop=[late, early])[0][0]
    assert got.text == text[: min(text.index(early), text.index(late))]


def test_eos_ends_a_row_and_is_kept_only_in_tokens(tiny_policy):
    full = tiny_policy.generate([PROMPTS[0]], max_new_tokens=20, return_logprobs=True)[0][0]
    fake_eos = full.token_ids[5]
    first = full.token_ids.index(fake_eos)
    policy = with_batch_size(tiny_policy, 4)
    policy.eos_ids = {fake_eos}  # pretend that token is EOS
    got = policy.generate([PROMPTS[0]], max_new_tokens=20, return_logprobs=True)[0][0]
    assert got.finish_reason == "stop"
    assert got.token_ids == full.token_ids[: first + 1]
    expected = tiny_policy.tokenizer.decode(full.token_ids[:first], clean_up_tokenization_spaces=False)
    assert got.text == expected


def test_seeds_reproduce_and_do_not_depend_on_batching(tiny_policy):
    kwargs = dict(n=3, temperature=1.0, top_p=0.95, max_new_tokens=16, seed=123)
    first = tiny_policy.generate(PROMPTS, **kwargs)
    again = tiny_policy.generate(PROMPTS, **kwargs)
    other_batching = with_batch_size(tiny_policy, 1).generate(PROMPTS, **kwargs)
    texts = lambda out: [[c.text for c in row] for row in out]  # noqa: E731
    assert texts(first) == texts(again) == texts(other_batching)
    # a sample depends on its prompt's index, not on which other prompts came along
    assert [c.text for c in tiny_policy.generate(PROMPTS[:1], **kwargs)[0]] == texts(first)[0]
    # samples of one prompt differ, and another seed gives other samples
    assert len(set(texts(first)[2])) == 3
    assert texts(tiny_policy.generate(PROMPTS, **{**kwargs, "seed": 124})) != texts(first)


def test_unseeded_sampling_follows_torch_manual_seed(tiny_policy):
    torch.manual_seed(5)
    a = tiny_policy.generate(PROMPTS[:1], n=2, temperature=1.0, max_new_tokens=10)
    torch.manual_seed(5)
    b = tiny_policy.generate(PROMPTS[:1], n=2, temperature=1.0, max_new_tokens=10)
    assert [c.text for c in a[0]] == [c.text for c in b[0]]


def test_top_p_small_is_greedy(tiny_policy):
    """With top_p tiny only the most likely token survives, so sampling equals greedy."""
    greedy = tiny_policy.generate(PROMPTS, max_new_tokens=12)
    nucleus = tiny_policy.generate(PROMPTS, temperature=1.0, top_p=1e-6, max_new_tokens=12, seed=9)
    assert [r[0].text for r in greedy] == [r[0].text for r in nucleus]


def test_n_results_shape_and_zero_tokens(tiny_policy):
    out = tiny_policy.generate(PROMPTS[:2], n=3, max_new_tokens=0)
    assert [[c.text for c in row] for row in out] == [[""] * 3] * 2
    out = tiny_policy.generate(PROMPTS[:2], n=2, max_new_tokens=5)
    assert [len(row) for row in out] == [2, 2] and out[0][0].text == out[0][1].text


def test_bad_settings_and_missing_model(tiny_policy, tmp_path):
    with pytest.raises(CodeprmError):
        tiny_policy.generate(PROMPTS, temperature=-1)
    with pytest.raises(CodeprmError):
        tiny_policy.generate(PROMPTS, top_p=0)
    with pytest.raises(CodeprmError, match="config.json"):
        HFPolicy.from_pretrained(tmp_path)


def test_base_model_prompts_and_stops(tiny_policy):
    assert not tiny_policy.chat
    completion = Problem(id="p", prompt="def f(x):\n", entry_point="f")
    instruct = Problem(id="q", prompt="Read n and print n squared.", style="instruct")
    assert tiny_policy.prompt_for(completion) == "def f(x):"  # trailing newline left to the model
    assert "\ndef " in tiny_policy.default_stop(completion)
    assert "\nprint(" not in tiny_policy.default_stop(instruct)  # stdin programs print
    assert "Read n and print n squared." in tiny_policy.prompt_for(instruct)
    out = tiny_policy.complete([completion], n=2, max_new_tokens=8)
    assert len(out) == 1 and len(out[0]) == 2


CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def test_chat_prompts_open_a_code_block_holding_the_prompt(tiny_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.chat_template = CHAT_TEMPLATE
    from transformers import AutoModelForCausalLM

    policy = HFPolicy(AutoModelForCausalLM.from_pretrained(tiny_dir), tokenizer, HFPolicyConfig(device="cpu"))
    assert policy.chat
    completion = Problem(id="p", prompt="def f(x):\n    \"\"\"Double x.\"\"\"\n", entry_point="f")
    instruct = Problem(id="q", prompt="Read n and print n squared.", style="instruct")
    text = policy.prompt_for(completion)
    assert text.endswith("assistant\n```python\n" + completion.prompt.rstrip())
    assert "<s>user\nComplete the following Python function." in text and text.count("Double x.") == 2
    assert policy.default_stop(completion)[0] == "```" and "\ndef " not in policy.default_stop(completion)
    assert policy.prompt_for(instruct).endswith("standard output.</s>\n<s>assistant\n```python\n")
    assert policy.default_stop(instruct) == ["```"]
    # the chat text starts with BOS already: no second one is added
    ids = policy.encode(text)
    assert ids[0] == tokenizer.bos_token_id and ids[1] != tokenizer.bos_token_id
