#!/usr/bin/env bash
# bench-backup.sh: what a backup costs and how fast it and a restore are.
#  1. BenchmarkThroughput (3,000-message ZIP, upload accepted -> Afgeleverd) without and with
#     backups of the same store running back to back into a file, interleaved ROUNDS times
#     (the engine's msgs/s side by side, and the backups' MB/s);
#  2. TestMeasureBackupRestore1M: a store with 1,000,000 berichtenlog entries (500,000
#     messages in the logs of zender and ontvanger, written as the engine writes them) plus
#     BLOB_MB MB of delivery files; times the backup into a file and the restore (which
#     includes audit verify and the integrity check).
# Prints /proc/loadavg around each step: the machine is shared.
#   scripts/bench-backup.sh                 (ROUNDS=3 BENCHTIME=5x MESSAGES=500000 BLOB_MB=256)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
BENCHTIME=${BENCHTIME:-5x}
MESSAGES=${MESSAGES:-500000}
BLOB_MB=${BLOB_MB:-256}
WORK=$(mktemp -d /tmp/kp-backup-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

go test -c -o "$WORK/exchange.test" ./exchange
echo "== verwerking met en zonder backup ($ROUNDS ronden, $BENCHTIME)"
for r in $(seq "$ROUNDS"); do
	echo "load: $(cat /proc/loadavg)"
	"$WORK/exchange.test" -test.run XXX -test.bench 'BenchmarkThroughput$' -test.benchtime "$BENCHTIME" 2>/dev/null | grep -E '^Benchmark'
	echo "load: $(cat /proc/loadavg)"
	"$WORK/exchange.test" -test.run XXX -test.bench 'BenchmarkThroughputDuringBackup$' -test.benchtime "$BENCHTIME" 2>/dev/null | grep -E '^Benchmark'
done
echo "== backup en restore, $MESSAGES berichten ($((2 * MESSAGES)) berichtenlog-regels), $BLOB_MB MB bestanden"
echo "load: $(cat /proc/loadavg)"
KNOOPPUNT_MEASURE=1 KNOOPPUNT_MEASURE_MESSAGES=$MESSAGES KNOOPPUNT_MEASURE_BLOB_MB=$BLOB_MB KNOOPPUNT_MEASURE_DIR="$WORK" \
	"$WORK/exchange.test" -test.run 'TestMeasureBackupRestore1M$' -test.v -test.timeout 30m 2>/dev/null | grep -E 'backup_measure_test|PASS|FAIL'
echo "load: $(cat /proc/loadavg)"
