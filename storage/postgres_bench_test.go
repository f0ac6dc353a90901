package storage

import (
	"context"
	"encoding/json"
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
// as arrays and through COPY (whatever defaultCopyMin says); -300 and -40: batches of 300 and
// 40 messages (4,250 and 610 keys), where defaultCopyMin was chosen.
func BenchmarkPostgresBatch(b *testing.B) {
	for _, bc := range []struct {
		name    string
		copyMin int
		msgs    int
	}{
		{"arrays", 0, 1000}, {"copy", 1, 1000},
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
					pid = t.(*pgTxn).tx.Conn().PgConn().PID()
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

// BenchmarkPostgresAhead is one batch of an upload as the engine writes it (1,000 messages,
// ~4,300 keys: the message, its reference, two reverse references, a quarter of a log
// entry), with the engine's Go work between the writes (JSON encoding, ~25 µs a message),
// with its writes sent ahead (aheadMin 1,024) and only at commit (0). The wall time per batch
// is what the upload waits for; the database's CPU the same either way.
func BenchmarkPostgresAhead(b *testing.B) {
	for _, ahead := range []int{0, defaultAheadMin} {
		b.Run(fmt.Sprintf("ahead-%d", ahead), func(b *testing.B) {
			p, err := OpenPostgres(context.Background(), storagetest.DatabaseURL(b), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			p.aheadMin = ahead
			type msg struct {
				ID, Ref, From, To, Functie, File string
				History                          []string
			}
			n := 0
			var serverCPU time.Duration
			for b.Loop() {
				var pid uint32
				var cpu0 time.Duration
				err := p.UpdateLazy(func(t Txn) error {
					pid = t.(*pgTxn).tx.Conn().PgConn().PID()
					cpu0 = processCPU(b, pid)
					for range 1000 {
						n++
						m := msg{ID: fmt.Sprint(n), Ref: fmt.Sprintf("9c0f7b90-5c69-41e5-a837-%012x", n), From: "0363", To: "20000001",
							Functie: "WMO301", File: fmt.Sprintf("b%04d.xml", n%3000), History: []string{"Ontvangen", "Afgeleverd"}}
						var v []byte
						for range 6 { // the engine's work per message, roughly
							v, _ = json.Marshal(m)
						}
						if err := t.Set(fmt.Appendf(nil, "msg/%012d", n), v); err != nil {
							return err
						}
						if err := t.Set(fmt.Appendf(nil, "idx/ref/0363/%s", m.Ref), []byte("12345678")); err != nil {
							return err
						}
						for _, o := range []string{m.From, m.To} {
							if err := t.Set(fmt.Appendf(nil, "idx/rref/%s/iwmo/%s/%012d", o, m.Ref, n), nil); err != nil {
								return err
							}
						}
						if n%4 == 0 {
							if err := t.Set(fmt.Appendf(nil, "idx/logv2/0363/iwmo/%012d", n), []byte{1}); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				serverCPU += processCPU(b, pid) - cpu0
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
			b.ReportMetric(float64(serverCPU.Milliseconds())/float64(b.N), "ms-server-CPU/batch")
		})
	}
}
