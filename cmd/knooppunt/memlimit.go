package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when neither --memory-limit,
// KNOOPPUNT_MEMORY_LIMIT nor GOMEMLIMIT says otherwise. It keeps the peak RSS growth of
// processing a 1 GB ZIP within 128 MB (BenchmarkPeakRSS1GBZip: about 121 MB at 110 MiB, against
// 166-203 MB with no limit): with the default GOGC the heap would otherwise grow to twice the
// live data (Badger's memtables, the ZIP's directory). It is a soft limit: when more is live,
// as with many big uploads at once, the server uses more and collects garbage harder rather
// than failing; raise it on a machine with room to spare.
//
// The default adapts (see adaptLimit): with many sessions at once (the load of 200 uploading
// and 50 downloading sessions keeps ~150 MB live) a fixed 110 MiB would make the collector run
// without pause and double the server's CPU, so the default grows to 1.25-1.5 times the
// live heap (as GOGC=25-50 would; see headroom), up to adaptCeiling, and shrinks back when
// the load goes. An explicit limit is kept as given.
const defaultMemoryLimit = "110MiB"

// adaptCeiling is as far as the default limit grows: with 200 sessions pushing uploads
// faster than the server takes them, their SSH channel buffers (up to 2 MB each) keep a lot
// live, and the whole process should still stay well under 512 MB.
const adaptCeiling = 400 << 20

// memLimit is what serve does with the runtime's memory limit.
type memLimit struct {
	bytes int64  // math.MaxInt64: no limit
	from  string // "--memory-limit", "GOMEMLIMIT" or "standaard"
	keep  bool   // GOMEMLIMIT is set and nothing overrides it: leave the runtime's value
}

// parseMemoryLimit reads --memory-limit (whose default is KNOOPPUNT_MEMORY_LIMIT): a size such
// as 110MiB, 512MB or 2GiB, or 0 for no limit. Without either, GOMEMLIMIT is honoured as the Go
// runtime applies it; without that too, defaultMemoryLimit applies.
func parseMemoryLimit(flagValue string) (memLimit, error) {
	v, from := strings.TrimSpace(flagValue), "--memory-limit"
	if v == "" {
		if os.Getenv("GOMEMLIMIT") != "" {
			return memLimit{keep: true, from: "GOMEMLIMIT"}, nil
		}
		v, from = defaultMemoryLimit, "standaard"
	}
	n, err := parseBytes(v)
	if err != nil {
		return memLimit{}, fmt.Errorf("--memory-limit %q is geen grootte; schrijf bijvoorbeeld 110MiB, 512MB, 2GiB of 0 (geen grens)", flagValue)
	}
	if n == 0 {
		n = math.MaxInt64
	}
	return memLimit{bytes: n, from: from}, nil
}

// apply sets the limit and logs it; the default one it keeps adapting until ctx ends.
func (m memLimit) apply(ctx context.Context, log *slog.Logger) {
	if !m.keep {
		debug.SetMemoryLimit(m.bytes)
	}
	if m.from == "standaard" {
		go adaptLimit(ctx, m.bytes)
	}
	cur := debug.SetMemoryLimit(-1)
	if cur == math.MaxInt64 {
		log.Info("geheugengrens", "grens", "geen", "bron", m.from)
		return
	}
	log.Info("geheugengrens", "grens_mib", cur>>20, "bron", m.from)
}

// adaptLimit sets the runtime's limit, every half second, to what the runtime holds besides
// the heap plus the live heap and its headroom (1.25 to 1.5 times the live heap), at least
// base and at most adaptCeiling: the collector then does not end up running back to back
// until the ceiling is reached.
func adaptLimit(ctx context.Context, base int64) {
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		var v [6]int64
		for i, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = int64(s.Value.Uint64())
			}
		}
		live, other := v[0], v[1]-v[2]-v[3]-v[4]-v[5]
		debug.SetMemoryLimit(max(base, min(other+live+headroom(live), adaptCeiling)))
	}
}

// headroom is how far the heap may grow past the live heap before a collection: a quarter of
// the live heap up to 96 MiB, rising to a half at 128 MiB. A small live heap is one or a few
// big uploads, whose peak is what the default limit is for (a 1 GB ZIP through the real door,
// 5 Dec: 108-115 MB growth with this, 123-143 MB at a half throughout); a large one is many
// sessions at once, whose SSH packet garbage would make the collector run twice as often at a
// quarter throughout (the 200-session load test: 15 % more CPU; with this 10 %).
func headroom(live int64) int64 {
	return min(live/2, max(live/4, 2*live-192<<20))
}

// parseBytes reads a size with an optional unit: B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, all
// powers of 1024 as in --quota.
func parseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	mult := int64(1)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	for i, u := range []string{"K", "M", "G", "T"} {
		if strings.HasSuffix(t, u) {
			mult, t = 1<<(10*(i+1)), strings.TrimSuffix(t, u)
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsNaN(n) || n*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is geen grootte", s)
	}
	return int64(n * float64(mult)), nil
}
