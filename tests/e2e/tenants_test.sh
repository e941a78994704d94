#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Tenants, named pairs and the HTTPS query API with per-tenant tokens.
#
# Four VMs on two hypervisors: vma and vmc on hv1, vmb and vmd on hv2.
# Tenant blue is given by VM names (vma, vmb), tenant red by addresses
# (10.10.0.3/32, 10.10.0.4/32), so red's membership depends on the
# addresses the collector saw its named VMs use. vmd holds every reply
# REPLY_US (an injected delay on the red pair only). Traffic runs on both
# pairs at once. Asserted:
#   - the operator sees all four directed cells; the delay shows in the red
#     pair's turnaround only (within max(5 %, 20 us)); blue's stays small;
#   - cells carry their tenant, and the named pair id where one is defined;
#   - over HTTPS, blue's token sees exactly blue's two cells and red's token
#     red's two, with the figures the operator sees; paths likewise;
#   - refusals: no token and a wrong token get 401 (with WWW-Authenticate),
#     a tenant token gets 403 for fleet queries and for the other tenant,
#     unknown endpoints 404, a bad parameter 400; every refusal is counted;
#   - the CLI talks to the API (matrix and --pair) with a token;
#   - after a collector restart on the same store, red (by CIDR) still sees
#     its cells: the VM addresses are stored;
#   - bad tenant configurations are refused with one line and exit 2.
set -u
export ST_TB=${ST_TB:-e2eten}
. "$(dirname "$0")/lib.sh"

REPLY_US=${REPLY_US:-3000}
RATE=${RATE:-200}
DUR=${DUR:-4}

e2e_begin || exit 1
TOK=$E2E_TMP/tokens
mkdir -p "$TOK"
for t in admin blue red; do
	head -c 24 /dev/urandom | base64 >"$TOK/$t"
	chmod 600 "$TOK/$t"
done
APORT=$((E2E_PORT + 3))
API=https://127.0.0.1:$APORT
export STAGETRACE_CA=$E2E_PKI/ca.pem
TENANT_OPTS=(--tenant blue=vma,vmb --tenant red=10.10.0.3/32,10.10.0.4/32
	--tenant-token "blue=$TOK/blue" --tenant-token "red=$TOK/red"
	--api-admin-token "$TOK/admin" --pair-id web=vma\>vmb --api "$API")

# api TOKEN PATH: the body; status in $E2E_TMP/code.
api() {
	local auth=()
	[[ -n $1 ]] && auth=(-H "Authorization: Bearer $1")
	curl -s --cacert "$STAGETRACE_CA" "${auth[@]}" -o "$E2E_TMP/body" \
		-D "$E2E_TMP/headers" -w '%{http_code}' "$API$2" >"$E2E_TMP/code"
	cat "$E2E_TMP/body"
}
code() { cat "$E2E_TMP/code"; }
cells() { jq -c '[.cells[] | "\(.src)>\(.dst)"] | sort' <<<"$1"; }

# --- bad configurations --------------------------------------------------
bad_conf() {
	local name=$1 out rc
	shift
	out=$("$O/stagetrace-collector" --listen tcp://127.0.0.1:1 --insecure-plaintext \
		--db "$E2E_TMP/bad.db" -d 1 "$@" 2>&1 >/dev/null)
	rc=$?
	check "refused: $name (exit $rc, '$(tail -1 <<<"$out")')" \
		test "$rc" = 2 -a "$(grep -c '^error: ' <<<"$out")" = 1
}
bad_conf "VM in two tenants" --tenant a=vma --tenant b=vma
bad_conf "overlapping tenant networks" --tenant a=10.0.0.0/8 --tenant b=10.1.0.0/16
bad_conf "token of an unknown tenant" --tenant-token "zz=$TOK/blue"
bad_conf "two tenants, one token" --tenant a=vma --tenant b=vmb --tenant-token "a=$TOK/blue" --tenant-token "b=$TOK/blue"
echo short >"$E2E_TMP/short.tok"
bad_conf "short token" --tenant a=vma --tenant-token "a=$E2E_TMP/short.tok"
bad_conf "API without any token" --api http://127.0.0.1:1
bad_conf "malformed pair id" --pair-id web=vma
bad_conf "https without a certificate" --api-admin-token "$TOK/admin" --api https://127.0.0.1:1

# --- traffic on both pairs ------------------------------------------------
TB_QUIET=1 tb_up --vms "hv1:vma:10.10.0.1 hv2:vmb:10.10.0.2 hv1:vmc:10.10.0.3 hv2:vmd:10.10.0.4" \
	--vm-opt "vmd:reply_delay_us=$REPLY_US" || exit 1
e2e_collector "${TENANT_OPTS[@]}" || exit 1
e2e_agent hv1
e2e_agent hv2
e2e_wait_agents 2 || exit 1
tb_traffic --from vma --to vmb --proto udp --rate "$RATE" --duration "$DUR" >"$E2E_TMP/t-blue.json" &
t1=$!
tb_traffic --from vmc --to vmd --proto udp --rate "$RATE" --duration "$DUR" >"$E2E_TMP/t-red.json" &
t2=$!
wait "$t1" "$t2"
e2e_stop_agents 3

# --- the operator's view --------------------------------------------------
ADMIN=$(api "$(cat "$TOK/admin")" "/v1/matrix?last=10m")
check "operator: 200 over HTTPS ($(code))" test "$(code)" = 200
check "operator sees all four directions: $(cells "$ADMIN")" \
	test "$(cells "$ADMIN")" = '["vma>vmb","vmb>vma","vmc>vmd","vmd>vmc"]'
cellv() { jq -r --arg s "$2" --arg d "$3" ".cells[] | select(.src == \$s and .dst == \$d) | $4" <<<"$1"; }
tol=$(awk -v v="$REPLY_US" 'BEGIN { t = v * 0.05; if (t < 20) t = 20; print t }')
check_range "red pair: vmd's turnaround holds the injected delay" "$(cellv "$ADMIN" vmc vmd .turnaround.p50_us)" \
	"$(awk -v a="$REPLY_US" -v t="$tol" 'BEGIN { print a - t }')" "$(awk -v a="$REPLY_US" -v t="$tol" 'BEGIN { print a + t }')"
check_range "blue pair: vmb's turnaround does not (us)" "$(cellv "$ADMIN" vma vmb .turnaround.p50_us)" 0 "$(awk -v a="$REPLY_US" 'BEGIN { print a * 0.1 }')"
sent=$(jq .sent "$E2E_TMP/t-blue.json")
check_range "blue pair matched packets" "$(cellv "$ADMIN" vma vmb .count)" $((sent * 99 / 100)) $((sent + 10))
check "cells carry tenants: $(jq -c '[.cells[] | .tenant]' <<<"$ADMIN")" \
	test "$(jq -c '[.cells[] | .tenant]' <<<"$ADMIN")" = '["blue","blue","red","red"]'
check "vma>vmb carries pair id web, no other cell one" \
	test "$(jq -c '[.cells[] | .pair_id]' <<<"$ADMIN")" = '["web",null,null,null]'

# --- tenants' views -------------------------------------------------------
BLUE=$(api "$(cat "$TOK/blue")" "/v1/matrix?last=10m")
check "blue token: 200, tenant blue ($(code), $(jq -r .tenant <<<"$BLUE"))" test "$(code)/$(jq -r .tenant <<<"$BLUE")" = 200/blue
check "blue token sees exactly blue's cells: $(cells "$BLUE")" test "$(cells "$BLUE")" = '["vma>vmb","vmb>vma"]'
check "blue token: same figures as the operator's (vma>vmb p50, count)" \
	test "$(cellv "$BLUE" vma vmb '"\(.latency.p50_us) \(.count)"')" = "$(cellv "$ADMIN" vma vmb '"\(.latency.p50_us) \(.count)"')"
check "blue token: no fleet counters in the answer" test "$(jq 'has("collector")' <<<"$BLUE")" = false
RED=$(api "$(cat "$TOK/red")" "/v1/matrix?last=10m")
check "red token (members by address) sees exactly red's cells: $(cells "$RED")" test "$(cells "$RED")" = '["vmc>vmd","vmd>vmc"]'
P=$(api "$(cat "$TOK/blue")" "/v1/paths?last=10m&slowest=50")
np=$(jq '.paths | length' <<<"$P")
check "blue token: $np drill-down paths, all blue" \
	test "$np" -gt 0 -a "$(jq '[.paths[] | select((.src == "vma" or .src == "vmb") and (.dst == "vma" or .dst == "vmb"))] | length' <<<"$P")" = "$np"
PR=$(api "$(cat "$TOK/red")" "/v1/paths?last=10m&slowest=5")
check "red token: its slowest paths are red's (and carry the delay)" \
	test "$(jq '[.paths[] | select(.src == "vmc" or .src == "vmd")] | length' <<<"$PR")" = "$(jq '.paths | length' <<<"$PR")" -a "$(jq '.paths | length' <<<"$PR")" -gt 0
T=$(api "$(cat "$TOK/blue")" "/v1/tenants")
check "blue token: tenants lists only blue and its pair" \
	test "$(jq -c '[.tenants[].name, .pair_ids[].id]' <<<"$T")" = '["blue","web"]'

# --- refusals -------------------------------------------------------------
api "" "/v1/matrix" >/dev/null
check "no token: 401 with WWW-Authenticate ($(code))" \
	test "$(code)" = 401 -a "$(grep -ci '^WWW-Authenticate: Bearer' "$E2E_TMP/headers")" = 1
api "not-a-valid-token-at-all" "/v1/matrix" >/dev/null
check "wrong token: 401 ($(code))" test "$(code)" = 401
api "$(cat "$TOK/blue")" "/v1/hosts" >/dev/null
check "blue token, fleet query hosts: 403 ($(code))" test "$(code)" = 403
api "$(cat "$TOK/blue")" "/v1/clocks" >/dev/null
check "blue token, fleet query clocks: 403 ($(code))" test "$(code)" = 403
api "$(cat "$TOK/blue")" "/v1/matrix?tenant=red" >/dev/null
check "blue token asking for tenant red: 403 ($(code))" test "$(code)" = 403
x=$(api "$(cat "$TOK/blue")" "/v1/matrix?src=vmc")
check "blue token filtering on red's VM: nothing ($(code), $(cells "$x"))" test "$(code)/$(cells "$x")" = "200/[]"
api "$(cat "$TOK/admin")" "/v1/nope" >/dev/null
check "unknown endpoint: 404 ($(code))" test "$(code)" = 404
api "$(cat "$TOK/admin")" "/v1/matrix?since=yesterday" >/dev/null
check "bad parameter: 400 ($(code))" test "$(code)" = 400
api "$(cat "$TOK/admin")" "/v1/hosts" >/dev/null
check "operator token, hosts: 200 ($(code))" test "$(code)" = 200
S=$(api "$(cat "$TOK/admin")" "/v1/stats")
check "refusals counted: unauthorized 2, forbidden 3, bad 2 ($(jq -c '.collector | [.api_unauthorized, .api_forbidden, .api_bad]' <<<"$S"))" \
	test "$(jq -c '.collector | [.api_unauthorized, .api_forbidden, .api_bad]' <<<"$S")" = "[2,3,2]"

# --- the CLI over the API ---------------------------------------------------
m=$(STAGETRACE_TOKEN_FILE=$TOK/blue "$O/stagetrace" matrix -C "$API" --last 10m --json)
check "CLI with blue's token over HTTPS: blue's cells ($(cells "$m"))" test "$(cells "$m")" = '["vma>vmb","vmb>vma"]'
m=$(STAGETRACE_TOKEN_FILE=$TOK/admin "$O/stagetrace" matrix -C "$API" --last 10m --pair web --json)
check "CLI --pair web: only vma>vmb ($(cells "$m"))" test "$(cells "$m")" = '["vma>vmb"]'
m=$("$O/stagetrace" matrix -C "$E2E_QUERY" --last 10m --tenant red --json)
check "CLI --tenant red on the operator socket: red's cells ($(cells "$m"))" test "$(cells "$m")" = '["vmc>vmd","vmd>vmc"]'
STAGETRACE_TOKEN_FILE=$TOK/blue "$O/stagetrace" hosts -C "$API" >/dev/null 2>"$E2E_TMP/err"
rc=$?
check "CLI hosts with blue's token: exit 1, one line ($(cat "$E2E_TMP/err"))" test "$rc/$(wc -l <"$E2E_TMP/err")" = 1/1
STAGETRACE_TOKEN=wrong-wrong-wrong-wrong "$O/stagetrace" matrix -C "$API" >/dev/null 2>&1
check "CLI with a wrong token fails" test $? -ne 0
STAGETRACE_CA=$E2E_PKI/rogue-ca.pem STAGETRACE_TOKEN_FILE=$TOK/admin "$O/stagetrace" stats -C "$API" >/dev/null 2>&1
check "CLI refuses a collector whose certificate its CA did not sign" test $? -ne 0
m=$(STAGETRACE_TOKEN_FILE=$TOK/blue "$O/stagetrace" matrix -C "https://localhost:$APORT" --last 10m --json)
check "CLI by host name (certificate name checked): blue's cells ($(cells "$m"))" test "$(cells "$m")" = '["vma>vmb","vmb>vma"]'
env -u STAGETRACE_TOKEN -u STAGETRACE_TOKEN_FILE "$O/stagetrace" matrix -C "$API" >/dev/null 2>&1
check "CLI without a token: usage error (2)" test $? = 2

if [[ -n ${E2E_VERBOSE:-} ]]; then
	echo "\$ STAGETRACE_TOKEN_FILE=red.tok stagetrace matrix -C $API --last 10m"
	STAGETRACE_TOKEN_FILE=$TOK/red "$O/stagetrace" matrix -C "$API" --last 10m
	echo "\$ curl -H 'Authorization: Bearer ...blue...' '$API/v1/matrix?last=10m' | jq '.cells[0]'"
	jq '.cells[0]' <<<"$BLUE"
	echo "\$ curl -H 'Authorization: Bearer ...blue...' $API/v1/hosts"
	api "$(cat "$TOK/blue")" "/v1/hosts"; echo " (HTTP $(code))"
	echo "\$ curl $API/v1/matrix"
	api "" "/v1/matrix"; echo " (HTTP $(code))"
fi

# --- restart: red's membership by address survives ------------------------
kill -INT "$E2E_COLLECTOR_PID"
timeout 15 tail --pid="$E2E_COLLECTOR_PID" -f /dev/null
e2e_collector "${TENANT_OPTS[@]}" || exit 1
RED2=$(api "$(cat "$TOK/red")" "/v1/matrix?last=10m")
check "after a restart, red (by address) still sees its cells: $(cells "$RED2")" test "$(cells "$RED2")" = '["vmc>vmd","vmd>vmc"]'
e2e_end
