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
# Usage: scripts/demo.sh [--time-scale N] [--quarters N]   (defaults 60, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SCALE=60
QUARTERS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --time-scale) SCALE="${2:?--time-scale needs a number}"; shift 2 ;;
    --quarters) QUARTERS="${2:?--quarters needs a number}"; shift 2 ;;
    *) echo "demo: unknown argument $1 (expected --time-scale N or --quarters N)" >&2; exit 2 ;;
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
exit $STATUS
