"""The benchmark adapters, one module per source (as evalplus keeps one file per dataset):

| name | module | layout |
|---|---|---|
| ``mbpp:PATH`` | :mod:`codeprm.problems.mbpp` | ``text``/``prompt``, ``code``, ``test_list`` |
| ``apps:PATH`` | :mod:`codeprm.problems.apps` | ``question``, ``input_output``, ``solutions``, ``starter_code`` |
| ``codecontests:PATH`` | :mod:`codeprm.problems.codecontests` | ``description``, ``public/private/generated_tests`` |
| ``livecodebench:PATH`` | :mod:`codeprm.problems.livecodebench` | ``question_content``, ``public/private_test_cases`` |
| ``kodcode:PATH`` | :mod:`codeprm.problems.kodcode` | ``question``, ``solution``, pytest ``test`` |
| ``humaneval:PATH`` | :mod:`codeprm.problems.humaneval_layout` | HumanEval's ``prompt``, ``test`` with ``check(candidate)`` |

Each reads a LOCAL copy only (see :mod:`codeprm.problems.local`); every problem of the first five is
``instruct`` style (prose in, program out). This module keeps the old import path working.
"""

from codeprm.problems.apps import apps_problem, load_apps
from codeprm.problems.codecontests import codecontests_problem, load_codecontests
from codeprm.problems.kodcode import kodcode_problem, load_kodcode
from codeprm.problems.livecodebench import decode_private_tests, livecodebench_problem, load_livecodebench
from codeprm.problems.local import parse_arg, read_rows
from codeprm.problems.mbpp import load_mbpp, mbpp_problem

__all__ = [
    "apps_problem", "codecontests_problem", "decode_private_tests", "kodcode_problem", "livecodebench_problem",
    "load_apps", "load_codecontests", "load_kodcode", "load_livecodebench", "load_mbpp", "mbpp_problem",
    "parse_arg", "read_rows",
]
