package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"knooppunt/exchange/codes"
	"knooppunt/storage/storagetest"
)

// TestRefusalRecordsAreBounded: a client that keeps being refused cannot fill the store. The
// same refusal is recorded once an hour (the next ones point to that record); at most
// refusalsPerWindow records per account per hour, beyond that only the log and the audit log;
// another account and the next hour are not affected.
func TestRefusalRecordsAreBounded(t *testing.T) {
	clk := storagetest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	h := quotaWorld(t, t.TempDir(), 0, clk)
	jan, kees := acctAs(t, h, "jan"), acctAs(t, h, "kees")
	refuse := func(p *Principal, name string) *Refused {
		t.Helper()
		_, err := h.StartUpload(context.Background(), p, IWmo, name, false)
		var r *Refused
		if !errors.As(err, &r) || r.Code != codes.KP009 || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: %v, want a KP009 refusal", name, err)
		}
		return r
	}
	first := refuse(jan, "notes.txt")
	for range 50 {
		if r := refuse(jan, "notes.txt"); r.UploadID != first.UploadID {
			t.Fatalf("the same refusal recorded again as %d", r.UploadID)
		}
	}
	if n := len(aanlUploads(t, h, jan, IWmo)); n != 1 {
		t.Fatalf("%d records of one refusal repeated", n)
	}
	for i := range 100 {
		refuse(jan, fmt.Sprintf("n%d.txt", i))
	}
	if n := len(aanlUploads(t, h, jan, IWmo)); n != refusalsPerWindow {
		t.Fatalf("%d records, want at most %d an hour", n, refusalsPerWindow)
	}
	if r := refuse(jan, "n99.txt"); r.UploadID != 0 || !strings.Contains(r.Error(), "niet aangenomen") {
		t.Fatalf("past the limit: %+v %v", r, r)
	}
	if !auditHas(t, h, "jan", "aanleveren", "geweigerd: ") {
		t.Error("refusals past the limit are not audited")
	}
	// Another account of the same organisation has its own limit.
	if r := refuse(kees, "kees.txt"); r.UploadID == 0 {
		t.Fatal("another account's refusal not recorded")
	}
	// An hour later jan's refusals are recorded again.
	clk.Add(refusalWindow)
	if r := refuse(jan, "notes.txt"); r.UploadID == 0 || r.UploadID == first.UploadID {
		t.Fatalf("after the window: %+v", r)
	}
}

// TestRefusalIsInTheServerLog: the refusal is logged with the account, path, code and reason.
func TestRefusalIsInTheServerLog(t *testing.T) {
	var buf lockedBuffer
	h, err := Open(Config{DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&buf, nil))})
	acctMust(t, err)
	t.Cleanup(func() { h.Close() })
	_, err = h.CreateOrg(System, "9999", "Test Gemeente 1")
	acctMust(t, err)
	acctMust(t, h.CreateAccount(System, Account{Name: "jan", Org: "9999", Products: []Product{IWmo}}))
	jan := acctAs(t, h, "jan")
	if _, err := h.StartUpload(context.Background(), jan, IWmo, "notes.txt", false); err == nil {
		t.Fatal("notes.txt accepted")
	}
	log := buf.String()
	for _, want := range []string{`msg="aanlevering geweigerd"`, "pad=iwmo/aanleveren/notes.txt", "account=jan", "code=KP009", "reden=", "aanlevering=1"} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %q:\n%s", want, log)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
