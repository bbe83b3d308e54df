#!/usr/bin/env bash
# run.sh — Portcullis load harness (`make bench`), loopback only.
#
# Starts an nginx upstream answering "ok" on 127.0.0.1:19000 and, in front of
# it, a plain Go httputil.ReverseProxy, nginx proxy_pass and Portcullis; runs
# wrk against each target, interleaved (A B C D A B C D ...) so that machine
# drift shows up in every target alike, prints a markdown table and writes it
# to bench/results/<UTC timestamp>.md. Every process it starts is stopped by
# PID when it ends, however it ends. Bounded in time: about
# RUNS x targets x (WARM + DUR) seconds plus builds.
#
# Knobs (environment):
#   RUNS (3)  DUR (10, seconds)  WARM (2, seconds of unmeasured load before
#   each measurement)  CONNS (64)  THREADS (2)
#   TARGETS (all: "direct goproxy nginx ceiling ceiling-engine fasthttp portcullis-plain portcullis-log portcullis-jwt
#   portcullis-chain portcullis-chain-cel portcullis-chain-assert portcullis-waf portcullis-ratelimit-local
#   portcullis-ratelimit-redis"; portcullis-chain is issue 12's chain (IP
#   allow list, JWT RS256, scope, local rate limit, access log to a file),
#   portcullis-chain-cel the earlier one (HS256, CEL rule, input limits, no
#   access log); ceiling is bench/ceiling, the bare
#   net/http-server-plus-pooled-client upper bound of Portcullis's design;
#   ceiling-engine the same on Portcullis's own HTTP/1.1 engine; fasthttp a
#   fasthttp server-and-client proxy, the reference for the engine; also
#   portcullis-admin-plain and portcullis-admin-chain, the plain and chain
#   routes on a process with the control plane on)
#   BENCH_QUICK=1   smoke run: RUNS=1 DUR=3 WARM=1 unless set
#   GO (go)         the Go command used to build goproxy and Portcullis
#   BASE (none)     a git revision to compare the tree with: its gateway is
#                   built and served like portcullis-log (targets base-log, its
#                   plain route, and base-chain), and the report pairs
#                   portcullis-log with base-log and portcullis-chain with
#                   base-chain round by round. For a change of a few percent:
#                   BASE=main TARGETS="portcullis-log base-log portcullis-chain
#                   base-chain" RUNS=5 bench/run.sh
#   BASE_ENV (none) NAME=VALUE words for the BASE gateway's environment
#                   only, to measure a runtime setting on the same build:
#                   BASE=HEAD BASE_ENV="GOGC=1600" TARGETS="nginx
#                   portcullis-chain base-chain" bench/run.sh
#   ALLOCS (none)   allocs/op of BenchmarkEngineProxyPlain, for the report's
#                   bars table (make bench sets it from its Go benchmarks)
#
# Add a target: write a target_NAME function below (URL, server, wrk args),
# add a route to conf/portcullis.yaml when it is a Portcullis route, and name
# it in TARGETS. Dashes in NAME become underscores in the function name.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
CONF=$BENCH/conf

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	RUNS=${RUNS:-1}
	DUR=${DUR:-3}
	WARM=${WARM:-1}
fi
RUNS=${RUNS:-3}
DUR=${DUR:-10}
WARM=${WARM:-2}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
TARGETS=${TARGETS:-"direct goproxy nginx ceiling ceiling-engine fasthttp portcullis-plain portcullis-plain-nometrics portcullis-log portcullis-jwt portcullis-chain portcullis-chain-nometrics portcullis-chain-cel portcullis-chain-assert portcullis-waf portcullis-ratelimit-local portcullis-ratelimit-redis"}
GO=${GO:-go}
command -v "$GO" >/dev/null 2>&1 || GO=/usr/local/go/bin/go

# The HMAC secret of the bench consumer's JWT credential (conf/portcullis.yaml
# reads it as ${env:PORTCULLIS_BENCH_JWT_SECRET}): fresh for every run, never
# written to disk.
PORTCULLIS_BENCH_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PORTCULLIS_BENCH_JWT_SECRET

# Loopback ports, away from the quickstart's 8080/9000/9901 so that the demo
# and the benchmark can run side by side.
UPSTREAM_PORT=19000
GOPROXY_PORT=19101
NGINX_PORT=19102
CEILING_PORT=19104
FASTHTTP_PORT=19106
CEILING_ENGINE_PORT=19107
PORTCULLIS_NOMETRICS_PORT=19108
PORTCULLIS_NOMETRICS_OPS_PORT=19908
PORTCULLIS_LOG_PORT=19105
PORTCULLIS_LOG_OPS_PORT=19905
PORTCULLIS_PORT=19103
PORTCULLIS_OPS_PORT=19901
PORTCULLIS_ADMIN_PORT=19109
PORTCULLIS_ADMIN_OPS_PORT=19906
PORTCULLIS_ADMIN_API_PORT=19907
PORTCULLIS_BASE_PORT=19110
PORTCULLIS_BASE_OPS_PORT=19909

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---- tools -------------------------------------------------------------------

need_install=()
[[ -x /usr/sbin/nginx ]] || need_install+=(nginx)
command -v wrk >/dev/null 2>&1 || need_install+=(wrk)
if ((${#need_install[@]})); then
	if [[ $(id -u) == 0 ]]; then
		log "installing ${need_install[*]} (Debian packages)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
	else
		log "missing ${need_install[*]}; install with: sudo apt-get install -y ${need_install[*]}"
		exit 2
	fi
fi

# ---- process bookkeeping -------------------------------------------------------

RUN=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
chmod 755 "$RUN" # nginx workers run as nobody when started by root
# The identity assertion's signing key (conf/portcullis.yaml reads its path
# as ${env:PORTCULLIS_BENCH_ASSERTION_KEY}): fresh for every run.
PORTCULLIS_BENCH_ASSERTION_KEY=$RUN/assertion.key
export PORTCULLIS_BENCH_ASSERTION_KEY
(umask 077 && openssl genpkey -algorithm ed25519 -out "$PORTCULLIS_BENCH_ASSERTION_KEY")
# The RSA key of the bench consumer's RS256 credential (target
# portcullis-chain): fresh for every run, the private half only in the run
# dir (it signs the token), the public half handed to the gateway as PEM
# text in ${env:PORTCULLIS_BENCH_JWT_RS256_PUBLIC_KEY}.
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$RUN/jwt-rs256.key" 2>/dev/null)
PORTCULLIS_BENCH_JWT_RS256_PUBLIC_KEY=$(openssl pkey -in "$RUN/jwt-rs256.key" -pubout)
export PORTCULLIS_BENCH_JWT_RS256_PUBLIC_KEY
PIDS=()
declare -A PIDNAME=()

# start_bg NAME CMD...: start CMD in the background and remember its PID.
# CMD must be the server itself (no wrapper shell), so that $! is the server.
start_bg() {
	local name=$1
	shift
	"$@" >"$RUN/$name.log" 2>&1 &
	PIDS+=("$!")
	PIDNAME[$!]=$name
}

stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "${PIDNAME[$pid]} (PID $pid) ignored TERM; sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
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

# wait_200 NAME URL: poll until URL answers 200 (10 s), or show NAME's log and fail.
wait_200() {
	local name=$1 url=$2
	for _ in $(seq 100); do
		if curl -fsS --noproxy '*' -m 1 -o /dev/null "$url" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "$name did not answer 200 on $url; its log:"
	cat "$RUN/$name.log" >&2 2>/dev/null || true
	exit 1
}

# ---- servers: start_SERVER starts it and waits until it answers ------------------

start_upstream() {
	mkdir -p "$RUN/nginx-upstream/tmp"
	start_bg upstream /usr/sbin/nginx -e stderr -p "$RUN/nginx-upstream" \
		-c "$CONF/nginx-upstream.conf" -g "pid $RUN/nginx-upstream/nginx.pid;"
	wait_200 upstream "http://127.0.0.1:$UPSTREAM_PORT/ok"
}
start_goproxy() {
	(cd "$ROOT" && "$GO" build -trimpath -o "$RUN/goproxy" ./bench/goproxy)
	start_bg goproxy "$RUN/goproxy" -listen "127.0.0.1:$GOPROXY_PORT" \
		-upstream "http://127.0.0.1:$UPSTREAM_PORT"
	wait_200 goproxy "http://127.0.0.1:$GOPROXY_PORT/ok"
}
# build_portcullis: build the gateway from the tree once, check the config,
# and mint the bench consumer's tokens as a user would (`portcullis token`):
# HS256 for portcullis-jwt and portcullis-chain-cel, RS256 for
# portcullis-chain.
build_portcullis() {
	[[ -x $RUN/portcullis ]] && return
	(cd "$ROOT" && "$GO" build -trimpath -o "$RUN/portcullis" ./cmd/portcullis)
	"$RUN/portcullis" validate --config "$CONF/portcullis.yaml" >&2
	"$RUN/portcullis" token --alg HS256 --kid bench-hs256 --secret-env PORTCULLIS_BENCH_JWT_SECRET \
		--sub bench --scope "orders:read" --exp 24h >"$RUN/jwt.token"
	"$RUN/portcullis" token --alg RS256 --kid bench-rs256 --key-file "$RUN/jwt-rs256.key" \
		--sub bench --scope "orders:read" --exp 24h >"$RUN/jwt-rs256.token"
}
# portcullis_conf NAME PORT OPS_PORT: bench/conf/portcullis.yaml on other
# ports, logging every request to NAME's own file, written to
# $RUN/NAME.yaml. The log files are in $RUN/log, not beside the config:
# the gateway watches its config file's directory for reloads, and every
# write to a file there would wake the watcher (inotify), as it would in a
# deployment that logged into its config directory.
portcullis_conf() {
	local name=$1 port=$2 ops=$3
	mkdir -p "$RUN/log"
	sed -e "s/127.0.0.1:$PORTCULLIS_PORT/127.0.0.1:$port/" \
		-e "s/127.0.0.1:$PORTCULLIS_OPS_PORT/127.0.0.1:$ops/" \
		-e "s#output: \"off\"#output: $RUN/log/$name-access.log#" "$CONF/portcullis.yaml" >"$RUN/$name.yaml"
	grep -q "output: $RUN/log/$name-access.log" "$RUN/$name.yaml" || { log "$name: could not turn the access log on"; exit 1; }
}
# check_chain NAME PORT: one request to route chain (issue 12's) on the
# process NAME; it must answer 200 with the rate limit's RateLimit headers
# (the limiter ran) and leave its line in NAME's access log file.
check_chain() {
	local name=$1 port=$2 hdrs
	hdrs=$(curl -sS --noproxy '*' -m 2 -o /dev/null -D - -H "Authorization: Bearer $(<"$RUN/jwt-rs256.token")" \
		"http://127.0.0.1:$port/chain/ok") || { log "$name: the chain route did not answer"; exit 1; }
	[[ $hdrs == "HTTP/1.1 200"* ]] || { log "$name: the chain route answered: ${hdrs%%$'\r'*}"; exit 1; }
	grep -qi '^RateLimit: "default";r=' <<<"$hdrs" || { log "$name: no RateLimit header on the chain route: the limiter did not run"; exit 1; }
	for _ in $(seq 20); do
		grep -q '"route":"chain"' "$RUN/log/$name-access.log" 2>/dev/null && return 0
		sleep 0.1
	done
	log "$name: the chain request left no line in $RUN/log/$name-access.log"
	exit 1
}
# The same gateway and config in a second process, logging every request
# to a file (group-commit writer): what the access log costs, and the
# process that serves issue 12's chain (target portcullis-chain), whose
# definition includes the access log to a file.
start_portcullis_log() {
	build_portcullis
	portcullis_conf portcullis-log "$PORTCULLIS_LOG_PORT" "$PORTCULLIS_LOG_OPS_PORT"
	start_bg portcullis-log "$RUN/portcullis" run --config "$RUN/portcullis-log.yaml"
	wait_200 portcullis-log "http://127.0.0.1:$PORTCULLIS_LOG_OPS_PORT/readyz"
	check_chain portcullis-log "$PORTCULLIS_LOG_PORT"
}
# The same gateway and config in a third process with the control plane on
# (admin API and a SQLite store): the request path must not pay for it.
# It logs to a file as portcullis-log does (its chain is then issue 12's):
# compare portcullis-admin-plain with portcullis-log, and
# portcullis-admin-chain with portcullis-chain.
start_portcullis_admin() {
	build_portcullis
	portcullis_conf portcullis-admin "$PORTCULLIS_ADMIN_PORT" "$PORTCULLIS_ADMIN_OPS_PORT"
	printf '\nadmin:\n  address: 127.0.0.1:%s\n  store: {driver: sqlite, path: %s/admin.db}\n' \
		"$PORTCULLIS_ADMIN_API_PORT" "$RUN" >>"$RUN/portcullis-admin.yaml"
	start_bg portcullis-admin "$RUN/portcullis" run --config "$RUN/portcullis-admin.yaml"
	wait_200 portcullis-admin "http://127.0.0.1:$PORTCULLIS_ADMIN_OPS_PORT/readyz"
	check_chain portcullis-admin "$PORTCULLIS_ADMIN_PORT"
}
# The same gateway and config in another process with metrics off, logging
# to a file as portcullis-log does: what per-request metrics cost (targets
# portcullis-plain-nometrics and portcullis-chain-nometrics against
# portcullis-log and portcullis-chain).
start_portcullis_nometrics() {
	build_portcullis
	portcullis_conf portcullis-nometrics "$PORTCULLIS_NOMETRICS_PORT" "$PORTCULLIS_NOMETRICS_OPS_PORT"
	printf '\nobservability: {metrics: {disable: true}}\n' >>"$RUN/portcullis-nometrics.yaml"
	start_bg portcullis-nometrics "$RUN/portcullis" run --config "$RUN/portcullis-nometrics.yaml"
	wait_200 portcullis-nometrics "http://127.0.0.1:$PORTCULLIS_NOMETRICS_OPS_PORT/readyz"
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORTCULLIS_NOMETRICS_OPS_PORT/metrics")
	[[ $code == 404 ]] || { log "portcullis-nometrics: /metrics answered $code, metrics are not off"; exit 1; }
	check_chain portcullis-nometrics "$PORTCULLIS_NOMETRICS_PORT"
}
# The gateway of revision BASE, built from a temporary worktree and served
# with portcullis-log's config on its own ports: the same routes, the access
# log to a file of its own.
start_portcullis_base() {
	[[ -n ${BASE:-} ]] || { log "targets base-log and base-chain need BASE (a git revision)"; exit 2; }
	build_portcullis
	local src=$RUN/base-src
	git -C "$ROOT" worktree add --quiet --detach "$src" "$BASE" || { log "BASE=$BASE: no such revision"; exit 2; }
	(cd "$src" && "$GO" build -trimpath -o "$RUN/portcullis-base" ./cmd/portcullis)
	git -C "$ROOT" worktree remove --force "$src"
	portcullis_conf portcullis-base "$PORTCULLIS_BASE_PORT" "$PORTCULLIS_BASE_OPS_PORT"
	# BASE_ENV (NAME=VALUE ...) is handed to this process alone; env execs
	# the gateway, so the PID measured is still the server's.
	# shellcheck disable=SC2086 # BASE_ENV is a list of NAME=VALUE words
	start_bg portcullis_base env ${BASE_ENV:-} "$RUN/portcullis-base" run --config "$RUN/portcullis-base.yaml"
	wait_200 portcullis_base "http://127.0.0.1:$PORTCULLIS_BASE_OPS_PORT/readyz"
	check_chain portcullis-base "$PORTCULLIS_BASE_PORT"
}
start_ceiling() {
	(cd "$ROOT" && "$GO" build -trimpath -o "$RUN/ceiling" ./bench/ceiling)
	start_bg ceiling "$RUN/ceiling" -listen "127.0.0.1:$CEILING_PORT" -upstream "127.0.0.1:$UPSTREAM_PORT"
	wait_200 ceiling "http://127.0.0.1:$CEILING_PORT/ok"
}
# The same bare proxy on Portcullis's own HTTP/1.1 engine (internal/http1):
# the engine's server plus a pooled client reading responses with the
# engine's parser. The upper bound of the gateway once it runs on the engine.
start_ceiling_engine() {
	(cd "$ROOT" && "$GO" build -trimpath -o "$RUN/ceiling-engine" ./bench/ceiling-engine)
	start_bg ceiling_engine "$RUN/ceiling-engine" -listen "127.0.0.1:$CEILING_ENGINE_PORT" -upstream "127.0.0.1:$UPSTREAM_PORT"
	wait_200 ceiling_engine "http://127.0.0.1:$CEILING_ENGINE_PORT/ok"
}
# A reference: a proxy on fasthttp's server and client (bench/fasthttpproxy,
# a module of its own so the gateway never links fasthttp).
start_fasthttp() {
	(cd "$BENCH/fasthttpproxy" && "$GO" build -trimpath -o "$RUN/fasthttpproxy" .)
	start_bg fasthttp "$RUN/fasthttpproxy" -listen "127.0.0.1:$FASTHTTP_PORT" -upstream "127.0.0.1:$UPSTREAM_PORT"
	wait_200 fasthttp "http://127.0.0.1:$FASTHTTP_PORT/ok"
}
start_nginx() {
	mkdir -p "$RUN/nginx-proxy/tmp"
	start_bg nginx /usr/sbin/nginx -e stderr -p "$RUN/nginx-proxy" \
		-c "$CONF/nginx-proxy.conf" -g "pid $RUN/nginx-proxy/nginx.pid;"
	wait_200 nginx "http://127.0.0.1:$NGINX_PORT/ok"
}
start_portcullis() {
	build_portcullis
	start_bg portcullis "$RUN/portcullis" run --config "$CONF/portcullis.yaml"
	wait_200 portcullis "http://127.0.0.1:$PORTCULLIS_OPS_PORT/readyz"
}

# ---- targets: target_NAME sets T_URL, T_SERVER and T_WRK_ARGS --------------------
# T_SERVER names a start_SERVER function; several targets may share one
# server (every portcullis-* target is a route on the same process).
# T_WRK_ARGS holds extra wrk arguments: a header (-H "Authorization: ..."), a
# Lua script (-s file.lua).

target_direct() {
	T_URL=http://127.0.0.1:$UPSTREAM_PORT/ok T_SERVER=upstream T_WRK_ARGS=()
}
target_goproxy() {
	T_URL=http://127.0.0.1:$GOPROXY_PORT/ok T_SERVER=goproxy T_WRK_ARGS=()
}
# The architecture's ceiling (bench/ceiling): net/http server + a bare
# pooled HTTP/1.1 client doing nothing else. Portcullis cannot beat it
# without replacing net/http as the server.
target_ceiling() {
	T_URL=http://127.0.0.1:$CEILING_PORT/ok T_SERVER=ceiling T_WRK_ARGS=()
}
target_ceiling_engine() {
	T_URL=http://127.0.0.1:$CEILING_ENGINE_PORT/ok T_SERVER=ceiling_engine T_WRK_ARGS=()
}
target_fasthttp() {
	T_URL=http://127.0.0.1:$FASTHTTP_PORT/ok T_SERVER=fasthttp T_WRK_ARGS=()
}
target_nginx() {
	T_URL=http://127.0.0.1:$NGINX_PORT/ok T_SERVER=nginx T_WRK_ARGS=()
}
target_portcullis_plain() {
	T_URL=http://127.0.0.1:$PORTCULLIS_PORT/ok T_SERVER=portcullis T_WRK_ARGS=()
}
target_portcullis_admin_plain() {
	T_URL=http://127.0.0.1:$PORTCULLIS_ADMIN_PORT/ok T_SERVER=portcullis_admin T_WRK_ARGS=()
}
target_portcullis_plain_nometrics() {
	T_URL=http://127.0.0.1:$PORTCULLIS_NOMETRICS_PORT/ok T_SERVER=portcullis_nometrics T_WRK_ARGS=()
}
target_portcullis_chain_nometrics() {
	target_portcullis_chain
	T_URL=http://127.0.0.1:$PORTCULLIS_NOMETRICS_PORT/chain/ok T_SERVER=portcullis_nometrics
}
target_portcullis_log() {
	T_URL=http://127.0.0.1:$PORTCULLIS_LOG_PORT/ok T_SERVER=portcullis_log T_WRK_ARGS=()
}
# Route jwt: the plain route behind HS256 JWT authentication. The token is
# minted by build_portcullis; before that (when the script only asks which
# server a target needs) there is no header yet.
target_portcullis_jwt() {
	T_URL=http://127.0.0.1:$PORTCULLIS_PORT/jwt/ok T_SERVER=portcullis T_WRK_ARGS=()
	if [[ -s $RUN/jwt.token ]]; then
		T_WRK_ARGS=(-H "Authorization: Bearer $(<"$RUN/jwt.token")")
	fi
}

# Routes ratelimit-local and ratelimit-redis: the plain route behind a
# rate limit that never refuses, in memory and in Redis (127.0.0.1:6379,
# which must be running: `redis-cli ping`).
target_portcullis_ratelimit_local() {
	T_URL=http://127.0.0.1:$PORTCULLIS_PORT/rl-local/ok T_SERVER=portcullis T_WRK_ARGS=()
}
target_portcullis_ratelimit_redis() {
	T_URL=http://127.0.0.1:$PORTCULLIS_PORT/rl-redis/ok T_SERVER=portcullis T_WRK_ARGS=()
}

# Route chain: issue 12's full chain (an IP allow list, JWT RS256 with its
# verification cache, a scope, a local rate limit that never refuses), on
# the process that logs every request to a file (portcullis-log).
target_portcullis_chain() {
	T_URL=http://127.0.0.1:$PORTCULLIS_LOG_PORT/chain/ok T_SERVER=portcullis_log T_WRK_ARGS=()
	if [[ -s $RUN/jwt-rs256.token ]]; then
		T_WRK_ARGS=(-H "Authorization: Bearer $(<"$RUN/jwt-rs256.token")")
	fi
}
# The plain route and the chain on the BASE revision's gateway, to pair
# with portcullis-log and portcullis-chain.
target_base_log() {
	T_URL=http://127.0.0.1:$PORTCULLIS_BASE_PORT/ok T_SERVER=portcullis_base T_WRK_ARGS=()
}
target_base_chain() {
	target_portcullis_chain
	T_URL=http://127.0.0.1:$PORTCULLIS_BASE_PORT/chain/ok T_SERVER=portcullis_base
}
# Routes chain-cel and chain-waf: the chain measured before issue 12 named
# one (an IP allow list, JWT HS256, a scope, a CEL rule, input limits; no
# access log), then the same with the OWASP CRS WAF added. Same token as
# portcullis-jwt.
target_portcullis_chain_cel() {
	target_portcullis_jwt
	T_URL=http://127.0.0.1:$PORTCULLIS_PORT/chain-cel/ok
}
# The chain on the process with the control plane on (same token).
target_portcullis_admin_chain() {
	target_portcullis_chain
	T_URL=http://127.0.0.1:$PORTCULLIS_ADMIN_PORT/chain/ok T_SERVER=portcullis_admin
}
# chain-cel toward a service that gets the gateway's signed identity
# assertion (cached per identity; route chain-assert): what zero trust
# toward services costs on top of that chain.
target_portcullis_chain_assert() {
	target_portcullis_jwt
	T_URL=http://127.0.0.1:$PORTCULLIS_PORT/chain-assert/ok
}
target_portcullis_waf() {
	target_portcullis_jwt
	T_URL=http://127.0.0.1:$PORTCULLIS_PORT/chain-waf/ok?q=hello
}

# ---- measurement -----------------------------------------------------------------

to_ms() { # a wrk duration (812.00us, 1.23ms, 1.01s, 2.00m) -> milliseconds
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}

median() { # numbers on stdin, one a line -> their median
	sort -g | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# server_pid NAME: the PID start_bg recorded for server NAME (dashes and
# underscores alike).
server_pid() {
	local pid
	for pid in "${!PIDNAME[@]}"; do
		if [[ ${PIDNAME[$pid]//-/_} == "${1//-/_}" ]]; then
			echo "$pid"
			return
		fi
	done
}

# cpu_ticks PID: user and system clock ticks of PID and its children (nginx's
# workers), as "USER SYS".
cpu_ticks() {
	local p u=0 s=0 f
	for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
		f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
		read -r _ _ _ _ _ _ _ _ _ _ _ ut st _ <<<"$f"
		u=$((u + ut))
		s=$((s + st))
	done
	echo "$u $s"
}

# ctx_switches PID: voluntary and involuntary context switches of every
# thread of PID and its children, as "VOL INVOL". Involuntary ones are the
# kernel preempting a runnable thread: on a few cores shared with wrk and
# the upstream they are where a server's tail grows (docs/performance.md,
# "The chain's tail: what moves it").
ctx_switches() {
	local p v=0 i=0 a b
	for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
		read -r a b < <(cat /proc/"$p"/task/*/status 2>/dev/null |
			awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { i += $2 } END { print v + 0, i + 0 }')
		v=$((v + ${a:-0}))
		i=$((i + ${b:-0}))
	done
	echo "$v $i"
}

# measure TARGET RUN: warm up, then one measured wrk run; appends a CSV row
# with the server's CPU time per request (user and kernel, microseconds)
# over the measured run.
measure() {
	local t=$1 run=$2 out
	"target_${t//-/_}"
	out="$RUN/wrk-$t-$run.txt"
	wrk -t"$THREADS" -c"$CONNS" -d"${WARM}s" --timeout 2s "${T_WRK_ARGS[@]}" "$T_URL" >/dev/null
	local spid c0 c1 x0 x1
	spid=$(server_pid "$T_SERVER")
	c0=$(cpu_ticks "$spid")
	x0=$(ctx_switches "$spid")
	wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 2s --latency "${T_WRK_ARGS[@]}" "$T_URL" >"$out"
	c1=$(cpu_ticks "$spid")
	x1=$(ctx_switches "$spid")
	local rps p50 p99 errs reqs ucpu scpu vcsw icsw
	reqs=$(awk '/requests in/ { print $1 }' "$out")
	read -r ucpu scpu < <(awk -v a="$c0" -v b="$c1" -v n="${reqs:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		if (n == 0) { print "nan nan"; exit }
		printf "%.1f %.1f\n", (y[1] - x[1]) / hz / n * 1e6, (y[2] - x[2]) / hz / n * 1e6 }')
	read -r vcsw icsw < <(awk -v a="$x0" -v b="$x1" -v n="${reqs:-0}" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		if (n == 0) { print "nan nan"; exit }
		printf "%.3f %.3f\n", (y[1] - x[1]) / n, (y[2] - x[2]) / n }')
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	# Non-2xx/3xx answers plus connect/read/write/timeout socket errors.
	errs=$(awk '/Non-2xx/ { e += $NF }
		/Socket errors/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
		END { print e + 0 }' "$out")
	if [[ -z $rps ]]; then
		log "could not parse wrk output for $t:"
		cat "$out" >&2
		exit 1
	fi
	echo "$t,$run,$rps,$p50,$p99,$errs,$ucpu,$scpu,$vcsw,$icsw" >>"$RUN/runs.csv"
	log "$t run $run: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, errors $errs, CPU/req user ${ucpu} us sys ${scpu} us, context switches/req ${vcsw} + ${icsw} preempted"
}

# ---- main --------------------------------------------------------------------------

servers=(upstream) # every target needs the upstream
for t in $TARGETS; do
	if ! declare -F "target_${t//-/_}" >/dev/null; then
		log "unknown target '$t'; known: $(declare -F | awk '$3 ~ /^target_/ { sub(/^target_/, "", $3); gsub(/_/, "-", $3); printf "%s ", $3 }')"
		exit 2
	fi
	"target_${t//-/_}"
	[[ " ${servers[*]} " == *" $T_SERVER "* ]] || servers+=("$T_SERVER")
done

declare -A SERVER_PORTS=(
	[upstream]="$UPSTREAM_PORT" [goproxy]="$GOPROXY_PORT" [nginx]="$NGINX_PORT" [ceiling]="$CEILING_PORT"
	[ceiling_engine]="$CEILING_ENGINE_PORT" [fasthttp]="$FASTHTTP_PORT"
	[portcullis_log]="$PORTCULLIS_LOG_PORT $PORTCULLIS_LOG_OPS_PORT"
	[portcullis]="$PORTCULLIS_PORT $PORTCULLIS_OPS_PORT"
	[portcullis_admin]="$PORTCULLIS_ADMIN_PORT $PORTCULLIS_ADMIN_OPS_PORT $PORTCULLIS_ADMIN_API_PORT"
	[portcullis_nometrics]="$PORTCULLIS_NOMETRICS_PORT $PORTCULLIS_NOMETRICS_OPS_PORT"
	[portcullis_base]="$PORTCULLIS_BASE_PORT $PORTCULLIS_BASE_OPS_PORT"
)
for s in "${servers[@]}"; do
	for p in ${SERVER_PORTS[$s]:-}; do
		if port_busy "$p"; then
			log "127.0.0.1:$p (for $s) is already in use; stop whatever holds it first"
			exit 1
		fi
	done
done

for s in "${servers[@]}"; do
	log "starting $s"
	"start_$s"
done

echo "target,run,rps,p50_ms,p99_ms,errors,user_us_req,sys_us_req,vol_csw_req,invol_csw_req" >"$RUN/runs.csv"
log "measuring: $RUNS round(s) of [$TARGETS], wrk -t$THREADS -c$CONNS -d${DUR}s after ${WARM}s warm-up"
for run in $(seq "$RUNS"); do
	for t in $TARGETS; do
		measure "$t" "$run"
	done
done
stop_all

# AWK_MED is an awk function, med(v, n): the median of v[1..n] (it sorts
# v in place). The report's awk programs start with it.
AWK_MED='
function med(v, n,    i, j, x) {
	for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}'

# ---- issue 12's bars -------------------------------------------------------------

# pair_stat A B COL: target A against target B on runs.csv column COL (3
# req/s, 5 p99), as "PAIRED OVERALL": the median of A/B over the rounds
# that measured both, and the ratio of A's median to B's, unrounded (a bar
# is judged on these; the table rounds). Nothing when a target is missing.
pair_stat() {
	awk -F, -v a="$1" -v b="$2" -v col="$3" "$AWK_MED"'
		NR > 1 { val[$1, $2] = $col; if ($1 == a) runs[++nr] = $2 }
		END {
			for (i = 1; i <= nr; i++) {
				r = runs[i]
				if (val[b, r] == "" || val[b, r] == 0) continue
				n++; x[n] = val[a, r] / val[b, r]; va[n] = val[a, r]; vb[n] = val[b, r]
			}
			if (n) printf "%.4f %.4f\n", med(x, n), med(va, n) / med(vb, n)
		}' "$RUN/runs.csv"
}

# bar_row NAME A B COL OP LIMIT: one row of the bars table. The bar is met
# when both the paired median and the ratio of medians are on its side of
# LIMIT (OP ge: at least; le: at most), "one of two" when only one is.
bar_row() {
	local name=$1 a=$2 b=$3 col=$4 op=$5 limit=$6 stat paired overall n=0 verdict
	stat=$(pair_stat "$a" "$b" "$col")
	[[ -n $stat ]] || { printf '| %s | (not measured: targets %s and %s) | | |\n' "$name" "$a" "$b"; return; }
	read -r paired overall <<<"$stat"
	for v in "$paired" "$overall"; do
		if awk -v v="$v" -v l="$limit" -v op="$op" 'BEGIN { exit !(op == "ge" ? v >= l : v <= l) }'; then
			n=$((n + 1))
		fi
	done
	case $n in 2) verdict=yes ;; 1) verdict="one of two" ;; *) verdict=no ;; esac
	printf '| %s | %.3fx | %.3fx | %s |\n' "$name" "$paired" "$overall" "$verdict"
}

# bars_report: issue 12's performance bars, worked out from this run alone,
# so that every run is judged the same way (older sections of
# docs/performance.md read them by hand). The allocation bar is the Go
# benchmark's: make bench runs it before this script and passes its
# allocs/op in ALLOCS; without ALLOCS the row is left out.
bars_report() {
	echo "Issue 12's bars in this run (paired: the median over rounds of the ratio within a round; overall: the ratio of the medians):"
	echo
	echo "| bar | paired | overall | met |"
	echo "|---|---:|---:|---|"
	bar_row "plain >= 0.7x nginx" portcullis-plain nginx 3 ge 0.7
	bar_row "plain >= 1.8x the Go proxy" portcullis-plain goproxy 3 ge 1.8
	bar_row "chain >= 0.6x nginx" portcullis-chain nginx 3 ge 0.6
	bar_row "p99 plain <= 1.5x nginx's" portcullis-plain nginx 5 le 1.5
	bar_row "p99 chain <= 1.5x nginx's" portcullis-chain nginx 5 le 1.5
	bar_row "WAF >= 0.25x plain" portcullis-waf portcullis-plain 3 ge 0.25
	if [[ ${ALLOCS:-} =~ ^[0-9]+$ ]]; then
		printf '| <= 3 allocations (BenchmarkEngineProxyPlain) | %s | | %s |\n' "$ALLOCS" "$( ((ALLOCS <= 3)) && echo yes || echo no)"
	elif [[ -n ${ALLOCS:-} ]]; then
		printf '| <= 3 allocations (BenchmarkEngineProxyPlain) | (ALLOCS=%q is not a count) | | |\n' "$ALLOCS"
	fi
	echo
	if [[ -n ${UCPU[nginx]:-} ]]; then
		echo "The host: nginx cost ${UCPU[nginx]} + ${SCPU[nginx]} µs of CPU a request (user + kernel) at ${RPS[nginx]%.*} req/s; compare with the runs in docs/performance.md before comparing ratios across days."
		echo
	fi
}

# ---- report ---------------------------------------------------------------------------

column_median() { # TARGET FIELD -> median of that CSV column over the target's runs
	awk -F, -v t="$1" -v f="$2" 'NR > 1 && $1 == t { print $f }' "$RUN/runs.csv" | median
}
ratio() { # A B -> A/B as "0.42x", or "-" when B is missing
	if [[ -z $2 || $2 == nan ]]; then echo "-"; return; fi
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
}

declare -A RPS P50 P99 ERRS UCPU SCPU VCSW ICSW
for t in $TARGETS; do
	RPS[$t]=$(column_median "$t" 3)
	P50[$t]=$(column_median "$t" 4)
	P99[$t]=$(column_median "$t" 5)
	UCPU[$t]=$(column_median "$t" 7)
	SCPU[$t]=$(column_median "$t" 8)
	VCSW[$t]=$(column_median "$t" 9)
	ICSW[$t]=$(column_median "$t" 10)
	ERRS[$t]=$(awk -F, -v t="$t" 'NR > 1 && $1 == t { e += $6 } END { print e + 0 }' "$RUN/runs.csv")
done

git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then git_rev+="-dirty"; fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report=$(
	echo "# Portcullis benchmark $stamp"
	echo
	echo "- commit: $git_rev; $("$GO" version | awk '{ print $3 }'); nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'); $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
	echo "- machine: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) x $(nproc), kernel $(uname -r)"
	echo "- load: wrk -t$THREADS -c$CONNS -d${DUR}s --latency after ${WARM}s warm-up; $RUNS interleaved round(s); upstream nginx returning \"ok\""
	echo
	echo "| target | req/s | p50 ms | p99 ms | vs nginx | vs Go proxy | vs ceiling | vs fasthttp | CPU µs/req user + sys | context switches/req voluntary + preempted | errors |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for t in $TARGETS; do
		printf '| %s | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s + %s | %s + %s | %s |\n' "$t" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" \
			"$(ratio "${RPS[$t]}" "${RPS[nginx]:-}")" "$(ratio "${RPS[$t]}" "${RPS[goproxy]:-}")" \
			"$(ratio "${RPS[$t]}" "${RPS[ceiling]:-}")" "$(ratio "${RPS[$t]}" "${RPS[fasthttp]:-}")" \
			"${UCPU[$t]}" "${SCPU[$t]}" "${VCSW[$t]}" "${ICSW[$t]}" "${ERRS[$t]}"
	done
	echo
	# The metrics-off process logs to a file: its plain route is compared
	# with portcullis-log's, its chain with portcullis-chain (same process kind).
	for pair in "plain portcullis-log" "chain portcullis-chain"; do
		read -r route on <<<"$pair"
		if [[ -n ${RPS[$on]:-} && -n ${RPS[portcullis-$route-nometrics]:-} ]]; then
			echo "- metrics on vs off, $route route: $(ratio "${RPS[$on]}" "${RPS[portcullis-$route-nometrics]}") req/s"
		fi
	done
	echo
	if [[ -n ${RPS[nginx]:-} && $RUNS -gt 1 ]]; then
		# Each round measures every target once, back to back, so a
		# target's ratio to nginx within one round is freer of the
		# machine's drift than the ratio of medians taken over all rounds.
		echo "Paired with nginx in the same round (req/s ratio and p99 ratio per round, then their median):"
		echo
		echo "| target | req/s vs nginx, per round | median | p99 vs nginx's, per round | median |"
		echo "|---|---|---:|---|---:|"
		for t in $TARGETS; do
			[[ $t == nginx ]] && continue
			awk -F, -v t="$t" "$AWK_MED"'
				NR > 1 { rps[$1, $2] = $3; p99[$1, $2] = $5; if ($1 == t) runs[++nr] = $2 }
				END {
					for (i = 1; i <= nr; i++) {
						r = runs[i]
						if (rps["nginx", r] == "" || rps["nginx", r] == 0 || p99["nginx", r] == 0) continue
						n++; a[n] = rps[t, r] / rps["nginx", r]; b[n] = p99[t, r] / p99["nginx", r]
						la = la sprintf("%s%.2fx", n > 1 ? " " : "", a[n]); lb = lb sprintf("%s%.2fx", n > 1 ? " " : "", b[n])
					}
					if (n) printf "| %s | %s | %.2fx | %s | %.2fx |\n", t, la, med(a, n), lb, med(b, n)
				}' "$RUN/runs.csv"
		done
		echo
		bars_report
	fi
	if [[ -n ${BASE:-} && $RUNS -gt 1 ]]; then
		# The tree against BASE, round by round: req/s and the server's CPU
		# per request (user + kernel), each as tree / base.
		echo "The tree against BASE=$BASE in the same round (tree / base: req/s, then CPU per request; per round, then the median):"
		echo
		echo "| tree target | base target | req/s, per round | median | CPU µs/req, per round | median |"
		echo "|---|---|---|---:|---|---:|"
		for pair in "portcullis-log base-log" "portcullis-chain base-chain"; do
			read -r a b <<<"$pair"
			[[ " $TARGETS " == *" $a "* && " $TARGETS " == *" $b "* ]] || continue
			awk -F, -v a="$a" -v b="$b" "$AWK_MED"'
				NR > 1 { rps[$1, $2] = $3; cpu[$1, $2] = $7 + $8; if ($1 == a) runs[++nr] = $2 }
				END {
					for (i = 1; i <= nr; i++) {
						r = runs[i]
						if (rps[b, r] == "" || rps[b, r] == 0 || cpu[b, r] == 0) continue
						n++; x[n] = rps[a, r] / rps[b, r]; y[n] = cpu[a, r] / cpu[b, r]
						lx = lx sprintf("%s%.3fx", n > 1 ? " " : "", x[n]); ly = ly sprintf("%s%.3fx", n > 1 ? " " : "", y[n])
					}
					if (n) printf "| %s | %s | %s | %.3fx | %s | %.3fx |\n", a, b, lx, med(x, n), ly, med(y, n)
				}' "$RUN/runs.csv"
		done
		echo
	fi
	echo "Medians over runs. vs = req/s ratio. errors = non-2xx/3xx answers plus socket errors, summed."
	echo "CPU µs/req = the server process's (and its children's) user and kernel CPU time over the measured run, per request."
	echo "context switches/req = the same processes' threads' voluntary (blocked) and involuntary (preempted by the kernel) switches over the measured run, per request."
	echo "ceiling = net/http server + bare pooled client (bench/ceiling), the upper bound of this design."
	echo "ceiling-engine = the same on internal/http1 (bench/ceiling-engine); fasthttp = fasthttp server + HostClient (bench/fasthttpproxy)."
	echo
	echo "Per run, in the order measured, to see drift:"
	echo
	echo '```'
	column -s, -t <"$RUN/runs.csv" 2>/dev/null || cat "$RUN/runs.csv"
	echo '```'
)
mkdir -p "$BENCH/results"
echo "$report" >"$BENCH/results/$stamp.md"
echo
echo "$report"
echo
log "written to bench/results/$stamp.md"
