package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"testing"
	"time"

	"knooppunt/exchange/codes"
)

// admissionState is what the gate holds now.
type admissionState struct {
	Active        bool
	Held, Waiting int
	ByOrg         map[string]int
}

func (a *admission) state() admissionState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return admissionState{Active: a.active, Held: a.held, Waiting: len(a.waiters), ByOrg: maps.Clone(a.byOrg)}
}

// admissionOrgs are the gemeenten of admissionWorld, one account each (g<code>), and the
// aanbieder they send to.
var admissionOrgs = []string{"0363", "0060", "9999", "0344"}

const admissionAanbieder = "12345678"

// admissionWorld is a hub with the given admission capacity and wait; run starts its engine.
func admissionWorld(t testing.TB, capacity int, wait time.Duration) *Hub {
	t.Helper()
	h, err := Open(Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler), Workers: 1, MaxUploads: capacity, UploadWait: wait})
	acctMust(t, err)
	t.Cleanup(func() { h.Close() })
	for _, code := range append(admissionOrgs, admissionAanbieder) {
		_, err := h.CreateOrg(System, code, "Organisatie "+code)
		acctMust(t, err)
		_, line := acctKey(t)
		acctMust(t, h.CreateAccount(System, Account{Name: "g" + code, Org: code, Products: []Product{IWmo}, Keys: []string{line}}))
	}
	return h
}

// runEngine runs h's engine until the test ends, or until the returned stop is called. It
// returns once the engine has shut the gate.
func runEngine(t testing.TB, h *Hub) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	waitFor(t, h, "the gate shut", func(st admissionState) bool { return st.Active })
	return stop
}

// admissionZip is a valid upload from gemeente org: two WMO301 messages to the aanbieder.
func admissionZip(t testing.TB, org string) []byte {
	return zipOf(t,
		file{"a.xml", envelope("WMO301", org, admissionAanbieder, newRef(), "")},
		file{"b.xml", envelope("WMO301", org, admissionAanbieder, newRef(), "")})
}

// waitFor waits until the gate's state satisfies ok; it fails the test after a minute.
func waitFor(t testing.TB, h *Hub, what string, ok func(admissionState) bool) admissionState {
	t.Helper()
	end := time.Now().Add(time.Minute)
	for {
		st := h.admission.state()
		if ok(st) {
			return st
		}
		if time.Now().After(end) {
			t.Fatalf("gate never reached %s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waiting(n int) func(admissionState) bool {
	return func(st admissionState) bool { return st.Waiting == n }
}

func held(n int) func(admissionState) bool {
	return func(st admissionState) bool { return st.Held == n }
}

type started struct {
	s   *Spool
	err error
}

// startAsync starts an upload on its own goroutine: it may wait for admission.
func startAsync(ctx context.Context, h *Hub, p *Principal, name string) <-chan started {
	out := make(chan started, 1)
	go func() {
		s, err := h.StartUpload(ctx, p, IWmo, name, false)
		out <- started{s, err}
	}()
	return out
}

func mustStart(t testing.TB, h *Hub, p *Principal, name string) *Spool {
	t.Helper()
	s, err := h.StartUpload(context.Background(), p, IWmo, name, false)
	acctMust(t, err)
	return s
}

func admitted(t testing.TB, ch <-chan started) *Spool {
	t.Helper()
	r := <-ch
	acctMust(t, r.err)
	return r.s
}

// finish writes data and closes the spool cleanly.
func finish(t testing.TB, s *Spool, data []byte) {
	t.Helper()
	_, err := s.WriteAt(data, 0)
	acctMust(t, err)
	acctMust(t, s.Close())
}

// cutOff ends the spool as a vanished client does: kept as a partial, never processed.
func cutOff(s *Spool) {
	s.Fail(errors.New("verbinding verbroken"))
	s.Close()
}

func uploadNamed(t testing.TB, h *Hub, p *Principal, name string) Upload {
	t.Helper()
	for _, u := range aanlUploads(t, h, p, IWmo) {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no upload %s of %s", name, p.Org.Code)
	return Upload{}
}

func TestAdmissionWaitsUntilAnUploadIsProcessed(t *testing.T) {
	h := admissionWorld(t, 2, 0)
	runEngine(t, h)
	a, b, c := acctAs(t, h, "g0363"), acctAs(t, h, "g0060"), acctAs(t, h, "g9999")
	sa := mustStart(t, h, a, "a.zip")
	sb := mustStart(t, h, b, "b.zip")
	third := startAsync(context.Background(), h, c, "c.zip")
	waitFor(t, h, "one waiter", waiting(1))

	// b stays open: only a's end can make room, and a ends when it is processed, not when
	// it is closed.
	finish(t, sa, admissionZip(t, "0363"))
	sc := admitted(t, third)
	if u := uploadNamed(t, h, a, "a.zip"); u.Status != Afgeleverd {
		t.Fatalf("third upload admitted while a.zip is %s", u.Status)
	}
	finish(t, sb, admissionZip(t, "0060"))
	finish(t, sc, admissionZip(t, "9999"))
	waitFor(t, h, "every slot back", held(0))
	for _, p := range []*Principal{a, b, c} {
		for _, u := range aanlUploads(t, h, p, IWmo) {
			if u.Status != Afgeleverd {
				t.Errorf("%s of %s is %s", u.Name, p.Org.Code, u.Status)
			}
		}
	}
}

func TestAdmissionServesWaitersInOrder(t *testing.T) {
	h := admissionWorld(t, 2, 0)
	runEngine(t, h)
	a, b, c, d := acctAs(t, h, "g0363"), acctAs(t, h, "g0060"), acctAs(t, h, "g9999"), acctAs(t, h, "g0344")
	sa := mustStart(t, h, a, "a.zip")
	sb := mustStart(t, h, b, "b.zip")
	first := startAsync(context.Background(), h, c, "c.zip")
	waitFor(t, h, "one waiter", waiting(1))
	second := startAsync(context.Background(), h, d, "d.zip")
	waitFor(t, h, "two waiters", waiting(2))

	cutOff(sa)
	sc := admitted(t, first)
	if st := h.admission.state(); st.Waiting != 1 || st.ByOrg["0344"] != 0 {
		t.Fatalf("after one release: %+v, want d still waiting", st)
	}
	// A refused file (too large) gives its slot back as well.
	if _, err := sb.WriteAt([]byte("x"), MaxZipUpload); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("write past the limit: %v", err)
	}
	sb.Close()
	sd := admitted(t, second)
	cutOff(sc)
	cutOff(sd)
	waitFor(t, h, "every slot back", held(0))
}

func TestAdmissionCapsOneOrganisation(t *testing.T) {
	h := admissionWorld(t, 4, 0) // two per organisation
	runEngine(t, h)
	a, b := acctAs(t, h, "g0363"), acctAs(t, h, "g0060")
	a1 := mustStart(t, h, a, "a1.zip")
	a2 := mustStart(t, h, a, "a2.zip")
	third := startAsync(context.Background(), h, a, "a3.zip")
	waitFor(t, h, "a's third waiting", waiting(1))

	// Two slots are free, but not for a: b goes first, though it came later.
	sb := mustStart(t, h, b, "b.zip")
	cutOff(sb)
	if st := h.admission.state(); st.Waiting != 1 || st.ByOrg["0363"] != 2 {
		t.Fatalf("after b: %+v, want a's third still waiting", st)
	}
	cutOff(a1)
	a3 := admitted(t, third)
	cutOff(a2)
	cutOff(a3)
	waitFor(t, h, "every slot back", held(0))
}

func TestAdmissionWaitStopsWithTheContext(t *testing.T) {
	h := admissionWorld(t, 2, 0)
	runEngine(t, h)
	a, b, c := acctAs(t, h, "g0363"), acctAs(t, h, "g0060"), acctAs(t, h, "g9999")
	sa := mustStart(t, h, a, "a.zip")
	sb := mustStart(t, h, b, "b.zip")
	ctx, cancel := context.WithCancel(context.Background())
	third := startAsync(ctx, h, c, "c.zip")
	waitFor(t, h, "one waiter", waiting(1))
	cancel()
	r := <-third
	if !errors.Is(r.err, context.Canceled) || r.s != nil {
		t.Fatalf("cancelled wait = %v, %v", r.s, r.err)
	}
	if st := h.admission.state(); st.Waiting != 0 || st.Held != 2 {
		t.Fatalf("after the cancel: %+v", st)
	}
	if p, _ := h.Pending(c, IWmo); len(p) != 0 {
		t.Fatalf("the cancelled upload left %+v", p)
	}
	cutOff(sa)
	cutOff(sb)
	waitFor(t, h, "every slot back", held(0))
}

func TestAdmissionRefusesAfterTheWait(t *testing.T) {
	h := admissionWorld(t, 2, time.Millisecond)
	runEngine(t, h)
	a, b, c := acctAs(t, h, "g0363"), acctAs(t, h, "g0060"), acctAs(t, h, "g9999")
	sa := mustStart(t, h, a, "a.zip")
	sb := mustStart(t, h, b, "b.zip")
	_, err := h.StartUpload(context.Background(), c, IWmo, "c.zip", false)
	acctWant(t, err, ErrBusy, "iwmo/aanleveren/c.zip is niet aangenomen", "probeer het over enkele minuten opnieuw")
	if !auditHas(t, h, "g9999", "aanleveren", "geweigerd: "+ErrBusy.Error()) {
		t.Error("the refusal is not audited")
	}
	// Nothing else is lost: the admitted uploads go through.
	finish(t, sa, admissionZip(t, "0363"))
	finish(t, sb, admissionZip(t, "0060"))
	waitFor(t, h, "every slot back", held(0))
	for _, u := range []Upload{uploadNamed(t, h, a, "a.zip"), uploadNamed(t, h, b, "b.zip")} {
		if u.Status != Afgeleverd {
			t.Errorf("%s is %s", u.Name, u.Status)
		}
	}
	if us := aanlUploads(t, h, c, IWmo); len(us) != 1 || !us[0].AtDoor || us[0].Fouten[0].Code != codes.KP012 {
		t.Errorf("the refusal is not recorded as Afgekeurd with KP012: %+v", us)
	}
}

func TestAdmissionRejectedUploadGivesItsSlotBack(t *testing.T) {
	h := admissionWorld(t, 1, 0)
	runEngine(t, h)
	a, b := acctAs(t, h, "g0363"), acctAs(t, h, "g0060")
	finish(t, mustStart(t, h, a, "kapot.xml"), []byte("dit is geen envelop"))
	// With one slot, b is admitted only once the rejected upload is final.
	sb := mustStart(t, h, b, "b.zip")
	if u := uploadNamed(t, h, a, "kapot.xml"); u.Status != Afgekeurd {
		t.Fatalf("kapot.xml is %s, want %s", u.Status, Afgekeurd)
	}
	cutOff(sb)
	waitFor(t, h, "every slot back", held(0))
}

func TestAdmissionTempNameHoldsNoSlotUntilRenamed(t *testing.T) {
	h := admissionWorld(t, 1, 0)
	runEngine(t, h)
	a, b := acctAs(t, h, "g0363"), acctAs(t, h, "g0060")
	s := mustStart(t, h, a, "a.zip.filepart")
	if st := h.admission.state(); st.Held != 1 {
		t.Fatalf("while writing a temp name: %+v", st)
	}
	finish(t, s, admissionZip(t, "0363"))
	if st := h.admission.state(); st.Held != 0 {
		t.Fatalf("staged file holds a slot: %+v", st)
	}

	// While the slot is taken, the rename waits; a client that leaves keeps its file.
	sb := mustStart(t, h, b, "b.zip")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.RenameUpload(ctx, a, IWmo, "a.zip.filepart", "a.zip")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("rename without room = %v", err)
	}
	if p, _ := h.Pending(a, IWmo); len(p) != 1 || p[0].Name != "a.zip.filepart" {
		t.Fatalf("pending after the refused rename: %+v", p)
	}
	cutOff(sb)

	acctMust(t, h.RenameUpload(context.Background(), a, IWmo, "a.zip.filepart", "a.zip"))
	// The renamed upload holds the slot until it is processed.
	sb = mustStart(t, h, b, "b.zip")
	if u := uploadNamed(t, h, a, "a.zip"); u.Status != Afgeleverd {
		t.Fatalf("b admitted while a.zip is %s", u.Status)
	}
	cutOff(sb)
	waitFor(t, h, "every slot back", held(0))
}

func TestAdmissionCountsUploadsQueuedBeforeTheEngine(t *testing.T) {
	h := admissionWorld(t, 1, 0)
	a, b := acctAs(t, h, "g0363"), acctAs(t, h, "g0060")
	// Without the engine nothing empties the queue, so nothing waits.
	for i := range 3 {
		finish(t, mustStart(t, h, a, fmt.Sprintf("a%d.zip", i)), admissionZip(t, "0363"))
	}
	runEngine(t, h)
	waitFor(t, h, "the queue counted", func(st admissionState) bool {
		if st.Held == 3 {
			return true
		}
		for _, u := range aanlUploads(t, h, a, IWmo) {
			if !u.Status.Final() {
				return false
			}
		}
		return true
	})
	sb := mustStart(t, h, b, "b.zip")
	for _, u := range aanlUploads(t, h, a, IWmo) {
		if u.Status != Afgeleverd {
			t.Errorf("b admitted while %s is %s", u.Name, u.Status)
		}
	}
	cutOff(sb)
	waitFor(t, h, "every slot back", held(0))
}

func TestAdmissionOpensWhenTheEngineStops(t *testing.T) {
	h := admissionWorld(t, 1, 0)
	stop := runEngine(t, h)
	a, b := acctAs(t, h, "g0363"), acctAs(t, h, "g0060")
	sa := mustStart(t, h, a, "a.zip")
	second := startAsync(context.Background(), h, b, "b.zip")
	waitFor(t, h, "one waiter", waiting(1))
	stop()
	sb := admitted(t, second)
	finish(t, sa, admissionZip(t, "0363"))
	finish(t, sb, admissionZip(t, "0060"))
	// Accepted while stopped: both wait in the queue for the next start.
	for _, u := range []Upload{uploadNamed(t, h, a, "a.zip"), uploadNamed(t, h, b, "b.zip")} {
		if u.Status != Ontvangen {
			t.Errorf("%s is %s", u.Name, u.Status)
		}
	}
	if st := h.admission.state(); st.Held != 0 || st.Waiting != 0 || len(st.ByOrg) != 0 {
		t.Errorf("gate after the stop: %+v", st)
	}
}
