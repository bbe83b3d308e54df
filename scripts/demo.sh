#!/usr/bin/env bash
# demo.sh — build Portcullis and the demo upstream, start both with
# examples/quickstart.yaml, and show what the gateway does (`make demo`).
#
#   scripts/demo.sh               start, print curl lines to try, wait for Ctrl-C
#   DEMO_SMOKE=1 scripts/demo.sh  start, run those requests, check each status,
#                                 stop; exit 0 when all pass, 1 otherwise
#
# Ports (fixed by the quickstart config): gateway 127.0.0.1:8080, ops
# 127.0.0.1:9901, demo upstream 127.0.0.1:9000. Everything stays on loopback;
# both processes are stopped by PID when the script ends.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

GO=${GO:-go}
command -v "$GO" >/dev/null 2>&1 || GO=/usr/local/go/bin/go
CONFIG=${DEMO_CONFIG:-examples/quickstart.yaml}
SMOKE=${DEMO_SMOKE:-0}
GW=http://127.0.0.1:8080
OPS=http://127.0.0.1:9901
UPSTREAM_ADDR=127.0.0.1:9000

RUN=$(mktemp -d /tmp/portcullis-demo.XXXXXX)
PIDS=()

log() { printf 'demo: %s\n' "$*" >&2; }

# stop_all sends TERM to what this script started, waits up to 5 s each,
# then KILLs what is left.
stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	stop_all
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- build and start ------------------------------------------------------

for p in 8080 9000 9901; do
	if port_busy "$p"; then
		log "127.0.0.1:$p is already in use; stop whatever holds it (a previous demo?) and retry"
		exit 1
	fi
done

log "building bin/portcullis and bin/demo-upstream"
mkdir -p bin
"$GO" build -o bin/portcullis ./cmd/portcullis
"$GO" build -o bin/demo-upstream ./cmd/demo-upstream

# Fresh demo credentials at every start: an HMAC secret for the JWT route,
# an API key (only its hash goes to the gateway), and a token signed with it.
DEMO_JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
export DEMO_JWT_SECRET
KEYGEN=$(bin/portcullis keys generate --id demo-key)
API_KEY=$(printf '%s\n' "$KEYGEN" | sed -n 's/^key: //p')
DEMO_API_KEY_HASH=$(printf '%s\n' "$KEYGEN" | sed -n 's/^hash: //p' | head -1)
export DEMO_API_KEY_HASH
TOKEN=$(bin/portcullis token --alg HS256 --kid demo-app --secret-env DEMO_JWT_SECRET --sub alice --exp 8h)
# A token for an unknown kid, and the same token with its last character changed.
BAD_TOKEN=$(bin/portcullis token --alg HS256 --kid nobody --secret-env DEMO_JWT_SECRET --sub mallory)
TAMPERED=${TOKEN%?}$([[ ${TOKEN: -1} == A ]] && echo B || echo A)

bin/demo-upstream -addr "$UPSTREAM_ADDR" -name demo >"$RUN/upstream.log" 2>&1 &
PIDS+=("$!")
UPSTREAM_PID=$!

if [[ $SMOKE == 1 ]]; then
	bin/portcullis run --config "$CONFIG" >"$RUN/gateway.log" 2>&1 &
else
	# Interactive: the gateway's access log goes to this terminal, so each
	# curl shows up as one JSON line here.
	bin/portcullis run --config "$CONFIG" &
fi
PIDS+=("$!")
GATEWAY_PID=$!

show_logs() {
	log "upstream log:"
	cat "$RUN/upstream.log" >&2 || true
	if [[ -f $RUN/gateway.log ]]; then
		log "gateway log:"
		cat "$RUN/gateway.log" >&2 || true
	fi
}

# wait_for NAME PID URL: poll URL for a 200 for up to 15 s while PID lives.
wait_for() {
	local name=$1 pid=$2 url=$3
	for _ in $(seq 150); do
		if curl -fsS --noproxy '*' -m 1 -o /dev/null "$url" 2>/dev/null; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited before it was ready"
			show_logs
			exit 1
		fi
		sleep 0.1
	done
	log "$name did not answer 200 on $url within 15 s"
	show_logs
	exit 1
}
wait_for "demo upstream" "$UPSTREAM_PID" "http://$UPSTREAM_ADDR/ok"
wait_for "gateway" "$GATEWAY_PID" "$OPS/readyz"

# ---- interactive: print what to try, then wait ------------------------------

if [[ $SMOKE != 1 ]]; then
	cat <<TXT

Portcullis is ready: gateway $GW, ops $OPS, demo upstream http://$UPSTREAM_ADDR
Try these in another terminal (the upstream answers with JSON describing what it received):

  # 1. A routed request: /api/ is stripped; note X-Forwarded-For and X-Request-Id added by the gateway
  curl -i '$GW/api/hello?name=newcomer'

  # 2. An obfuscated URI: the upstream sees /internal/7f3a9c/orders-svc, the client never does
  curl -i '$GW/v1/orders'

  # 3. No route matches: 404 as application/problem+json, with the request id
  curl -i '$GW/nope'

  # 4. An encoded path traversal is refused before routing: 400
  curl -i --path-as-is '$GW/api/%2e%2e/secret'

  # 5. Server-sent events stream through unbuffered: 5 events, 200 ms apart
  curl -N '$GW/events'

  # 6. The upstream redirects to its own address; see which Location the client gets
  curl -i '$GW/api/redirect'

  # 7. JWT: a valid token (the upstream sees X-Consumer-Name: demo-app), then none, a tampered one, an unknown kid: 401
  curl -i -H 'Authorization: Bearer $TOKEN' '$GW/jwt/hello'
  curl -i '$GW/jwt/hello'
  curl -i -H 'Authorization: Bearer $TAMPERED' '$GW/jwt/hello'
  curl -i -H 'Authorization: Bearer $BAD_TOKEN' '$GW/jwt/hello'

  # 8. API key: the right key, then a wrong one (401); a spoofed identity header is replaced
  curl -i -H 'X-API-Key: $API_KEY' -H 'X-Consumer-Name: admin' '$GW/key/hello'
  curl -i -H 'X-API-Key: pcl_wrong' '$GW/key/hello'

  # 9. Rate limit: 5 requests per 10 s per client; the 6th gets 429 with Retry-After and RateLimit headers
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -D - '$GW/limited/hello' | grep -iE '^HTTP|^ratelimit|^retry-after'; done

  # What authentication saw (outcomes per route and reason, API key usage), on the ops listener
  curl -s '$OPS/stats/auth'

  # Readiness, on the ops listener
  curl -i '$OPS/readyz'

Ctrl-C stops the gateway and the upstream.
TXT
	# wait returns when the gateway exits or when Ctrl-C arrives; Ctrl-C is
	# the normal way out, so it exits 0 (and the EXIT trap stops both).
	trap 'echo >&2; log "stopping"; exit 0' INT
	set +e
	wait "$GATEWAY_PID"
	rc=$?
	set -e
	log "gateway exited with status $rc"
	exit "$rc"
fi

# ---- smoke: run the same requests and check them ----------------------------

FAILED=0
pass() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; FAILED=1; }

# fetch NAME WANT_STATUS URL [CURL_ARGS...]: one request; the body lands in
# $RUN/NAME.body, the headers in $RUN/NAME.headers. Returns 1 (after
# reporting) when the status differs.
fetch() {
	local name=$1 want=$2 url=$3 got
	shift 3
	got=$(curl -sS --noproxy '*' -m 10 -o "$RUN/$name.body" -D "$RUN/$name.headers" \
		-w '%{http_code}' "$@" "$url" 2>"$RUN/$name.err") || true
	if [[ $got != "$want" ]]; then
		fail "$name: GET $url: status $got, want $want $(head -c 300 "$RUN/$name.body" 2>/dev/null | tr '\n' ' ') $(cat "$RUN/$name.err")"
		return 1
	fi
}
header() { # NAME HEADER -> value (case-insensitive name, CR stripped)
	awk -v h="$2" 'BEGIN { h = tolower(h) ":" }
		tolower($1) == h { sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, ""); print; exit }' "$RUN/$1.headers"
}
# echoed NAME FIELD: a string field of the upstream's pretty-printed JSON echo.
echoed() {
	sed -n "s/^  \"$2\": \"\\(.*\\)\",\$/\\1/p" "$RUN/$1.body" | head -1
}

if fetch routed 200 "$GW/api/hello?name=newcomer"; then
	path=$(echoed routed path)
	if [[ $path == /hello ]]; then pass "routed: /api/hello reached the upstream as $path"
	else fail "routed: upstream saw path '$path', want /hello (strip_prefix)"; fi
fi

if fetch obfuscated 200 "$GW/v1/orders"; then
	path=$(echoed obfuscated path)
	if [[ $path == /internal/7f3a9c/orders-svc ]]; then pass "obfuscated: /v1/orders reached the upstream as $path"
	else fail "obfuscated: upstream saw path '$path', want /internal/7f3a9c/orders-svc"; fi
fi

if fetch notfound 404 "$GW/nope"; then
	ct=$(header notfound Content-Type)
	if [[ $ct == application/problem+json* ]]; then pass "notfound: 404 as $ct"
	else fail "notfound: Content-Type '$ct', want application/problem+json"; fi
fi

if fetch jwt-ok 200 "$GW/jwt/hello" -H "Authorization: Bearer $TOKEN"; then
	if tr -d ' \n' <"$RUN/jwt-ok.body" | grep -qF '"X-Consumer-Name":["demo-app"]'; then pass "jwt: a valid token reached the upstream as demo-app"
	else fail "jwt: the upstream did not receive X-Consumer-Name: demo-app"; fi
fi
fetch jwt-missing 401 "$GW/jwt/hello" && pass "jwt: no token refused with 401"
fetch jwt-tampered 401 "$GW/jwt/hello" -H "Authorization: Bearer $TAMPERED" && pass "jwt: tampered token refused with 401"
fetch jwt-unknown 401 "$GW/jwt/hello" -H "Authorization: Bearer $BAD_TOKEN" && pass "jwt: unknown kid refused with 401"
if fetch key-ok 200 "$GW/key/hello" -H "X-API-Key: $API_KEY" -H "X-Consumer-Name: admin"; then
	if ! tr -d ' \n' <"$RUN/key-ok.body" | grep -qF '"X-Consumer-Name":["demo-app"]'; then fail "apikey: the upstream did not receive X-Consumer-Name: demo-app (or got the spoofed one)"
	else pass "apikey: the right key reached the upstream; the spoofed identity header was replaced"; fi
fi
fetch key-wrong 401 "$GW/key/hello" -H "X-API-Key: pcl_wrong" && pass "apikey: a wrong key refused with 401"

limited_ok=1
for i in 1 2 3 4 5; do
	fetch "limited-$i" 200 "$GW/limited/hello" || limited_ok=0
done
if [[ $limited_ok == 1 ]] && fetch limited-6 429 "$GW/limited/hello"; then
	if [[ -n $(header limited-6 Retry-After) && -n $(header limited-6 RateLimit) && -n $(header limited-1 RateLimit-Policy) ]]; then
		pass "ratelimit: 5 admitted, the 6th refused with 429, Retry-After and RateLimit headers"
	else fail "ratelimit: 429 without Retry-After / RateLimit / RateLimit-Policy headers"; fi
fi

if fetch traversal 400 "$GW/api/%2e%2e/secret" --path-as-is; then
	pass "traversal: /api/%2e%2e/secret refused with 400"
fi

if fetch events 200 "$GW/events" -N; then
	ct=$(header events Content-Type)
	n=$(grep -c '^data: ' "$RUN/events.body" || true)
	if [[ $ct == text/event-stream* && $n == 5 ]]; then pass "events: $n server-sent events"
	else fail "events: Content-Type '$ct' and $n events, want text/event-stream and 5"; fi
fi

if fetch redirect 302 "$GW/api/redirect"; then
	loc=$(header redirect Location)
	if [[ -n $loc && $loc != *"$UPSTREAM_ADDR"* ]]; then pass "redirect: 302, Location: $loc"
	else fail "redirect: Location '$loc' names the upstream; the gateway should rewrite it"; fi
fi

if fetch readyz 200 "$OPS/readyz"; then
	pass "readyz: 200"
fi

if [[ $FAILED != 0 ]]; then
	show_logs
	log "smoke test FAILED"
	exit 1
fi
log "smoke test passed"
