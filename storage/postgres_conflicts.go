package storage

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// conflictCounts counts the transactions PostgreSQL broke off with a serialization failure,
// per caller and reason, so that the keys concurrent transactions collide on can be found from
// a load test's log instead of guessed (BENCHMARKS.md, issue 14). The PostgreSQL log names only
// the statement, and every statement on kv looks the same. Counting happens only on a
// conflict: a retried transaction costs a round trip or more, a stack walk is small beside it.
type conflictCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// add counts one conflict of the transaction whose Update or UpdateLazy call is up the stack.
func (c *conflictCounts) add(err error) {
	label := conflictCaller() + " " + conflictReason(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[label]++
}

// Conflicts returns the serialization failures so far, per caller ("file:line function") and
// reason ("rw": read/write dependencies, "update": a row another transaction changed,
// "deadlock"), most first.
func (p *Postgres) Conflicts() []ConflictCount {
	p.conflicts.mu.Lock()
	defer p.conflicts.mu.Unlock()
	out := make([]ConflictCount, 0, len(p.conflicts.n))
	for k, n := range p.conflicts.n {
		out = append(out, ConflictCount{Label: k, N: n})
	}
	slices.SortFunc(out, func(a, b ConflictCount) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Label, b.Label))
	})
	return out
}

// ConflictCount is one line of Postgres.Conflicts.
type ConflictCount struct {
	Label string
	N     int
}

// logConflicts writes the counts to the log, at its end (Close), one line per caller and
// reason, the most frequent first.
func (p *Postgres) logConflicts() {
	if p.log == nil {
		return
	}
	cs := p.Conflicts()
	total := 0
	for _, c := range cs {
		total += c.N
	}
	if total == 0 {
		return
	}
	p.log.Info("transactieconflicten", "totaal", total)
	for i, c := range cs {
		if i == 20 {
			break
		}
		p.log.Info("transactieconflict", "aantal", c.N, "waar", c.Label)
	}
}

// conflictCaller names the first function outside this package on the stack: the caller of
// Update or UpdateLazy, or of a helper in this package that called them (Sequence).
func conflictCaller() string {
	pcs := make([]uintptr, 16)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		// This package's own tests call Update as a caller from outside would.
		if !strings.HasPrefix(f.Function, "knooppunt/storage.") || strings.HasSuffix(f.File, "_test.go") {
			return fmt.Sprintf("%s:%d %s", filepath.Base(f.File), f.Line, strings.TrimPrefix(f.Function, "knooppunt/"))
		}
		if !more {
			return "?"
		}
	}
}

func conflictReason(err error) string {
	var pe *pgconn.PgError
	switch {
	case !errors.As(err, &pe):
		return "?"
	case pe.Code == "40P01":
		return "deadlock"
	case strings.Contains(pe.Message, "concurrent update"):
		return "update"
	case strings.Contains(pe.Message, "read/write dependencies"):
		return "rw"
	}
	return pe.Code
}
