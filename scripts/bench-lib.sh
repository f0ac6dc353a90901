# bench-lib.sh: what the bench scripts that start a real server share. Source it after the
# cd to the repository: . scripts/bench-lib.sh

# wait_port PORT [SECONDS]: waits until something listens on 127.0.0.1:PORT (default 20 s).
wait_port() {
	for _ in $(seq 1 $((${2:-20} * 10))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "port $1 opent niet" >&2
	return 1
}

# stop_server PID: ends a server this script started and waits for it to be gone; nothing
# when PID is empty. Always succeeds, so that a cleanup under set -e goes on to the next step.
stop_server() {
	if [ -n "$1" ] && kill "$1" 2>/dev/null; then
		wait "$1" 2>/dev/null || true
	fi
}
