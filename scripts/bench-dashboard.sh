#!/usr/bin/env bash
# Shows the dashboard's speed targets on this machine, with the release binary on loopback:
#   - the environment list (`/`: every environment's latest run read, replayed and rendered, and
#     the needs-attention queue) over 1,000 runs in 200 environments renders in < 200 ms (p95);
#   - `cutover dashboard` stays under 50 MB of memory (peak RSS, VmHWM) while serving it.
# The state is generated into a local directory from the committed golden journals (completed,
# paused, crashed), five runs per environment with their own run ids and times. Python 3 writes
# it (standard library only); curl times the requests.
#
# Usage: scripts/bench-dashboard.sh [--envs N] [--runs-per-env N] [--requests N]   (200, 5, 30)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cutover/target}"
ENVS=200 RUNS=5 REQUESTS=30 MAX_MS=200 MAX_RSS_MB=50
while [ $# -gt 0 ]; do
  case "$1" in
    --envs) ENVS="${2:?}"; shift 2 ;;
    --runs-per-env) RUNS="${2:?}"; shift 2 ;;
    --requests) REQUESTS="${2:?}"; shift 2 ;;
    *) echo "bench-dashboard: unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench-dashboard: $tool is required" >&2; exit 2; }
done

echo "bench-dashboard: building the release binary" >&2
cargo build --release --locked -p cutover --bin cutover >&2
CUTOVER="$CARGO_TARGET_DIR/release/cutover"

WORK="$(mktemp -d)"
PID=
cleanup() { [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$WORK"; }
trap cleanup EXIT

python3 - "$WORK/state" "$ENVS" "$RUNS" tests/fixtures/journals <<'PY'
import json, os, sys
from datetime import datetime, timedelta, timezone
state, envs, runs, fixtures = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
golden = {}
for name in ("completed", "paused", "crashed"):
    with open(os.path.join(fixtures, name + ".jsonl")) as f:
        golden[name] = [json.loads(line) for line in f if line.strip()]
base = datetime(2026, 3, 1, tzinfo=timezone.utc)
for e in range(envs):
    env = f"env-{e:03d}"
    for r in range(runs):
        # Older runs completed; the latest one is completed, paused or crashed in turn.
        kind = "completed" if r < runs - 1 else ("completed", "paused", "crashed")[e % 3]
        start = base + timedelta(days=r * 30, minutes=e)
        run = f"{start:%Y%m%dT%H%M%SZ}-{e:02x}{r:02x}"
        os.makedirs(os.path.join(state, env, "runs"), exist_ok=True)
        with open(os.path.join(state, env, "runs", run + ".jsonl"), "w") as f:
            for i, rec in enumerate(golden[kind]):
                rec = dict(rec, run=run, ts=(start + timedelta(seconds=20 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
                if rec["type"] == "run-started":
                    rec["plan"] = env
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    with open(os.path.join(state, env, "current"), "w") as f:
        f.write(run + "\n")
print(f"bench-dashboard: {envs * runs} runs in {envs} environments under {state}", file=sys.stderr)
PY
du -sh "$WORK/state" >&2

"$CUTOVER" dashboard --state "local:$WORK/state" --listen 127.0.0.1:0 >"$WORK/stdout" 2>"$WORK/stderr" &
PID=$!
for _ in $(seq 100); do
  [ -s "$WORK/stdout" ] && break
  kill -0 "$PID" 2>/dev/null || { echo "bench-dashboard: the dashboard exited:" >&2; cat "$WORK/stderr" >&2; exit 1; }
  sleep 0.1
done
URL="$(head -1 "$WORK/stdout")"
[ -n "$URL" ] || { echo "bench-dashboard: no URL within 10 s" >&2; exit 1; }
echo "bench-dashboard: dashboard (pid $PID) at $URL" >&2

# The first request checks the page is whole: every environment has its row.
ROWS="$(curl -sf "$URL" | grep -o 'data-env="env-' | wc -l)"
[ "$ROWS" -eq "$ENVS" ] || { echo "bench-dashboard: the page lists $ROWS environments, not $ENVS" >&2; exit 1; }
TIMES="$WORK/times"
for _ in $(seq "$REQUESTS"); do
  curl -sf -o /dev/null -w '%{time_total}\n' "$URL" >>"$TIMES"
done
read -r P50 P95 MAX < <(sort -n "$TIMES" | awk '{ t[NR] = $1 * 1000 } END {
  p50 = t[int((NR + 1) * 0.50)]; p95 = t[int((NR * 0.95) + 0.999)]; printf "%.1f %.1f %.1f\n", p50, p95, t[NR] }')
HWM_KB="$(awk '/^VmHWM/ { print $2 }' "/proc/$PID/status")"
RSS_KB="$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")"
HWM_MB="$(awk -v k="$HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }')"
RSS_MB="$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')"

echo "environment list over $((ENVS * RUNS)) runs in $ENVS environments, $REQUESTS requests:"
echo "  render time: p50 ${P50} ms, p95 ${P95} ms, max ${MAX} ms (budget: p95 < ${MAX_MS} ms)"
echo "  memory: peak RSS ${HWM_MB} MB, now ${RSS_MB} MB (budget: peak < ${MAX_RSS_MB} MB)"
FAIL=0
awk -v p="$P95" -v m="$MAX_MS" 'BEGIN { exit !(p < m) }' || { echo "bench-dashboard: render time over budget" >&2; FAIL=1; }
awk -v h="$HWM_MB" -v m="$MAX_RSS_MB" 'BEGIN { exit !(h < m) }' || { echo "bench-dashboard: memory over budget" >&2; FAIL=1; }
exit "$FAIL"
