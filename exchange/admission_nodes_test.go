package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"knooppunt/exchange/codes"
	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// newAdmissionNode runs a node on p with an admission limit of k; kv, when given, is its
// store (opened on p).
func newAdmissionNode(t *testing.T, p sharedPlace, name string, kv storage.KV, k int) *testEngine {
	t.Helper()
	return newAdmissionNodeWaiting(t, p, name, kv, k, 0)
}

// newAdmissionNodeWaiting is newAdmissionNode with an UploadWait of its own (0: the default).
func newAdmissionNodeWaiting(t *testing.T, p sharedPlace, name string, kv storage.KV, k int, wait time.Duration) *testEngine {
	t.Helper()
	dir := t.TempDir()
	own, files := p.open(t, dir)
	if kv != nil {
		own.Close()
		own = kv
	}
	cfg := quickBeats
	cfg.KV, cfg.Files, cfg.Node, cfg.MaxUploads, cfg.UploadWait = own, files, name, k, wait
	e := newEngineWith(t, dir, cfg)
	pollUntil(t, "de poort van "+name+" dicht", func() bool { return e.h.admission.state().Active })
	return e
}

// storeSlots counts the slot records in kv per holder instance.
func storeSlots(t testing.TB, kv storage.KV) (total int, byInstance map[string]int) {
	t.Helper()
	total, byInstance, err := countSlots(kv)
	if err != nil {
		t.Fatal(err)
	}
	return total, byInstance
}

// countSlots is storeSlots for a goroutine of a test: it returns the error.
func countSlots(kv storage.KV) (total int, byInstance map[string]int, err error) {
	byInstance = map[string]int{}
	err = kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kSlot), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			var r slotRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return false, fmt.Errorf("%q: %w", k, err)
			}
			byInstance[r.Instance]++
			total++
			return true, nil
		})
	})
	return total, byInstance, err
}

func waitingAt(h *Hub) int {
	_, w, _ := h.admission.stats()
	return w
}

// With a limit of K on two nodes the hub has K uploads in hand, not 2K: when K are open
// across both nodes, a new upload waits at either node, also at the node that holds fewer
// than K itself. Each upload that ends admits one waiter, at whichever node; when all are
// final no slot is left in the store.
func TestAdmissionLimitHoldsAcrossNodes(t *testing.T) {
	const k = 4 // an organisation's share is 2
	p := newSharedPlace(t)
	a := newAdmissionNode(t, p, "a", nil, k)
	b := newAdmissionNode(t, p, "b", nil, k)
	ga, ha, ja := a.principal("0363"), a.principal("0060"), a.principal("9999")
	gb, hb, jb := b.principal("0363"), b.principal("0060"), b.principal("9999")

	open := []*Spool{mustStart(t, a.h, ga, "a1.zip"), mustStart(t, a.h, ha, "a2.zip"),
		mustStart(t, b.h, jb, "b1.zip"), mustStart(t, b.h, gb, "b2.zip")}
	if n, _ := storeSlots(t, a.h.kv); n != k {
		t.Fatalf("%d slots in the store with %d uploads open, want %d", n, k, k)
	}
	// B holds two of its own four: counted per node it would admit at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	atA := startAsync(ctx, a.h, ja, "a3.zip")
	atB := startAsync(ctx, b.h, hb, "b3.zip")
	pollUntil(t, "een wachtende op A en op B", func() bool { return waitingAt(a.h) == 1 && waitingAt(b.h) == 1 })
	select {
	case r := <-atA:
		t.Fatalf("fifth upload admitted at A: %v", r.err)
	case r := <-atB:
		t.Fatalf("fifth upload admitted at B: %v", r.err)
	default:
	}
	if n, _ := storeSlots(t, a.h.kv); n != k {
		t.Fatalf("%d slots in the store while two wait, want %d", n, k)
	}

	// One upload at A ends: exactly one of the two waiters gets its slot.
	finish(t, open[0], admissionZip(t, "0363"))
	var admittedFirst *Spool
	var second <-chan started
	var other *Hub
	select {
	case r := <-atA:
		acctMust(t, r.err)
		admittedFirst, second, other = r.s, atB, b.h
	case r := <-atB:
		acctMust(t, r.err)
		admittedFirst, second, other = r.s, atA, a.h
	case <-ctx.Done():
		t.Fatal("no waiter admitted after an upload ended")
	}
	if w := waitingAt(other); w != 1 {
		t.Fatalf("the other waiter (at %s) no longer waits: %d", other.NodeName(), w)
	}
	if n, _ := storeSlots(t, a.h.kv); n != k {
		t.Fatalf("%d slots after one ended and one was admitted, want %d", n, k)
	}
	finish(t, open[3], admissionZip(t, "0363")) // b2.zip at B admits the other
	rest := []*Spool{open[1], open[2], admittedFirst, admitted(t, second)}
	for _, s := range rest {
		finish(t, s, admissionZip(t, s.p.Org.Code))
	}
	uploads := 0
	for _, pr := range []*Principal{ga, ha, ja} {
		for _, u := range aanlUploads(t, a.h, pr, IWmo) {
			uploads++
			if got := a.wait(pr, u.ID); got.Status != Afgeleverd {
				t.Errorf("%s of %s: %s %+v", u.Name, pr.Org.Code, got.Status, got.Fouten)
			}
		}
	}
	if uploads != 6 {
		t.Fatalf("%d uploads, want 6", uploads)
	}
	if n, by := storeSlots(t, a.h.kv); n != 0 {
		t.Fatalf("slots left after every upload is final: %v", by)
	}
}

// Many uploads started at once on both nodes: at no moment does the store hold more than K
// slots, nor are more than K files open for writing across the hub.
func TestAdmissionLimitHoldsUnderConcurrentUploads(t *testing.T) {
	const k, perNode, rounds = 3, 4, 3
	p := newSharedPlace(t)
	nodes := []*testEngine{newAdmissionNode(t, p, "a", nil, k), newAdmissionNode(t, p, "b", nil, k)}
	orgs := []string{"0363", "0060", "9999"}

	var openNow, maxOpen, maxStore atomic.Int64
	note := func(m *atomic.Int64, v int64) {
		for cur := m.Load(); v > cur && !m.CompareAndSwap(cur, v); cur = m.Load() {
		}
	}
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	var watchErr error // read after watched is closed
	go func() {
		defer close(watched)
		for {
			n, _, err := countSlots(nodes[0].h.kv)
			if err != nil {
				watchErr = err
				return
			}
			note(&maxStore, int64(n))
			select {
			case <-stopWatch:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*perNode*rounds)
	names := make(chan [2]string, len(nodes)*perNode*rounds) // org, name
	for ni, e := range nodes {
		for w := range perNode {
			org := orgs[(ni*perNode+w)%len(orgs)]
			pr := e.principal(org)
			wg.Go(func() {
				for r := range rounds {
					name := fmt.Sprintf("%s-%d-%d.zip", e.h.NodeName(), w, r)
					s, err := e.h.StartUpload(context.Background(), pr, IWmo, name, false)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", name, err)
						return
					}
					note(&maxOpen, openNow.Add(1))
					if n, _, err := countSlots(e.h.kv); err != nil || n > k {
						errs <- fmt.Errorf("%s admitted with %d slots in the store (%v)", name, n, err)
					}
					data := admissionZip(t, org)
					if _, err := s.WriteAt(data, 0); err != nil {
						errs <- err
					}
					time.Sleep(20 * time.Millisecond) // a transfer takes a while: let the others pile up
					openNow.Add(-1)
					if err := s.Close(); err != nil {
						errs <- fmt.Errorf("%s: %w", name, err)
					}
					names <- [2]string{org, name}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	close(names)
	for err := range errs {
		t.Error(err)
	}
	// Every upload ends, and with it its slot.
	for on := range names {
		pr := nodes[0].principal(on[0])
		u := uploadNamed(t, nodes[0].h, pr, on[1])
		if got := nodes[0].wait(pr, u.ID); got.Status != Afgeleverd {
			t.Errorf("%s: %s %+v", on[1], got.Status, got.Fouten)
		}
	}
	close(stopWatch)
	<-watched
	if watchErr != nil {
		t.Fatal(watchErr)
	}
	t.Logf("hoogste aantal plaatsen in de opslag %d, open bestanden %d (grens %d)", maxStore.Load(), maxOpen.Load(), k)
	if maxStore.Load() > k || maxOpen.Load() > k {
		t.Fatalf("limit %d passed: %d slots in the store, %d files open at once", k, maxStore.Load(), maxOpen.Load())
	}
	if n, by := storeSlots(t, nodes[0].h.kv); n != 0 {
		t.Fatalf("slots left after every upload is final: %v", by)
	}
}

// A node that stops (kill -9: no heartbeat, nothing given back) holds its slot only until the
// others judge it dead: then the slot is free, and a client waiting at another node gets it.
func TestAdmissionSlotOfDeadNodeComesFree(t *testing.T) {
	p := newSharedPlace(t)
	aKV, _ := p.open(t, t.TempDir())
	fk := &freezingKV{KV: aKV, gate: make(chan struct{})}
	a := newAdmissionNode(t, p, "a", fk, 1)
	t.Cleanup(fk.thaw) // before A's engine stops (cleanups run last first)
	b := newAdmissionNode(t, p, "b", nil, 1)

	sa := mustStart(t, a.h, a.principal("0363"), "a.zip")
	t.Cleanup(func() { fk.thaw(); cutOff(sa) }) // A's store answers again first
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	atB := startAsync(ctx, b.h, b.principal("0060"), "b.zip")
	pollUntil(t, "B wacht op de plaats van A", func() bool { return waitingAt(b.h) == 1 })
	if _, by := storeSlots(t, b.h.kv); by[a.h.node.rec.Instance] != 1 {
		t.Fatalf("slots while A lives: %v", by)
	}

	fk.frozen.Store(true) // A stops answering: no heartbeat, no release
	stopped := time.Now()
	sb := admitted(t, atB)
	t.Logf("plaats van het gestopte knooppunt vrij na %v (NodeStale %v, NodeBeat %v)", time.Since(stopped).Round(time.Millisecond), quickBeats.NodeStale, quickBeats.NodeBeat)
	n, by := storeSlots(t, b.h.kv)
	if n != 1 || by[b.h.node.rec.Instance] != 1 {
		t.Fatalf("slots after A was judged dead: %v, want only B's", by)
	}
	finish(t, sb, admissionZip(t, "0060"))
	gem := b.principal("0060")
	if u := b.wait(gem, uploadNamed(t, b.h, gem, "b.zip").ID); u.Status != Afgeleverd {
		t.Fatalf("b.zip: %s %+v", u.Status, u.Fouten)
	}
}

// A node holds at most its share of the hub's slots while another node lives (K over the live
// nodes, at least its workers): a client at A waits although the store has room, so that B's
// client is admitted at once and B's idle workers get the upload, instead of A's uploads
// queueing behind A's busy workers (the cold start of the two-node load test, issue 14). When
// B dies, A alone has every slot, and its waiting client goes in.
func TestAdmissionNodeHoldsItsShare(t *testing.T) {
	const k = 4 // two nodes: a share of 2 each, as the test engines have 2 workers
	p := newSharedPlace(t)
	bKV, _ := p.open(t, t.TempDir())
	fk := &freezingKV{KV: bKV, gate: make(chan struct{})}
	a := newAdmissionNode(t, p, "a", nil, k)
	b := newAdmissionNode(t, p, "b", fk, k)
	t.Cleanup(fk.thaw) // before B's engine stops (cleanups run last first)
	if w := a.h.cfg.Workers; w != 2 {
		t.Fatalf("test engines have %d workers; this test needs a share (2) that only the nodes limit", w)
	}
	orgs := []string{"0363", "0060", "9999"}
	var open []*Spool
	for i, org := range orgs[:2] {
		open = append(open, mustStart(t, a.h, a.principal(org), fmt.Sprintf("a%d.zip", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	atA := startAsync(ctx, a.h, a.principal(orgs[2]), "a2.zip")
	pollUntil(t, "de derde aanlevering op A wacht of is toegelaten", func() bool { return waitingAt(a.h) == 1 || len(atA) == 1 })
	select {
	case r := <-atA:
		t.Fatalf("A admitted a third upload past its share of %d with %d slots for the hub: %v", k/2, k, r.err)
	default:
	}
	if n, by := storeSlots(t, a.h.kv); n != 2 || by[a.h.node.rec.Instance] != 2 {
		t.Fatalf("slots while A waits: %v, want A's 2", by)
	}

	// B has room of its own: its client does not wait behind A's.
	sb := mustStart(t, b.h, b.principal(orgs[2]), "b.zip")
	t.Cleanup(func() { fk.thaw(); cutOff(sb) })
	if w := waitingAt(b.h); w != 0 {
		t.Fatalf("%d waiting at B", w)
	}
	if len(atA) != 0 {
		t.Fatal("A's third upload admitted while B lives and A holds its share")
	}

	fk.frozen.Store(true) // B stops beating: A alone has every slot
	open = append(open, admitted(t, atA))
	if _, by := storeSlots(t, a.h.kv); by[a.h.node.rec.Instance] != 3 {
		t.Fatalf("slots after B was judged dead: %v, want A's 3", by)
	}
	for i, s := range open {
		finish(t, s, admissionZip(t, orgs[i]))
	}
	for i, org := range orgs {
		pr := a.principal(org)
		if u := a.wait(pr, uploadNamed(t, a.h, pr, fmt.Sprintf("a%d.zip", i)).ID); u.Status != Afgeleverd {
			t.Fatalf("a%d.zip: %s %+v", i, u.Status, u.Fouten)
		}
	}
}

// A client at node B whose wait ends while node A holds the hub's only slot is refused as on
// one machine: ErrBusy with what to do, audited, recorded as Afgekeurd with KP012; the
// upload at A goes through, and B admits again once it is final.
func TestAdmissionBusyAtBWhileAHoldsTheSlot(t *testing.T) {
	p := newSharedPlace(t)
	a := newAdmissionNode(t, p, "a", nil, 1)
	b := newAdmissionNodeWaiting(t, p, "b", nil, 1, 200*time.Millisecond)
	gemA, gemB := a.principal("0363"), b.principal("0060")

	sa := mustStart(t, a.h, gemA, "a.zip")
	_, err := b.h.StartUpload(context.Background(), gemB, IWmo, "b.zip", false)
	acctWant(t, err, ErrBusy, "iwmo/aanleveren/b.zip is niet aangenomen", "probeer het over enkele minuten opnieuw")
	if !auditHas(t, b.h, gemB.Account.Name, "aanleveren", "geweigerd: "+ErrBusy.Error()) {
		t.Error("the refusal is not audited")
	}
	if us := aanlUploads(t, b.h, gemB, IWmo); len(us) != 1 || !us[0].AtDoor || us[0].Fouten[0].Code != codes.KP012 {
		t.Fatalf("the refusal is not recorded as Afgekeurd with KP012: %+v", us)
	}
	if n, by := storeSlots(t, b.h.kv); n != 1 || by[a.h.node.rec.Instance] != 1 {
		t.Fatalf("slots after the refusal: %v, want only A's", by)
	}
	finish(t, sa, admissionZip(t, "0363"))
	if u := a.wait(gemA, uploadNamed(t, a.h, gemA, "a.zip").ID); u.Status != Afgeleverd {
		t.Fatalf("a.zip: %s %+v", u.Status, u.Fouten)
	}
	sb := mustStart(t, b.h, gemB, "b2.zip")
	finish(t, sb, admissionZip(t, "0060"))
	if u := b.wait(gemB, uploadNamed(t, b.h, gemB, "b2.zip").ID); u.Status != Afgeleverd {
		t.Fatalf("b2.zip: %s %+v", u.Status, u.Fouten)
	}
}

// A slot freed at node A admits a client waiting at node B: the upload at A ends (it is
// final), its final transaction removes the slot, and B hears of it through A's event.
func TestAdmissionSlotFreedAtAAdmitsWaiterAtB(t *testing.T) {
	p := newSharedPlace(t)
	a := newAdmissionNode(t, p, "a", nil, 1)
	b := newAdmissionNode(t, p, "b", nil, 1)
	gemA, gemB := a.principal("0363"), b.principal("0060")

	sa := mustStart(t, a.h, gemA, "eerst.zip")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	atB := startAsync(ctx, b.h, gemB, "daarna.zip")
	pollUntil(t, "B wacht", func() bool { return waitingAt(b.h) == 1 })
	finish(t, sa, admissionZip(t, "0363"))
	sb := admitted(t, atB)
	// Only the end of eerst.zip can have made room.
	if u := uploadNamed(t, a.h, gemA, "eerst.zip"); u.Status != Afgeleverd {
		t.Fatalf("B admitted while eerst.zip at A is %s", u.Status)
	}
	if w := waitingAt(b.h); w != 0 {
		t.Fatalf("%d still waiting at B", w)
	}
	finish(t, sb, admissionZip(t, "0060"))
	if u := b.wait(gemB, uploadNamed(t, b.h, gemB, "daarna.zip").ID); u.Status != Afgeleverd {
		t.Fatalf("daarna.zip: %s %+v", u.Status, u.Fouten)
	}
	if n, by := storeSlots(t, a.h.kv); n != 0 {
		t.Fatalf("slots left: %v", by)
	}
}

// On Badger (one process) the gate counts every slot itself: an upload, from its start to
// its final transaction, writes no slot record, so the hot path has no extra transaction and
// leaves no deleted keys behind for the scans.
func TestAdmissionOnBadgerWritesNoSlotRecords(t *testing.T) {
	h := admissionWorld(t, 1, 0)
	runEngine(t, h)
	g := acctAs(t, h, "g0363")
	s := mustStart(t, h, g, "a.zip")
	if n, by := storeSlots(t, h.kv); n != 0 {
		t.Fatalf("slot records on Badger: %v", by)
	}
	next := startAsync(context.Background(), h, g, "b.zip")
	waitFor(t, h, "one waiter", waiting(1))
	finish(t, s, admissionZip(t, "0363"))
	finish(t, admitted(t, next), admissionZip(t, "0363"))
	waitFor(t, h, "every slot back", held(0))
	for _, name := range []string{"a.zip", "b.zip"} {
		if u := uploadNamed(t, h, g, name); u.Status != Afgeleverd {
			t.Fatalf("%s: %s", name, u.Status)
		}
	}
	if n, by := storeSlots(t, h.kv); n != 0 {
		t.Fatalf("slot records on Badger: %v", by)
	}
}

// A negative limit is refused at start with what to do; 0 means the default.
func TestAdmissionLimitRefusedAtOpen(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(Config{DataDir: dir, Log: slog.New(slog.DiscardHandler), MaxUploads: -2})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--max-uploads") || !strings.Contains(err.Error(), "minstens 1") {
		t.Fatalf("MaxUploads -2: %v", err)
	}
	h, err := Open(Config{DataDir: dir, Log: slog.New(slog.DiscardHandler), Workers: 3})
	acctMust(t, err)
	defer h.Close()
	if _, _, c := h.admission.stats(); c != DefaultMaxUploads(3) {
		t.Fatalf("capacity %d, want the default %d", c, DefaultMaxUploads(3))
	}
}

// BenchmarkAdmissionSlotTake is the store's share of admitting one upload: the take (one
// small transaction that counts the slot records and writes one) with 7 other slots held, as
// on a busy hub with --max-uploads 16. Giving a slot back is not timed: an upload's slot goes
// with its own final transaction. The hub takes slots in the store on PostgreSQL only; the
// Badger run measured why not on Badger.
func BenchmarkAdmissionSlotTake(b *testing.B) {
	for _, backend := range []string{"badger", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			log := slog.New(slog.DiscardHandler)
			var kv storage.KV
			var err error
			if backend == "badger" {
				kv, err = storage.OpenBadger(b.TempDir(), log)
			} else {
				kv, err = storage.OpenPostgres(context.Background(), storagetest.DatabaseURL(b), log)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer kv.Close()
			n, err := newNode(Config{Clock: SystemClock{}}, backend == "badger")
			if err != nil {
				b.Fatal(err)
			}
			ss := newSharedSlots(kv, n, SystemClock{}, 16, 8, log)
			for i := range 7 {
				if _, ok, _, err := ss.tryTake(admissionOrgs[i%len(admissionOrgs)]); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
			b.ResetTimer()
			for range b.N {
				k, ok, _, err := ss.tryTake("0060")
				if !ok || err != nil {
					b.Fatal(ok, err)
				}
				b.StopTimer()
				ss.drop(k)
				b.StartTimer()
			}
		})
	}
}

// A freed slot wakes one waiting client, the first in line without a signal, not the whole
// line: each woken client reads the store, and a line of 16 clients woken at each of the
// other node's events was most of the database's transactions in the two-node load test. A
// client that leaves with a signal unused passes it on; one held back by its organisation's
// share passes it to the clients behind it.
func TestNudgeWakesOneWaiter(t *testing.T) {
	ss := &sharedSlots{}
	a, b, c := ss.join(), ss.join(), ss.join()
	ss.waiting.Store(3)
	signalled := func() (out []bool) {
		for _, w := range []*slotWaiter{a, b, c} {
			out = append(out, len(w.wake) == 1)
		}
		return out
	}
	ss.nudge()
	if got := signalled(); !slices.Equal(got, []bool{true, false, false}) {
		t.Fatalf("after one nudge: signalled %v, want only the first", got)
	}
	ss.nudge() // a second slot: the next client, not the first again
	if got := signalled(); !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("after two nudges: signalled %v", got)
	}
	<-a.wake
	ss.wakeAfter(a) // a was held back by its organisation's share: behind it, b has one already
	if got := signalled(); !slices.Equal(got, []bool{false, true, true}) {
		t.Fatalf("after a passed on: signalled %v", got)
	}
	ss.leave(b) // b leaves (it took a slot elsewhere) with its signal unused: a gets it
	if len(a.wake) != 1 || len(c.wake) != 1 {
		t.Fatalf("b's signal was not passed on: a %d, c %d", len(a.wake), len(c.wake))
	}
	ss.waiting.Store(0)
	<-a.wake
	ss.nudge() // nobody waits: nothing to do
	if len(a.wake) != 0 {
		t.Fatal("nudge without waiting clients signalled one")
	}
}
