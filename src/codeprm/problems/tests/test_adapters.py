"""Adapters on tiny fixtures written here in each benchmark's real field layout (JSONL and parquet).

References are run against the converted tests by a plain subprocess checker (not the sandbox): call
tests compare with ``==``, stdio tests compare output lines with trailing whitespace ignored.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zlib

import datasets
import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import Problem, TestCase, load_benchmark
from codeprm.problems.adapters import decode_private_tests, load_apps, load_codecontests, load_kodcode, load_livecodebench, load_mbpp

# --- fixtures in the real layouts -----------------------------------------------------------------

MBPP_ROWS = [
    {
        "task_id": 11,
        "text": "Write a python function to remove first and last occurrence of a given character from the string.",
        "code": "def remove_Occ(s,ch): \r\n    for i in range(len(s)): \r\n        if (s[i] == ch): \r\n            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    for i in range(len(s) - 1,-1,-1):  \r\n        if (s[i] == ch): \r\n            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    return s ",
        "test_list": ['assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"', 'assert remove_Occ("PHP","P") == "H"'],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {
        "task_id": 2,
        "text": "Write a function to find the shared elements from the given two lists.",
        "code": "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res) ",
        "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))", "assert similar_elements((1, 2),(3, 4)) == ()"],
        "test_setup_code": "import math",
        "challenge_test_list": [],
    },
    {
        "task_id": 14,
        "text": "Write a function to find the area of a circle.",
        "code": "import math\ndef area(r):\n    return math.pi * r * r",
        "test_list": ["assert math.isclose(area(2), 12.566, rel_tol=0.001)", "assert area(0) == 0.0"],
        "test_setup_code": "import math",
        "challenge_test_list": [],
    },
]

APPS_ROWS = [
    {
        "problem_id": 0,
        "question": "Given two integers a and b on one line, print their sum.",
        "solutions": json.dumps(["a, b = map(int, input().split())\nprint(a + b)\n"]),
        "input_output": json.dumps({"inputs": ["1 2\n", ["3 4"]], "outputs": ["3\n", ["7"]]}),
        "starter_code": "",
        "difficulty": "introductory",
        "url": "",
    },
    {
        "problem_id": 1,
        "question": "Return the two numbers added.",
        "solutions": json.dumps(["def add(a, b):\n    return a + b\n"]),
        "input_output": json.dumps({"fn_name": "add", "inputs": [[1, 2], [-5, 5]], "outputs": [[3], [0]]}),
        "starter_code": "def add(a, b):\n\t",
        "difficulty": "introductory",
        "url": "",
    },
    {
        "problem_id": 2,
        "question": "Return the indices of the two numbers that add up to target.",
        "solutions": json.dumps(["class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n                return [seen[target - x], i]\n            seen[x] = i\n"]),
        "input_output": json.dumps({"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9], [[3, 2, 4], 6]], "outputs": [[[0, 1]], [[1, 2]]]}),
        "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
        "difficulty": "interview",
        "url": "",
    },
    {"problem_id": 3, "question": "No tests here.", "solutions": "", "input_output": "", "starter_code": "", "difficulty": "", "url": ""},
]

CC_ROWS = [
    {
        "name": "1_A. Theatre Square",
        "description": "Compute ceil(n/a) * ceil(m/a) for n m a on one line.",
        "public_tests": {"input": ["6 6 4\n"], "output": ["4\n"]},
        "private_tests": {"input": ["1 1 1\n", "1000000000 1000000000 1\n"], "output": ["1\n", "1000000000000000000\n"]},
        "generated_tests": {"input": ["2 3 2\n"], "output": ["2\n"]},
        "solutions": {"language": [2, 3], "solution": ["#include <cstdio>\nint main(){}", "n, m, a = map(int, input().split())\nprint(-(-n // a) * -(-m // a))\n"]},
        "incorrect_solutions": {"language": [3], "solution": ["print(0)"]},
        "time_limit": {"seconds": 1, "nanos": 0},
        "memory_limit_bytes": 268435456,
        "source": 2,
        "difficulty": 7,
    },
    {
        "name": "2_B. Echo",
        "description": "Print the input line.",
        "public_tests": {"input": ["hi\n"], "output": ["hi\n"]},
        "private_tests": {"input": [], "output": []},
        "generated_tests": {"input": [], "output": []},
        "solutions": {"language": [1], "solution": ["print raw_input()"]},
        "incorrect_solutions": {"language": [], "solution": []},
        "time_limit": {"seconds": 5, "nanos": 500000000},
        "memory_limit_bytes": 0,
        "source": 2,
        "difficulty": 1,
    },
]


def _compressed(obj) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(obj)))).decode()


LCB_ROWS = [
    {
        "question_title": "Sum",
        "question_content": "Read A and B and print A+B.",
        "platform": "atcoder",
        "question_id": "abc300_a",
        "contest_id": "abc300",
        "contest_date": "2023-04-29T00:00:00",
        "starter_code": "",
        "difficulty": "easy",
        "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
        "private_test_cases": _compressed([{"input": "10 20\n", "output": "30\n", "testtype": "stdin"}]),
        "metadata": "{}",
    },
    {
        "question_title": "Max Sum",
        "question_content": "Return the sum of the k largest numbers.",
        "platform": "leetcode",
        "question_id": "3000",
        "contest_id": "weekly-contest-1",
        "contest_date": "2023-05-01T00:00:00",
        "starter_code": "class Solution:\n    def maxSum(self, nums: List[int], k: int) -> int:\n        ",
        "difficulty": "medium",
        "public_test_cases": json.dumps([{"input": "[1, 5, 3]\n2", "output": "8", "testtype": "functional"}]),
        "private_test_cases": json.dumps([{"input": "[4]\n1", "output": "4", "testtype": "functional"}]),
        "metadata": json.dumps({"func_name": "maxSum"}),
    },
]
LCB_REFERENCES = {
    "livecodebench/abc300_a": "a, b = map(int, input().split())\nprint(a + b)\n",
    "livecodebench/3000": "from typing import List\n\nclass Solution:\n    def maxSum(self, nums: List[int], k: int) -> int:\n        return sum(sorted(nums)[-k:])\n",
}

KOD_ROWS = [
    {
        "question_id": "Kod_1",
        "question": "Write a function that returns the sum of a list of numbers.",
        "solution": "def list_sum(xs):\n    return sum(xs)\n",
        "test": "from solution import *\n\ndef test_basic():\n    assert list_sum([1, 2]) == 3\n    assert list_sum([]) == 0\n\ndef test_negative():\n    xs = [-1, -2]\n    assert list_sum(xs) == -3\n",
        "test_info": [{"function_name": "list_sum", "parameter_list": "(xs)", "function_declaration": "def list_sum(xs):", "docstring": None}],
        "style": "instruct",
        "subset": "Leetcode",
    },
    {
        "question_id": "Kod_2",
        "question": "Write safe_div(a, b) dividing a by b; dividing by zero raises ZeroDivisionError.",
        "solution": "def safe_div(a, b):\n    return a / b\n",
        "test": textwrap.dedent(
            """\
            import pytest
            from solution import safe_div

            def helper(x):
                return x * 2

            @pytest.mark.parametrize("a, b, expected", [(4, 2, 2.0), (9, 3, 3.0)])
            def test_div(a, b, expected):
                assert safe_div(a, b) == expected

            def test_zero():
                with pytest.raises(ZeroDivisionError):
                    safe_div(1, 0)

            def test_helper():
                assert safe_div(helper(2), 2) == 2.0

            @pytest.fixture
            def data():
                return [1]

            def test_fixture(data):
                assert safe_div(data[0], 1) == 1
            """
        ),
        "test_info": [{"function_name": "safe_div", "parameter_list": "(a, b)", "function_declaration": "def safe_div(a, b):", "docstring": None}],
        "style": "instruct",
        "subset": "Prefill",
    },
    {
        "question_id": "Kod_3",
        "question": "Write twice(x) returning 2 * x.",
        "solution": "def twice(x):\n    return 2 * x\n",
        "test": "import solution\n\ndef test_twice():\n    assert solution.twice(4) == 8\n",
        "test_info": [{"function_name": "twice", "parameter_list": "(x)", "function_declaration": "def twice(x):", "docstring": "Doubles."}],
        "style": "complete",
        "subset": "Filter",
    },
]


def write(tmp_path, name: str, rows: list[dict], fmt: str):
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


# --- a plain checker ------------------------------------------------------------------------------

# The child gets plain builtins through pickle (our own trusted data), so it starts without codeprm.
_CALL_CHILD = textwrap.dedent(
    """
    import copy, json, pickle, sys
    item = pickle.load(open(sys.argv[1], "rb"))
    ns = {"__name__": "__candidate__"}
    exec(item["program"], ns)
    exec(item["setup"], ns)
    out = []
    for kind, args, kwargs, expected, code in item["tests"]:
        try:
            entry = ns[item["entry"]]
            if kind == "call":
                out.append(bool(entry(*copy.deepcopy(args), **kwargs) == expected))
            else:
                ns["candidate"] = entry
                exec(code, ns)
                out.append(True)
        except BaseException:
            out.append(False)
    json.dump(out, open(sys.argv[2], "w"))
    """
)


def verdicts(tmp_path, problem: Problem, program: str) -> list[bool]:
    if problem.entry_point is None:  # stdio
        out = []
        for t in problem.tests:
            assert t.kind == "stdio"
            proc = subprocess.run([sys.executable, "-c", program], input=t.stdin, capture_output=True, text=True, timeout=30)
            out.append(proc.returncode == 0 and proc.stdout.rstrip().splitlines() == t.stdout.rstrip().splitlines())
        return out
    src, dst = tmp_path / "item.pkl", tmp_path / "out.json"
    tests = [(t.kind, t.args, t.kwargs, t.expected, t.code) for t in problem.tests]
    src.write_bytes(pickle.dumps({"program": program, "setup": problem.test_setup, "entry": problem.entry_point, "tests": tests}))
    subprocess.run([sys.executable, "-c", _CALL_CHILD, str(src), str(dst)], check=True, timeout=60, capture_output=True)
    return json.loads(dst.read_text())


def same_as_jsonl(tmp_path, fmt, problems, loader, rows) -> bool:
    """For parquet: the problems equal the JSONL ones (whose references are run), so skip re-running."""
    if fmt != "parquet":
        return False
    assert problems == loader(str(write(tmp_path, "same", rows, "jsonl")))
    return True


# --- tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_mbpp(tmp_path, fmt):
    problems = load_mbpp(str(write(tmp_path, "mbpp", MBPP_ROWS, fmt)))
    assert [p.id for p in problems] == ["mbpp/11", "mbpp/2", "mbpp/14"]
    p11, p2, p14 = problems
    assert (p11.entry_point, p2.entry_point, p14.entry_point) == ("remove_Occ", "similar_elements", "area")
    assert p11.style == "instruct" and "remove first and last" in p11.prompt and 'remove_Occ("hello","l")' in p11.prompt
    assert p11.tests[0] == TestCase.call(args=["hello", "l"], expected="heo")
    assert [t.kind for t in p2.tests] == ["assert", "call"] and p2.tests[1].expected == ()
    assert p2.test_setup == "import math" and "\r" not in p11.reference
    assert [t.kind for t in p14.tests] == ["assert", "call"]
    if same_as_jsonl(tmp_path, fmt, problems, load_mbpp, MBPP_ROWS):
        return
    for p in problems:
        assert all(verdicts(tmp_path, p, p.reference)), p.id
        assert not all(verdicts(tmp_path, p, f"def {p.entry_point}(*args):\n    return None\n")), p.id


def test_mbpp_saved_dataset_dict_and_split(tmp_path):
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(MBPP_ROWS[:1]), "test": datasets.Dataset.from_list(MBPP_ROWS[1:])})
    dd.save_to_disk(str(tmp_path / "mbpp_dir"))
    assert [p.id for p in load_benchmark(f"mbpp:{tmp_path / 'mbpp_dir'}")] == ["mbpp/2", "mbpp/14"]  # test by default
    assert [p.id for p in load_benchmark(f"mbpp:{tmp_path / 'mbpp_dir'}?split=train")] == ["mbpp/11"]
    with pytest.raises(CodeprmError, match="split"):
        load_mbpp(f"{tmp_path / 'mbpp_dir'}?split=nope")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_apps(tmp_path, fmt):
    problems = load_apps(str(write(tmp_path, "apps", APPS_ROWS, fmt)))
    assert [p.id for p in problems] == ["apps/0", "apps/1", "apps/2"]  # the row without tests is skipped
    stdio, call, leet = problems
    assert stdio.entry_point is None and stdio.tests[1] == TestCase.stdio("3 4\n", "7\n")
    assert call.entry_point == "add" and call.tests == [TestCase.call([1, 2], expected=3), TestCase.call([-5, 5], expected=0)]
    assert leet.entry_point == "twoSum" and leet.tests[0].expected == [0, 1] and "Solution()" in leet.test_setup
    assert "def add(a, b):" in call.prompt
    if same_as_jsonl(tmp_path, fmt, problems, load_apps, APPS_ROWS):
        return
    for p in problems:
        assert all(verdicts(tmp_path, p, p.reference)), p.id
    assert not any(verdicts(tmp_path, stdio, "print(0)"))
    assert not any(verdicts(tmp_path, leet, "class Solution:\n    def twoSum(self, nums, target):\n        return (0, 1)\n"))
    # a plain function instead of the class is called directly
    assert verdicts(tmp_path, leet, "def twoSum(nums, target):\n    return [[i, j] for j in range(len(nums)) for i in range(j) if nums[i] + nums[j] == target][0]\n") == [True, True]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_codecontests(tmp_path, fmt):
    problems = load_codecontests(str(write(tmp_path, "cc", CC_ROWS, fmt)))
    theatre, echo = problems
    assert theatre.id == "codecontests/1_A. Theatre Square" and len(theatre.tests) == 4
    assert theatre.reference.startswith("n, m, a")  # the Python 3 solution, not the C++ one
    assert theatre.time_limit_s == 3.0 and theatre.memory_limit_mb == 512  # C++ limits, raised to Python's defaults
    assert echo.reference is None  # only a Python 2 solution
    assert echo.time_limit_s == pytest.approx(5.5)
    if same_as_jsonl(tmp_path, fmt, problems, load_codecontests, CC_ROWS):
        return
    assert all(verdicts(tmp_path, theatre, theatre.reference))
    assert all(verdicts(tmp_path, echo, "print(input())"))
    assert not all(verdicts(tmp_path, theatre, "print(4)"))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_livecodebench(tmp_path, fmt):
    problems = load_livecodebench(str(write(tmp_path, "lcb", LCB_ROWS, fmt)))
    stdin, functional = problems
    assert stdin.tests == [TestCase.stdio("1 2\n", "3\n"), TestCase.stdio("10 20\n", "30\n")]  # private ones decompressed
    assert functional.entry_point == "maxSum"
    assert functional.tests == [TestCase.call([[1, 5, 3], 2], expected=8), TestCase.call([[4], 1], expected=4)]
    assert "class Solution" in functional.prompt
    if same_as_jsonl(tmp_path, fmt, problems, load_livecodebench, LCB_ROWS):
        return
    for p in problems:
        assert all(verdicts(tmp_path, p, LCB_REFERENCES[p.id])), p.id
    assert not all(verdicts(tmp_path, functional, "class Solution:\n    def maxSum(self, nums, k):\n        return max(nums)\n"))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_livecodebench_refuses_pickled_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = base64.b64encode(zlib.compress(pickle.dumps(_Evil()))).decode()
    with pytest.raises(CodeprmError, match="private_test_cases"):
        decode_private_tests(evil, "row 0")
    assert not (tmp_path / "pwned").exists()
    not_a_str = base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode()
    with pytest.raises(CodeprmError, match="expected a JSON string"):
        decode_private_tests(not_a_str, "row 0")
    assert decode_private_tests(_compressed([{"input": "1", "output": "2", "testtype": "stdin"}]), "r")[0]["output"] == "2"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_kodcode(tmp_path, fmt):
    problems = load_kodcode(str(write(tmp_path, "kod", KOD_ROWS, fmt)))
    lsum, div, twice = problems
    assert [t.kind for t in twice.tests] == ["assert"] and "SimpleNamespace" in twice.test_setup
    assert lsum.entry_point == "list_sum" and "def list_sum(xs):" in lsum.prompt
    assert lsum.tests[:2] == [TestCase.call([[1, 2]], expected=3), TestCase.call([[]], expected=0)]
    assert lsum.tests[2].kind == "assert"  # test_negative needs its `xs = ...`
    assert div.entry_point == "safe_div" and len(div.tests) == 3  # the fixture test is skipped
    # pytest is replaced by a shim (the sandbox cannot import it); helpers stay
    assert "import pytest" not in div.test_setup and "pytest = _codeprm_pytest" in div.test_setup
    assert "def helper" in div.test_setup and "solution" not in div.test_setup
    if same_as_jsonl(tmp_path, fmt, problems, load_kodcode, KOD_ROWS):
        return
    for p in problems:
        assert all(verdicts(tmp_path, p, p.reference)), p.id
        assert not all(verdicts(tmp_path, p, f"def {p.entry_point}(*args):\n    return 0\n")), p.id


def test_bad_input_is_a_one_line_error(tmp_path):
    for name in ["mbpp", "apps", "codecontests", "livecodebench", "kodcode"]:
        with pytest.raises(CodeprmError, match="no such file"):
            load_benchmark(f"{name}:{tmp_path / 'missing.jsonl'}")
        with pytest.raises(CodeprmError, match="local path"):
            load_benchmark(name)
    bad = write(tmp_path, "bad", [{"task_id": 1, "text": "x", "code": "def f(): pass"}], "jsonl")
    with pytest.raises(CodeprmError, match="row 0: missing field 'test_list'"):
        load_mbpp(str(bad))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CodeprmError, match="expected a .jsonl"):
        load_mbpp(str(tmp_path / "notes.txt"))


def test_pytest_shim_behaves_like_pytest():
    from codeprm.problems.pytest_shim import shim_source

    ns: dict = {}
    exec(shim_source([("pytest", ""), ("raises", "raises"), ("approx", "approx")]), ns)
    pytest_ = ns["pytest"]
    with pytest_.raises(ZeroDivisionError) as info:
        1 / 0
    assert info.type is ZeroDivisionError
    with pytest.raises(AssertionError, match="DID NOT RAISE"):
        with pytest_.raises(ValueError):
            pass
    with pytest.raises(AssertionError, match="does not match"):
        with pytest_.raises(ValueError, match="^bad"):
            raise ValueError("good")
    with pytest.raises(KeyError):  # another exception type propagates
        with pytest_.raises(ValueError):
            raise KeyError("x")
    ns["raises"](ZeroDivisionError, lambda: 1 / 0)
    assert 0.1 + 0.2 == ns["approx"](0.3) and [0.1 + 0.2, 1] == pytest_.approx([0.3, 1])
    assert 0.31 != pytest_.approx(0.3) and {"a": 1.0} == pytest_.approx({"a": 1.0 + 1e-9})

    @pytest_.mark.parametrize("a", [1])
    @pytest_.mark.slow
    @pytest_.fixture
    def f():
        return 7

    assert f() == 7 and set(ns) - {"__builtins__"} == {"_codeprm_pytest", "pytest", "raises", "approx"}


def test_json_array_file_and_directory_of_split_files(tmp_path):
    (tmp_path / "mbpp.json").write_text(json.dumps(MBPP_ROWS))
    assert [p.id for p in load_mbpp(str(tmp_path / "mbpp.json"))] == ["mbpp/11", "mbpp/2", "mbpp/14"]
    repo = tmp_path / "repo" / "full"
    repo.mkdir(parents=True)
    datasets.Dataset.from_list(MBPP_ROWS[:2]).to_parquet(str(repo / "train-00000-of-00001.parquet"))
    datasets.Dataset.from_list(MBPP_ROWS[2:]).to_parquet(str(repo / "test-00000-of-00001.parquet"))
    assert [p.id for p in load_mbpp(str(tmp_path / "repo"))] == ["mbpp/14"]  # the test files by default
    assert [p.id for p in load_mbpp(f"{tmp_path / 'repo'}?split=train")] == ["mbpp/11", "mbpp/2"]
    with pytest.raises(CodeprmError, match="unknown option"):
        load_mbpp(f"{tmp_path / 'repo'}?limit=3")
