#!/usr/bin/env bash
# Starts the servers the PostgreSQL and S3 tests run against, on loopback, in a temporary
# directory: Debian's PostgreSQL (initdb/pg_ctl as a non-root user) and versitygw with its posix
# backend. Installs them when missing (apt-get for postgresql, go install for versitygw).
#
#   eval "$(scripts/test-services.sh start)"   # exports KNOOPPUNT_TEST_* and AWS_* for go test
#   go test ./storage -run 'Postgres|S3'
#   scripts/test-services.sh stop               # stops what start started (uses the exports)
#
# start prints only export lines on stdout (progress goes to stderr) and writes the same lines
# to $KNOOPPUNT_TEST_SERVICES_DIR/env, for another shell to source. Tests that need a server
# skip when its variable is absent, unless CI is set: then they fail.
#
# KNOOPPUNT_TEST_PG_OPTS adds server options for a profile, e.g.
#   KNOOPPUNT_TEST_PG_OPTS='-c shared_preload_libraries=pg_stat_statements -c track_io_timing=on'
# (then CREATE EXTENSION pg_stat_statements in the database to read it).
set -euo pipefail

vgw_version=v1.8.0
bucket=knooppunt-test
# Test credentials for a server that only listens on 127.0.0.1 and lives as long as the run.
access=knooppunt-test
secret=knooppunt-test-secret

log() { echo "test-services: $*" >&2; }

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	log "geen vrije poort gevonden"
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return; }
	done
}

start() {
	local t0=$SECONDS
	local dir="${KNOOPPUNT_TEST_SERVICES_DIR:-}"
	[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/knooppunt-services.XXXXXX")
	mkdir -p "$dir"
	chmod 755 "$dir"

	# PostgreSQL. initdb refuses to run as root, so under root (CI) the cluster belongs to
	# the postgres user the Debian package creates.
	if [ -z "$(pg_bindir)" ]; then
		log "postgresql installeren"
		DEBIAN_FRONTEND=noninteractive as_root apt-get install -y --no-install-recommends postgresql >&2
	fi
	local bin
	bin=$(pg_bindir)
	local run=()
	if [ "$(id -u)" -eq 0 ]; then
		getent passwd postgres >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
		run=(runuser -u postgres --)
	fi
	local pgdir="$dir/pg" pgport
	pgport=$(free_port)
	mkdir -p "$pgdir"
	[ "$(id -u)" -eq 0 ] && chown postgres "$pgdir"
	log "postgresql $("$bin/postgres" --version | awk '{print $3}') op 127.0.0.1:$pgport"
	"${run[@]}" "$bin/initdb" -D "$pgdir/data" -U knooppunt --auth=trust -E UTF8 --locale=C.UTF-8 >"$pgdir/initdb.log" 2>&1 ||
		{ cat "$pgdir/initdb.log" >&2; exit 1; }
	"${run[@]}" "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $pgport -k $pgdir -c max_connections=200 ${KNOOPPUNT_TEST_PG_OPTS:-}" start >&2 ||
		{ cat "$pgdir/postgres.log" >&2; exit 1; }
	"${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$pgport" -U knooppunt knooppunt_test >&2

	# versitygw with its posix backend: buckets are directories under $dir/s3/root, object
	# metadata in extended attributes (versitygw's default, as a deployment runs it) where the
	# temp file system has user xattrs, else in a sidecar directory. The sidecar writes four
	# small files per object (checksums, ETag, content type, metadata): versitygw's CPU per
	# 200 KB PUT ~2.9–3.2 ms against ~1.9 with xattrs (BenchmarkS3Put, load ~23), on the two
	# cores the benchmarks share with the hub. --data-integrity-etag: the ETag is the checksum
	# the PUT carries, not an MD5 of every byte (the hub never reads an ETag; it checks its own
	# SHA-256); MD5 was ~30 % of versitygw's CPU in the 3,000-message benchmark.
	# KNOOPPUNT_TEST_S3_META=sidecar keeps the sidecar anyway.
	local gobin vgw
	gobin="$(go env GOPATH)/bin"
	vgw=$(command -v versitygw || true)
	[ -n "$vgw" ] || vgw="$gobin/versitygw"
	if [ ! -x "$vgw" ]; then
		log "versitygw $vgw_version installeren (go install)"
		go install "github.com/versity/versitygw/cmd/versitygw@$vgw_version" >&2
	fi
	local s3port meta
	s3port=$(free_port)
	mkdir -p "$dir/s3/root" "$dir/s3/meta"
	for meta in xattr sidecar; do
		[ "$meta" = xattr ] && [ "${KNOOPPUNT_TEST_S3_META:-}" = sidecar ] && continue
		local metaopt=()
		[ "$meta" = sidecar ] && metaopt=(--sidecar "$dir/s3/meta")
		log "versitygw op 127.0.0.1:$s3port (metadata: $meta)"
		ROOT_ACCESS_KEY="$access" ROOT_SECRET_KEY="$secret" \
			nohup "$vgw" --quiet --port "127.0.0.1:$s3port" posix --data-integrity-etag "${metaopt[@]}" "$dir/s3/root" >"$dir/s3/versitygw.log" 2>&1 &
		echo $! >"$dir/s3/pid"
		local ok=""
		for _ in $(seq 1 100); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null; then ok=1; break; fi
			kill -0 "$(cat "$dir/s3/pid")" 2>/dev/null || break
			sleep 0.1
		done
		[ -n "$ok" ] && break
		cat "$dir/s3/versitygw.log" >&2
		[ "$meta" = sidecar ] && { log "versitygw start niet"; exit 1; }
		log "versitygw start niet met xattrs; opnieuw met een sidecar-map"
	done

	cat >"$dir/env" <<-EOF
		export KNOOPPUNT_TEST_SERVICES_DIR='$dir'
		export KNOOPPUNT_TEST_DATABASE_URL='postgres://knooppunt@127.0.0.1:$pgport/knooppunt_test?sslmode=disable'
		export KNOOPPUNT_TEST_S3_ENDPOINT='http://127.0.0.1:$s3port'
		export KNOOPPUNT_TEST_S3_BUCKET='$bucket'
		export AWS_ACCESS_KEY_ID='$access'
		export AWS_SECRET_ACCESS_KEY='$secret'
		export AWS_REGION='us-east-1'
	EOF
	log "gestart in $((SECONDS - t0)) s; omgeving in $dir/env"
	cat "$dir/env"
}

stop() {
	local dir="${1:-${KNOOPPUNT_TEST_SERVICES_DIR:-}}"
	[ -n "$dir" ] && [ -d "$dir" ] || { log "geen KNOOPPUNT_TEST_SERVICES_DIR: niets te stoppen"; return; }
	if [ -f "$dir/s3/pid" ]; then
		kill "$(cat "$dir/s3/pid")" 2>/dev/null || true
	fi
	local bin run=()
	bin=$(pg_bindir)
	[ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
	if [ -n "$bin" ] && [ -f "$dir/pg/data/postmaster.pid" ]; then
		"${run[@]}" "$bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >&2 || true
	fi
	rm -rf "$dir"
}

case "${1:-start}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
	echo "gebruik: $0 [start|stop [DIR]]" >&2
	exit 2
	;;
esac
