#!/usr/bin/env bash
# eimad --metrics: Prometheus text that promtool accepts, scraped by a real Prometheus
# server on 127.0.0.1 whose HTTP API gives the counters back, moving as new files run;
# the same over a unix socket (mode 0660); idle and malformed clients do not stop a scrape.
#
#   metrics_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
for tool in promtool prometheus curl jq; do
	command -v $tool >/dev/null || skip_test "$tool is not installed"
done
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-metrics.XXXXXX")
RUN=$T/run
PROM_PID=
cleanup() {
	[[ -n $PROM_PID ]] && { kill "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null; }
	exec {idle1}>&- {idle2}>&- 2>/dev/null
	stop_eimad >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

new_exec() {
	cp -L /usr/bin/true "$T/$1"
	printf 'eima-metrics-%s-%s' "$1" "$RANDOM" >>"$T/$1"
	"$T/$1"
}

echo "== eimad serves /metrics on 127.0.0.1 (a port the kernel picks)"
start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm swtpm --metrics 127.0.0.1:0 ||
	{ failed "eimad starts"; finish; exit; }
port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$T/eimad.log.out" "$T/eimad.log" | head -1)
check "eimad says where it serves metrics" test -n "$port"
URL=http://127.0.0.1:$port/metrics
curl -sf "$URL" >"$T/m1.txt"
check_eq "a scrape answers 200" 0 $?
promtool check metrics <"$T/m1.txt" >"$T/promtool.out" 2>&1
check_eq "promtool check metrics accepts it" 0 $?
[[ -s $T/promtool.out ]] && cat "$T/promtool.out"
for m in eima_events_total eima_violations_total eima_kernel_cache_hits_total \
	eima_kernel_policy_skips_total eima_kernel_dropped_total eima_tpm_extend_queue \
	eima_tpm_extends_total eima_vtpms_alive eima_quote_requests_total eima_loop_longest_seconds; do
	check "it has $m" grep -q "^$m[ {]" "$T/m1.txt"
done
check_eq "another path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")"
check_eq "POST is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL")"

echo "== idle and oversized clients do not stop a scrape"
exec {idle1}<>/dev/tcp/127.0.0.1/"$port" {idle2}<>/dev/tcp/127.0.0.1/"$port"
printf 'GET /metrics HTTP/1.1\r\n' >&"$idle1" # a request that never ends
head -c 20000 /dev/zero | tr '\0' 'a' | curl -s -o /dev/null -w '%{http_code}' \
	-H "X-Big: $(head -c 9000 /dev/zero | tr '\0' 'b')" "$URL" >"$T/big.code"
check_eq "a request over 8 KiB gets 431" 431 "$(cat "$T/big.code")"
check "a scrape still answers while two clients idle" curl -sf -m 5 -o /dev/null "$URL"
for _ in $(seq 1 12); do exec 3<>/dev/tcp/127.0.0.1/"$port"; exec 3>&-; done
check "and after a dozen clients that left without a request" curl -sf -m 5 -o /dev/null "$URL"

echo "== a real Prometheus scrapes eimad; its API gives the counters back"
prom_port=$((20000 + RANDOM % 20000))
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: eimad
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$prom_port" >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
API=http://127.0.0.1:$prom_port/api/v1/query
# query EXPR: the value of the first series, once Prometheus has it ("" until then).
query() { curl -s -m 2 "$API" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty' 2>/dev/null; }
wait_for() { # wait_for EXPR: until the query gives a value (30 s)
	local v
	for _ in $(seq 1 60); do
		v=$(query "$1")
		[[ -n $v ]] && { echo "$v"; return 0; }
		sleep 0.5
	done
	return 1
}
up=$(wait_for 'up{job="eimad"} == 1')
check_eq "Prometheus's target is up" 1 "$up"
[[ $up == 1 ]] || tail -5 "$T/prometheus.log"
before=$(wait_for 'eima_events_total')
check "Prometheus has eima_events_total" test -n "$before"
for i in 1 2 3 4 5; do new_exec "scraped-$i"; done
after=$before
for _ in $(seq 1 60); do
	after=$(query 'eima_events_total')
	[[ -n $after && $after -ge $((before + 5)) ]] && break
	sleep 0.5
done
check "eima_events_total moved by the 5 new execs in Prometheus ($before -> $after)" \
	test "${after:-0}" -ge $((before + 5))
kill "$PROM_PID"; wait "$PROM_PID" 2>/dev/null; PROM_PID=

stop_eimad
check_eq "eimad stops cleanly" 0 $?

echo "== over a unix socket"
start_eimad "$RUN" "$T/eimad2.log" --mode "$MODE" --tpm none --metrics "unix:$T/metrics.sock" ||
	{ failed "eimad starts with a unix socket"; finish; exit; }
check_eq "the socket is root's and its group's only" 660 "$(stat -c %a "$T/metrics.sock")"
curl -sf --unix-socket "$T/metrics.sock" http://eimad/metrics >"$T/m2.txt"
check_eq "a scrape over it answers" 0 $?
check "promtool accepts it" promtool check metrics <"$T/m2.txt"
stop_eimad
check "the socket is gone after a clean stop" test ! -e "$T/metrics.sock"

echo "== a bad --metrics address is a clear error"
out=$("$BIN/eimad" --run-dir "$RUN" --pin-dir none --metrics 'localhost' 2>&1)
check_eq "eimad refuses it" 105 $?
check "and says what it expected" grep -q 'unix:PATH or ADDR:PORT' <<<"$out"
finish
