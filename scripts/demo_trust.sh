#!/usr/bin/env bash
# `make demo`, part 3: the signed trust policy (docs/trust.md). Three managers approve baselines, 2 of 3:
# Ann and Bob with Ed25519 keys, Alice with her Sigstore identity under a private TEST Sigstore instance
# (`attest sim sigstore`: its bundles count only under a policy that pins its root). Carol joins (version 2),
# Bob's laptop is stolen and version 3 revokes his key; the dock refuses his signatures, with the reason,
# and never goes back to an older policy. Fresh keys each run; everything goes to demo-out/trust/.
# (tests/test_demo_trust.py runs it with DEMO_BIN, its venv's bin, and DEMO_OUT, a directory of its own.)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${DEMO_BIN:-.venv/bin}
A=$BIN/attest
T=${DEMO_OUT:-demo-out}/trust
rm -rf "$T"; mkdir -p "$T"
export ATTEST_STATE_DIR="$T/state"   # this dock's accepted policy and rollback floors

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" 2>>"$T/attest.log"; rc=$?; printf '(exit %d)\n' "$rc"; return 0; }
# Like run, for a refusal whose reason is on stderr: shown, and logged.
refuse() { printf '$ %s\n' "$*"; "$@" 2>"$T/.err"; rc=$?; tee -a "$T/attest.log" <"$T/.err"; rm -f "$T/.err"; printf '(exit %d)\n' "$rc"; return 0; }
SIGSTORE=("$A" sim sigstore)
policy() {  # policy FILE KEY... [-- REVOKED]: threshold 2; the keys; Alice; Bob's old key revoked if asked
  local out=$1; shift
  printf 'threshold = 2          # distinct signers a baseline needs\npolicy_threshold = 2   # keys a new policy version needs (Sigstore identities approve baselines only)\n' > "$out"
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then printf '\n[[revoked]]\nid = "bob"\npublic_key = "bob.pub"\nreason = "laptop stolen"\n' >> "$out"; break; fi
    printf '\n[[keys]]\nid = "%s"\npublic_key = "%s.pub"\n' "$1" "$1" >> "$out"; shift
  done
  printf '\n[[sigstore]]\nid = "alice"\nidentity = "alice@force.example"\nissuer = "https://accounts.google.com"\ntrusted_root = "trusted_root.json"\n' >> "$out"
}

step "1. Three managers, 2 of 3 approve a baseline: Ann and Bob sign with keys, Alice with Sigstore"
echo "   Alice's identity is under a private TEST Sigstore instance (no network); the policy pins its root."
$A key generate --out "$T/ann.key" >/dev/null
$A key generate --out "$T/bob.key" >/dev/null
run "${SIGSTORE[@]}" root --out "$T/test-sigstore"
cp "$T/test-sigstore/trusted_root.json" "$T/trusted_root.json"   # the root ships beside the policy
policy "$T/trust-v1.toml" ann bob
run $A trust init "$T/trust-v1.toml" --out "$T/policy-v1.json" --key "$T/ann.key" --key "$T/bob.key"
run $A trust update "$T/policy-v1.json"
run $A trust show "$T/policy-v1.json"

step "2. A companion baseline signed by Bob's key, plus Alice's Sigstore bundle: 2 of 3 (expect PASS, exit 0)"
$A sim tree --out "$T/companion" >/dev/null
$A baseline create --device "$T/companion" --name demo-companion-trust --version 1 --exclude 'data/logs/**' \
  --out "$T/companion.json" >/dev/null
run $A baseline sign "$T/companion.json" --key "$T/bob.key"
run "${SIGSTORE[@]}" sign "$T/companion.json" --root "$T/test-sigstore" --identity alice@force.example \
  --out "$T/alice.sigstore.json"
run $A verify --device "$T/companion" --baseline "$T/companion.json" --trust "$T/policy-v1.json" \
  --bundle "$T/alice.sigstore.json"

step "3. Without Alice's bundle only Bob approved it: 1 of 2 required (expect UNTRUSTED, exit 4)"
run $A verify --device "$T/companion" --baseline "$T/companion.json" --trust "$T/policy-v1.json"

step "4. Carol joins: version 2 adds her key, signed by 2 keys of version 1 and 2 of its own (expect exit 0)"
$A key generate --out "$T/carol.key" >/dev/null
policy "$T/trust-v2.toml" ann bob carol
$A trust init "$T/trust-v2.toml" --version 2 --out "$T/policy-v2.json" --key "$T/ann.key" --key "$T/bob.key" >/dev/null
run $A trust update "$T/policy-v2.json"

step "5. Bob's laptop is stolen: version 3 revokes his key and adds his new one, signed by Ann and Carol (expect exit 0)"
$A key generate --out "$T/bob2.key" >/dev/null
policy "$T/trust-v3.toml" ann carol bob2 --
run $A trust init "$T/trust-v3.toml" --version 3 --out "$T/policy-v3.json" --key "$T/ann.key" --key "$T/carol.key"
run $A trust update "$T/policy-v3.json"

step "6. Bob's key + Alice on the same baseline: his key is revoked, with the reason (expect UNTRUSTED, exit 4)"
run $A verify --device "$T/companion" --baseline "$T/companion.json" --trust "$T/policy-v3.json" \
  --bundle "$T/alice.sigstore.json"

step "7. Ann re-signs it: Ann + Alice, 2 of 3 again (expect PASS, exit 0)"
$A baseline sign "$T/companion.json" --key "$T/ann.key" >/dev/null
run $A verify --device "$T/companion" --baseline "$T/companion.json" --trust "$T/policy-v3.json" \
  --bundle "$T/alice.sigstore.json"

step "8. Going back to version 1 (which still trusts Bob's key) is refused (expect exit 4)"
refuse $A trust update "$T/policy-v1.json"
run $A trust show
printf '\nStructured logs of every run: %s/attest.log\n' "$T"
