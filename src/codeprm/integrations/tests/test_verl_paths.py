"""The codeprm reward manager through verl 0.9's own code, one test per path a verl job takes:

- the default path (rule-based reward): verl's ``AgentLoopWorker`` post-processes each rollout, scores
  it through a real ``RewardLoopWorker`` (``load_reward_manager`` from the config alone) and stacks the
  floats into ``rm_scores``; ``CodeprmAgentLoopManager``'s ``add_line_rewards`` then puts the line
  rewards on their tokens and verl's ``compute_advantage`` (GAE) reads them;
- the reward-model path: ``RewardLoopManager.compute_rm_score`` stacks the manager's token-level rows;
- a custom reward function with a reward model on (verl adds ``reward_router_address`` and
  ``reward_model_tokenizer`` to its call).

Samples of different prompt and response lengths; a real tokenizer saved to disk and loaded by verl."""

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from codeprm.problems import Problem, TestCase

pytest.importorskip("verl", reason="the 'verl' extra is not installed")

INC = Problem(id="inc", prompt="def f(x):\n", entry_point="f", time_limit_s=1.0,
              tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[-1], expected=0)])
DOUBLE = Problem(id="double", prompt="def f(x):\n    # twice x\n", entry_point="f", time_limit_s=1.0,
                 tests=[TestCase.call(args=[2], expected=4)])
SAMPLES = [(INC, "    y = x + 1\n\n    # done\n    return y\n"), (DOUBLE, "    return x * 2\n"), (INC, "    y = x\n    return y\n")]
PKG = "pkg://codeprm.integrations.verl"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny policy directory (what actor_rollout_ref.model.path names) and a PRM checkpoint."""
    from codeprm.prm.model import PRMConfig, ProcessRewardModel
    from codeprm.prm.tests.tiny import save_tiny_base, tiny_model, tiny_tokenizer

    root = tmp_path_factory.mktemp("verl_models")
    tok = tiny_tokenizer()
    ProcessRewardModel.from_backbone(tiny_model(len(tok), seed=1), tok, PRMConfig(mode="prm")).save_pretrained(root / "prm")
    return SimpleNamespace(policy=save_tiny_base(root / "policy"), prm=root / "prm")


def verl_config(models, **dotted):
    """verl's own default PPO config (its generated YAML) with the policy path and ``dotted`` overrides."""
    import verl
    from omegaconf import OmegaConf

    config = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/_generated_ppo_trainer.yaml")
    OmegaConf.set_struct(config, False)
    OmegaConf.update(config, "actor_rollout_ref.model.path", str(models.policy))
    OmegaConf.update(config, "actor_rollout_ref.rollout.name", "vllm")  # a user always names the engine
    OmegaConf.update(config, "actor_rollout_ref.rollout.prompt_length", 16)
    OmegaConf.update(config, "actor_rollout_ref.rollout.response_length", 24)
    for key, value in dotted.items():
        OmegaConf.update(config, key.replace("__", "."), value)
    return config


DENSE = {"reward__reward_manager__source": "importlib", "reward__reward_manager__module__path": PKG,
         "reward__reward_manager__name": "CodeprmRewardManager"}


def reward_worker(config, router=None):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    return RewardLoopWorker(config, reward_router_address=router)


def agent_loop_batch(config, worker):
    """verl's AgentLoopWorker post-processing of SAMPLES, scored by ``worker`` as its reward-loop actor
    (None: not scored, as when a reward model runs without its own resource pool)."""
    from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput, AgentLoopWorker
    from verl.utils.ray_utils import get_event_loop

    handles = None if worker is None else [SimpleNamespace(compute_score=SimpleNamespace(remote=worker.compute_score))]  # Ray handles' shape
    agent = AgentLoopWorker(config, llm_client=None, reward_loop_worker_handles=handles)
    tok = agent.tokenizer

    async def rollouts():
        outs = []
        for problem, text in SAMPLES:
            prompt_ids = tok(problem.prompt, add_special_tokens=False)["input_ids"]
            response_ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            out = AgentLoopOutput(prompt_ids=prompt_ids, response_ids=response_ids, response_mask=[1] * len(response_ids),
                                  num_turns=2, metrics=AgentLoopMetrics())
            outs.append(await agent._agent_loop_postprocess(
                out, validate=False, raw_prompt=[{"role": "user", "content": problem.prompt}], data_source="codeprm",
                reward_model={"style": "rule", "ground_truth": problem.model_dump_json()}, extra_info={"index": len(outs)}))
        return outs

    columns = {"data_source": np.array(["codeprm"] * len(SAMPLES), dtype=object),
               "reward_model": np.array([{"ground_truth": p.model_dump_json()} for p, _ in SAMPLES], dtype=object)}
    return agent._postprocess(get_event_loop().run_until_complete(rollouts()), input_non_tensor_batch=columns), tok


def expected_dense(tok, models, batch):
    """Outcome on the last response token + 0.2/0.5 * (PRM score - 0.5) on each scored line's last token,
    found independently of the manager: the tokenizer's own character offsets."""
    from codeprm.lines import char_to_token, line_end_chars
    from codeprm.prm.model import load_reward_model

    prm = load_reward_model(models.prm)
    expected = torch.zeros(batch.batch["responses"].shape)
    for b, (problem, text) in enumerate(SAMPLES):
        passed = b < 2
        scores = prm.score(problem.prompt, text)
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        for tok_index, score in zip(char_to_token(offsets, line_end_chars(text)), scores):
            if score is not None:
                expected[b, tok_index] += (0.2 if passed else 0.5) * (score - 0.5)
        expected[b, len(offsets)] += float(passed)  # the eos after the text
    return expected


def test_default_agent_loop_path_gives_floats_then_the_dense_manager_puts_line_rewards_into_gae(models, caplog):
    from verl.trainer.ppo.core_algos import AdvantageEstimator
    from verl.trainer.ppo.ray_trainer import compute_advantage
    from verl.trainer.ppo.reward import extract_reward

    from verl import DataProto
    from verl.utils.import_utils import load_class_from_fqn

    from codeprm.integrations.verl import DENSE_KEY

    config = verl_config(models, **DENSE, reward__reward_kwargs={"prm": str(models.prm)},
                         actor_rollout_ref__rollout__agent__agent_loop_manager_class="codeprm.integrations.verl.CodeprmAgentLoopManager")
    with caplog.at_level(logging.WARNING, logger="codeprm.integrations.verl"):
        batch, tok = agent_loop_batch(config, reward_worker(config))
    assert not [r for r in caplog.records if "agent_loop_manager_class" in r.getMessage()]  # dense is on: no warning
    assert list(batch.non_tensor_batch["passed"]) == [1.0, 1.0, 0.0]
    outcome_only = batch.batch["rm_scores"].clone()
    lengths = batch.batch["attention_mask"][:, batch.batch["prompts"].shape[1]:].sum(-1)
    assert outcome_only.nonzero().tolist() == [[0, lengths[0] - 1], [1, lengths[1] - 1]]  # verl put the floats

    # the trainer's AgentLoopManager, loaded as ray_trainer does; its one Ray worker returns the batch above
    manager_cls = load_class_from_fqn(config.actor_rollout_ref.rollout.agent.agent_loop_manager_class, "AgentLoopManager")
    manager = manager_cls.__new__(manager_cls)

    async def worker_generate(chunk):
        return batch

    manager.agent_loop_workers = [SimpleNamespace(generate_sequences=SimpleNamespace(remote=worker_generate))]
    batch = manager.generate_sequences(DataProto(non_tensor_batch={"uid": np.arange(len(SAMPLES))}))
    expected = expected_dense(tok, models, batch)
    assert torch.allclose(batch.batch["rm_scores"], expected, atol=1e-5), (batch.batch["rm_scores"], expected)
    assert len(json.loads(batch.non_tensor_batch[DENSE_KEY][0])) == 2  # the blank and the comment line: no reward

    rewards, extra = extract_reward(batch)  # the trainer's next steps, verl's code
    batch.batch["token_level_rewards"] = rewards
    batch.batch["values"] = torch.zeros_like(rewards)
    batch = compute_advantage(batch, AdvantageEstimator.GAE, gamma=1.0, lam=1.0, config={})
    mask = batch.batch["response_mask"].bool()
    # gamma = lambda = 1, values 0: the return at each token is the sum of the rewards from it on
    suffix = expected.flip(-1).cumsum(-1).flip(-1)
    assert torch.allclose(batch.batch["returns"][mask], suffix[mask], atol=1e-5)
    assert len(set(batch.batch["returns"][2][mask[2]].tolist())) > 2  # the line rewards make the failing sample's returns differ


def test_default_path_without_the_dense_manager_is_outcome_floats_and_a_warning_naming_the_config(models, caplog, monkeypatch):
    import codeprm.integrations.verl as ours

    monkeypatch.setattr(ours, "_warned", set())  # the warning is once per process; another test may have had it
    config = verl_config(models, **DENSE, reward__reward_kwargs={"prm": str(models.prm)})
    with caplog.at_level(logging.WARNING, logger="codeprm.integrations.verl"):
        batch, _ = agent_loop_batch(config, reward_worker(config))
    scores = batch.batch["rm_scores"]
    lengths = batch.batch["attention_mask"][:, batch.batch["prompts"].shape[1]:].sum(-1)
    assert scores.sum(-1).tolist() == [1.0, 1.0, 0.0] and (scores.nonzero()[:, 1] == lengths[:2] - 1).all()
    assert any("agent_loop_manager_class=codeprm.integrations.verl.CodeprmAgentLoopManager" in r.getMessage() for r in caplog.records)


def test_reward_model_path_compute_rm_score_stacks_token_level_rows(models, monkeypatch):
    """reward.reward_model.enable without its own pool: verl's RewardLoopManager.compute_rm_score asks the
    workers for the whole batch (Ray's get/remote replaced by direct calls in this process)."""
    from verl.experimental.reward_loop import reward_loop
    from verl.trainer.ppo.reward import extract_reward, resolve_reward_manager_cls

    config = verl_config(models, **DENSE, reward__reward_kwargs={"prm": str(models.prm)}, reward__reward_model__enable=True,
                         reward__reward_model__model_path=str(models.policy), reward__custom_reward_function__path=PKG)
    gen, tok = agent_loop_batch(config, None)  # the agent loop leaves scoring to the trainer here
    assert "rm_scores" not in gen.batch.keys()

    worker = reward_worker(config, router="127.0.0.1:1")
    manager = reward_loop.RewardLoopManager.__new__(reward_loop.RewardLoopManager)
    manager.config, manager.reward_model_manager = config, None
    manager.reward_manager_cls = resolve_reward_manager_cls(config)
    manager.reward_loop_workers = [SimpleNamespace(compute_score_batch=SimpleNamespace(
        remote=lambda chunk: worker.loop.run_until_complete(worker.compute_score_batch(chunk))))]
    monkeypatch.setattr(reward_loop, "ray", SimpleNamespace(get=lambda refs: refs))
    rewards, extra = extract_reward(gen.union(manager.compute_rm_score(gen)))
    assert torch.allclose(rewards, expected_dense(tok, models, gen), atol=1e-5)
    assert list(extra["passed"]) == [1.0, 1.0, 0.0] and "codeprm_line_rewards" not in extra


def test_compute_score_with_a_reward_model_enabled_ignores_the_kwargs_verl_adds(models):
    """verl's naive manager calls compute_score with reward_router_address and reward_model_tokenizer."""
    config = verl_config(models, reward__reward_model__enable=True, reward__reward_model__model_path=str(models.policy),
                         reward__custom_reward_function__path=PKG)
    worker = reward_worker(config, router="127.0.0.1:1")
    assert type(worker.reward_manager).__name__ == "NaiveRewardManager"
    batch, _ = agent_loop_batch(verl_config(models), worker)
    assert batch.batch["rm_scores"].sum(-1).tolist() == [1.0, 1.0, 0.0]
    assert list(batch.non_tensor_batch["n_tests"]) == [2, 1, 2]


def test_a_fresh_process_finds_the_manager_by_config_alone_and_the_trainer_imports(tmp_path):
    """``reward.reward_manager.name=codeprm`` (verl's default source=register) in a process that never
    imported codeprm: the entry point pyproject.toml declares, installed as pip would, is loaded by
    ``import verl``; the same process imports verl's PPO trainer (the install brings its imports)."""
    import subprocess
    import sys
    import tomllib

    root = Path(__file__).resolve().parents[4]
    points = tomllib.loads((root / "pyproject.toml").read_text())["project"]["entry-points"]["verl.plugins"]
    dist = tmp_path / "codeprm_entry_points-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: codeprm-entry-points\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[verl.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
    code = ("import sys, verl.trainer.ppo.ray_trainer, verl.experimental.agent_loop\n"
            "from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls\n"
            "print(get_reward_manager_cls('codeprm').__name__)\n")
    env = {"PYTHONPATH": f"{root / 'src'}:{tmp_path}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.split()[-1] == "CodeprmRewardManager", out.stderr[-3000:]


def test_the_verl_extra_holds_what_verl_requires():
    """verl goes in with --no-deps, so every distribution verl's metadata requires must come from codeprm's
    dependencies or its 'verl' extra (the two pins codeprm overrides on purpose excepted)."""
    import re
    import tomllib
    from importlib.metadata import requires

    project = tomllib.loads((Path(__file__).resolve().parents[4] / "pyproject.toml").read_text())["project"]
    name = lambda req: re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower().replace("_", "-")  # noqa: E731
    ours = {name(r) for r in project["dependencies"] + project["optional-dependencies"]["verl"]}
    needed = {name(r) for r in requires("verl") or [] if "extra ==" not in r}
    assert needed - ours - {"packaging"} == set()  # packaging: pip's own dependency, always there
