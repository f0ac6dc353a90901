#!/usr/bin/env bash
# crypto-fork-diff.sh: shows how third_party/golang.org/x/crypto differs from the upstream
# golang.org/x/crypto it was copied from (the version in its README and in go.mod's require),
# taken from the module cache (downloaded if missing). Exit status 0: the diff is exactly
# the files listed as changed in the README; the diff itself goes to stdout.
#   scripts/crypto-fork-diff.sh            diff -ru of every changed file
#   scripts/crypto-fork-diff.sh --stat     only the names
set -euo pipefail
cd "$(dirname "$0")/.."

FORK=third_party/golang.org/x/crypto
VERSION=$(awk '$1 == "golang.org/x/crypto" { print $2; exit }' go.mod)
[ -n "$VERSION" ] || { echo "no golang.org/x/crypto in go.mod's require" >&2; exit 1; }
# The replace points the build at the fork; -modfile=/dev/null-like tricks are not needed:
# 'go mod download' of an explicit version ignores the replace.
UP=$(GOFLAGS=-mod=mod go mod download -json "golang.org/x/crypto@$VERSION" | awk -F'"' '$2 == "Dir" { print $4 }')
[ -d "$UP" ] || { echo "upstream golang.org/x/crypto@$VERSION not in the module cache" >&2; exit 1; }

# What the fork may differ in; anything else is an accident to fix.
expected=(
	"Only in $FORK: README.knooppunt.md"
	"Only in $FORK/chacha20: chacha_amd64.go"
	"Only in $FORK/chacha20: chacha_amd64.s"
	"Only in $FORK/chacha20: chacha_amd64_test.go"
	"Files $UP/chacha20/chacha_noasm.go and $FORK/chacha20/chacha_noasm.go differ"
	"Files $UP/ssh/testdata/keys.go and $FORK/ssh/testdata/keys.go differ"
)

echo "# upstream: golang.org/x/crypto@$VERSION ($UP)"
if [ "${1:-}" = --stat ]; then
	diff -rq "$UP" "$FORK" || true
else
	diff -ruN "$UP" "$FORK" || true
fi
got=$(diff -rq "$UP" "$FORK" | sort || true)
want=$(printf '%s\n' "${expected[@]}" | sort)
if [ "$got" != "$want" ]; then
	echo "the fork differs from upstream in other files than the README lists:" >&2
	diff <(echo "$want") <(echo "$got") >&2 || true
	exit 1
fi
