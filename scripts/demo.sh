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

$A key generate --out "$OUT/dock.key" >/dev/null   # this dock's own signing key

step "1. A simulated companion computer's filesystem, as approved"
run $A sim tree --out "$OUT/companion"
run $A baseline show baselines/companion.baseline.json --trust baselines/trust.toml

step "2. Verify it against the signed baseline (expect PASS, exit 0)"
run $A verify --device "$OUT/companion" --baseline baselines/companion.baseline.json --trust baselines/trust.toml --dock-key "$OUT/dock.key" --origin demo-dock.example

step "3. Someone swaps the flight stack, plants an uploader and makes a binary setuid"
printf 'backdoor' | dd of="$OUT/companion/usr/bin/px4" bs=1 seek=4096 conv=notrunc status=none
echo 'import requests  # exfiltrate imagery' > "$OUT/companion/opt/flightapp/exfil.py"
chmod 4755 "$OUT/companion/usr/bin/mavlink-router"
run $A verify --device "$OUT/companion" --baseline baselines/companion.baseline.json --trust baselines/trust.toml --dock-key "$OUT/dock.key" --origin demo-dock.example

step "4. The same check as JSON, for scripts (expect exit 1)"
run $A verify --device "$OUT/companion" --baseline baselines/companion.baseline.json --trust baselines/trust.toml --json

step "5. A tampered baseline is never trusted (expect exit 4)"
sed 's/"payload": "e/"payload": "f/' baselines/companion.baseline.json > "$OUT/tampered.baseline.json"
run $A verify --device "$OUT/companion" --baseline "$OUT/tampered.baseline.json" --trust baselines/trust.toml

step "6. A simulated flight controller (real MAVLink 2 on a pty) against its signed baseline (expect PASS)"
# `attest sim fc` prints its pty path on the first line, then serves until killed.
coproc FC { exec $A sim fc 2>>"$OUT/sim.log"; }
read -r FC_PTY <&"${FC[0]}"
run $A verify --device "$FC_PTY" --baseline baselines/fc.baseline.json --trust baselines/trust.toml \
    --dock-key "$OUT/dock.key" --origin demo-dock.example
kill "$FC_PID"; wait "$FC_PID" 2>/dev/null

step "7. A compromised controller: geofence off, swapped flash that still claims the approved version,"
echo "   and CRCs that lie about the files it serves (expect DRIFT, exit 1)"
$A sim firmware --variant evil --out "$OUT/evil.apj" >/dev/null
coproc FC { exec $A sim fc --param FENCE_ENABLE=0 --flash "$OUT/evil.apj" --lie-crc 2>>"$OUT/sim.log"; }
read -r FC_PTY <&"${FC[0]}"
run $A verify --device "$FC_PTY" --baseline baselines/fc.baseline.json --trust baselines/trust.toml \
    --dock-key "$OUT/dock.key"
kill "$FC_PID"; wait "$FC_PID" 2>/dev/null

step "8. The dock's signed log, checked the way a fleet manager would (only the verifier key)"
run $A log show --log "$OUT/state/log"
VKEY=$($A log key --dock-key "$OUT/dock.key" --log "$OUT/state/log")
echo "verifier key: $VKEY"
run $A log verify --log "$OUT/state/log" --vkey "$VKEY"
run $A log proof 1 --log "$OUT/state/log" --out "$OUT/entry1.tlog-proof"
run $A log verify-proof "$OUT/entry1.tlog-proof" --vkey "$VKEY"
run $A log export --log "$OUT/state/log" --html "$OUT/fleet-report.html" --vkey "$VKEY"

printf '\nFleet report: %s/fleet-report.html\n' "$OUT"
printf 'Structured logs of every run: %s/attest.log\n' "$OUT"

bash scripts/demo_dock.sh
