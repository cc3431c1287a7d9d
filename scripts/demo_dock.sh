#!/usr/bin/env bash
# `make demo`, part 2: the dock. Two simulated drones dock: one is attested, cleared and gets a
# clearance ticket a ground station verifies; a tampered one is blocked with its findings and the
# hook fires; `gate list` shows both; the log verifies. Everything goes to demo-out/dock/.
set -uo pipefail
cd "$(dirname "$0")/.."
A=$PWD/.venv/bin/attest
D=$PWD/demo-out/dock
rm -rf "$D"; mkdir -p "$D/baselines"
chmod 600 baselines/*.DEMO-ONLY.key
export ATTEST_CONFIG="$D/attest.toml"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" 2>>"$D/attest.log"; rc=$?; printf '(exit %d)\n' "$rc"; return 0; }
sign() { for k in baselines/demo-fleet-{1,2}.DEMO-ONLY.key; do $A baseline sign "$1" --key "$k" >/dev/null; done; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

$A key generate --out "$D/dock.key" >/dev/null
printf '#!/bin/sh\n# a relay that opens or shuts the hangar door: here, a line in relay.log\nprintf "%%s %%s: %%s\\n" "$(date -u +%%H:%%M:%%S)" "$ATTEST_DRONE" "$*" >> %s/relay.log\n' "$D" > "$D/relay"
chmod 755 "$D/relay"

# Two simulated flight controllers on real ptys: UAV-07 as approved, UAV-13 with its geofence off.
coproc FC7 { exec $A sim fc 2>>"$D/sim.log"; }
read -r PTY7 <&"${FC7[0]}"; PIDS+=("$FC7_PID")
coproc FC13 { exec $A sim fc --param FENCE_ENABLE=0 2>>"$D/sim.log"; }
read -r PTY13 <&"${FC13[0]}"; PIDS+=("$FC13_PID")
$A sim tree --out "$D/uav07" >/dev/null
$A sim tree --out "$D/uav13" >/dev/null

# Companions over SSH when an OpenSSH server is installed (a real sshd on 127.0.0.1), else directories.
COMP7="$D/uav07"; COMP13="$D/uav13"; SSH_OPTS=""
if [ -x /usr/sbin/sshd ] && [ -x /usr/bin/ssh-keygen ]; then
  S=$D/sshd; mkdir -p "$S"; [ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$S/host" && ssh-keygen -q -t ed25519 -N '' -f "$S/client"
  cp "$S/client.pub" "$S/authorized_keys"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s/host\nPidFile %s/sshd.pid\nAuthorizedKeysFile %s/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nSetEnv SHLVL=1\n' \
    "$PORT" "$S" "$S" "$S" > "$S/sshd_config"
  /usr/sbin/sshd -D -e -f "$S/sshd_config" 2>>"$S/sshd.log" & PIDS+=($!)
  printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$S/host.pub")" > "$S/known_hosts"
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
  COMP7="ssh://$(id -un)@127.0.0.1:$PORT$D/uav07"; COMP13="ssh://$(id -un)@127.0.0.1:$PORT$D/uav13"
  SSH_OPTS="identity = \"$S/client\", known_hosts = \"$S/known_hosts\", "
  echo "companions: over SSH (sshd on 127.0.0.1:$PORT)"
else
  echo "companions: directories (install openssh-server for the SSH path)"
fi

step "0. Fleet managers approve UAV-07's controller and companion as they are now (2 of 2 demo keys)"
$A baseline create --device "$COMP7" --name demo-companion-dock --version 1 --exclude 'data/logs/**' --ignore-owner \
  ${SSH_OPTS:+--identity "$D/sshd/client" --known-hosts "$D/sshd/known_hosts"} --out "$D/baselines/companion.json" >/dev/null
sign "$D/baselines/companion.json"
$A baseline create --device "$PTY7" --name demo-fc-dock --version 1 --exclude 'param/STAT_*' \
  --rule param/FENCE_ENABLE=1 --out "$D/baselines/fc.json" >/dev/null
sign "$D/baselines/fc.json"
cat > "$ATTEST_CONFIG" <<EOF
[dock]
origin = "demo-dock.example/attest"
key = "dock.key"
state_dir = "state"
trust = "$PWD/baselines/trust.toml"
baselines = "baselines"
max_seconds = 120

[gate]
fresh_for = "15m"
ticket_valid_for = "10m"

[[hooks]]
on = ["block", "clear"]
run = ["$D/relay", "--set"]
timeout = "10s"

[[drones]]
name = "UAV-07"
fc = { device = "$PTY7", baseline = "fc.json" }
companion = { target = "$COMP7", ${SSH_OPTS}baseline = "companion.json" }

[[drones]]
name = "UAV-13"
fc = { device = "$PTY13", baseline = "fc.json" }
companion = { target = "$COMP13", ${SSH_OPTS}baseline = "companion.json" }
EOF
run $A config check

step "1. UAV-07 docks: both parts attested, one signed entry, the gate clears (expect PASS, exit 0)"
run $A dock --drone UAV-07
run $A gate check UAV-07

step "2. A clearance ticket for the ground station, checked with only the dock's verifier key"
run $A gate ticket UAV-07 --out "$D/UAV-07.ticket"
VKEY=$($A log key --dock-key "$D/dock.key" --origin demo-dock.example/attest)
run $A gate verify-ticket "$D/UAV-07.ticket" --vkey "$VKEY" --drone UAV-07
run $A gate verify-ticket "$D/UAV-07.ticket" --vkey "$VKEY" --drone UAV-13

step "3. UAV-13 docks: geofence off on the controller, a planted uploader on the companion (expect DRIFT, exit 1)"
echo 'import requests  # exfiltrate imagery' > "$D/uav13/opt/flightapp/exfil.py"
run $A dock --drone UAV-13
run $A gate ticket UAV-13 --out "$D/UAV-13.ticket"
echo "the hook (relay.log):"; cat "$D/relay.log"

step "4. The gate for every drone, and the log as a fleet manager checks it"
run $A gate list
run $A log verify --log "$D/state/log" --vkey "$VKEY"
run $A log show --log "$D/state/log"
printf '\nStructured logs of every run: %s/attest.log\n' "$D"
