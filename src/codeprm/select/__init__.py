"""Choosing one of N programs: CodeT, B4, MBR-exec, PRM/ORM reranking over an execution matrix."""

from codeprm.select.methods import METHODS, expected_pass, top_set

__all__ = ["METHODS", "expected_pass", "top_set"]
