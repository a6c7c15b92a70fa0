"""Stdout checkers a problem can ask for (Problem.checker), beside the default exact tokens."""

from codeprm.problems import Problem, TestCase
from codeprm.sandbox import compare


def test_case_insensitive_tokens_fold_ascii_letters_only():
    assert compare.stdout_matches("yes\nNo\n", "YES\nno\n", ignore_case=True)
    assert not compare.stdout_matches("yes\n", "YES\n")  # the default stays exact
    assert not compare.stdout_matches("yes no\n", "YESNO\n", ignore_case=True)  # tokens still count
    assert not compare.stdout_matches("\uff39ES\n", "YES\n", ignore_case=True)  # a full-width Y is not a Y
    assert compare.stdout_matches("Answer 0.3333333\n", "answer 0.33333333\n", 1e-6, ignore_case=True)


def test_problem_checker_reaches_the_judge(sb):
    problem = Problem(id="yn", prompt="", style="instruct", time_limit_s=1.0, checker="tokens_ignore_case",
                      tests=[TestCase.stdio("1\n", "YES\n"), TestCase.stdio("0\n", "NO\n")])
    program = "print('Yes' if int(input()) else 'nO')\n"
    assert sb.run(program, problem).passed
    assert not sb.run(program, problem.model_copy(update={"checker": "tokens"})).passed
