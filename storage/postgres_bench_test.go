package storage

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"knooppunt/storage/storagetest"
)

// BenchmarkPostgresBatch commits what one batch of an upload writes (BENCHMARKS.md: 1,000
// messages, 14,000 keys, most of them index entries with short values), with the sets sent
// as arrays and through COPY (whatever defaultCopyMin says); -600, -300 and -40: batches of
// 600, 300 and 40 messages (8,450, 4,250 and 610 keys), where defaultCopyMin was chosen.
func BenchmarkPostgresBatch(b *testing.B) {
	for _, bc := range []struct {
		name    string
		copyMin int
		msgs    int
	}{
		{"arrays", 0, 1000}, {"copy", 1, 1000},
		{"arrays-600", 0, 600}, {"copy-600", 1, 600},
		{"arrays-300", 0, 300}, {"copy-300", 1, 300},
		{"arrays-40", 0, 40}, {"copy-40", 1, 40},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := OpenPostgres(context.Background(), storagetest.DatabaseURL(b), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			p.copyMin = bc.copyMin
			msg := make([]byte, 500)
			idxVal := make([]byte, 40)
			n := 0
			keys := bc.msgs*14 + 50
			var serverCPU time.Duration
			for b.Loop() {
				var pid uint32
				var cpu0 time.Duration
				err := p.UpdateLazy(func(t Txn) error {
					pid = t.(*pgTxn).conn.Conn().PgConn().PID()
					cpu0 = processCPU(b, pid)
					for range bc.msgs {
						n++
						if err := t.Set(fmt.Appendf(nil, "msg/%010d", n), msg); err != nil {
							return err
						}
						for j := range 13 {
							k := fmt.Appendf(nil, "idx/logv/%04d/iwmo/ruit/%08x/%010d", j, n/1000, n)
							if err := t.Set(k, idxVal[:j*3]); err != nil {
								return err
							}
						}
					}
					for j := range 50 {
						if err := t.Set(fmt.Appendf(nil, "cnt/log/%08d/iwmo", j), fmt.Appendf(nil, "%d", n)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				serverCPU += processCPU(b, pid) - cpu0
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*keys), "µs/key")
			// The server's CPU for the writes and the commit: what the machine's load does not
			// change much.
			b.ReportMetric(float64(serverCPU.Microseconds())/float64(b.N*keys), "µs-server-CPU/key")
		})
	}
}

// processCPU is the user+system time of a process on this machine (the test servers run on
// loopback), from /proc/PID/stat in clock ticks of 10 ms.
func processCPU(b *testing.B, pid uint32) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("CPU van de databaseserver: %v (draait die op een andere machine?)", err)
	}
	// The fields after the command's closing parenthesis; utime and stime are 14 and 15.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
