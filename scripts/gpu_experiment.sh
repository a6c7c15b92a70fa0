#!/usr/bin/env bash
# The mechanism experiment (docs/experiments/rl_mechanism) scaled up for one GPU, or at toy size on a CPU
# so it cannot rot (CI runs the toy size):
#
#   bash scripts/gpu_experiment.sh            # one H100: a larger habit policy, bigger batches, more steps
#   TOY=1 bash scripts/gpu_experiment.sh      # a few minutes on a CPU; the numbers mean nothing
#
# Steps, each resumable (rerun the script and it continues):
#   1. SFT from scratch of a policy with line-local error habits (references with each body line replaced,
#      p = 0.25, by a one-line mutant), so its pass rate falls with the number of bug-prone lines;
#   2. binary-search line labels from that policy's own rollouts on fresh problems (K rollouts per probe);
#   3. a PRM on the policy's backbone (same tokenizer);
#   4. the arms (outcome PPO, exact-label PPO, PSGPO = PRM line rewards + PRM critic, GRPO, and the
#      critic-free process arms) over several seeds, fresh problems every step, paired bootstrap CIs.
# Nothing is downloaded: the policy is trained from the built-in synth suite. Run files stay small (a few
# MB per run: the policies are small), so 30 runs fit any disk. Needs codeprm and its Python deps
# (scripts/install.sh; on a machine without network, pip install --no-deps the wheels you carried).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/gpu_mechanism}
TOY=${TOY:-0}
DIFF=${DIFF:-2-4}
if [ "$TOY" = 1 ]; then
    SFT="--set steps=30 --set hidden_size=64 --set num_layers=1 --set intermediate_size=128 --set vocab_size=600 --set data=synth:train?size=200 --set mutation_copies=1"
    LABEL_SIZE=4; K=2; SEEDS=0; STEPS=2; PROMPTS=2; SAMPLES=2; EVAL_LIMIT=4; EVAL_SAMPLES=2; PARALLEL=1; MAX_NEW=48
    ARMS=outcome,dense  # dense covers the PRM, its critic and the line AUROC against exact labels
    # a 30-step policy solves nothing, so its rollouts label nothing: the toy labels failing mutants of the
    # references instead (no policy), which is enough to train and load a PRM
    LABEL_POLICY=reference; LABEL_METHOD="mutation --mutants 2"
else
    SFT="--set steps=3000 --set hidden_size=384 --set num_layers=6 --set num_heads=6 --set intermediate_size=1024 --set batch_size=64 --set mutation_copies=8"
    LABEL_SIZE=400; K=8; SEEDS=0,1,2,3,4; STEPS=60; PROMPTS=64; SAMPLES=8; EVAL_LIMIT=200; EVAL_SAMPLES=8; PARALLEL=4; MAX_NEW=128
    ARMS=outcome,oracle,dense,grpo,grpo_oracle,grpo_process
    LABEL_POLICY="hf:$OUT/habits"; LABEL_METHOD=binary
fi
mkdir -p "$OUT"
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
codeprm() { python3 -c "from codeprm.cli import main; main()" "$@"; }

stamp "1/4 habit policy: SFT from scratch on mutated references"
if [ ! -f "$OUT/habits/config.json" ]; then
    # shellcheck disable=SC2086
    codeprm sft --config docs/experiments/rl_mechanism/sft_habits.yaml --out "$OUT/habits" $SFT
fi

stamp "2/4 labels: binary first-error search, K=$K rollouts per probe, on fresh problems (difficulty $DIFF)"
# shellcheck disable=SC2086
codeprm label -p "$LABEL_POLICY" -b "synth:train?size=$LABEL_SIZE&difficulty=$DIFF&seed=50" -m $LABEL_METHOD -K "$K" -n 4 -t 1.0 --top-p 1.0 \
    --max-new-tokens "$MAX_NEW" -o "$OUT/labels"
python3 -m codeprm.labels.exact --labels "$OUT/labels" -b "synth:train?size=$LABEL_SIZE&difficulty=$DIFF&seed=50" --json "$OUT/label_agreement.json"

stamp "3/4 PRM on the policy's backbone"
codeprm prm train --data "$OUT/labels" --base "hf:$OUT/habits" --out "$OUT/prm" --epochs 3 --lr 5e-4 --batch-size 16

stamp "4/4 experiment: $ARMS; seeds $SEEDS"
python3 -m codeprm.rl.mechanism --policy "hf:$OUT/habits" --prm "$OUT/prm" --out "$OUT/experiment" --runs "$OUT/runs" \
    --arms "$ARMS" --seeds "$SEEDS" --steps "$STEPS" --prompts-per-step "$PROMPTS" --samples-per-prompt "$SAMPLES" \
    --minibatch-size $(( PROMPTS * SAMPLES )) --max-new-tokens "$MAX_NEW" --eval-every $(( STEPS / 2 > 0 ? STEPS / 2 : 1 )) \
    --eval-limit "$EVAL_LIMIT" --eval-samples "$EVAL_SAMPLES" --parallel "$PARALLEL" --labels "$OUT/label_agreement.json" \
    --stream "synth:train?difficulty=$DIFF" --heldout "synth:train?size=$EVAL_LIMIT&difficulty=$DIFF&seed=7" \
    --unseen "synth:heldout?size=$EVAL_LIMIT&difficulty=$DIFF&seed=8"
stamp "done: $OUT/experiment/summary.json"
