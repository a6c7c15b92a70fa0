"""``codeprm export``: a benchmark as the rows each trainer reads, every row naming its problem so the
codeprm reward (``compute_score``, the TRL reward functions, ``codeprm serve``'s ``/get_reward``) can judge it.

- ``verl``: ``DIR/train.parquet`` for ``data.train_files``: ``data_source``, ``prompt`` (chat messages:
  verl's agent loop always applies the chat template), ``ability``, ``reward_model`` (``style: rule``,
  ``ground_truth``: the problem) and ``extra_info`` (``index``, ``problem_id``, ``split``).
- ``trl``: a Hugging Face dataset saved with ``save_to_disk`` (``datasets.load_from_disk(DIR)``):
  ``prompt`` (the text to continue) and ``problem`` (the column the TRL reward functions read).
- ``openrlhf``: ``DIR/train.jsonl`` with ``input`` and ``problem`` (``--data.input_key input
  --data.label_key problem``); ``/get_reward`` finds the prompt in the query it is posted.

The problem is stored as its JSON (self-contained: a reward worker needs no benchmark files), or with
``by_name`` as ``"BENCHMARK#ID"``. A chat answer is never a continuation, so for verl a completion-style
problem becomes an instruct one: the user message shows the code to complete and asks for the whole
function, and the judged program is the code block of the answer (``codeprm.programs``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from codeprm.errors import CodeprmError
from codeprm.integrations.core import problem_ref
from codeprm.problems import Problem, load_benchmark

Format = Literal["verl", "trl", "openrlhf"]
FORMATS = ("verl", "trl", "openrlhf")
CHAT_ASK = "Complete the following Python function. Answer with the whole function in one ```python block.\n\n```python\n{code}```"


def chat_problem(problem: Problem) -> Problem:
    """The problem as a chat model is asked it: instruct style, so the answer's code block is the program."""
    if problem.style == "instruct":
        return problem
    return problem.model_copy(update={"style": "instruct", "prompt": CHAT_ASK.format(code=problem.prompt)})


def _spec(benchmark: str, problem: Problem, by_name: bool) -> str:
    return problem_ref(benchmark, problem.id) if by_name else problem.model_dump_json()


def rows(fmt: str, benchmark: str, problems: list[Problem], by_name: bool = False, split: str = "train") -> list[dict]:
    """The rows ``fmt`` reads, one per problem."""
    if fmt == "verl":
        if by_name and any(p.style == "completion" for p in problems):
            raise CodeprmError("verl rows ask chat models (instruct form), which 'BENCHMARK#ID' cannot name: export without --by-name")
        return [{"data_source": benchmark, "prompt": [{"role": "user", "content": chat_problem(p).prompt}], "ability": "code",
                 "reward_model": {"style": "rule", "ground_truth": _spec(benchmark, chat_problem(p), by_name)},
                 "extra_info": {"index": i, "problem_id": p.id, "split": split}} for i, p in enumerate(problems)]
    if fmt == "trl":
        return [{"prompt": p.prompt, "problem": _spec(benchmark, p, by_name)} for p in problems]
    if fmt == "openrlhf":
        return [{"input": p.prompt, "problem": _spec(benchmark, p, by_name), "datasource": benchmark} for p in problems]
    raise CodeprmError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def export(fmt: str, benchmark: str, out: str | Path, limit: int | None = None, by_name: bool = False, split: str = "train") -> Path:
    """Write ``benchmark`` (its first ``limit`` problems) for ``fmt`` under ``out``; returns what to point the trainer at."""
    from datasets import Dataset

    problems = load_benchmark(benchmark)[:limit]
    table = rows(fmt, benchmark, problems, by_name, split)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "verl":
        path = out / f"{split}.parquet"
        Dataset.from_list(table).to_parquet(str(path))
    elif fmt == "trl":
        path = out
        Dataset.from_list(table).save_to_disk(str(out))
    else:
        path = out / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in table), encoding="utf-8")
    return path
