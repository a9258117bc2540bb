#!/usr/bin/env bash
# The main job end to end on the local stand-ins: a quarterly blue/green upgrade.
#
# Installs what it needs (scripts/install-tools.sh), builds cutover and cloudsim, starts cloudsim
# (EKS + Kubernetes, time-scaled so a 9-minute cluster takes 9 s), moto (Route53), a chart
# repository and an OCI registry, pre-creates the live blue cluster serving api.example.com, then
# runs `cutover apply plans/quarterly-upgrade.yaml` with its progress display and prints the run
# report and where the journal is; the plan notifies a local webhook receiver, whose log is printed
# at the end. Everything it starts stops when it exits.
#
# With --quarters N (default 1) it goes on as a platform team does quarter after quarter: each
# next plan is written by `cutover next` from the completed run (blue := the green that serves),
# checked with `cutover preflight`, and applied; plans/quarter-K.demo.yaml are the plans it made.
#
# With --dashboard it also starts `cutover dashboard` over the demo's state and plans before the run
# and prints its URL, so the run can be watched live in a browser; on a terminal the demo then waits
# for Enter before stopping everything.
#
# Usage: scripts/demo.sh [--time-scale N] [--quarters N] [--dashboard]   (defaults 60, 1, off)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SCALE=60
QUARTERS=1
DASHBOARD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --time-scale) SCALE="${2:?--time-scale needs a number}"; shift 2 ;;
    --quarters) QUARTERS="${2:?--quarters needs a number}"; shift 2 ;;
    --dashboard) DASHBOARD=1; shift ;;
    *) echo "demo: unknown argument $1 (expected --time-scale N, --quarters N or --dashboard)" >&2; exit 2 ;;
  esac
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cutover/target}"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

say "installing tools (helm, kubectl, moto, OCI registry)"
scripts/install-tools.sh >&2
say "building cutover and cloudsim"
cargo build --locked -p cutover -p cloudsim --bins >&2
CUTOVER="$CARGO_TARGET_DIR/debug/cutover"

# shellcheck source=lib/standins.sh
. scripts/lib/standins.sh
standins_up "$SCALE"

# The plan's notification sink: a local receiver whose log is printed at the end.
RECEIVER_PORT=18882
NOTIFY_LOG="$WORK/notifications.jsonl"
: >"$NOTIFY_LOG"
python3 scripts/lib/receiver.py "$RECEIVER_PORT" "$NOTIFY_LOG" >"$WORK/receiver.log" 2>&1 &
PIDS+=($!)
wait_port "$RECEIVER_PORT" receiver
export CUTOVER_DEMO_WEBHOOK="http://127.0.0.1:$RECEIVER_PORT/hook"

# The journal of a previous demo refers to a cloud that no longer exists.
rm -rf plans/.cutover/payments-prod

if [ "$DASHBOARD" = 1 ]; then
  # plans/dr-drill.yaml keeps its state in S3: give it its (empty) bucket in moto, so the
  # dashboard reads an S3 backend beside the local one instead of reporting a missing bucket.
  "$PY" -c "import boto3; boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL_S3', region_name='us-east-1').create_bucket(Bucket='example-cutover-state')" >&2
  # Read-only, on loopback; the state directory fills as the run journals. Stopped with the stand-ins.
  "$CUTOVER" dashboard --state local:plans/.cutover --plans plans --listen 127.0.0.1:0 \
    >"$WORK/dashboard.url" 2>"$WORK/dashboard.log" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$WORK/dashboard.url" ] && break; sleep 0.1; done
  DASHBOARD_URL="$(head -1 "$WORK/dashboard.url")"
  [ -n "$DASHBOARD_URL" ] || { echo "demo: the dashboard did not start; its log is $WORK/dashboard.log" >&2; exit 1; }
  say "dashboard: $DASHBOARD_URL (open it to watch the run live)"
fi

PLAN=plans/quarterly-upgrade.yaml
# What CI would ask before anyone applies: would the pre-flight gates refuse this plan?
preflight() {
  say "cutover preflight $1"
  local start end
  start=$(date +%s%N)
  "$CUTOVER" preflight "$1"
  end=$(date +%s%N)
  echo "preflight: $(( (end - start) / 1000000 )) ms" >&2
}
preflight "$PLAN"
say "cutover apply $PLAN"
set +e
"$CUTOVER" apply "$PLAN" --yes
STATUS=$?
set -e
# Quarter after quarter: Kubernetes 1.32 → 1.33 → … on the same environment.
rm -f plans/quarter-*.demo.yaml
for ((q = 2; q <= QUARTERS && STATUS == 0; q++)); do
  # Written beside the example plan so its relative paths (values files, the local chart) resolve.
  NEXT="plans/quarter-$q.demo.yaml"
  VERSION="1.$((31 + q))"
  say "cutover next $PLAN --version $VERSION -o $NEXT"
  "$CUTOVER" next "$PLAN" --version "$VERSION" -o "$NEXT"
  preflight "$NEXT"
  say "cutover apply $NEXT"
  set +e
  "$CUTOVER" apply "$NEXT" --yes
  STATUS=$?
  set -e
  PLAN="$NEXT"
done

say "where things stand"
"$CUTOVER" status "$PLAN"
echo "leaked load balancers: $(curl -s "http://127.0.0.1:$CLOUDSIM_PORT/_cloudsim/leaked-load-balancers" 2>/dev/null || echo '?')" >&2
say "notifications the plan's sink received ($NOTIFY_LOG)"
python3 scripts/lib/receiver.py --print "$NOTIFY_LOG" >&2
echo "cloudsim, moto and helm logs: $WORK" >&2
if [ "$DASHBOARD" = 1 ]; then
  say "dashboard: $DASHBOARD_URL"
  if [ -t 0 ]; then
    read -r -p "The dashboard stays up until you press Enter. " _ || true
  fi
fi
exit $STATUS
