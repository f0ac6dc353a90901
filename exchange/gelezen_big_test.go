package exchange

import (
	"context"
	"errors"

	"fmt"
	"knooppunt/storage"
	"testing"
)

// uploadBigDelivery uploads n envelopes from gem to zorg in one ZIP: one delivery file of n messages.
func uploadBigDelivery(t *testing.T, e *testEngine, n int) (gem, zorg *Principal, name string, refs []string) {
	t.Helper()
	gem, zorg = e.principal("0363"), e.principal("12345678")
	files := make([]file, n)
	refs = make([]string, n)
	for i := range files {
		refs[i] = newRef()
		files[i] = file{fmt.Sprintf("b%05d.xml", i), envelope("WMO301", "0363", "12345678", refs[i], "")}
	}
	u := e.process(gem, IWmo, "groot.zip", zipOf(t, files...))
	if len(u.Fouten) != 0 {
		t.Fatalf("fouten: %+v", u.Fouten[:min(3, len(u.Fouten))])
	}
	ds, _, err := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{})
	if err != nil || len(ds) != 1 || len(ds[0].Messages) != n {
		t.Fatalf("inbox: %v %d files", err, len(ds))
	}
	return gem, zorg, ds[0].Name, refs
}

// wantStatus checks that every one of the n messages has status st in both berichtenlogs,
// through the status filter (the index) and in the records themselves.
func wantStatus(t *testing.T, e *testEngine, n int, st MessageStatus, ps ...*Principal) {
	t.Helper()
	for _, p := range ps {
		ms, total, err := e.h.Messages(context.Background(), p, IWmo, MessageFilter{Status: string(st), Limit: 10})
		if err != nil || total != n {
			t.Fatalf("%s: %d berichten met status %q, want %d (%v)", p.Org.Code, total, st, n, err)
		}
		for _, m := range ms {
			if m.Status != st || m.History[len(m.History)-1].Status != st && st != MsgAfgeleverd {
				t.Fatalf("%s: bericht %s: status %q, historie %+v", p.Org.Code, m.Referentie, m.Status, m.History)
			}
		}
		_, all, err := e.h.Messages(context.Background(), p, IWmo, MessageFilter{})
		if err != nil || all != n {
			t.Fatalf("%s: %d berichten, want %d (%v)", p.Org.Code, all, n, err)
		}
	}
}

// TestGelezenOfABigDelivery: a delivery of thousands of messages was marked gelezen (and
// deleted, restored) in one transaction that rewrote every message, which Badger refuses
// beyond ~15 % of its memtable ("Txn is too big to fit into one request"): such a file could
// never be marked, deleted or restored.
func TestGelezenOfABigDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 6,000 messages")
	}
	const n = 6000
	e := newEngine(t, "")
	gem, zorg, name, refs := uploadBigDelivery(t, e, n)

	if err := e.h.SetGelezen(zorg, IWmo, []string{name}, true); err != nil {
		t.Fatal(err)
	}
	if nw, _, _ := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{OnlyNew: true}); len(nw) != 0 {
		t.Fatalf("gelezen file still new: %d", len(nw))
	}
	wantStatus(t, e, n, MsgGelezen, zorg, gem)

	if err := e.h.SetGelezen(zorg, IWmo, []string{name}, false); err != nil {
		t.Fatal(err)
	}
	if nw, _, _ := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{OnlyNew: true}); len(nw) != 1 {
		t.Fatalf("ongelezen file not new: %d", len(nw))
	}
	wantStatus(t, e, n, MsgAfgeleverd, zorg, gem)
	ms, _, _ := e.h.Messages(context.Background(), zorg, IWmo, MessageFilter{Referentie: refs[n-1]})
	if len(ms) != 1 || len(ms[0].History) < 2 || ms[0].History[len(ms[0].History)-1].Status != MsgOngelezen {
		t.Fatalf("historie na ongelezen: %+v", ms)
	}

	if err := e.h.DeleteDeliveries(zorg, IWmo, []string{name}); err != nil {
		t.Fatal(err)
	}
	if ds, _, _ := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{}); len(ds) != 0 {
		t.Fatalf("deleted file stayed: %d", len(ds))
	}
	wantStatus(t, e, n, MsgVerwijderd, zorg, gem)

	if err := e.h.Restore(zorg, IWmo, refs[n/2]); err != nil {
		t.Fatal(err)
	}
	if ds, _, _ := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{}); len(ds) != 1 || len(ds[0].Messages) != n {
		t.Fatalf("restored: %d files", len(ds))
	}
	wantStatus(t, e, n, MsgHersteld, zorg, gem)
}

// TestGelezenOfABigDeliveryCutShort: the history of a big delivery's messages is written in
// chunks after the delivery record changed; cut short (a crash), the next action on the file
// or the start of the server finishes it, in order.
func TestGelezenOfABigDeliveryCutShort(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 2,000 messages")
	}
	const n = 4*histChunk + 7
	e := newEngine(t, "")
	gem, zorg, name, refs := uploadBigDelivery(t, e, n)
	crash := errors.New("gestopt")
	histChunkHook = func(uint64) error { return crash }
	t.Cleanup(func() { histChunkHook = nil })

	if err := e.h.SetGelezen(zorg, IWmo, []string{name}, true); err != nil {
		t.Fatal(err)
	}
	if nw, _, _ := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{OnlyNew: true}); len(nw) != 0 {
		t.Fatalf("gelezen file still new: %d", len(nw))
	}
	if _, total, _ := e.h.Messages(context.Background(), zorg, IWmo, MessageFilter{Status: string(MsgGelezen)}); total != histChunk {
		t.Fatalf("after one chunk: %d gelezen, want %d", total, histChunk)
	}
	// The next action on the file first finishes what is queued.
	histChunkHook = nil
	if err := e.h.SetGelezen(zorg, IWmo, []string{name}, false); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e, n, MsgAfgeleverd, zorg, gem)
	ms, _, _ := e.h.Messages(context.Background(), zorg, IWmo, MessageFilter{Referentie: refs[n-1]})
	if h := ms[0].History; len(h) < 2 || h[len(h)-2].Status != MsgGelezen || h[len(h)-1].Status != MsgOngelezen {
		t.Fatalf("historie: %+v", h)
	}

	// Cut short again; the start of the server (and each sweep) finishes it.
	histChunkHook = func(uint64) error { return crash }
	if err := e.h.DeleteDeliveries(zorg, IWmo, []string{name}); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := e.h.Messages(context.Background(), gem, IWmo, MessageFilter{Status: string(MsgVerwijderd)}); total != histChunk {
		t.Fatalf("after one chunk: %d verwijderd, want %d", total, histChunk)
	}
	histChunkHook = nil
	if err := e.h.finishAllHistory(); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e, n, MsgVerwijderd, zorg, gem)
	if err := e.h.kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kHistQ), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			return false, fmt.Errorf("marker %q left", k)
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseOfABigHeldDelivery: a big delivery held for a Digikoppeling route is delivered
// whole once the route is Portaal again, every message afgeleverd.
func TestReleaseOfABigHeldDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 6,000 messages")
	}
	const n = 6000
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678", Productbeheerder)
	if err := e.h.SetRoute(zorg, IWmo, "WMO 301/302", Digikoppeling, Actief, e.importCPA("12345678")); err != nil {
		t.Fatal(err)
	}
	files := make([]file, n)
	for i := range files {
		files[i] = file{fmt.Sprintf("w%05d.xml", i), envelope("WMO301", "0363", "12345678", newRef(), "")}
	}
	e.process(gem, IWmo, "wacht.zip", zipOf(t, files...))
	if _, total, _ := e.h.Messages(context.Background(), zorg, IWmo, MessageFilter{Status: string(MsgWachtRoute)}); total != n {
		t.Fatalf("%d waiting, want %d", total, n)
	}
	if err := e.h.SetRoute(zorg, IWmo, "WMO 301/302", Portaal, Actief, ""); err != nil {
		t.Fatal(err)
	}
	ds, _, err := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{})
	if err != nil || len(ds) != 1 || len(ds[0].Messages) != n {
		t.Fatalf("released: %v %+v", err, len(ds))
	}
	wantStatus(t, e, n, MsgAfgeleverd, zorg, gem)
}
