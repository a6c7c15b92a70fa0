"""The ``codeprm`` command. Each sub-command is a few lines that build a config and call a stage."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from codeprm.errors import CodeprmError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Unit tests turned into line-level rewards for code LLMs.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: each prints the baseline beside codeprm.")
app.add_typer(bench_app, name="bench")
console = Console(stderr=True)

# Each stage registers its commands in its own module (``register(app, bench_app)``), so stages stay
# apart and this file stays short.
_STAGE_COMMANDS = [
    "codeprm.evaluate.commands",
    "codeprm.sandbox.commands",
    "codeprm.policy.commands",
    "codeprm.policy.tiny_commands",
    "codeprm.problems.commands",
    "codeprm.labels.commands",
    "codeprm.prm.commands",
    "codeprm.rl.commands",
    "codeprm.pipeline",
]


def _register_all() -> None:
    import importlib

    for name in _STAGE_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage has no commands yet
                continue
            raise
        module.register(app, bench_app)


_register_all()


def main() -> None:
    try:
        app()
    except CodeprmError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
