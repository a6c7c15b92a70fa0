"""codeprm: unit tests turned into line-level rewards for code-generating language models."""

__version__ = "0.1.0"
