#!/usr/bin/env bash
# The CPU rebuild of the causal-LM rows, in the order the README's "What has run" gives: the 1% budget first
# (the none control, then random and concept-neurons), seed by seed, cbt before toxicity, so that every page
# that appears has all three seeds of an entry and of both its controls. Each record is exported as it lands
# and every run already under the records folder is imported instead of run, so the rebuild resumes across
# machines and sessions from what is committed: run it again until it says 0 ran.
#
#   leaderboards/rebuild-causal.sh [RECORDS_DIR]    (default leaderboards/records)
#
# `none` runs at the grid's first budget (0.001), as `bench sweep --config leaderboards/sweep.toml` plans it:
# it ignores the budget, but its run id hashes the config, and the full sweep must find it recorded.
set -uo pipefail  # not -e: one failed run must not stop the other tasks' and seeds' sweeps
cd "$(dirname "$0")/.."
records=${1:-leaderboards/records}
status=0
for task in cbt toxicity; do
  for seed in 0 1 2; do
    bench sweep --config leaderboards/sweep.toml --tasks "$task" --seeds "$seed" --methods none \
      --fractions 0.001 --no-controls --export "$records" || status=1
    bench sweep --config leaderboards/sweep.toml --tasks "$task" --seeds "$seed" --methods random,concept-neurons \
      --fractions 0.01 --no-controls --export "$records" || status=1
  done
done
exit $status
