"""CLI: ``codeprm problems stats|show|convert`` over any benchmark name ``load_benchmark`` knows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

BENCH_HELP = "humaneval[:0-9] | jsonl:PATH | mbpp:PATH | apps:PATH | codecontests:PATH | livecodebench:PATH | kodcode:PATH | synth:..."


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    problems_app = typer.Typer(no_args_is_help=True, help="Inspect and convert benchmarks into codeprm's JSONL schema.")
    app.add_typer(problems_app, name="problems")

    @problems_app.command("stats")
    def stats(benchmark: str = typer.Argument(..., help=BENCH_HELP)) -> None:
        """Problems, tests by kind, and how many problems are judged only by trusted call/stdio tests."""
        from codeprm.problems.registry import load_benchmark

        problems = load_benchmark(benchmark)
        kinds = Counter(t.kind for p in problems for t in p.tests)
        table = Table(title=benchmark)
        for col in ["problems", "with reference", "call tests", "stdio tests", "assert tests", "fully call/stdio"]:
            table.add_column(col, justify="right")
        trusted_only = sum(all(t.kind != "assert" for t in p.tests) for p in problems)
        table.add_row(str(len(problems)), str(sum(p.reference is not None for p in problems)), str(kinds["call"]),
                      str(kinds["stdio"]), str(kinds["assert"]), f"{trusted_only}/{len(problems)}")
        Console().print(table)

    @problems_app.command("show")
    def show(
        benchmark: str = typer.Argument(..., help=BENCH_HELP),
        problem_id: Optional[str] = typer.Option(None, "--id", help="the problem to show (default: the first)"),
    ) -> None:
        """Print one problem: prompt, tests and reference."""
        from codeprm.errors import CodeprmError
        from codeprm.problems.registry import load_benchmark

        problems = load_benchmark(benchmark)
        matches = [p for p in problems if problem_id is None or p.id == problem_id]
        if not matches:
            raise CodeprmError(f"no problem '{problem_id}' in {benchmark} (ids look like '{problems[0].id}')")
        p = matches[0]
        console = Console()
        console.rule(f"{p.id} ({p.style}, entry point {p.entry_point})")
        console.print(p.prompt, markup=False, highlight=False, soft_wrap=True)
        if p.test_setup:
            console.rule("test_setup")
            console.print(p.test_setup, markup=False, highlight=False, soft_wrap=True)
        console.rule(f"{len(p.tests)} tests")
        for t in p.tests:
            if t.kind == "call":
                args = ", ".join([*map(repr, t.args), *(f"{k}={v!r}" for k, v in t.kwargs.items())])
                console.print(f"call  {p.entry_point}({args}) == {t.expected!r}", markup=False, highlight=False, soft_wrap=True)
            elif t.kind == "stdio":
                console.print(f"stdio {t.stdin!r} -> {t.stdout!r}", markup=False, highlight=False, soft_wrap=True)
            else:
                console.print("assert\n" + t.code, markup=False, highlight=False, soft_wrap=True)
        if p.reference is not None:
            console.rule("reference")
            console.print(p.reference, markup=False, highlight=False, soft_wrap=True)

    @problems_app.command("convert")
    def convert(
        benchmark: str = typer.Argument(..., help=BENCH_HELP),
        out: Path = typer.Argument(..., help="JSONL file to write in codeprm's schema (load it back with jsonl:PATH)"),
    ) -> None:
        """Write a benchmark as codeprm JSONL."""
        from codeprm.problems.model import write_jsonl
        from codeprm.problems.registry import load_benchmark

        problems = load_benchmark(benchmark)
        write_jsonl(problems, out)
        Console(stderr=True).print(f"wrote {len(problems)} problems to {out}")
