#!/bin/sh
# kill -9 run against the real binary: the hub is killed with SIGKILL at random moments,
# alternately during uploads and during processing, N times (default 20); after the last
# restart every cleanly closed upload must be recorded and final, and every envelope
# delivered or rejected exactly once. Results go into BENCHMARKS.md.
#   scripts/killtest.sh [N]
set -eu
cd "$(dirname "$0")/.."
KNOOPPUNT_KILLS="${1:-20}" exec go test ./faults -run '^TestKillNineAndRestart$' -count=1 -v -timeout 2h
