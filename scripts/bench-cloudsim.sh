#!/usr/bin/env bash
# Shows cloudsim's speed targets on this machine, against the release binary on loopback:
#   - a cluster with 50 nodes and 200 Ready pods stays under 200 MB RSS (peak, VmHWM);
#   - it keeps up with 1,000 open watches and 200 requests/s (p99 latency from when each request
#     was due, so falling behind shows; every watcher sees every write).
# The load generator is scripts/cloudsim-load.py (Python standard library only); it prints a JSON
# report and exits 1 when a target is missed. Extra arguments go to it (e.g. --duration 60).
#
# Usage: scripts/bench-cloudsim.sh [--duration SECS] [--rate RPS] [--max-rss-mb MB] [--max-p99-ms MS]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cutover/target}"

command -v python3 >/dev/null || { echo "bench-cloudsim: python3 is required for the load generator" >&2; exit 2; }
# 1,000 watches plus request connections need more than the usual 1,024 open files on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 2100 ]; then
  echo "bench-cloudsim: need at least 2100 open files (ulimit -n is $(ulimit -n)); raise the hard limit" >&2
  exit 2
fi

echo "bench-cloudsim: building the release binary" >&2
cargo build --release --locked -p cloudsim --bin cloudsim >&2

# Token signing credentials (test-only values, shared by cloudsim and the load generator).
export AWS_ACCESS_KEY_ID=AKIACLOUDSIMBENCH000 AWS_SECRET_ACCESS_KEY=cloudsim-bench-secret
WORK="$(mktemp -d)"
"$CARGO_TARGET_DIR/release/cloudsim" serve --listen 127.0.0.1:0 --time-scale 600 >"$WORK/stdout" 2>"$WORK/stderr" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for _ in $(seq 300); do
  grep -q "listening on" "$WORK/stdout" && break
  kill -0 "$PID" 2>/dev/null || { echo "bench-cloudsim: cloudsim exited:" >&2; cat "$WORK/stderr" >&2; exit 1; }
  sleep 0.1
done
URL="$(sed -n 's/^cloudsim listening on //p' "$WORK/stdout")"
[ -n "$URL" ] || { echo "bench-cloudsim: cloudsim did not start within 30 s" >&2; cat "$WORK/stderr" >&2; exit 1; }
echo "bench-cloudsim: cloudsim (pid $PID) at $URL" >&2

python3 scripts/cloudsim-load.py --eks "$URL" --pid "$PID" "$@"
