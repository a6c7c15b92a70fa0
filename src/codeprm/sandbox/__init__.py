"""codeprm.sandbox: run untrusted programs against tests in isolated children of warm zygotes."""

from codeprm.sandbox.config import SandboxConfig
from codeprm.sandbox.result import Result, TestResult
from codeprm.sandbox.sandbox import Sandbox

__all__ = ["Sandbox", "SandboxConfig", "Result", "TestResult"]
