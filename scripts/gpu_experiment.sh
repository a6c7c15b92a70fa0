#!/usr/bin/env bash
# The dense-vs-outcome RL experiment on one GPU (sized for an H100/H200 in under 10 minutes), or at toy
# size on a CPU to check the plumbing first:
#
#   bash scripts/gpu_experiment.sh                       # SmolLM2-135M-Instruct (embedded), GPU sizes
#   TOY=1 POLICY=hf:runs/tiny bash scripts/gpu_experiment.sh   # a few minutes on a CPU, numbers meaningless
#
# Steps (each resumable: rerun the script and it continues): 1. the sometimes-solved regime (problems the
# starting policy passes 1-6 times in 8), 2. binary-search line labels from the policy's own rollouts on
# the RL problems, 3. a PRM on the policy's backbone (same tokenizer), 4. the four-arm experiment with
# hierarchical bootstrap CIs. Everything goes under $OUT; the summary is $OUT/experiment/summary.json.
# Assumes codeprm is installed (scripts/install.sh) and the embedded model converted once.
set -euo pipefail
cd "$(dirname "$0")/.."

POLICY=${POLICY:-embedded}
OUT=${OUT:-runs/gpu_experiment}
TOY=${TOY:-0}
if [ "$TOY" = 1 ]; then
    CANDIDATES="synth:train?seed=11&size=24&difficulty=2-4"; UNSEEN="synth:heldout?size=16&difficulty=2-4"; HELDOUT=4
    LABEL_LIMIT=4; SEEDS=0; STEPS=2; PROMPTS=2; SAMPLES=2; EVAL_LIMIT=4; EVAL_SAMPLES=2; PARALLEL=1; MAX_NEW=48; LO=0; HI=8
else
    CANDIDATES="synth:train?seed=11&size=400&difficulty=2-5"; UNSEEN="synth:heldout?difficulty=2-5"; HELDOUT=48
    LABEL_LIMIT=64; SEEDS=0,1,2,3,4; STEPS=20; PROMPTS=8; SAMPLES=4; EVAL_LIMIT=48; EVAL_SAMPLES=8; PARALLEL=4; MAX_NEW=192; LO=1; HI=6
fi
mkdir -p "$OUT"
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
codeprm() { python3 -c "from codeprm.cli import main; main()" "$@"; }

stamp "1/4 regime: $CANDIDATES and $UNSEEN, 8 samples each, keep $LO-$HI passes"
if [ ! -f "$OUT/regime/regime.json" ]; then
    python3 -m codeprm.rl.regime -p "$POLICY" -o "$OUT/regime" --train-candidates "$CANDIDATES" --unseen-candidates "$UNSEEN" \
        --samples 8 --lo "$LO" --hi "$HI" --heldout-size "$HELDOUT" --max-new-tokens "$MAX_NEW"
fi

stamp "2/4 labels: binary first-error search, K=4 rollouts per probe, 4 responses per problem"
codeprm label -p "$POLICY" -b "jsonl:$OUT/regime/rl_train.jsonl" -m binary -k 4 -s 4 -t 1.0 --top-p 1.0 \
    --max-new-tokens "$MAX_NEW" --limit "$LABEL_LIMIT" -o "$OUT/labels"

stamp "3/4 PRM on the policy's backbone"
codeprm prm train --data "$OUT/labels" --base "$POLICY" --out "$OUT/prm" --epochs 3 --lr 5e-5 --batch-size 8

stamp "4/4 experiment: outcome PPO, dense PRM PPO + PRM critic, GRPO, GRPO + process advantages; seeds $SEEDS"
python3 -m codeprm.rl.experiment --policy "$POLICY" --regime "$OUT/regime" --prm "$OUT/prm" --out "$OUT/experiment" \
    --runs "$OUT/runs" --seeds "$SEEDS" --steps "$STEPS" --prompts-per-step "$PROMPTS" --samples-per-prompt "$SAMPLES" \
    --minibatch-size $(( PROMPTS * SAMPLES / 2 )) --max-new-tokens "$MAX_NEW" --lr 1e-6 --critic-lr 1e-5 --kl-coef 0.05 \
    --eval-every $(( STEPS / 2 > 0 ? STEPS / 2 : 1 )) --eval-limit "$EVAL_LIMIT" --eval-samples "$EVAL_SAMPLES" --parallel "$PARALLEL"
stamp "done: $OUT/experiment/summary.json"
