"""The program rule, once for every stage: which code runs for a completion.

``codeprm eval``, the labels, the PRM commands and RL all judge ``program_text(problem, completion)``, so
the text RL rewards is the text ``codeprm eval`` judges. Completion-style problems run ``prompt +
completion`` with the completion cut where the function ends (example calls, a ``__main__`` block,
prose); instruct problems run the code extracted from the chat answer (fences, demos dropped).
"""

from __future__ import annotations

from codeprm.problems.extract import extract_code
from codeprm.problems.truncate import truncate_completion
from codeprm.problems.model import Problem


def judged_completion(problem: Problem, completion: str, keep: str = "") -> str:
    """The part of a completion-style completion that runs (instruct completions are returned as is).

    ``keep`` is a prefix that must survive the cut (the probed prefix of a rollout): a cut reaching into
    it would judge a program that does not continue the prefix, so then nothing is cut."""
    if problem.style != "completion" or problem.language != "python":
        return completion  # the cut rule reads Python; another language's completion runs as written
    text = truncate_completion(problem.prompt, completion, problem.entry_point)
    return text if text.startswith(keep) else completion


def program_text(problem: Problem, completion: str, keep: str = "") -> str:
    """The program that runs for ``completion`` of ``problem``."""
    if problem.style == "completion":
        return problem.prompt + judged_completion(problem, completion, keep)
    # an instruct answer is the whole program, even when the prompt shows code: never a continuation
    return extract_code(completion, problem.entry_point)
