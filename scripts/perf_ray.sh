#!/usr/bin/env bash
# results/perf_ray.md: tasks/perf_ray.yaml with the local executor, then with Ray (2 workers,
# a local Ray started by the run), each into a fresh store under OUT; wall times; then whether
# the two stores hold identical rows.
# Usage: OMP_NUM_THREADS=1 scripts/perf_ray.sh [PYTHON] [OUT]   (from the repository root)
set -u
PY=${1:-.venv/bin/python}
OUT=${2:-/tmp/perf_ray}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLCONFIGDIR=$OUT/mpl
rm -rf "$OUT"; mkdir -p "$OUT"
for ex in local ray; do
  extra=""; [ "$ex" = ray ] && extra="--workers 2"
  echo "== $ex start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  s=$(date +%s.%N)
  "$PY" -m benchmark run tasks/perf_ray.yaml --executor $ex $extra --store "$OUT/$ex.sqlite" \
      --runs-dir "$OUT/runs-$ex" --report-dir "$OUT/report-$ex"
  echo "== $ex rc=$? wall_s=$(echo "$(date +%s.%N) - $s" | bc) end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
done
"$PY" - "$OUT" <<'PY'
import sys
from benchmark.store import Store
out = sys.argv[1]
rows = {}
for ex in ("local", "ray"):
    with Store(f"{out}/{ex}.sqlite") as s:
        rows[ex] = {r.key: (r.accuracy, r.ci95, r.episode_accuracies, r.steps, r.spec_hash)
                    for r in s.results("perf_ray", with_episodes=True)}
same = rows["local"] == rows["ray"]
print(f"rows: local {len(rows['local'])}, ray {len(rows['ray'])}; identical (accuracy, ci95, "
      f"every episode's accuracy, steps, spec hash): {same}")
for key in sorted(rows["local"]):
    print(key[1], "seed", key[-1], f"{100 * rows['local'][key][0]:.2f}",
          f"{100 * rows['ray'].get(key, (float('nan'),))[0]:.2f}")
PY
