#!/usr/bin/env bash
# `make demo`: attest simulated drones against the signed example baselines in baselines/.
# Everything it writes goes to demo-out/ (removed at the start of each run).
set -uo pipefail
cd "$(dirname "$0")/.."
A=.venv/bin/attest
OUT=demo-out
rm -rf "$OUT"; mkdir -p "$OUT"
export ATTEST_STATE_DIR="$OUT/state"
# Git does not keep file modes: the demo keys must be private again before use.
chmod 600 baselines/*.DEMO-ONLY.key

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" 2>>"$OUT/attest.log"; rc=$?; printf '(exit %d)\n' "$rc"; return 0; }

step "1. A simulated companion computer's filesystem, as approved"
run $A sim tree --out "$OUT/companion"
run $A baseline show baselines/companion.baseline.json --trust baselines/trust.toml

step "2. Verify it against the signed baseline (expect PASS, exit 0)"
run $A verify --device "$OUT/companion" --baseline baselines/companion.baseline.json --trust baselines/trust.toml

step "3. Someone swaps the flight stack, plants an uploader and makes a binary setuid"
printf 'backdoor' | dd of="$OUT/companion/usr/bin/px4" bs=1 seek=4096 conv=notrunc status=none
echo 'import requests  # exfiltrate imagery' > "$OUT/companion/opt/flightapp/exfil.py"
chmod 4755 "$OUT/companion/usr/bin/mavlink-router"
run $A verify --device "$OUT/companion" --baseline baselines/companion.baseline.json --trust baselines/trust.toml

step "4. The same check as JSON, for scripts (expect exit 1)"
run $A verify --device "$OUT/companion" --baseline baselines/companion.baseline.json --trust baselines/trust.toml --json

step "5. A tampered baseline is never trusted (expect exit 4)"
sed 's/"payload": "e/"payload": "f/' baselines/companion.baseline.json > "$OUT/tampered.baseline.json"
run $A verify --device "$OUT/companion" --baseline "$OUT/tampered.baseline.json" --trust baselines/trust.toml

printf '\nStructured logs of every run: %s/attest.log\n' "$OUT"
