package exchange

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"knooppunt/storage"
)

// total is the unfiltered total of p's berichtenlog of iWmo, as the TUI and `berichten` show it.
func (e *testEngine) total(p *Principal) int {
	e.t.Helper()
	l, err := e.h.MessageList(context.Background(), p, IWmo, MessageFilter{Limit: 10})
	if err != nil {
		e.t.Fatal(err)
	}
	if l.AtLeast {
		e.t.Fatalf("%s: total %d is a lower bound", p.Org.Code, l.Total)
	}
	return l.Total
}

// A berichtenlog's total is its count plus the changes not yet folded in: right before the
// fold, after it (in chunks of one), and after a purge removed the messages again.
func TestBerichtenlogTotalCountsChangesAndFolds(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg, other := e.principal("0363"), e.principal("12345678"), e.principal("87654321")
	e.process(gem, IWmo, "drie.zip", zipOf(t,
		file{name: "a.xml", data: envelope("WMO301", "0363", "12345678", newRef(), "")},
		file{name: "b.xml", data: envelope("WMO301", "0363", "12345678", newRef(), "")},
		file{name: "c.xml", data: envelope("WMO301", "0363", "87654321", newRef(), "")}))
	e.process(gem, IWmo, "een.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
	check := func(when string) {
		t.Helper()
		if g, z, o := e.total(gem), e.total(zorg), e.total(other); g != 4 || z != 3 || o != 1 {
			t.Fatalf("%s: totals gemeente %d, 12345678 %d, 87654321 %d; want 4, 3, 1", when, g, z, o)
		}
	}
	if countPrefix(t, e.h.kv, []byte(kLogDelta)) == 0 {
		t.Fatal("no changes written: the batches read and wrote the counts")
	}
	check("before the fold")
	if err := e.h.foldLogCounts(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(t, e.h.kv, []byte(kLogDelta)); n != 0 {
		t.Fatalf("%d changes left after the fold", n)
	}
	if n := countPrefix(t, e.h.kv, []byte(kLogCount)); n != 3 {
		t.Fatalf("%d counts after the fold, want 3", n)
	}
	check("after the fold")
	// Past retention every message goes, and the totals with them.
	e.clk.Add(Bewaartijd + GelezenBewaartijd + time.Hour)
	if err := e.h.sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Principal{gem, zorg, other} {
		if n := e.total(p); n != 0 {
			t.Fatalf("%s after the purge: total %d before the fold", p.Org.Code, n)
		}
	}
	if err := e.h.foldLogCounts(context.Background(), logCountFoldChunk); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Principal{gem, zorg, other} {
		if n := e.total(p); n != 0 {
			t.Fatalf("%s after the purge: total %d after the fold", p.Org.Code, n)
		}
	}
}

// The changes' keys are random, so a fold in chunks may add a removal before the addition it
// undoes: the count goes below zero for a while and must not be cut off at zero there.
func TestBerichtenlogCountFoldsRemovalBeforeAddition(t *testing.T) {
	e := newEngine(t, "")
	zorg := e.principal("12345678")
	put := func(fill byte, n int64) {
		k := append(key(kLogDelta, "12345678", IWmo, ""), bytes.Repeat([]byte{fill}, deltaIDLen)...)
		if err := e.h.kv.Update(func(t storage.Txn) error { return t.Set(k, be64(uint64(n))) }); err != nil {
			t.Fatal(err)
		}
	}
	put(0x00, -1) // sorts first: folded alone in the first chunk
	put(0xff, 3)
	if n := e.total(zorg); n != 2 {
		t.Fatalf("total %d before the fold, want 2", n)
	}
	if err := e.h.foldLogCounts(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if n := e.total(zorg); n != 2 {
		t.Fatalf("total %d after the fold, want 2", n)
	}
}

// Uploads committed while two folds run at once (as two nodes' do when the lease moves):
// every message is counted once, none twice.
func TestBerichtenlogCountsWhileFolding(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678")
	const uploads, each = 8, 5
	ctx, stop := context.WithCancel(context.Background())
	folded := make(chan error, 2)
	for range 2 {
		go func() {
			folds := 0
			for ctx.Err() == nil {
				if err := e.h.foldLogCounts(context.Background(), 2); err != nil {
					folded <- err
					return
				}
				folds++
			}
			if folds == 0 {
				folded <- fmt.Errorf("no fold ran")
				return
			}
			folded <- nil
		}()
	}
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			var fs []file
			for j := range each {
				fs = append(fs, file{name: fmt.Sprintf("%d.xml", j), data: envelope("WMO301", "0363", "12345678", newRef(), "")})
			}
			if u := e.process(gem, IWmo, fmt.Sprintf("u%d.zip", i), zipOf(t, fs...)); u.Status != Afgeleverd {
				t.Errorf("upload %d: %s", i, u.Status)
			}
		})
	}
	wg.Wait()
	stop()
	for range 2 {
		if err := <-folded; err != nil {
			t.Fatal(err)
		}
	}
	if g, z := e.total(gem), e.total(zorg); g != uploads*each || z != uploads*each {
		t.Fatalf("totals %d and %d, want %d", g, z, uploads*each)
	}
	if err := e.h.foldLogCounts(context.Background(), logCountFoldChunk); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(t, e.h.kv, []byte(kLogDelta)); n != 0 {
		t.Fatalf("%d changes left", n)
	}
	if g, z := e.total(gem), e.total(zorg); g != uploads*each || z != uploads*each {
		t.Fatalf("totals after the last fold %d and %d, want %d", g, z, uploads*each)
	}
}
