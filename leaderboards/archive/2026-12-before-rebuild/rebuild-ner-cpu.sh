#!/usr/bin/env bash
# The CPU NER board (task version 4): the none and never-learned controls, random and selective-pruning at 1%,
# and the field's weight-editing methods at their default steps, seed by seed, so that every seed that lands
# has the entry and both of its controls. Each record is exported as it lands and every run already under the
# records folder is imported instead of run, so it resumes across machines and sessions from what is committed.
#
#   leaderboards/rebuild-ner-cpu.sh "0 1 2" [RECORDS_DIR]    (seeds; default records folder leaderboards/records)
#
# `none` and `never-learned` run at the grid's first budget (0.001), as `bench sweep --config
# leaderboards/sweep.toml` plans them: they ignore the budget, but their run ids hash the config.
set -uo pipefail  # not -e: one failed run must not stop the other seeds
cd "$(dirname "$0")/.."
seeds=${1:-"0 1 2"}
records=${2:-leaderboards/records}
status=0
for seed in $seeds; do
  bench sweep --config leaderboards/sweep.toml --tasks ner --seeds "$seed" --methods none,never-learned \
    --fractions 0.001 --no-controls --export "$records" || status=1
  bench sweep --config leaderboards/sweep.toml --tasks ner --seeds "$seed" --methods random,selective-pruning \
    --fractions 0.01 --no-controls --export "$records" || status=1
  bench sweep --config leaderboards/sweep.toml --tasks ner --seeds "$seed" \
    --methods grad-ascent,grad-diff,npo,rmu,simnpo --no-controls --export "$records" || status=1
done
exit $status
