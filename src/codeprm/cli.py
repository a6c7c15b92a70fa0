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
    "codeprm.serve.commands",
    "codeprm.integrations.commands",
    "codeprm.select.commands",
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

LOG_LEVELS = ("debug", "info", "warning", "error")


@app.callback()
def _configure(log_level: str = typer.Option("info", "--log-level", help="debug | info | warning | error: what codeprm logs to stderr (info shows e.g. the sandbox's isolation at start-up)")) -> None:
    """Unit tests turned into line-level rewards for code LLMs."""
    configure_logging(log_level)


def configure_logging(level: str) -> None:
    """codeprm's loggers write one line each to stderr; other libraries' loggers are left alone."""
    import logging

    from rich.logging import RichHandler

    if level.lower() not in LOG_LEVELS:
        raise CodeprmError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got '{level}'")
    logger = logging.getLogger("codeprm")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_codeprm", False) for h in logger.handlers):
        handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
        handler._codeprm = True
        logger.addHandler(handler)


def main() -> None:
    try:
        app()
    except CodeprmError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
