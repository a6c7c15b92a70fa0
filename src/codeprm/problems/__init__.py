"""Problems: the problem model, benchmark loaders, generated suites and code extraction."""

from codeprm.problems.model import Problem, TestCase, read_jsonl, write_jsonl
from codeprm.problems.registry import benchmark_names, load_benchmark

__all__ = ["Problem", "TestCase", "read_jsonl", "write_jsonl", "load_benchmark", "benchmark_names"]
