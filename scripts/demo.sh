#!/usr/bin/env bash
# The main job end to end on the local stand-ins: a quarterly blue/green upgrade.
#
# Installs what it needs (scripts/install-tools.sh), builds cutover and cloudsim, starts cloudsim
# (EKS + Kubernetes, time-scaled so a 9-minute cluster takes 9 s), moto (Route53), a chart
# repository and an OCI registry, pre-creates the live blue cluster serving api.example.com, then
# runs `cutover apply plans/quarterly-upgrade.yaml` with its progress display and prints the run
# report and where the journal is. Everything it starts stops when it exits.
#
# Usage: scripts/demo.sh [--time-scale N]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SCALE=60
if [ "${1:-}" = "--time-scale" ] && [ -n "${2:-}" ]; then SCALE="$2"; fi

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

# The journal of a previous demo refers to a cloud that no longer exists.
rm -rf plans/.cutover/payments-prod

say "cutover apply plans/quarterly-upgrade.yaml"
set +e
"$CUTOVER" apply plans/quarterly-upgrade.yaml --yes
STATUS=$?
set -e

say "where things stand"
"$CUTOVER" status plans/quarterly-upgrade.yaml
echo "leaked load balancers: $(curl -s "http://127.0.0.1:$CLOUDSIM_PORT/_cloudsim/leaked-load-balancers" 2>/dev/null || echo '?')" >&2
echo "cloudsim, moto and helm logs: $WORK" >&2
exit $STATUS
