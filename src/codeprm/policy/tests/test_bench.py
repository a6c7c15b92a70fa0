"""The generation benchmark, run on the tiny model: counts, agreement and the CLI's table and JSON."""

from __future__ import annotations

import json

from codeprm.policy.bench import bench_generate
from codeprm.problems import Problem, write_jsonl


def test_bench_counts_tokens_in_both_modes(tiny_policy):
    prompts = ["def add(a, b):\n", "x", "class Point:\n    def __init__(self, x, y):\n"]
    seen = []
    result = bench_generate(tiny_policy, prompts, max_new_tokens=6, on_prompt=lambda: seen.append(1))
    assert len(seen) == 3
    # the tiny model never says EOS, so both modes generate every token
    assert result.one_at_a_time.tokens == result.batched.tokens == 18
    assert result.batched.batch_size == 3 and result.same_outputs == 3
    assert result.as_json()["speedup"] == result.speedup > 0


def test_cli_prints_a_table_and_writes_json(tiny_dir, tmp_path):
    from typer.testing import CliRunner

    from codeprm.cli import app

    bench = tmp_path / "p.jsonl"
    write_jsonl([Problem(id=str(i), prompt=f"def f{i}(x):\n    return x" + " + 1" * i + "\n") for i in range(3)], bench)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "generate", "--policy", f"hf:{tiny_dir}", "--benchmark", f"jsonl:{bench}",
                                      "--prompts", "3", "--max-new-tokens", "5", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "one-at-a-time" in result.output and "batched" in result.output
    data = json.loads(out.read_text())
    assert data["one_at_a_time"]["tokens"] == data["batched"]["tokens"] == 15
    assert data["same_outputs"] == 3 and data["batched"]["tokens_per_s"] > 0 and data["cpu_speedup"] > 0
