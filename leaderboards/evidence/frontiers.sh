#!/bin/bash
# Issue 37's frontiers: every configuration of each method's grid on NER (and RMU on toxicity at a CPU size),
# seed 0, quick profile, chosen on the validation third of the evaluation examples and reported on the other two
# thirds. Resumable: each setting is kept when it finishes (BENCH_HOME/frontiers), so a rerun only rewrites the
# pages. Wall times on 2 CPU cores: leaderboards/evidence/frontiers/README.md.
set -euo pipefail
out=leaderboards/evidence/frontiers
ner() { name=$1; shift; bench frontier --task ner --profile quick --seed 0 --out "$out/ner/$name" "$@"; }

ner grad-ascent --method grad-ascent
ner concept-neurons --method concept-neurons
ner rmu --method rmu --grid lr=5e-5,1e-3 --grid steering=4,8 --grid alpha=100
ner grad-diff --method grad-diff
# Its declared grid had no configuration within the bound: between 16 and 32 steps at lr 1e-5 the forgetting
# jumps from 0.04 to 0.46 and the collateral from 0 to 0.10. Four evaluations per doubling of the steps there.
ner grad-diff-fine --method grad-diff --grid lr=1e-5 --grid alpha=1,0.1 --max-steps 32 --steps-per-octave 4
ner simnpo --method simnpo --grid lr=1e-5,1e-4 --grid beta=none --grid gamma=0.125,1 --grid delta=0
# Two settings of its declared eight, up to 64 steps, two evaluations per doubling (this session's CPU time).
ner npo --method npo --grid lr=1e-5,1e-4 --grid beta=0.1 --grid alpha=1 --max-steps 64 --steps-per-octave 2
ner selective-pruning --method selective-pruning

# RMU's default configuration along its steps on toxicity: 100 prompts, 32 steps (an evaluation of 100 completions
# and the fluency metrics takes minutes on 2 cores).
bench frontier --task toxicity --profile quick --seed 0 --samples 100 --max-steps 32 --method rmu \
  --grid lr=1e-3 --grid steering=4 --grid alpha=100 --out "$out/toxicity/rmu"
