#!/usr/bin/env bash
# The test command (README, .ci/run): installs the local stand-ins' tools, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cutover/target}"
if [ -x scripts/install-tools.sh ]; then
  scripts/install-tools.sh
fi
cargo test --workspace --locked "$@"
