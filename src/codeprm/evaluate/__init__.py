"""Evaluation: unbiased pass@k, benchmark runs, reports."""

from codeprm.evaluate.passk import pass_at_k

__all__ = ["pass_at_k"]
