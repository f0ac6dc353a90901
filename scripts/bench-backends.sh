#!/usr/bin/env bash
# bench-backends.sh: BenchmarkThroughputBackends (the 3,000-message ZIP on Badger + the file
# store, then on PostgreSQL + S3, in one run) for one or more builds, interleaved ROUNDS times,
# with the ratio per run and the CPU the servers spent per PostgreSQL + S3 message (the
# benchmark's own µs-CPU/msg is the Go process's only). The machine is shared: every line
# carries /proc/loadavg before and after.
#
#   eval "$(scripts/test-services.sh start)"
#   scripts/bench-backends.sh                        # this tree, ROUNDS=3
#   scripts/bench-backends.sh main.test this.test    # test binaries of ./exchange (go test -c)
#
# The servers must run on this machine (their CPU is read from /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
BENCHTIME=${BENCHTIME:-3x}
: "${KNOOPPUNT_TEST_SERVICES_DIR:?start the servers first: eval \"\$(scripts/test-services.sh start)\"}"

bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
	work=$(mktemp -d /tmp/kp-bench-backends.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	go test -c -o "$work/exchange.test" ./exchange
	bins=("$work/exchange.test")
fi
for b in "${bins[@]}"; do
	case $b in /*) ;; *) b=$PWD/$b ;; esac
	[ -x "$b" ] || { echo "$b: geen uitvoerbaar testprogramma" >&2; exit 1; }
done

pg_pid=$(head -1 "$KNOOPPUNT_TEST_SERVICES_DIR/pg/data/postmaster.pid")
s3_pid=$(pgrep -f "versitygw.*$KNOOPPUNT_TEST_SERVICES_DIR" | head -1)

# ticks (1/100 s) a server spent so far: the process, the children it reaped (backends that
# ended) and the children alive now.
ticks() {
	local t c
	t=$(awk '{print $14+$15+$16+$17}' "/proc/$1/stat")
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		t=$((t + $(awk '{print $14+$15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
metric() { awk -v b="$1" -v m="$2" '$1 ~ b {for (i = 1; i <= NF; i++) if ($i == m) print $(i-1)}'; }

msgs=$((3000 * ${BENCHTIME%x}))
cd exchange
for r in $(seq "$ROUNDS"); do
	for b in "${bins[@]}"; do
		case $b in /*) ;; *) b=$OLDPWD/$b ;; esac
		l0=$(cut -d' ' -f1 /proc/loadavg)
		p0=$(ticks "$pg_pid")
		v0=$(ticks "$s3_pid")
		out=$("$b" -test.run '^$' -test.bench BenchmarkThroughputBackends -test.benchtime "$BENCHTIME" 2>/dev/null | grep '^Benchmark')
		p1=$(ticks "$pg_pid")
		v1=$(ticks "$s3_pid")
		l1=$(cut -d' ' -f1 /proc/loadavg)
		bm=$(echo "$out" | metric badger msgs/s)
		pm=$(echo "$out" | metric postgres msgs/s)
		bc=$(echo "$out" | metric badger µs-CPU/msg)
		pc=$(echo "$out" | metric postgres µs-CPU/msg)
		printf 'ronde %d %s load %s-%s: badger %s msgs/s (%s µs CPU), postgres+s3 %s msgs/s (%s µs CPU + postgres %d + versitygw %d), ratio %s\n' \
			"$r" "$(basename "$b")" "$l0" "$l1" "$bm" "$bc" "$pm" "$pc" \
			$(((p1 - p0) * 10000 / msgs)) $(((v1 - v0) * 10000 / msgs)) "$(echo "scale=2; $pm / $bm" | bc)"
	done
done
