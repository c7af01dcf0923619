#!/bin/bash
# One plan of 12 real runs (MiniLM NER; random, concept-neurons, none x seeds 0-3; short settings), through
# the local executor and through the ray executor (a local Ray instance with 2 CPU slots, 1 per run), each
# from an empty home that links only the offline assets. Results: benchmarks/executor-sweep.md.
#   benchmarks/executor_sweep.sh            (after `bench assets install`; needs the ray extra)
set -e
export HF_HUB_OFFLINE=1 BENCH_PROGRESS=0
ARGS="--methods random,concept-neurons --tasks ner --seeds 0,1,2,3 --fractions 0.01 --set finetune_epochs=0.5 --set relearn_steps=16 --set relearn_checkpoints=4,16 --set max_eval_examples=120"
for ex in local ray; do
  home=/tmp/demo-$ex; rm -rf $home; mkdir -p $home; ln -s ${BENCH_HOME:-$HOME/.cache/relearn-bench}/assets $home/assets
  extra=""; [ $ex = ray ] && extra="--executor-option num_cpus=2 --executor-option cpus_per_run=1"
  echo "=== $ex $(date +%T)"
  BENCH_HOME=$home python -m bench sweep $ARGS --plan /tmp/demo-$ex.plan.jsonl --executor $ex $extra
  start=$(date +%s.%N)
  BENCH_HOME=$home /usr/bin/time -v python -m bench sweep $ARGS --executor $ex $extra 2>&1 | grep -E "✓|✗|sweep:|Elapsed|Maximum resident"
  end=$(date +%s.%N); echo "=== $ex wall $(echo "$end - $start" | bc) s"
done
python - <<'PY'
import json
a=[json.loads(l)["run_id"] for l in open("/tmp/demo-local.plan.jsonl")]; b=[json.loads(l)["run_id"] for l in open("/tmp/demo-ray.plan.jsonl")]
print("plans identical:", a==b, len(a), "runs")
PY
