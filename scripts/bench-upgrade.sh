#!/usr/bin/env bash
# Speed of a full quarterly upgrade (plans/quarterly-upgrade.yaml) against cloudsim's realistic
# latency profile (scripts/bench/realistic-profile.json: cluster 9 min, node group 3 min, add-on
# 1 min, load balancer 2 min, ...) at a time scale, on the same stand-ins as the demo. Prints:
#   - the run's wall time (journal: run-started → run-completed) against the critical path of the
#     injected latencies: the longest chain of waits the run cannot avoid — EKS and load balancer
#     latencies along the plan's dependency chain (÷ time scale), plus the plan's own waits (record
#     TTL and bake per traffic step, the smoke check's spacing), which are real time;
#   - AWS API requests by operation (counted by cutover's SDK interceptor);
#   - cutover's peak RSS.
# Goal: wall within 3% of the critical path, i.e. cutover adds no waiting of its own.
#
# Usage: scripts/bench-upgrade.sh [--time-scale N]   (default 10: the run takes about 3.5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=10
if [ "${1:-}" = "--time-scale" ] && [ -n "${2:-}" ]; then SCALE="$2"; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cutover/target}"
say() { printf '==> %s\n' "$*" >&2; }

scripts/install-tools.sh >/dev/null
say "building cutover and cloudsim"
cargo build --locked -p cutover -p cloudsim --bins >&2
PROFILE="$PWD/scripts/bench/realistic-profile.json"
# shellcheck source=lib/standins.sh
. scripts/lib/standins.sh
say "starting the stand-ins at time scale $SCALE with the realistic profile"
standins_up "$SCALE" "$PROFILE" >/dev/null
rm -rf plans/.cutover/payments-prod

say "cutover apply plans/quarterly-upgrade.yaml"
"$CUTOVER" apply plans/quarterly-upgrade.yaml --yes --plain >"$WORK/report.txt" 2>"$WORK/progress.log" || {
  cat "$WORK/progress.log" >&2
  exit 1
}
JOURNAL="$(ls -t plans/.cutover/payments-prod/runs/*.jsonl | head -1)"

"$PY" - "$PROFILE" "$SCALE" "$JOURNAL" "$WORK/report.txt" <<'PY'
import json, sys
from datetime import datetime

profile, scale, journal, report = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
lat = json.load(open(profile))["latencies"]

# The plan's dependency chain (see plans/quarterly-upgrade.yaml and engine::compile):
provision = (lat["clusterCreateSecs"]          # the control plane
             + lat["addonCreateSecs"]          # vpc-cni and kube-proxy, together
             + lat["nodegroupCreateSecs"]      # both node groups, together
             + lat["addonCreateSecs"])         # coredns, once nodes exist
releases = (max(lat["podReadySecs"], lat["lbProvisionSecs"])  # ingress: pods and its load balancer
            + lat["podReadySecs"]                              # api (needs ingress)
            + lat["podReadySecs"])                             # worker (needs api)
retire = (lat["lbReleaseSecs"]                  # blue's load balancer released first
          + lat["nodegroupDeleteSecs"]          # then its node group
          + lat["clusterDeleteSecs"])           # then the cluster
simulated = (provision + releases + retire) / scale
# Real-time waits the plan asks for: smoke needs 3 successes 1 s apart; each of 3 traffic steps
# waits the record TTL (5 s) after INSYNC, then bakes 10 s.
plan_waits = 2 * 1 + 3 * (5 + 10)
critical = simulated + plan_waits

records = [json.loads(l) for l in open(journal) if l.strip()]
ts = lambda r: datetime.fromisoformat(r["ts"].replace("Z", "+00:00")[:26] + "+00:00")
start = next(r for r in records if r["type"] == "run-started")
end = next(r for r in records if r["type"] == "run-completed")
wall = (ts(end) - ts(start)).total_seconds()

text = open(report).read()
calls = text[text.index("aws api requests"):].splitlines()
print(f"time scale                {scale:g}")
print(f"critical path             {critical:8.1f} s  (EKS/LB latencies {simulated:.1f} s + plan waits {plan_waits} s)")
print(f"  provision {provision/scale:.1f} s, releases {releases/scale:.1f} s, retire blue {retire/scale:.1f} s")
print(f"wall time                 {wall:8.1f} s")
print(f"overhead                  {wall - critical:8.1f} s  ({100 * (wall - critical) / critical:+.1f}% of the critical path; goal within 3%)")
for line in calls:
    print(line)
PY
