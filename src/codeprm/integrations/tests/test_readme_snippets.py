"""The README's "Use codeprm with verl / TRL / OpenRLHF" snippets, run as written (in this interpreter,
so the heavy imports are shared with the other tests; the bash line as a real process), with only the
model path, output directory, port and device (CPU, no bf16) swapped for test ones."""

import contextlib
import io
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[4] / "README.md"
TITLE = "## Use codeprm with verl / TRL / OpenRLHF"


def snippets() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(TITLE):text.index("## Layout")]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def run_python(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    return out.getvalue()


def test_section_is_there_with_short_snippets():
    found = snippets()
    assert [lang for lang, _ in found] == ["python", "python", "bash", "python"]
    assert all(len(code.strip().splitlines()) <= 10 for _, code in found)


def test_verl_snippet():
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    out = run_python(snippets()[0][1])
    assert "integrations/verl.py" in out and "'score': 0.0" in out and "'n_tests': " in out


def test_trl_snippet(tmp_path):
    pytest.importorskip("trl", reason="the 'trl' extra is not installed")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from codeprm.prm.tests.tiny import tiny_tokenizer

    tok = tiny_tokenizer()  # HumanEval prompts need more positions than tiny_model's 512
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, intermediate_size=64,
                                 vocab_size=len(tok), max_position_embeddings=4096, bos_token_id=0, eos_token_id=1,
                                 pad_token_id=2)).save_pretrained(tmp_path / "sft")
    tok.save_pretrained(tmp_path / "sft")
    code = snippets()[1][1].replace('"runs/sft"', repr(str(tmp_path / "sft"))).replace('"runs/grpo"', repr(str(tmp_path / "grpo")))
    assert "max_completion_length=32)" in code
    code = code.replace("max_completion_length=32)", "max_completion_length=32, use_cpu=True, bf16=False, report_to=[])")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert run_python(code + "\nprint('trained')\n").rstrip().endswith("trained")
    finally:
        os.chdir(cwd)


def test_openrlhf_and_sandbox_fusion_snippets(tmp_path):
    pytest.importorskip("fastapi", reason="the 'serve' extra is not installed")
    pytest.importorskip("sandbox_fusion", reason="the SandboxFusion client is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    serve_line = snippets()[2][1].strip().rstrip("&").strip().replace("8080", port)
    assert serve_line.startswith("codeprm serve ")
    log = open(tmp_path / "serve.log", "wb")
    server = subprocess.Popen(serve_line.split(), stdout=log, stderr=subprocess.STDOUT)
    try:
        import httpx

        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, (tmp_path / "serve.log").read_text()[-2000:]
            time.sleep(0.3)
        out = run_python(snippets()[3][1].replace("8080", port))
        assert "'rewards': [1.0]" in out and out.rstrip().endswith("hello")
    finally:
        server.terminate()
        server.wait(60)
        log.close()
