package exchange

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// holdAudit takes h's append lock and starts n goroutines that each append per entries, and
// returns once the first entry of every goroutine is queued behind the lock; release lets
// them go. Holding the lock is what makes the groups certain: without it, whether entries
// meet in the queue depends on the scheduler.
func holdAudit(h *Hub, tag string, n, per int, wg *sync.WaitGroup) (release func()) {
	h.auditMu.Lock()
	for g := range n {
		wg.Go(func() {
			for i := range per {
				h.Audit(System, "groeptest", fmt.Sprintf("%s/%d/%d", tag, g, i), "ok")
			}
		})
	}
	for {
		h.audit.mu.Lock()
		queued := len(h.audit.pending)
		h.audit.mu.Unlock()
		if queued == n {
			break
		}
		runtime.Gosched()
	}
	return h.auditMu.Unlock
}

// checkAuditGroups verifies the chain on h and that it holds want test entries, each exactly
// once, each goroutine's in the order it appended them.
func checkAuditGroups(t *testing.T, h *Hub, want int) {
	t.Helper()
	if broken, err := h.VerifyAudit(); err != nil || broken != 0 {
		t.Fatalf("audit verify: broken at %d, %v", broken, err)
	}
	seen := map[string]bool{}
	last := map[string]int{}
	err := h.AuditLog(1, func(e AuditEntry) bool {
		if e.Action != "groeptest" {
			return true
		}
		if seen[e.Path] {
			t.Errorf("%s twice in the chain", e.Path)
		}
		seen[e.Path] = true
		var tag string
		var g, i int
		if _, err := fmt.Sscanf(e.Path, "%1s/%d/%d", &tag, &g, &i); err != nil {
			t.Errorf("entry %q: %v", e.Path, err)
			return true
		}
		who := fmt.Sprintf("%s/%d", tag, g)
		if prev, ok := last[who]; ok && i != prev+1 || !ok && i != 0 {
			t.Errorf("%s: entry %d follows %d (present %t)", who, i, prev, ok)
		}
		last[who] = i
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != want {
		t.Fatalf("%d entries in the chain, want %d", len(seen), want)
	}
}

// The entries that queue while a node appends go into the chain together: one transaction for
// many, every entry once, each caller's in its order, the chain intact.
func TestAuditEntriesAppendInGroups(t *testing.T) {
	e := newEngine(t, "")
	const n, per = 40, 5
	before := e.h.audit.groups.Load()
	var wg sync.WaitGroup
	holdAudit(e.h, "a", n, 1, &wg)()
	wg.Wait()
	// All n were queued behind the lock: the first holder after it takes them at once (a
	// second transaction only if something else of the hub appended in between).
	if groups := e.h.audit.groups.Load() - before; groups > 2 {
		t.Fatalf("%d append transactions for %d queued entries: not grouped", groups, n)
	}
	// Then goroutines appending one after another, which meet in the queue or not.
	holdAudit(e.h, "b", n, per, &wg)()
	wg.Wait()
	checkAuditGroups(t, e.h, n+n*per)
}

// A group is bounded: more queued entries than auditGroupMax take more than one transaction,
// and none is lost or doubled between them.
func TestAuditGroupIsBounded(t *testing.T) {
	e := newEngine(t, "")
	n := auditGroupMax + 20
	before := e.h.audit.groups.Load()
	var wg sync.WaitGroup
	holdAudit(e.h, "a", n, 1, &wg)()
	wg.Wait()
	checkAuditGroups(t, e.h, n)
	if groups := e.h.audit.groups.Load() - before; groups < 2 || groups > 3 {
		t.Fatalf("%d append transactions for %d queued entries, want 2 (at most %d each)", groups, n, auditGroupMax)
	}
}

// Two nodes on one store append groups at the same time: one chain, every entry once.
func TestAuditGroupsAcrossNodes(t *testing.T) {
	p := newSharedPlace(t)
	a := newNodeEngine(t, p, "a", nil, nil)
	b := newNodeEngine(t, p, "b", nil, nil)
	const n, per = 30, 8
	beforeA, beforeB := a.h.audit.groups.Load(), b.h.audit.groups.Load()
	var wg sync.WaitGroup
	releaseA := holdAudit(a.h, "a", n, 1, &wg)
	releaseB := holdAudit(b.h, "b", n, 1, &wg)
	releaseA()
	releaseB()
	wg.Wait()
	if groups := a.h.audit.groups.Load() - beforeA + b.h.audit.groups.Load() - beforeB; groups > 4 {
		t.Fatalf("%d append transactions for %d queued entries: not grouped", groups, 2*n)
	}
	releaseA = holdAudit(a.h, "c", n, per, &wg)
	releaseB = holdAudit(b.h, "d", n, per, &wg)
	releaseA()
	releaseB()
	wg.Wait()
	for _, e := range []*testEngine{a, b} {
		checkAuditGroups(t, e.h, 2*n+2*n*per)
	}
}
