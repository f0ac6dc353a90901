#!/usr/bin/env bash
# Digikoppeling throughput: inbound messages/s with durable Acknowledgment over keep-alive
# two-sided TLS (p50/p99), outbound messages/s to a local acknowledging receiver, RSS with 200
# partner connections. Prints the load average; numbers go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cat /proc/loadavg
KNOOPPUNT_MEASURE=1 go test ./ebmsserver -run TestMeasure -count=1 -v -timeout 20m | grep -E 'measure_test|^(ok|FAIL|---)'
cat /proc/loadavg
