package exchange

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an Observer that writes down what it hears.
type recorder struct {
	mu        sync.Mutex
	received  []string
	finished  []string // product/status/delivered
	rejected  map[string]int
	waits     []string
	retention int
}

func newRecorder() *recorder { return &recorder{rejected: map[string]int{}} }

func (r *recorder) UploadReceived(product string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received = append(r.received, product)
}

func (r *recorder) UploadFinished(product, status string, processing, total time.Duration, delivered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if processing < 0 || total < processing {
		status += "(durations " + processing.String() + " " + total.String() + ")"
	}
	r.finished = append(r.finished, product+"/"+status+"/"+strings.Repeat("m", delivered))
}

func (r *recorder) MessageRejected(product, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected[product+"/"+code]++
}

func (r *recorder) AdmissionWaited(_ time.Duration, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, outcome)
}

func (r *recorder) RetentionRun(_ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.retention++
	}
}

func TestObserverHearsUploadsRejectionsAndRetention(t *testing.T) {
	rec := newRecorder()
	e := newEngineWith(t, "", Config{Observer: rec})
	gem := e.principal("0363")
	u := e.process(gem, IWmo, "gemengd.zip", zipOf(t,
		file{"a.xml", envelope("WMO301", "0363", "12345678", newRef(), "")},
		file{"b.xml", envelope("WMO301", "0363", "12345678", newRef(), "")},
		file{"ib004.xml", envelope("WMO399", "0363", "12345678", newRef(), "")},
		file{"IMG.PNG", []byte("png")}))
	if u.Status != Afgekeurd {
		t.Fatalf("upload %+v", u)
	}
	e.process(gem, IJw, "los.xml", envelope("JW301", "0363", "12345678", newRef(), ""))
	// The first retention run starts with the hub; on PostgreSQL only once this node holds the
	// task's lease, which on a busy machine came after the uploads (a CI-like run under load).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		rec.mu.Lock()
		ran := rec.retention > 0
		rec.mu.Unlock()
		if ran {
			break
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if strings.Join(rec.received, ",") != "iwmo,ijw" {
		t.Errorf("received %v", rec.received)
	}
	if strings.Join(rec.finished, ",") != "iwmo/afgekeurd/mm,ijw/afgeleverd/m" {
		t.Errorf("finished %v", rec.finished)
	}
	if len(rec.rejected) != 2 || rec.rejected["iwmo/IB004"] != 1 || rec.rejected["iwmo/KP002"] != 1 {
		t.Errorf("rejected %v", rec.rejected)
	}
	if rec.retention == 0 {
		t.Error("no retention run heard")
	}
}

func TestObserverHearsAdmissionWaits(t *testing.T) {
	h, err := Open(Config{DataDir: t.TempDir(), Workers: 1, MaxUploads: 2, UploadWait: 20 * time.Millisecond, Observer: newRecorder()})
	acctMust(t, err)
	t.Cleanup(func() { h.Close() })
	rec := h.obs.(*recorder)
	for _, code := range append(admissionOrgs, admissionAanbieder) {
		_, err := h.CreateOrg(System, code, "Organisatie "+code)
		acctMust(t, err)
		_, line := acctKey(t)
		acctMust(t, h.CreateAccount(System, Account{Name: "g" + code, Org: code, Products: []Product{IWmo}, Keys: []string{line}}))
	}
	runEngine(t, h)
	a, b, c := acctAs(t, h, "g0363"), acctAs(t, h, "g0060"), acctAs(t, h, "g9999")
	sa := mustStart(t, h, a, "a.zip")
	sb := mustStart(t, h, b, "b.zip")
	if st := h.Stats(); st.AdmissionHeld != 2 || st.AdmissionCapacity != 2 {
		t.Errorf("stats %+v", st)
	}
	if _, err := h.StartUpload(context.Background(), c, IWmo, "c.zip", false); !errors.Is(err, ErrBusy) {
		t.Fatalf("third upload: %v", err)
	}
	finish(t, sa, admissionZip(t, "0363"))
	finish(t, sb, admissionZip(t, "0060"))
	waitFor(t, h, "every slot back", held(0))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if strings.Join(rec.waits, ",") != "bezet" {
		t.Errorf("waits %v", rec.waits)
	}
}

func TestStatsAndReadinessProbe(t *testing.T) {
	e := newEngine(t, "")
	gem := e.principal("0363")
	e.process(gem, IWmo, "los.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
	// The worker counts itself done just after the upload's final status is visible.
	st := e.h.Stats()
	for end := time.Now().Add(time.Minute); st.Processing != 0 && time.Now().Before(end); st = e.h.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	if st.Queued != 0 || st.Processing != 0 || st.Workers != 2 || st.FreeErr != nil || st.FreeBytes == 0 {
		t.Errorf("stats %+v", st)
	}
	if st.FilesMeasured.IsZero() && st.Files != 0 {
		t.Errorf("files counted without a time: %+v", st)
	}
	if err := e.h.ProbeStore(); err != nil {
		t.Fatalf("probe on a healthy store: %v", err)
	}
	if e.h.ShuttingDown() {
		t.Fatal("shutting down before SetShuttingDown")
	}
	e.h.SetShuttingDown()
	if !e.h.ShuttingDown() {
		t.Fatal("not shutting down after SetShuttingDown")
	}
	if err := e.h.ProbeStore(); err == nil || !strings.Contains(err.Error(), "stopt") {
		t.Fatalf("probe while shutting down: %v", err)
	}
}

func TestReadinessProbeFailsOnABrokenStore(t *testing.T) {
	h, err := Open(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ProbeStore(); err != nil {
		t.Fatalf("probe on a healthy store: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.ProbeStore(); err == nil || !strings.Contains(err.Error(), "opslag schrijven") {
		t.Fatalf("probe on a closed store: %v", err)
	}
}
