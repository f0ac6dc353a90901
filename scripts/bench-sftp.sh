#!/usr/bin/env bash
# bench-sftp.sh: put and get a 512 MB file with OpenSSH sftp against knooppunt and, side by
# side, against OpenSSH's own internal-sftp (an sshd with a test config on loopback), with
# aes128-gcm@openssh.com and chacha20-poly1305@openssh.com. Runs the two servers in turn,
# REPS times each, and prints the best and the median MB/s, the ratios hub/OpenSSH, and the
# hub's idle RSS. Run as root on a quiet machine:
#   scripts/bench-sftp.sh            (SIZE_MB=512 REPS=5 by default)
# Both servers write into the same file system; the hub fsyncs every upload before it
# answers the close, internal-sftp does not.
set -euo pipefail

SIZE_MB=${SIZE_MB:-512}
REPS=${REPS:-5}
HUB_PORT=${HUB_PORT:-22220}
SSHD_PORT=${SSHD_PORT:-22221}
CIPHERS=${CIPHERS:-"aes128-gcm@openssh.com chacha20-poly1305@openssh.com"}

cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
ROOT=$(mktemp -d /tmp/kp-bench.XXXXXX)
SHM=$(mktemp -d /dev/shm/kp-bench.XXXXXX)
HUB_PID=""
SSHD_PID=""
cleanup() {
	stop_server "$HUB_PID"
	stop_server "$SSHD_PID"
	rm -rf "$ROOT" "$SHM"
}
trap cleanup EXIT

rss_mb() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

echo "== voorbereiden (${SIZE_MB} MB)" >&2
go build -o "$ROOT/knooppunt" ./cmd/knooppunt
go run ./scripts/benchdata -o "$SHM/bench.zip" -mb "$SIZE_MB"
SIZE=$(stat -c %s "$SHM/bench.zip")

"$ROOT/knooppunt" serve --demo --data "$ROOT/hub" --listen "127.0.0.1:$HUB_PORT" >"$ROOT/hub.out" 2>"$ROOT/hub.log" &
HUB_PID=$!
wait_port "$HUB_PORT"
sleep 3
IDLE_RSS=$(rss_mb "$HUB_PID")

# internal-sftp on loopback, logging in as root with the demo key of gemeente.
mkdir -p /run/sshd "$ROOT/sshd" "$ROOT/osftp"
ssh-keygen -q -t ed25519 -N '' -f "$ROOT/sshd/host"
cp "$ROOT/hub/demo/gemeente.pub" "$ROOT/sshd/authorized_keys"
cat >"$ROOT/sshd/config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $ROOT/sshd/host
PidFile $ROOT/sshd/pid
AuthorizedKeysFile $ROOT/sshd/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -D -f "$ROOT/sshd/config" -E "$ROOT/sshd/log" &
SSHD_PID=$!
wait_port "$SSHD_PORT"

DEMO="$ROOT/hub/demo"
sftp_cmd() { # account port cipher; batch on stdin
	local key="$DEMO/$1"
	[ "$1" = root ] && key="$DEMO/gemeente"
	sftp -q -F /dev/null -i "$key" -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o Compression=no -o "Ciphers=$3" \
		-P "$2" -b - "$1@127.0.0.1"
}

# The hub's download: the upload, processed into one delivery in aanbieder's ophalen/.
sftp_cmd gemeente "$HUB_PORT" aes128-gcm@openssh.com <<<"put $SHM/bench.zip /iwmo/aanleveren/bench.zip" >/dev/null
DELIVERY=""
for _ in $(seq 1 600); do
	DELIVERY=$(sftp_cmd aanbieder "$HUB_PORT" aes128-gcm@openssh.com <<<"ls -1 /iwmo/ophalen" | grep -v -e '^sftp>' -e '/nieuw$' | head -1 || true)
	[ -n "$DELIVERY" ] && break
	sleep 0.5
done
[ -n "$DELIVERY" ] || { echo "geen aflevering verschenen; zie $ROOT/hub.log" >&2; exit 1; }
cp "$SHM/bench.zip" "$ROOT/osftp/get.zip"

now() { date +%s.%N; }
TICK=$(getconf CLK_TCK)
# CPU seconds a server has used: the hub itself; sshd through its reaped per-connection
# children (internal-sftp runs inside them).
cpu_hub() { awk -v t="$TICK" '{ print ($14 + $15) / t }' "/proc/$HUB_PID/stat"; }
cpu_ossh() { awk -v t="$TICK" '{ print ($16 + $17) / t }' "/proc/$SSHD_PID/stat"; }
# stats seconds...: the best and the median MB/s of those runs.
stats() {
	printf '%s\n' "$@" | sort -g | awk -v b="$SIZE" '{ t[NR] = $1 }
		END { m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
		      printf "%.1f %.1f", b / 1e6 / t[1], b / 1e6 / m }'
}
timed() { # command...: runs it, prints its seconds
	local t0 t1
	t0=$(now)
	"$@"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
# measure dir cipher: REPS runs against each server, alternating which goes first, so that
# whatever else the machine does in that minute weighs on both. Prints best and median MB/s
# for the hub, then for internal-sftp, then each server's CPU seconds per GB.
measure() {
	local dir=$1 c=$2 i hc0 oc0 hc1 oc1
	local -a th=() to=()
	hc0=$(cpu_hub)
	oc0=$(cpu_ossh)
	for i in $(seq 1 "$REPS"); do
		if ((i % 2)); then
			th+=("$(timed "hub_$dir" "$c")")
			to+=("$(timed "ossh_$dir" "$c")")
		else
			to+=("$(timed "ossh_$dir" "$c")")
			th+=("$(timed "hub_$dir" "$c")")
		fi
	done
	hc1=$(cpu_hub)
	oc1=$(cpu_ossh)
	echo "$(stats "${th[@]}") $(stats "${to[@]}") $(awk -v a="$hc0" -v b="$hc1" -v c="$oc0" -v d="$oc1" -v n="$REPS" -v s="$SIZE" \
		'BEGIN { gb = n * s / 1e9; printf "%.2f %.2f", (b - a) / gb, (d - c) / gb }')"
}

hub_put() {
	sftp_cmd gemeente "$HUB_PORT" "$1" <<<"put $SHM/bench.zip /iwmo/aanleveren/bench.zip.filepart" >/dev/null
	sftp_cmd gemeente "$HUB_PORT" "$1" <<<"rm /iwmo/aanleveren/bench.zip.filepart" >/dev/null
}
hub_get() { sftp_cmd aanbieder "$HUB_PORT" "$1" <<<"get $DELIVERY $SHM/out" >/dev/null; }
ossh_put() {
	sftp_cmd root "$SSHD_PORT" "$1" <<<"put $SHM/bench.zip $ROOT/osftp/put.bin" >/dev/null
	rm -f "$ROOT/osftp/put.bin"
}
ossh_get() { sftp_cmd root "$SSHD_PORT" "$1" <<<"get $ROOT/osftp/get.zip $SHM/out" >/dev/null; }

# Warm both servers' page cache for the downloads.
hub_get aes128-gcm@openssh.com
ossh_get aes128-gcm@openssh.com

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-30s %-4s %-21s %-21s %-13s %s\n' cipher dir "knooppunt MB/s" "internal-sftp MB/s" "ratio" "server-CPU s/GB"
printf '%-30s %-4s %-21s %-21s %-13s %s\n' "" "" "(best, median)" "(best, median)" "(best, median)" "(knooppunt, internal-sftp)"
for c in $CIPHERS; do
	for dir in put get; do
		read -r hb hm ob om hc oc < <(measure "$dir" "$c")
		printf '%-30s %-4s %-21s %-21s %-13s %s\n' "$c" "$dir" "$hb, $hm" "$ob, $om" \
			"$(awk -v a="$hb" -v b="$ob" -v c="$hm" -v d="$om" 'BEGIN { printf "%.2f, %.2f", a / b, c / d }')" "$hc, $oc"
	done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 3
echo "knooppunt idle RSS: ${IDLE_RSS} MB na start, $(rss_mb "$HUB_PID") MB na de metingen (bestand: $((SIZE / 1000000)) MB)"
