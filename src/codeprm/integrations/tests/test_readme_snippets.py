"""The README's "Use codeprm with verl / TRL / OpenRLHF" snippets, run exactly as written in a fresh
working directory (Python blocks in this interpreter, so heavy imports are shared with the other tests;
bash lines as real processes), with only the server's port swapped for a free one. The verl config lines
in the comments are applied to verl's own default config and resolved by verl's own loaders, and the
OpenRLHF flags the prose names are checked against the installed OpenRLHF's argument parser."""

import contextlib
import io
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[4] / "README.md"
TITLE = "## Use codeprm with verl / TRL / OpenRLHF"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index(TITLE):text.index("**Ray**:")]


def snippets() -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)\n```\n", section(), re.S)


def run_python(code: str, cwd: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.chdir(cwd):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    return out.getvalue()


def test_section_is_there_with_short_snippets():
    found = snippets()
    assert [lang for lang, _ in found] == ["bash", "python", "python", "bash", "python"]
    assert all(len(code.strip().splitlines()) <= 10 for _, code in found)


def test_verl_export_line(tmp_path):
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    line = snippets()[0][1].split("#")[0].strip()
    out = subprocess.run(shlex.split(line), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    import datasets  # verl's RLHFDataset reads it the same way (test_export.py loads it with RLHFDataset)

    rows = datasets.load_dataset("parquet", data_files=str(tmp_path / "runs/verl_data/train.parquet"))["train"]
    assert len(rows) == 164 and rows[0]["reward_model"]["style"] == "rule"


def test_verl_snippet_and_its_config_lines(tmp_path):
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from omegaconf import OmegaConf
    import verl
    from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls
    from verl.utils.import_utils import load_class_from_fqn

    import codeprm.integrations.verl as ours

    code = snippets()[1][1]
    out = run_python(code, tmp_path)
    assert "'score': 0.0" in out and "'n_tests': " in out and "'pass_rate': " in out
    # every KEY=VALUE in the comments, applied to verl's own default config as its command line would
    overrides = [tok for line in code.splitlines() if line.startswith("#") for tok in line.split() if "=" in tok]
    assert len(overrides) == 7
    config = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/_generated_ppo_trainer.yaml")
    OmegaConf.set_struct(config, False)
    config = OmegaConf.merge(config, OmegaConf.from_dotlist([tok.lstrip("+") for tok in overrides]))
    assert get_custom_reward_fn(config).args[0] is ours.compute_score  # verl's partial(_call_with_kwargs, fn, kwargs)
    assert resolve_reward_manager_cls(config) is ours.CodeprmRewardManager
    manager_cls = load_class_from_fqn(config.actor_rollout_ref.rollout.agent.agent_loop_manager_class, "AgentLoopManager")
    assert manager_cls is ours.CodeprmAgentLoopManager and ours._dense_manager_on(config)
    assert config.reward.reward_kwargs.prm == "runs/prm"


def test_trl_snippet(tmp_path):
    pytest.importorskip("trl", reason="the 'trl' extra is not installed")
    from codeprm.policy.tiny import is_trained

    if not is_trained():
        pytest.skip("the tiny policy is not cached: the README's first command or `codeprm sft` makes it")
    out = run_python(snippets()[2][1], tmp_path)
    assert "'train_runtime'" in out, out[-2000:]  # the Trainer's last log line: both steps ran
    assert (tmp_path / "runs/trl_data/dataset_info.json").is_file()


def test_openrlhf_flags_are_the_installed_openrlhfs():
    import importlib.util

    spec = importlib.util.find_spec("openrlhf")
    if spec is None:
        pytest.skip("OpenRLHF is not installed")
    parser_source = (Path(spec.submodule_search_locations[0]) / "cli" / "train_ppo_ray.py").read_text()
    flags = set(re.findall(r"(--[a-z_]+\.[a-z_]+)", section()))
    assert {"--reward.remote_url", "--data.label_key", "--data.prompt_dataset"} <= flags
    for flag in flags:
        assert f'add_argument("{flag}"' in parser_source, flag


def test_openrlhf_and_sandbox_fusion_snippets(tmp_path):
    pytest.importorskip("fastapi", reason="the 'serve' extra is not installed")
    pytest.importorskip("sandbox_fusion", reason="the SandboxFusion client is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    serve_line = snippets()[3][1].strip().rstrip("&").strip().replace("8080", port)
    assert serve_line.startswith("codeprm serve ")
    log = open(tmp_path / "serve.log", "wb")
    server = subprocess.Popen(shlex.split(serve_line), stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
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
        out = run_python(snippets()[4][1].replace("8080", port), tmp_path)
        assert "'rewards': [1.0]" in out and out.rstrip().endswith("hello")
    finally:
        server.terminate()
        server.wait(60)
        log.close()
