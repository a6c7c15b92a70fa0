"""Adapters for the field layouts of MBPP, APPS, CodeContests, LiveCodeBench and KodCode.

Each reads a LOCAL copy only, never a hub: a ``.jsonl``/``.json``/``.parquet`` file, a directory of such
files, or a directory written by HF ``datasets``' ``save_to_disk``. Names: ``mbpp:PATH``, ``apps:PATH``,
... with an optional ``?split=NAME`` (which split of a saved ``DatasetDict`` or which files of a
directory; default ``test`` when there is one). Every problem is ``instruct`` style: prose in, program
out.

Notes on faithfulness (what each benchmark's own harness did and what we do):
- APPS and LiveCodeBench call tests compare with ``==`` like theirs, but their harnesses also turned a
  returned tuple into a list and APPS accepted an output wrapped in a one-element list; we unwrap
  APPS's one-element lists (its convention for call outputs) and compare the value.
- LeetCode-style starter code (``class Solution``) gets a ``test_setup`` that defines a module-level
  function of the entry point's name calling ``Solution().<name>`` on a fresh instance.
- LiveCodeBench's compressed private tests are base64 + zlib + pickle of a JSON string. Pickle can run
  code, so it is decoded with an unpickler that refuses every global: only a plain ``str`` comes out.
- KodCode's pytest modules run without pytest (see :mod:`codeprm.problems.pytest_tests`); tests that
  need fixtures are skipped.
- CodeContests problems accepting several correct outputs (special judges) cannot be judged by stdout
  comparison; their tests are kept as written.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import logging
import pickle
import re
import zlib
from pathlib import Path
from typing import Any, Callable

from codeprm.errors import CodeprmError
from codeprm.problems.asserts import convert_statements
from codeprm.problems.model import Problem, TestCase
from codeprm.problems.pytest_tests import pytest_module_tests

log = logging.getLogger(__name__)

_DATA_SUFFIXES = (".jsonl", ".json", ".parquet")


# --- reading local copies -------------------------------------------------------------------------


def parse_arg(arg: str, benchmark: str) -> tuple[Path, str | None]:
    """``PATH[?split=NAME]`` -> (path, split)."""
    if not arg:
        raise CodeprmError(f"benchmark '{benchmark}' needs a local path: {benchmark}:PATH (a .jsonl/.json/.parquet file or a saved dataset directory)")
    path_text, _, query = arg.partition("?")
    split = None
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        if key != "split" or not value:
            raise CodeprmError(f"{benchmark}: unknown option '{pair}'; the only option is ?split=NAME")
        split = value
    path = Path(path_text).expanduser()
    if not path.exists():
        raise CodeprmError(f"{benchmark}: no such file or directory: {path}")
    return path, split


def read_rows(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of a local dataset copy, read with HF ``datasets`` (no hub access)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        if path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
            return _from_disk(datasets.load_from_disk(str(path)), path, split)
        files = _data_files(path, split)
        kind = "parquet" if files[0].suffix == ".parquet" else "json"
        if any((f.suffix == ".parquet") != (kind == "parquet") for f in files):
            raise CodeprmError(f"{path}: mixes parquet and JSON files; point at one kind")
        try:
            ds = datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train")
            return ds.to_list()
        except CodeprmError:
            raise
        except Exception as exc:  # noqa: BLE001 - arrow could not unify the schema; JSON needs no schema
            if kind == "parquet":
                raise CodeprmError(f"{path}: could not read parquet ({type(exc).__name__}: {str(exc)[:200]})") from None
            return [row for f in files for row in _plain_json_rows(f)]
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _from_disk(obj: Any, path: Path, split: str | None) -> list[dict[str, Any]]:
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        names = list(obj)
        pick = split or ("test" if "test" in obj else names[0] if len(names) == 1 else None)
        if pick not in obj:
            raise CodeprmError(f"{path}: choose a split with ?split=NAME; it has {', '.join(names)}")
        obj = obj[pick]
    return obj.to_list()


def _data_files(path: Path, split: str | None) -> list[Path]:
    if path.is_file():
        if path.suffix not in _DATA_SUFFIXES:
            raise CodeprmError(f"{path}: expected a .jsonl, .json or .parquet file, or a dataset directory")
        return [path]
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix in _DATA_SUFFIXES and not f.name.startswith(("dataset_info", "state")))
    if not files:
        raise CodeprmError(f"{path}: no .jsonl, .json or .parquet files in this directory")
    want = split or ("test" if any("test" in f.name for f in files) else None)
    if want:
        chosen = [f for f in files if want in f.name]
        if not chosen:
            raise CodeprmError(f"{path}: no data file has '{want}' in its name")
        files = chosen
    return files


def _plain_json_rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        return json.loads(text)
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CodeprmError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def _field(row: dict[str, Any], *names: str, where: str) -> Any:
    """The first of ``names`` present in ``row``; a one-line error naming them when none is."""
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    raise CodeprmError(f"{where}: missing field '{names[0]}'" + (f" (or {', '.join(names[1:])})" if names[1:] else ""))


def _load(arg: str, benchmark: str, convert: Callable[[dict[str, Any], str], Problem | None]) -> list[Problem]:
    path, split = parse_arg(arg, benchmark)
    rows = read_rows(path, split)
    problems = []
    for i, row in enumerate(rows):
        problem = convert(row, f"{path}: row {i}")
        if problem is not None:
            problems.append(problem)
    if len(problems) < len(rows):
        log.warning("%s: skipped %d of %d rows without usable tests", benchmark, len(rows) - len(problems), len(rows))
    return problems


def _json_field(value: Any, where: str, name: str) -> Any:
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise CodeprmError(f"{where}: field '{name}' is not valid JSON ({exc.msg})") from None
    return value


def _lines(value: Any) -> str:
    """APPS/CodeContests stdio text: a string, or a list of lines."""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) + "\n"
    return str(value)


def _normalise(code: str) -> str:
    return code.replace("\r\n", "\n").replace("\r", "\n")


def _solution_shim(starter_code: str, fn_name: str) -> str:
    """test_setup for LeetCode-style starter code: tests call ``fn_name`` on a fresh ``Solution()``."""
    if not re.search(r"^class\s+Solution\b", starter_code or "", re.M):
        return ""
    # a program that defines a plain function instead of the class keeps its function
    return (
        'if "Solution" in globals():\n'
        f"    def {fn_name}(*args, **kwargs):\n        return Solution().{fn_name}(*args, **kwargs)\n"
    )


# --- MBPP -----------------------------------------------------------------------------------------


def load_mbpp(arg: str) -> list[Problem]:
    """MBPP (``text``/``prompt``, ``code``, ``test_list``, ``test_setup_code``/``test_imports``, ``task_id``)."""
    return _load(arg, "mbpp", mbpp_problem)


def mbpp_problem(row: dict[str, Any], where: str) -> Problem:
    text = _field(row, "text", "prompt", where=where)
    code = _normalise(_field(row, "code", where=where))
    tests = [_normalise(t) for t in _field(row, "test_list", where=where)]
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
    if not tests:
        raise CodeprmError(f"{where}: field 'test_list' is empty")
    entry = _mbpp_entry_point(code, tests)
    source = "\n".join(tests)
    try:
        body = ast.parse(source).body
        converted = convert_statements(source, body, {entry} if entry else set()).tests
    except (SyntaxError, ValueError):  # a test Python 3 cannot parse: keep the text, the sandbox reports it
        converted = [TestCase.assert_(t) for t in tests]
    prompt = f"{text.strip()}\nYour code should pass this test:\n\n{tests[0].strip()}\n"
    return Problem(
        id=f"mbpp/{row.get('task_id', where)}",
        prompt=prompt,
        entry_point=entry,
        tests=converted,
        reference=code,
        test_setup=_normalise(setup),
        style="instruct",
        source="mbpp",
    )


def _mbpp_entry_point(code: str, tests: list[str]) -> str | None:
    """The function the tests call that the reference defines (the first test decides ties)."""
    try:
        defined = {n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    except (SyntaxError, ValueError):
        defined = set(re.findall(r"^def\s+(\w+)", code, re.M))
    for test in tests:
        try:
            called = [n.func.id for n in ast.walk(ast.parse(test)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        except (SyntaxError, ValueError):
            called = re.findall(r"(\w+)\s*\(", test)
        for name in called:
            if name in defined:
                return name
    return None


# --- APPS -----------------------------------------------------------------------------------------


def load_apps(arg: str) -> list[Problem]:
    """APPS (``problem_id``, ``question``, ``solutions`` and ``input_output`` as JSON strings,
    ``starter_code``): ``fn_name`` in input_output gives call tests, else stdio tests."""
    return _load(arg, "apps", apps_problem)


def apps_problem(row: dict[str, Any], where: str) -> Problem | None:
    question = _field(row, "question", where=where)
    io_spec = _json_field(row.get("input_output"), where, "input_output")
    if not io_spec or not io_spec.get("inputs"):
        return None
    solutions = _json_field(row.get("solutions"), where, "solutions") or []
    starter = row.get("starter_code") or ""
    inputs, outputs = io_spec["inputs"], io_spec.get("outputs", [])
    if len(inputs) != len(outputs):
        raise CodeprmError(f"{where}: input_output has {len(inputs)} inputs but {len(outputs)} outputs")
    fn_name = io_spec.get("fn_name")
    if fn_name:
        tests = [TestCase.call(args=_as_args(i), expected=_unwrap(o)) for i, o in zip(inputs, outputs)]
        instruction = f"Use call-based format: complete the function `{fn_name}`.\n\n{starter}".rstrip() + "\n"
    else:
        tests = [TestCase.stdio(stdin=_lines(i), stdout=_lines(o)) for i, o in zip(inputs, outputs)]
        instruction = "Use standard input format: read from stdin and print the answer to stdout.\n"
    return Problem(
        id=f"apps/{row.get('problem_id', where)}",
        prompt=f"{question.strip()}\n\n{instruction}",
        entry_point=fn_name or None,
        tests=tests,
        reference=_normalise(solutions[0]) if solutions else None,
        test_setup=_solution_shim(starter, fn_name) if fn_name else "",
        style="instruct",
        source="apps",
    )


def _as_args(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _unwrap(value: Any) -> Any:
    # APPS stores a call's return value wrapped in a one-element list.
    return value[0] if isinstance(value, list) and len(value) == 1 else value


# --- CodeContests ---------------------------------------------------------------------------------

_PYTHON3 = 3  # CodeContests' language enum: 1 PYTHON (2), 2 CPP, 3 PYTHON3, 4 JAVA


def load_codecontests(arg: str) -> list[Problem]:
    """CodeContests (``name``, ``description``, ``public_tests``/``private_tests``/``generated_tests`` as
    ``{input: [...], output: [...]}``, ``solutions`` as ``{language: [...], solution: [...]}``)."""
    return _load(arg, "codecontests", codecontests_problem)


def codecontests_problem(row: dict[str, Any], where: str) -> Problem | None:
    name = _field(row, "name", where=where)
    description = _field(row, "description", where=where)
    tests: list[TestCase] = []
    for key in ("public_tests", "private_tests", "generated_tests"):
        block = row.get(key) or {}
        ins, outs = block.get("input") or [], block.get("output") or []
        if len(ins) != len(outs):
            raise CodeprmError(f"{where}: {key} has {len(ins)} inputs but {len(outs)} outputs")
        tests += [TestCase.stdio(stdin=i, stdout=o) for i, o in zip(ins, outs)]
    if not tests:
        return None
    sols = row.get("solutions") or {}
    reference = next((s for lang, s in zip(sols.get("language") or [], sols.get("solution") or []) if lang == _PYTHON3), None)
    limits: dict[str, Any] = {}
    tl = row.get("time_limit") or {}
    if tl:
        seconds = (tl.get("seconds") or 0) + (tl.get("nanos") or 0) / 1e9
        # limits are set for C++; Python gets at least the default
        limits["time_limit_s"] = min(600.0, max(Problem.model_fields["time_limit_s"].default, seconds))
    if row.get("memory_limit_bytes"):
        limits["memory_limit_mb"] = min(65536, max(Problem.model_fields["memory_limit_mb"].default, int(row["memory_limit_bytes"]) // 2**20))
    return Problem(
        id=f"codecontests/{name}",
        prompt=f"{description.strip()}\n\nRead from standard input and print the answer to standard output.\n",
        entry_point=None,
        tests=tests,
        reference=_normalise(reference) if reference else None,
        style="instruct",
        source="codecontests",
        **limits,
    )


# --- LiveCodeBench --------------------------------------------------------------------------------


def load_livecodebench(arg: str) -> list[Problem]:
    """LiveCodeBench code_generation_lite (``question_id``, ``question_content``, ``starter_code``,
    ``public_test_cases``/``private_test_cases`` as JSON lists of ``{input, output, testtype}``)."""
    return _load(arg, "livecodebench", livecodebench_problem)


def livecodebench_problem(row: dict[str, Any], where: str) -> Problem | None:
    qid = _field(row, "question_id", where=where)
    content = _field(row, "question_content", where=where)
    starter = row.get("starter_code") or ""
    cases = list(_json_field(row.get("public_test_cases"), where, "public_test_cases") or [])
    cases += decode_private_tests(row.get("private_test_cases"), where)
    if not cases:
        return None
    metadata = _json_field(row.get("metadata"), where, "metadata") or {}
    functional = any(c.get("testtype") == "functional" for c in cases)
    fn_name = metadata.get("func_name") or (_starter_function(starter) if functional else None)
    tests = []
    for case in cases:
        if case.get("testtype") == "functional":
            if not fn_name:
                raise CodeprmError(f"{where}: functional tests but no metadata.func_name")
            args = [_json_field(line, where, "input") for line in str(case["input"]).split("\n") if line.strip()]
            tests.append(TestCase.call(args=args, expected=_json_field(case["output"], where, "output")))
        else:
            tests.append(TestCase.stdio(stdin=case["input"], stdout=case["output"]))
    if functional:
        instruction = f"Complete the code below; the tests call `{fn_name}`.\n\n```python\n{starter.rstrip()}\n```\n"
    else:
        instruction = "Read from standard input and print the answer to standard output.\n"
    return Problem(
        id=f"livecodebench/{qid}",
        prompt=f"{content.strip()}\n\n{instruction}",
        entry_point=fn_name if functional else None,
        tests=tests,
        reference=None,  # the release has no solutions
        test_setup=_solution_shim(starter, fn_name) if functional else "",
        style="instruct",
        source="livecodebench",
    )


def _starter_function(starter: str) -> str | None:
    names = re.findall(r"^\s*def\s+(\w+)\s*\(", starter, re.M)
    return names[0] if names else None


_MAX_DECOMPRESSED = 1 << 30


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain data only: any class or function reference is refused, so no code can run."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def decode_private_tests(value: Any, where: str) -> list[dict[str, Any]]:
    """LiveCodeBench private tests: a JSON list, or that JSON string pickled, zlib-compressed and base64
    encoded (the released form)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if text.startswith("["):
        return _json_field(text, where, "private_test_cases")
    try:
        raw = zlib.decompressobj().decompress(base64.b64decode(text, validate=True), _MAX_DECOMPRESSED)
        payload = _NoGlobals(io.BytesIO(raw)).load()
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad field
        raise CodeprmError(f"{where}: field 'private_test_cases' is neither JSON nor base64+zlib+pickle of JSON ({exc})") from None
    if not isinstance(payload, str):
        raise CodeprmError(f"{where}: field 'private_test_cases' unpickles to {type(payload).__name__}, expected a JSON string")
    return _json_field(payload, where, "private_test_cases")


# --- KodCode --------------------------------------------------------------------------------------


def load_kodcode(arg: str) -> list[Problem]:
    """KodCode (``question``, ``solution``, ``test`` as pytest code importing from ``solution``,
    ``test_info`` with ``function_name``)."""
    return _load(arg, "kodcode", kodcode_problem)


def kodcode_problem(row: dict[str, Any], where: str) -> Problem | None:
    question = _field(row, "question", where=where)
    solution = _normalise(_field(row, "solution", where=where))
    test_src = _normalise(_field(row, "test", where=where))
    info = row.get("test_info") or []
    if isinstance(info, str):
        info = _json_field(info, where, "test_info") or []
    entry = next((i.get("function_name") for i in info if i.get("function_name")), None)
    try:
        tree = ast.parse(test_src)
    except (SyntaxError, ValueError) as exc:
        raise CodeprmError(f"{where}: field 'test' does not parse (line {getattr(exc, 'lineno', '?')}: {getattr(exc, 'msg', exc)})") from None
    tests, setup = pytest_module_tests(test_src, tree, {i["function_name"] for i in info if i.get("function_name")})
    if not tests:
        return None
    entry = entry or _first_imported(tree)
    declaration = next((i.get("function_declaration") for i in info if i.get("function_declaration")), None)
    hint = f"\n\nUse this signature:\n{declaration.strip()}\n" if declaration else "\n"
    return Problem(
        id=f"kodcode/{row.get('question_id', where)}",
        prompt=question.strip() + hint,
        entry_point=entry,
        tests=tests,
        reference=solution,
        test_setup=setup,
        style="instruct",
        source="kodcode",
    )


def _first_imported(tree: ast.Module) -> str | None:
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "solution":
            return stmt.names[0].name
    return None
