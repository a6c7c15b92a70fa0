"""How a problem becomes the text a model continues, and where that continuation stops.

Shared by every backend so that an HF model and the same model behind an OpenAI-compatible server see
the same prompt. Chat prompting (which needs the tokenizer's template) lives in ``hf.py``."""

from __future__ import annotations

from codeprm.policy.stops import BASE_MODEL_STOPS, DEMO_STOPS, FENCE_STOP
from codeprm.problems import Problem


def without_trailing_whitespace(prompt: str) -> str:
    """The prompt minus its trailing newline/indent.

    BPE vocabularies merge a newline with the next line's indentation ("\\n    " is one token), so a
    prompt ending in a bare "\\n" tells the model that the next line starts at column 0: SmolLM2 then
    closes its code block at once. Ending at the docstring's closing quotes lets the model write the
    newline and indentation itself. The completion then starts with "\\n", and ``problem.prompt +
    completion`` is still the program (with one extra blank line, which is neutral)."""
    return prompt.rstrip(" \t\n")


def base_prompt(problem: Problem) -> str:
    """Text a base (non-chat) model continues: the code prompt, or the task as a module docstring."""
    if problem.style == "completion":
        return without_trailing_whitespace(problem.prompt)
    return '"""\n' + problem.prompt.strip().replace('"""', "'''") + '\n"""\n'


def base_stops(problem: Problem) -> list[str]:
    """Base models: a new top-level def/class or demo code ends a completion (see ``stops.py``);
    instruct programs print and may have a ``__main__`` guard, so only a new docstring or fence ends them."""
    if problem.style == "completion":
        return [*BASE_MODEL_STOPS, *DEMO_STOPS, "\n" + FENCE_STOP]
    return ['\n"""', "\n" + FENCE_STOP]


def chat_stops(problem: Problem) -> list[str]:
    """Chat models: the closing fence, plus demo code after a completed function."""
    return [FENCE_STOP, *DEMO_STOPS] if problem.style == "completion" else [FENCE_STOP]
