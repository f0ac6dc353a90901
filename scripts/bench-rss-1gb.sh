#!/usr/bin/env bash
# bench-rss-1gb.sh: the peak RSS growth of the real binary for a 0.98 GB ZIP of 40,000 WMO301
# envelopes put with OpenSSH sftp and processed to Afgeleverd, at the default memory settings.
# Starts `knooppunt serve --demo` on a fresh data directory, waits until it idles, notes its
# RSS, puts the ZIP as gemeente (aes128-gcm), polls VmRSS/VmHWM every 0.2 s and `aanleveringen
# --json` until the upload is Afgeleverd, and prints the baseline, the peak (VmHWM) and the
# growth, with the load average.
#   scripts/bench-rss-1gb.sh               (RUNS=1; BIN=path to test a given binary)
#   RUNS=3 BIN=/tmp/old scripts/bench-rss-1gb.sh
set -euo pipefail

RUNS=${RUNS:-1}
PORT=${PORT:-22240}
N=${N:-40000}
KB=${KB:-17}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}

cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
ROOT=$(mktemp -d /tmp/kp-rss.XXXXXX)
SHM=$(mktemp -d /dev/shm/kp-rss.XXXXXX)
HUB_PID=""
cleanup() {
	stop_server "$HUB_PID"
	rm -rf "$ROOT" "$SHM"
}
trap cleanup EXIT

kb_of() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status"; }

BIN=${BIN:-}
if [ -z "$BIN" ]; then
	BIN="$ROOT/knooppunt"
	go build -o "$BIN" ./cmd/knooppunt
fi
ZIP=${ZIP:-}
if [ -z "$ZIP" ]; then
	ZIP="$SHM/rss.zip"
	go run ./scripts/benchdata -o "$ZIP" -n "$N" -kb "$KB"
fi
SIZE=$(stat -c %s "$ZIP")

for run in $(seq 1 "$RUNS"); do
	DATA="$ROOT/hub$run"
	"$BIN" serve --demo --data "$DATA" --listen "127.0.0.1:$PORT" --metrics-listen uit >"$ROOT/hub.out" 2>"$ROOT/hub.log" &
	HUB_PID=$!
	wait_port "$PORT" 30
	sleep 5
	BASE=$(kb_of "$HUB_PID" VmRSS)
	DEMO="$DATA/demo"
	opts=(-q -F /dev/null -i "$DEMO/gemeente" -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=no
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o Compression=no -o "Ciphers=$CIPHER")
	# RssAnon (heap, Badger's arenas) and RssFile (pages of Badger's mapped logs and tables)
	# at their highest, sampled every 0.2 s.
	(
		a=0 f=0
		while [ -e "/proc/$HUB_PID/status" ]; do
			read -r ca cf < <(awk '$1 == "RssAnon:" { a = $2 } $1 == "RssFile:" { f = $2 } END { print a + 0, f + 0 }' "/proc/$HUB_PID/status" 2>/dev/null || echo "0 0")
			[ "$ca" -gt "$a" ] && a=$ca
			[ "$cf" -gt "$f" ] && f=$cf
			echo "$a $f" >"$ROOT/rss.max"
			sleep 0.2
		done
	) &
	SAMPLER=$!
	t0=$(date +%s.%N)
	sftp "${opts[@]}" -P "$PORT" -b - "gemeente@127.0.0.1" <<<"put $ZIP /iwmo/aanleveren/groot.zip" >/dev/null
	t1=$(date +%s.%N)
	PUT_HWM=$(kb_of "$HUB_PID" VmHWM)
	status=""
	for _ in $(seq 1 400); do
		status=$(ssh "${opts[@]}" -p "$PORT" gemeente@127.0.0.1 aanleveringen --json 2>/dev/null |
			grep -o '"status": *"[A-Za-z]*"' | head -1 | sed 's/.*"\([A-Za-z]*\)"$/\1/' || true)
		case "$status" in Afgeleverd | Afgekeurd) break ;; esac
		sleep 1
	done
	t2=$(date +%s.%N)
	HWM=$(kb_of "$HUB_PID" VmHWM)
	CPU=$(awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$HUB_PID/stat")
	# Badger compacts what the upload wrote after it is Afgeleverd too: with SETTLE seconds
	# the peak also covers that (settings that only postpone compactions must not look better).
	HWM_SETTLED=$HWM
	if [ "${SETTLE:-0}" -gt 0 ]; then
		sleep "$SETTLE"
		HWM_SETTLED=$(kb_of "$HUB_PID" VmHWM)
	fi
	if [ "$status" = Afgekeurd ]; then
		# A refused envelope among 40,000 random ones was seen once in 13 runs (5 Dec); keep
		# its verslag, which the data directory's removal below would take with it.
		ssh "${opts[@]}" -p "$PORT" gemeente@127.0.0.1 verslag groot.zip >"$ROOT/verslag.$run" 2>&1 || true
		cp "$ROOT/verslag.$run" "/tmp/bench-rss-verslag.$run.txt" 2>/dev/null || true
		echo "run $run: Afgekeurd; verslag in /tmp/bench-rss-verslag.$run.txt:" >&2
		head -20 "$ROOT/verslag.$run" >&2
	fi
	stop_server "$HUB_PID"
	HUB_PID=""
	wait "$SAMPLER" 2>/dev/null || true
	read -r MAXA MAXF <"$ROOT/rss.max"
	[ -n "${KEEP_LOG:-}" ] && cp "$ROOT/hub.log" "$KEEP_LOG.$run"
	awk -v r="$run" -v s="$SIZE" -v b="$BASE" -v p="$PUT_HWM" -v h="$HWM" -v st="$status" -v a="$t0" -v m="$t1" -v e="$t2" -v c="$CPU" -v hs="$HWM_SETTLED" -v se="${SETTLE:-0}" -v xa="$MAXA" -v xf="$MAXF" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
		printf "run %d: %.2f GB, %s; baseline RSS %.1f MB, peak %.1f MB: growth %.1f MB (after the put %.1f MB; highest RssAnon %.1f MB, RssFile %.1f MB); put %.1f s, put→%s %.1f s; hub CPU %.1f s; load %s\n",
			r, s / 1e9, st, b / 1024, h / 1024, (h - b) / 1024, (p - b) / 1024, xa / 1024, xf / 1024, m - a, st, e - m, c, l
		if (se > 0) printf "run %d: growth %.1f MB including %d s after %s\n", r, (hs - b) / 1024, se, st }'
	rm -rf "$DATA"
done
