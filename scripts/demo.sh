#!/usr/bin/env bash
# A walkthrough of the core through its CLI: API keys in a hashed key store, a JWT minted with a
# freshly generated key, and the refusals a proxy would send back — each with its stable code.
# Exits non-zero if any step does not behave as shown.
set -uo pipefail
tw="$1"
dir=.demo
rm -rf "$dir" && mkdir -p "$dir"
store="$dir/keys.json"
results=()
failed=0

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*" | sed -E 's/(sk|pk|rk)_(live|test)_[A-Za-z0-9]{8}[A-Za-z0-9]+/\1_\2_…/g; s/eyJ[A-Za-z0-9_-]{20}[A-Za-z0-9_.-]+/eyJ…/g'; }
expect() { # expect NAME WANTED_EXIT WANTED_CODE_OR_- COMMAND...
  local name=$1 want_rc=$2 want_code=$3; shift 3
  show "tokenwarden ${*:2}"
  out=$("$@" 2>/dev/null); rc=$?
  code=$(python3 -c 'import json,sys
try: print(json.loads(sys.stdin.read())["error"]["code"])
except Exception: print("-")' <<<"$out")
  echo "$out" | head -20
  if [ "$rc" = "$want_rc" ] && [ "$code" = "$want_code" ]; then
    results+=("ok   | $name | exit $rc ${code/#-/}")
  else
    results+=("FAIL | $name | exit $rc $code (wanted exit $want_rc $want_code)"); failed=1
  fi
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

step "1. Create a secret live API key; only its SHA-256 hash goes into $store"
show "tokenwarden keys create --type sk --env live --name \"Analytics Dashboard\" --permissions read:datasets,execute:queries --datasets sales,customers --rate-limit 1000/hour --expires 90d --allowed-ips 203.0.113.0/24 --store $store"
created=$("$tw" keys create --type sk --env live --name "Analytics Dashboard" \
  --permissions read:datasets,execute:queries --datasets sales,customers \
  --rate-limit 1000/hour --expires 90d --allowed-ips 203.0.113.0/24 --store "$store" 2>/dev/null)
key=$(field '["key"]' <<<"$created"); id=$(field '["record"]["id"]' <<<"$created")
echo "key (shown once): ${key:0:12}… (${#key} characters, base62 body with a CRC32 checksum)"
echo "stored record:"; grep -E '"(id|hash|display_prefix|permissions|rate_limit)"' "$store" | head -6
if grep -q "$key" "$store"; then results+=("FAIL | key store holds only hashes | secret found"); failed=1; else results+=("ok   | key store holds only hashes |"); fi

step "2. Check the key from an allowed address, from another, and with a typo"
expect "key accepted from 203.0.113.7" 0 - "$tw" keys check "$key" --ip 203.0.113.7 --store "$store"
expect "key refused from 198.51.100.1" 1 ip_not_allowed "$tw" keys check "$key" --ip 198.51.100.1 --store "$store"
typo="${key:0:20}$( [ "${key:20:1}" = a ] && echo b || echo a )${key:21}"
expect "typo refused by checksum" 1 invalid_api_key "$tw" keys check "$typo" --store "$store"

step "3. A test key is refused where only live keys are accepted"
test_key=$("$tw" keys create --type sk --env test --name "CI" --store "$store" 2>/dev/null | field '["key"]')
expect "sk_test_ key refused in live" 1 wrong_environment "$tw" keys check "$test_key" --env live --store "$store"

step "4. Revoke the live key"
"$tw" keys revoke "$id" --store "$store" >/dev/null 2>&1
expect "revoked key refused" 1 revoked_api_key "$tw" keys check "$key" --ip 203.0.113.7 --store "$store"

step "5. Generate an RS256 key pair and mint a token"
show "tokenwarden jwks generate --alg RS256 --kid demo-1 --private $dir/private.jwk --public $dir/jwks.json"
"$tw" jwks generate --alg RS256 --kid demo-1 --private "$dir/private.jwk" --public "$dir/jwks.json"
now=$(date +%s)
token=$("$tw" jwt mint --key "$dir/private.jwk" --sub user_123 --iss https://auth.demo.local --aud https://api.demo.local --scope "read:datasets execute:queries" --ttl 15m)
echo "token: ${token:0:40}… (${#token} bytes)"

step "6. Verify it, then a tampered and an expired token"
verify=("$tw" jwt verify --jwks "$dir/jwks.json" --iss https://auth.demo.local --aud https://api.demo.local --algs RS256)
expect "valid RS256 token accepted" 0 - "${verify[@]}" "$token"
IFS=. read -r h p s <<<"$token"
forged=$(python3 -c 'import base64,json,sys
p=sys.argv[1]; c=json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4))); c["sub"]="admin"
print(base64.urlsafe_b64encode(json.dumps(c,separators=(",",":")).encode()).decode().rstrip("="))' "$p")
expect "tampered token refused" 1 invalid_signature "${verify[@]}" "$h.$forged.$s"
expired=$("$tw" jwt mint --key "$dir/private.jwk" --sub user_123 --iss https://auth.demo.local --aud https://api.demo.local --ttl 5m --now $((now - 3600)))
expect "expired token refused" 1 expired_token "${verify[@]}" "$expired"
expect "wrong audience refused" 1 invalid_audience "$tw" jwt verify --jwks "$dir/jwks.json" --aud https://other.demo.local "$token"
none_token="$(printf '{"alg":"none"}' | base64 | tr '+/' '-_' | tr -d '=\n').$p."
expect "alg none refused" 1 unsupported_algorithm "${verify[@]}" "$none_token"

step "7. Webhook signature (HMAC-SHA256, sha256=<hex>)"
printf 'whsec_demo_secret' > "$dir/webhook.secret"
printf '{"event":"dataset.updated","id":"evt_1"}' > "$dir/event.json"
sig=$("$tw" webhook sign --secret-file "$dir/webhook.secret" "$dir/event.json")
echo "X-Signature: $sig"
expect "webhook signature verified" 0 - "$tw" webhook verify --secret-file "$dir/webhook.secret" --signature "$sig" "$dir/event.json"
printf '{"event":"dataset.deleted","id":"evt_1"}' > "$dir/event.json"
expect "altered webhook body refused" 1 invalid_webhook_signature "$tw" webhook verify --secret-file "$dir/webhook.secret" --signature "$sig" "$dir/event.json"

printf '\n\033[1m== Summary\033[0m\n'
for r in "${results[@]}"; do
  IFS='|' read -r status name detail <<<"$r"
  printf '  %-5s %-32s %s\n' "$status" "$name" "$detail"
done
exit $failed
