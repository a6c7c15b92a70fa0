"""LiveCodeBench (code_generation_lite) from a local copy: ``livecodebench:PATH``.

The compressed private tests are base64 + zlib + pickle of a JSON string. Pickle can run code, so it is
decoded with an unpickler that refuses every global: only a plain ``str`` comes out.
"""

from __future__ import annotations

import base64
import io
import pickle
import re
import zlib
from typing import Any

from codeprm.errors import CodeprmError
from codeprm.problems.local import field, json_field, load_rows, solution_shim
from codeprm.problems.model import Problem, TestCase

def load_livecodebench(arg: str) -> list[Problem]:
    """LiveCodeBench code_generation_lite (``question_id``, ``question_content``, ``starter_code``,
    ``public_test_cases``/``private_test_cases`` as JSON lists of ``{input, output, testtype}``)."""
    return load_rows(arg, "livecodebench", livecodebench_problem)


def livecodebench_problem(row: dict[str, Any], where: str) -> Problem | None:
    qid = field(row, "question_id", where=where)
    content = field(row, "question_content", where=where)
    starter = row.get("starter_code") or ""
    cases = list(json_field(row.get("public_test_cases"), where, "public_test_cases") or [])
    cases += decode_private_tests(row.get("private_test_cases"), where)
    if not cases:
        return None
    metadata = json_field(row.get("metadata"), where, "metadata") or {}
    functional = any(c.get("testtype") == "functional" for c in cases)
    fn_name = metadata.get("func_name") or (_starter_function(starter) if functional else None)
    tests = []
    for case in cases:
        if case.get("testtype") == "functional":
            if not fn_name:
                raise CodeprmError(f"{where}: functional tests but no metadata.func_name")
            args = [json_field(line, where, "input") for line in str(case["input"]).split("\n") if line.strip()]
            tests.append(TestCase.call(args=args, expected=json_field(case["output"], where, "output")))
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
        test_setup=solution_shim(starter, fn_name) if functional else "",
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
        return json_field(text, where, "private_test_cases")
    try:
        raw = zlib.decompressobj().decompress(base64.b64decode(text, validate=True), _MAX_DECOMPRESSED)
        payload = _NoGlobals(io.BytesIO(raw)).load()
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad field
        raise CodeprmError(f"{where}: field 'private_test_cases' is neither JSON nor base64+zlib+pickle of JSON ({exc})") from None
    if not isinstance(payload, str):
        raise CodeprmError(f"{where}: field 'private_test_cases' unpickles to {type(payload).__name__}, expected a JSON string")
    return json_field(payload, where, "private_test_cases")
