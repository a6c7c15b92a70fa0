"""``codeprm export``: each format written by the CLI and read back by the trainer's own loader (verl's
RLHFDataset, HF datasets for TRL, OpenRLHF's blending_datasets + PromptDataset), then judged by the codeprm
reward that trainer uses: a reference answer scores 1, a wrong one 0."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from codeprm.cli import app
from codeprm.problems import load_benchmark

N = 3
WRONG = "    return None\n"


def run_export(fmt, out, *extra):
    result = CliRunner().invoke(app, ["export", "humaneval", "--format", fmt, "-o", str(out), "--limit", str(N), *extra])
    assert result.exit_code == 0, result.output
    return result


def test_verl_parquet_is_read_by_rlhfdataset_and_scored_by_compute_score(tmp_path):
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from codeprm.integrations.verl import compute_score
    from codeprm.prm.tests.tiny import tiny_tokenizer

    run_export("verl", tmp_path)
    tok = tiny_tokenizer()
    tok.chat_template = "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    data = RLHFDataset([str(tmp_path / "train.parquet")], tok, OmegaConf.create(
        {"max_prompt_length": 8192, "cache_dir": str(tmp_path), "filter_overlong_prompts_workers": 1}))
    assert len(data) == N
    problems = load_benchmark("humaneval")[:N]
    for i, problem in enumerate(problems):
        row = data[i]
        assert row["data_source"] == "humaneval" and row["extra_info"]["problem_id"] == problem.id and row["index"] == i
        assert row["raw_prompt"][0]["role"] == "user" and problem.prompt in row["raw_prompt"][0]["content"]
        answer = "Here it is:\n```python\n" + problem.prompt + problem.reference + "```\n"
        gt = row["reward_model"]["ground_truth"]
        assert compute_score(row["data_source"], answer, gt)["score"] == 1.0
        assert compute_score(row["data_source"], "```python\n" + problem.prompt + WRONG + "```", gt)["score"] == 0.0


def test_trl_dataset_loads_with_datasets_and_feeds_the_trl_reward_functions(tmp_path):
    from datasets import load_from_disk

    from codeprm.integrations.trl import outcome_reward

    run_export("trl", tmp_path / "ds", "--by-name")
    data = load_from_disk(str(tmp_path / "ds"))
    problems = load_benchmark("humaneval")[:N]
    specs = list(data["problem"])
    assert data.column_names == ["prompt", "problem"] and specs == [f"humaneval#{p.id}" for p in problems]
    assert outcome_reward(list(data["prompt"]) + [problems[0].prompt], [p.reference for p in problems] + [WRONG],
                          problem=specs + specs[:1]) == [1.0] * N + [0.0]


def _openrlhf_module(name):
    """One OpenRLHF file by path (its package __init__ imports the whole trainer, 20 s here)."""
    spec = importlib.util.find_spec("openrlhf")
    if spec is None:
        pytest.skip("OpenRLHF is not installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(f"_openrlhf_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_openrlhf_jsonl_is_read_by_promptdataset_with_the_label_key(tmp_path):
    from codeprm.integrations.core import resolve_problem

    run_export("openrlhf", tmp_path)
    args = SimpleNamespace(data=SimpleNamespace(input_key="input", label_key="problem", apply_chat_template=False), use_ms=False)
    strategy = SimpleNamespace(args=args, print=lambda *a: None, is_rank_0=lambda: True)
    blended = _openrlhf_module("utils").blending_datasets(str(tmp_path / "train.jsonl"), None, strategy)
    data = _openrlhf_module("prompts_dataset").PromptDataset(blended, tokenizer=None, strategy=strategy)
    problems = load_benchmark("humaneval")[:N]
    assert len(data) == N
    for i, problem in enumerate(problems):
        source, prompt, label, _ = data[i]
        assert source == "humaneval" and prompt == problem.prompt and resolve_problem(label) == problem


def test_bad_format_and_by_name_verl_are_one_line_errors(tmp_path):
    from codeprm.errors import CodeprmError  # codeprm's main() prints it on one line, exit code 2

    bad = CliRunner().invoke(app, ["export", "humaneval", "--format", "csv", "-o", str(tmp_path)])
    assert isinstance(bad.exception, CodeprmError) and "verl, trl, openrlhf" in str(bad.exception)
    named = CliRunner().invoke(app, ["export", "humaneval", "--format", "verl", "-o", str(tmp_path), "--by-name"])
    assert isinstance(named.exception, CodeprmError) and "without --by-name" in str(named.exception)
