"""The problem model: a prompt, the tests that judge a program, and the limits it runs under."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from codeprm.config import describe_error
from codeprm.errors import CodeprmError
from codeprm.problems.values import decode, encode

TestKind = Literal["call", "stdio", "assert"]
Style = Literal["completion", "instruct"]


class TestCase(BaseModel):
    """One test. ``call``: the entry point called with args/kwargs must return ``expected``.
    ``stdio``: the program fed ``stdin`` must print ``stdout``. ``assert``: ``code`` runs in the program's
    namespace with ``candidate`` bound to the entry point (it runs inside the untrusted child, so its
    verdict is weaker than the other two)."""

    model_config = ConfigDict(frozen=True)
    __test__ = False  # not a pytest test class

    kind: TestKind = Field(description="call | stdio | assert")
    args: list[Any] = Field(default_factory=list, description="positional arguments of a call test")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of a call test")
    expected: Any = Field(default=None, description="return value a call test expects")
    stdin: str = Field(default="", description="standard input of a stdio test")
    stdout: str = Field(default="", description="expected standard output of a stdio test")
    code: str = Field(default="", description="assert statement(s) of an assert test")

    @classmethod
    def call(cls, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, expected: Any = None) -> "TestCase":
        return cls(kind="call", args=list(args), kwargs=dict(kwargs or {}), expected=expected)

    @classmethod
    def stdio(cls, stdin: str = "", stdout: str = "") -> "TestCase":
        return cls(kind="stdio", stdin=stdin, stdout=stdout)

    @classmethod
    def assert_(cls, code: str) -> "TestCase":
        return cls(kind="assert", code=code)

    @field_validator("args", "kwargs", "expected", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return decode(value) if isinstance(value, (dict, list)) else value

    @field_serializer("args", "kwargs", "expected", when_used="json")
    def _encode(self, value: Any) -> Any:
        return encode(value)

    @model_validator(mode="after")
    def _check_kind(self) -> "TestCase":
        if self.kind == "assert" and not self.code.strip():
            raise ValueError("an assert test needs code")
        return self


class Problem(BaseModel):
    """A programming problem. For ``completion`` style the program is ``prompt + completion``; for
    ``instruct`` style the prompt is prose and the program is the code the model wrote."""

    id: str = Field(description="unique id, e.g. HumanEval/0")
    prompt: str = Field(description="text shown to the policy (code to continue, or a task statement)")
    entry_point: str | None = Field(default=None, description="function the call/assert tests call; None for stdio")
    tests: list[TestCase] = Field(default_factory=list, description="the tests that judge a program")
    reference: str | None = Field(default=None, description="a correct completion (completion style) or program (instruct)")
    test_setup: str = Field(default="", description="code run before assert tests (helpers they need)")
    time_limit_s: float = Field(default=3.0, gt=0, le=600, description="CPU seconds per test")
    memory_limit_mb: int = Field(default=512, ge=16, le=65536, description="address-space limit of the program")
    float_tolerance: float | None = Field(default=None, ge=0, le=1, description=(
        "opt-in: numbers in answers match within this tolerance (an int and a float by value, float-looking stdout "
        "tokens too); None compares exactly and by type, as judges do (see codeprm.sandbox.compare)"))
    style: Style = Field(default="completion", description="completion | instruct")
    checker: Literal["tokens", "tokens_ignore_case"] = Field(default="tokens", description=(
        "how stdout tests compare: the same tokens per line (floats within float_tolerance when set), or the same "
        "ignoring the case of ASCII letters"))
    language: str = Field(default="python", description=(
        "the program's language, by SandboxFusion's names: python, cpp, c (see codeprm.sandbox.native)"))
    source: str = Field(default="", description="benchmark the problem came from")

    def program(self, completion: str) -> str:
        """The code that runs for a completion of this problem."""
        return self.prompt + completion if self.style == "completion" else completion

    @property
    def reference_program(self) -> str | None:
        return None if self.reference is None else self.program(self.reference)


def read_jsonl(path: str | Path) -> list[Problem]:
    """Problems from a JSONL file in codeprm's schema; a bad row names its line and field."""
    from codeprm.problems.jsonl import json_rows

    if not Path(path).is_file():
        raise CodeprmError(f"problem file not found: {path}")
    problems = []
    for lineno, row, error in json_rows(path):
        if error:
            raise CodeprmError(f"{path}:{lineno}: {error}")
        try:
            problems.append(Problem.model_validate(row))
        except ValidationError as exc:
            raise CodeprmError(f"{path}:{lineno}: {describe_error(exc)}") from None
    return problems


def write_jsonl(problems: Iterable[Problem], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for problem in problems:
            fh.write(problem.model_dump_json() + "\n")
