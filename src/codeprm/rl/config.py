"""``RLConfig``: one pydantic model per component, every field documented once, loadable from YAML.

The CLI (``codeprm rl --config FILE.yaml --set reward.prm_weight_fail=0.5``) and the pipeline build the
same objects, so the help text lives here only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from codeprm.config import StrictModel, build


class RewardConfig(StrictModel):
    """How sandbox verdicts and PRM line scores become per-token rewards."""

    outcome: Literal["all_pass", "pass_rate"] = Field(
        "all_pass", description="outcome reward on the final token: 1 when every test passes (all_pass), or the share of tests passed (pass_rate)")
    outcome_scale: float = Field(1.0, ge=0, le=100, description="multiplies the outcome reward")
    syntax_error_penalty: float = Field(0.0, ge=-10, le=0, description="added to the outcome reward when the program does not parse")
    runtime_error_penalty: float = Field(0.0, ge=-10, le=0, description="added when a test raised an uncaught exception")
    timeout_penalty: float = Field(0.0, ge=-10, le=0, description="added when a test ran out of time")
    prm: str | None = Field(None, description="PRM checkpoint directory (ProcessRewardModel.save_pretrained); None = outcome reward only")
    prm_center: float = Field(0.5, ge=0, le=1, description="a PRM score p in [0,1] becomes the line reward p - prm_center, so a line the PRM doubts is penalised")
    prm_weight_pass: float = Field(0.2, ge=0, le=10, description="weight of line rewards in programs that pass all tests (small: the outcome already says they are good)")
    prm_weight_fail: float = Field(0.5, ge=0, le=10, description="weight of line rewards in programs that fail; the dense signal says *where* they went wrong")
    divide_by_lines: bool = Field(False, description="divide each line reward by the number of scored lines, so long programs cannot farm reward by adding lines")
    line_transform: Literal["none", "clip", "pure_min", "min_delta"] = Field(
        "none", description="clip: min(r, 0), only penalties (reward-hacking guard); pure_min: PURE's min-form credit, softmax(-r/T)*r over the sample's lines (Cheng et al. 2025); "
                            "min_delta: potential-based shaping with the running minimum of the line scores as the potential (1 before the first line): "
                            "a line's reward is how far it lowers the minimum, so the penalty lands where the program goes wrong, the sum is "
                            "weight*(min score - 1) whatever the number of lines, and exact labels give -weight on the first wrong line only")
    exact_lines: bool = Field(False, description="line scores from exact first-error labels (labels/exact.py: the reference's own remaining "
                              "lines complete the prefix; needs problems with a reference, one sandbox batch per search round) instead of a "
                              "PRM: 1 before a failing sample's first wrong line, 0 from it on, 1 on passing samples; the positive control "
                              "that separates 'dense line rewards help' from 'the PRM is good enough'")
    pure_temperature: float = Field(0.1, gt=0, le=10, description="T of the pure_min transform; small T approaches the minimum line reward")
    log_prm_auroc: bool = Field(False, description="with a PRM: also compute exact first-error labels of each batch's failing samples "
                                "(as exact_lines does) and log the PRM's line AUROC against them, so PRM drift as the policy moves is visible")
    mask_unexecuted_lines: bool = Field(False, description="StepCoder's FGO: no loss on tokens of lines the tests never executed (needs coverage the verifier vouches for: Result.coverage_trusted; the sandbox's own coverage is untrusted, so with it nothing is masked)")


class AlgorithmConfig(StrictModel):
    """The optimisation: advantage estimator, PPO clipping, KL, entropy, batch sizes."""

    estimator: Literal["gae", "grpo", "rloo", "process"] = Field(
        "gae", description="advantage estimator: gae (PPO with a critic), grpo, rloo (critic-free, outcome), process (critic-free, leave-one-out line rewards + RLOO outcome)")
    gamma: float = Field(1.0, ge=0, le=1, description="discount per token; 1 is usual for a single-turn program")
    lam: float = Field(1.0, ge=0, le=1, description="GAE lambda: 1 = Monte Carlo returns (the default for LLM PPO: a young critic's "
                       "bootstrapped values bias lambda<1 advantages over ~100-token responses), 0 = one-step TD")
    clip_ratio: float = Field(0.2, gt=0, le=1, description="PPO ratio clip epsilon")
    value_clip: float | None = Field(0.2, gt=0, le=100, description="clip of the value update around the rollout's value; None = unclipped")
    vf_coef: float = Field(0.5, ge=0, le=10, description="value loss weight (critic has its own optimizer; this scales its loss)")
    ent_coef: float = Field(0.0, ge=0, le=1, description="entropy bonus weight")
    kl_coef: float = Field(0.02, ge=0, le=10, description="weight of the KL penalty to the frozen reference policy")
    kl_kind: Literal["auto", "k1", "k3"] = Field(
        "auto", description="KL estimator: k1 = log p - log q, k3 = Schulman's always-positive one; auto = k1 in the reward, k3 in the loss "
                            "(k1 as a loss term has zero expected gradient on-policy, so it is refused there; GRPO and verl use k3)")
    kl_in: Literal["reward", "loss"] = Field("reward", description="reward: subtract kl_coef*KL from each token's reward (InstructGPT); loss: add it to the loss (GRPO)")
    whiten_advantages: bool = Field(True, description="normalise advantages over the batch before the update")
    grpo_norm_by_std: bool = Field(True, description="GRPO divides by the group's std (Dr. GRPO argues against it)")
    process_credit: Literal["to_go", "line"] = Field(
        "to_go", description="estimator=process: to_go = each token gets the sum of the baselined line rewards after it (PRIME), which also "
                             "charges an error line's penalty to every correct line before it; line = each token gets its own line's "
                             "baselined reward (the tokens from the previous line end through this line's end), so credit stays on the line")
    epochs: int = Field(2, ge=1, le=50, description="passes over each rollout batch")
    minibatch_size: int = Field(8, ge=1, le=4096, description="samples per gradient step")
    lr: float = Field(2e-5, gt=0, le=1, description="policy learning rate (AdamW)")
    critic_lr: float = Field(5e-5, gt=0, le=1, description="critic learning rate (AdamW)")
    max_grad_norm: float = Field(1.0, gt=0, le=1000, description="gradient-norm clip")
    target_kl: float | None = Field(None, gt=0, le=10, description="stop a step's update early (remaining minibatches and epochs) once a "
                                    "minibatch's approx_kl to the rollout policy exceeds this, in nats per token; None = never")
    max_kl: float | None = Field(20.0, gt=0, le=1e4, description="stop the run when the mean KL to the reference exceeds this many nats per "
                                 "sample; the last checkpoint whose policy stayed below it is kept; None = never")

    @property
    def kl_estimator(self) -> Literal["k1", "k3"]:
        """The estimator in force: ``kl_kind``, with auto resolved by where the KL goes."""
        if self.kl_kind != "auto":
            return self.kl_kind
        return "k3" if self.kl_in == "loss" else "k1"

    @model_validator(mode="after")
    def _check_kl(self) -> "AlgorithmConfig":
        if self.kl_in == "loss" and self.kl_kind == "k1" and self.kl_coef > 0:
            raise ValueError("algo.kl_kind=k1 with algo.kl_in=loss: k1's expected gradient is zero on-policy, so the KL would not act; use k3 (or auto)")
        return self


class RLConfig(StrictModel):
    """Everything one RL run needs. Load with ``RLConfig.from_yaml(path)``."""

    policy: str = Field("tiny", description="policy spec for codeprm.policy.registry.load_policy (tiny | hf:PATH | embedded)")
    train_benchmark: str = Field("synth:train", description="problems to train on (any load_benchmark name)")
    train_stream: str | None = Field(None, description="fresh problems every step from a generator (synth:SPLIT?difficulty=A-B): "
                                     "prompts_per_step new problems per step, never one drawn before nor one in a held-out set, so a "
                                     "rising training pass rate means a rising skill; None = sample train_benchmark (a fixed set)")
    eval_benchmark: str = Field("synth:heldout", description="held-out problems for periodic greedy pass@1")
    eval_limit: int | None = Field(64, ge=1, description="evaluate on the first N held-out problems; None = all")
    eval_unseen_benchmark: str | None = Field(None, description="a second held-out set (e.g. unseen compositions), evaluated beside eval_benchmark; None = none")
    eval_samples: int = Field(1, ge=1, le=256, description="samples per held-out problem: 1 = one greedy decode; n > 1 = the mean pass rate of n "
                              "samples at `temperature` (a far less noisy pass@1 estimate)")
    eval_seed: int = Field(1234, ge=0, description="sampling seed of the held-out evaluation, the same at every step and in every run, so "
                           "every run of one starting policy measures the same step-0 numbers")
    eval_start: bool = Field(True, description="evaluate the starting policy before step 1 (runs that share one starting policy, as in "
                             "an experiment, can measure it once elsewhere)")
    eval_every_steps: int = Field(10, ge=0, le=100000, description="held-out evaluation period in steps (0 = only at the end)")
    out: Path = Field(Path("runs/rl"), description="run directory: checkpoints, metrics.jsonl, TensorBoard events, config.yaml")
    steps: int = Field(50, ge=0, le=1_000_000, description="policy updates (each on one freshly sampled batch)")
    prompts_per_step: int = Field(8, ge=1, le=4096, description="problems sampled per step")
    samples_per_prompt: int = Field(4, ge=1, le=256, description="completions per problem (the group of GRPO/RLOO)")
    max_new_tokens: int = Field(128, ge=1, le=8192, description="generation length limit")
    temperature: float = Field(1.0, gt=0, le=5, description="sampling temperature; logprobs are computed at the same temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling")
    seed: int = Field(0, ge=0, description="seed of problem order, sampling and minibatch order (resumes reproduce exactly)")
    critic_init: Literal["prm", "policy", "fresh"] = Field(
        "policy", description="critic backbone: the PRM checkpoint (backbone + value head), the policy's weights with a fresh head, or random init")
    critic_calibration: Literal["fit", "sigmoid"] = Field(
        "fit", description="critic_init=prm only: fit = rescale the PRM head (a, b least squares of the first batch's Monte Carlo returns "
                           "on its logit), so the critic starts on the policy's own value scale; sigmoid = outcome_scale*sigmoid(logit)")
    critic_warmup_epochs: int = Field(0, ge=0, le=100, description="value-only passes over the first rollout batch of a fresh run, before "
                                      "the first policy update (a critic that starts wrong misleads the first advantages)")
    lora_rank: int = Field(0, ge=0, le=1024, description="train LoRA adapters of this rank instead of all weights (0 = full fine-tuning)")
    save_every_steps: int = Field(5, ge=1, le=100000, description="checkpoint period; a resumed run continues from the last one")
    resume: bool = Field(True, description="continue from the run directory's checkpoint when there is one")
    sandbox_workers: int | None = Field(None, ge=1, le=256, description="parallel sandbox workers; None = the sandbox's default")
    threads: int | None = Field(None, ge=1, le=256, description="torch CPU threads; None = torch's default")
    device: str = Field("auto", description="torch device of the policy, reference, critic and PRM: auto = cuda when available, else cpu")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 = float32 master weights (Adam steps below bf16's resolution still land) with bfloat16 autocast on CUDA; "
                            "fp32 = float32 throughout; auto = bf16 on CUDA, fp32 on CPU")
    progress: bool = Field(True, description="show a progress bar")
    reward: RewardConfig = Field(default_factory=RewardConfig)
    algo: AlgorithmConfig = Field(default_factory=AlgorithmConfig)

    @model_validator(mode="after")
    def _check_combinations(self) -> "RLConfig":
        if self.algo.estimator in ("grpo", "rloo", "process") and self.samples_per_prompt < 2:
            raise ValueError(f"algo.estimator={self.algo.estimator} needs samples_per_prompt >= 2 (a group to compare against)")
        if self.reward.exact_lines and self.reward.prm is not None:
            raise ValueError("reward.exact_lines and reward.prm both give line scores; set one")
        if self.algo.estimator == "process" and self.reward.prm is None and not self.reward.exact_lines:
            raise ValueError("algo.estimator=process needs line rewards (reward.prm or reward.exact_lines)")
        if self.algo.estimator == "process" and self.algo.kl_in == "reward" and self.algo.kl_coef > 0:
            raise ValueError("algo.estimator=process builds advantages from outcome and line rewards only; put the KL in the loss (algo.kl_in=loss)")
        if self.critic_init == "prm" and self.algo.estimator == "gae" and self.reward.prm is None:
            raise ValueError("critic_init=prm needs reward.prm (the checkpoint to initialise from)")
        return self

    @property
    def uses_critic(self) -> bool:
        return self.algo.estimator == "gae"

def build_config(data: dict, overrides: dict | None = None) -> RLConfig:
    """``RLConfig`` from a nested dict plus dotted overrides (``{"reward.prm_weight_fail": 0.5}``);
    bad fields raise CodeprmError naming the field and its allowed range."""
    return build(RLConfig, data, overrides)
