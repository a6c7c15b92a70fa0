#!/usr/bin/env bash
# docs/recipes/verl_psgpo.md at toy size on a CPU: every codeprm command of the recipe, the tiny policy in
# place of the vLLM server (--policy tiny for --policy openai:URL; the tiny policy is also the PRM's base),
# then the recipe's verl command line checked against verl's own config and loaders (no training: no GPU).
# Usage: bash docs/recipes/verl_psgpo_toy.sh [WORKDIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-$(mktemp -d)}"
cd "$work"
codeprm label --policy tiny --benchmark synth:train --limit 2 --method binary -K 2 --samples 2 --max-new-tokens 64 --out runs/labels
codeprm prm train --data runs/labels --base tiny --out runs/prm --epochs 1 --val-frac 0.5 --threads 1
codeprm prm export --model runs/prm --format verl-critic -o runs/critic
codeprm export --format verl synth:train --limit 4 -o runs/verl_data
codeprm export --format verl humaneval --limit 2 --split test -o runs/verl_data
python3 - "$here/verl_psgpo.md" "$work" <<'PY'
import re, sys
from pathlib import Path

import verl
from omegaconf import OmegaConf
from verl.trainer.ppo.reward import resolve_reward_manager_cls
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.utils.import_utils import load_class_from_fqn

recipe, work = Path(sys.argv[1]).read_text(), sys.argv[2]
command = next(b for b in re.findall(r"```bash\n(.*?)```", recipe, re.S) if "verl.trainer.main_ppo" in b)
tokens = command.replace("\\\n", " ").replace("$PWD", work).replace("$POLICY", f"{work}/runs/prm").split()[3:]
config = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/_generated_ppo_trainer.yaml")
OmegaConf.set_struct(config, True)  # as hydra: a key without + must exist in verl's config
config = OmegaConf.merge(config, OmegaConf.from_dotlist([t for t in tokens if not t.startswith("+")]))
OmegaConf.set_struct(config, False)
config = OmegaConf.merge(config, OmegaConf.from_dotlist([t[1:] for t in tokens if t.startswith("+")]))
assert resolve_reward_manager_cls(config).__name__ == "CodeprmRewardManager"
assert load_class_from_fqn(config.actor_rollout_ref.rollout.agent.agent_loop_manager_class).__name__ == "CodeprmAgentLoopManager"
for key in ("reward.reward_kwargs.prm", "critic.model.path", "data.train_files", "data.val_files"):
    assert Path(OmegaConf.select(config, key)).exists(), key
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(config.critic.model.path)
tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"  # the tiny policy has none
data = RLHFDataset([config.data.train_files], tok, OmegaConf.create({"max_prompt_length": 100000, "filter_overlong_prompts_workers": 1,
                                                                      "cache_dir": work}))
print(f"recipe config resolved by verl; {len(data)} training rows; critic {config.critic.model.path}")
PY
