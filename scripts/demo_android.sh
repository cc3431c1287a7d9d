#!/usr/bin/env bash
# `make demo`, the Android controller (docs/android.md): a simulated smart controller speaking the real ADB wire
# protocol passes against the signed baselines/controller.baseline.json; then the same controller with its flight app
# re-signed by another certificate (same version) and an uploader installed is blocked.
# Its flight app is a real signed APK (baselines/android-apks/, served with --apk-dir); the other apps are the
# simulator's own. Everything it writes goes to demo-out/android/ (removed at the start of each run).
set -uo pipefail
cd "$(dirname "$0")/.."
A=.venv/bin/attest
D=demo-out/android
rm -rf "$D"; mkdir -p "$D"
export ATTEST_STATE_DIR="$D/state"   # this dock's ADB key (created on first use), rollback floors and log
chmod 600 baselines/*.DEMO-ONLY.key

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" 2>>"$D/attest.log"; rc=$?; printf '(exit %d)\n' "$rc"; return 0; }
PID=""
stop_sim() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=""; fi; }
trap stop_sim EXIT
# `attest sim android` prints its target (adb+tcp://127.0.0.1:PORT) alone on its first line, then serves until killed.
start_sim() {
  printf '$ %s sim android %s &\n' "$A" "$*"
  coproc SIM { exec $A sim android "$@" 2>>"$D/sim.log"; }
  PID=$SIM_PID
  TARGET=""; read -r -t 30 TARGET <&"${SIM[0]}"
  case "$TARGET" in adb+tcp://*) echo "$TARGET" ;; *) echo "the simulator did not start (see $D/sim.log)"; exit 3 ;; esac
}

$A key generate --out "$D/dock.key" >/dev/null   # this dock's own signing key

step "1. A pilot's smart controller docks: a simulated Android controller over ADB (TCP)"
start_sim --apk-dir baselines/android-apks
run $A baseline show baselines/controller.baseline.json --trust baselines/trust.toml

step "2. Verify it against the signed baseline (expect PASS, exit 0; the result is signed into the dock's log)"
run $A verify --device "$TARGET" --baseline baselines/controller.baseline.json --trust baselines/trust.toml \
  --dock-key "$D/dock.key" --origin demo-dock.example/android
echo "   What the pass proves: the dock read every APK's bytes over ADB sync and hashed them itself, and parsed each"
echo "   app's signing certificate on the dock from those bytes. What it does not: the build, boot state, package list"
echo "   and permissions are what Android reports; a compromised Android OS could lie about them, or serve the approved"
echo "   APKs while running others."
stop_sim

step "3. The flight app, same version 4213, re-signed by another certificate; and an uploader installed"
echo "   (expect DRIFT, exit 1: cert/com.example.flight changed although package/com.example.flight did not)"
start_sim --apk-dir baselines/android-apks --swap-cert com.example.flight --extra-package com.example.cloudsync
run $A verify --device "$TARGET" --baseline baselines/controller.baseline.json --trust baselines/trust.toml \
  --dock-key "$D/dock.key"
stop_sim

step "4. Both results are in the dock's signed log"
run $A log verify --log "$D/state/log" --vkey "$($A log key --dock-key "$D/dock.key" --log "$D/state/log")"
printf '\nStructured logs of every run: %s/attest.log\n' "$D"
