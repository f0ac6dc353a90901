#!/usr/bin/env bash
# Short fuzzing run for CI: each fuzz target for FUZZTIME (default 10s), one after the other
# (go test -fuzz takes one target per run). The seed corpora in testdata/fuzz always run as
# part of go test ./...; this also tries new inputs. A finding is written to
# <package>/testdata/fuzz/<target>/ and fails the run: commit it with the fix.
# Longer runs while developing: FUZZTIME=2m scripts/fuzz-ci.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
targets=(
	"./exchange/stuf FuzzParseEnvelope"
	"./exchange/zipintake FuzzReadUpload"
	"./exchange FuzzDeliveryZip"
	"./exchange/stuf FuzzReadBerichtHeader"
	"./exchange/ebms FuzzParseMessage"
	"./exchange/ebms FuzzParseCPA"
	"./sshserver FuzzResolve"
	"./sshserver FuzzCommand"
	"./sshserver FuzzChaCha20"
)
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "== $name ($pkg, $fuzztime)"
	go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "${FUZZPARALLEL:-2}"
done
