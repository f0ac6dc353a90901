package exchange

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// quotaNodes is quotaWorld on n nodes sharing one database and bucket.
func quotaNodes(t *testing.T, n int, limit int64, clk *storagetest.Clock) []*Hub {
	t.Helper()
	kvs, files := sharedStores(t, n)
	var hubs []*Hub
	for i := range n {
		h, err := Open(Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler), Clock: clk, UploadQuota: limit, KV: kvs[i], Files: files[i]})
		acctMust(t, err)
		t.Cleanup(func() { h.Close() })
		hubs = append(hubs, h)
	}
	quotaWorldOn(t, hubs[0])
	return hubs
}

// quotaWorldOn fills h as quotaWorld does.
func quotaWorldOn(t *testing.T, h *Hub) {
	t.Helper()
	for _, o := range [][2]string{{"9999", "Test Gemeente 1"}, {"0060", "Ameland"}} {
		_, err := h.CreateOrg(System, o[0], o[1])
		acctMust(t, err)
	}
	for _, a := range []Account{
		{Name: "jan", Org: "9999", Products: []Product{IWmo}},
		{Name: "kees", Org: "9999", Products: []Product{IWmo}},
		{Name: "piet", Org: "0060", Products: []Product{IJw}},
	} {
		_, line := acctKey(t)
		a.Keys = []string{line}
		acctMust(t, h.CreateAccount(System, a))
	}
}

// One organisation's daily quota holds across two nodes: a file still being written at node
// A counts at node B, which refuses the write that would pass the quota; finished files of
// both count at both, and the organisation's next file, at either node, is refused.
func TestQuotaHoldsAcrossNodes(t *testing.T) {
	clk := storagetest.NewClock(time.Date(2026, 1, 14, 11, 0, 0, 0, time.UTC))
	hubs := quotaNodes(t, 2, 1<<20, clk)
	a, b := hubs[0], hubs[1]
	jan, kees := acctAs(t, a, "jan"), acctAs(t, b, "kees")

	// 700 KB at A, not closed yet.
	sa, err := a.StartUpload(context.Background(), jan, IWmo, "a.xml", false)
	acctMust(t, err)
	data := aanlData(700 << 10)
	for off := 0; off < len(data); off += 32 << 10 {
		if _, err := sa.WriteAt(data[off:min(off+32<<10, len(data))], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	// 700 KB at B, for the same organisation: refused once it would pass the 1 MB.
	err = quotaPut(b, kees, IWmo, "b.xml", 700<<10)
	acctWant(t, err, ErrQuota, "9999", "1 MB")
	acctMust(t, sa.Close())

	usedA, usedB := quotaUsed(t, a, "9999"), quotaUsed(t, b, "9999")
	if usedA != usedB || usedA > 1<<20 || usedA < 1<<20-32<<10 {
		t.Fatalf("used: %d at A, %d at B; want the same, within the last write of 1 MB", usedA, usedB)
	}
	for _, h := range hubs {
		acctWant(t, quotaPut(h, acctAs(t, h, "jan"), IWmo, "c.xml", 64<<10), ErrQuota, "9999")
	}
	// Another organisation is not touched.
	acctMust(t, quotaPut(b, acctAs(t, b, "piet"), IJw, "d.xml", 700<<10))
	// The next day the quota starts afresh, at both nodes.
	clk.Add(24 * time.Hour)
	for _, h := range hubs {
		acctMust(t, quotaPut(h, acctAs(t, h, "jan"), IWmo, "e.xml", 400<<10))
	}
	if got := quotaUsed(t, a, "9999"); got != 800<<10 {
		t.Fatalf("used the next day: %d, want 800 KB", got)
	}
}

// An upload handed in at node A and finished by node B gives its admission slot at A back:
// otherwise A's gate fills with slots nobody releases. B's event says when; the store says
// the upload is final.
func TestAdmissionSlotFreedWhenAnotherNodeFinishes(t *testing.T) {
	kvs, files := sharedStores(t, 2)
	a := newEngineWith(t, "", Config{KV: kvs[0], Files: files[0], MaxUploads: 1})
	b := openNode(t, kvs[1], files[1], a.clk)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var s *slot
	for s == nil { // the gate shuts when A's engine has started
		var err error
		if s, err = a.h.admission.acquire(ctx, "0363"); err != nil {
			t.Fatal(err)
		}
		if s == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	a.h.admission.hand(s, "elders/0001")
	if held, _, _ := a.h.admission.stats(); held != 1 {
		t.Fatalf("held %d, want 1", held)
	}
	// B processed it (as a claim lets it) and recorded it final.
	u := Upload{ID: 900001, Org: "0363", Product: IWmo, Name: "elders.xml", Blob: "elders/0001", Status: Afgeleverd}
	if err := b.kv.Update(func(t storage.Txn) error { return setJSON(t, key(kUpload, u.ID), u) }); err != nil {
		t.Fatal(err)
	}
	for {
		b.publish(Event{Org: "0363", Product: IWmo, Kind: "upload", UploadID: u.ID})
		if held, _, _ := a.h.admission.stats(); held == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the slot at A was not given back")
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The slot is free for the next upload at A at once (capacity 1).
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	defer cancelShort()
	next, err := a.h.admission.acquire(short, "0363")
	if err != nil || next == nil {
		t.Fatalf("next upload at A: %v %v", next, err)
	}
	next.release()
}
