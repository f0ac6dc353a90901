package exchange

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"knooppunt/storage/storagetest"
)

// quotaWorld is a hub with a daily quota of limit bytes and a clock the test moves: jan and
// kees of 9999, piet of 0060.
func quotaWorld(t testing.TB, dir string, limit int64, clk *storagetest.Clock) *Hub {
	t.Helper()
	h, err := Open(Config{DataDir: dir, Log: slog.New(slog.DiscardHandler), Clock: clk, UploadQuota: limit})
	acctMust(t, err)
	t.Cleanup(func() { h.Close() })
	if _, err := h.Org("9999"); err == nil {
		return h
	}
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
	return h
}

// quotaPut writes n bytes as one file and closes it; it returns the first error.
func quotaPut(h *Hub, p *Principal, product Product, name string, n int) error {
	s, err := h.StartUpload(context.Background(), p, product, name, false)
	if err != nil {
		return err
	}
	data := aanlData(n)
	for off := 0; off < n; off += 32 << 10 {
		if _, err := s.WriteAt(data[off:min(off+32<<10, n)], int64(off)); err != nil {
			s.Close()
			return err
		}
	}
	return s.Close()
}

func quotaUsed(t testing.TB, h *Hub, org string) int64 {
	t.Helper()
	_, used, err := h.UploadQuota(org)
	acctMust(t, err)
	return used
}

func TestQuotaRefusesTheWriteThatPassesItAndResetsAtMidnight(t *testing.T) {
	// 23:00 in Amsterdam (winter time): the quota resets an hour later.
	clk := storagetest.NewClock(time.Date(2026, 1, 14, 22, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	h := quotaWorld(t, dir, 1<<20, clk)
	jan, kees, piet := acctAs(t, h, "jan"), acctAs(t, h, "kees"), acctAs(t, h, "piet")

	acctMust(t, quotaPut(h, jan, IWmo, "a.xml", 700<<10))
	err := quotaPut(h, kees, IWmo, "b.xml", 700<<10) // the same organisation: one quota
	acctWant(t, err, ErrQuota, "9999", "1 MB", "al 1020 KB", "2026-01-15 om 00:00", "beheerder")
	if us := accepted(aanlUploads(t, h, jan, IWmo)); len(us) != 1 || us[0].Name != "a.xml" {
		t.Fatalf("uploads %+v, want only a.xml", us)
	}
	// Another organisation is not touched by 9999's quota.
	acctMust(t, quotaPut(h, piet, IJw, "c.xml", 700<<10))
	if got := quotaUsed(t, h, "9999"); got != 1020<<10 {
		// The refused file counts for what it wrote before the quota stopped it: 320 KB,
		// the ten writes of 32 KB that fit beside a.xml's 700 KB.
		t.Errorf("9999 used %d", got)
	}
	if !auditHas(t, h, "kees", "aanleveren", "geweigerd: "+ErrQuota.Error()) {
		t.Error("refusal not audited")
	}

	// A restart does not hand out a new quota.
	h.Close()
	h = quotaWorld(t, dir, 1<<20, clk)
	err = quotaPut(h, acctAs(t, h, "jan"), IWmo, "d.xml", 400<<10)
	acctWant(t, err, ErrQuota, "9999")

	// After midnight, Dutch time, it is a new day.
	clk.Add(time.Hour)
	acctMust(t, quotaPut(h, acctAs(t, h, "jan"), IWmo, "d.xml", 900<<10))
	if got := quotaUsed(t, h, "9999"); got != 900<<10 {
		t.Errorf("new day used %d, want %d", got, 900<<10)
	}
}

func auditHas(t testing.TB, h *Hub, account, action, resultPrefix string) bool {
	t.Helper()
	found := false
	acctMust(t, h.AuditLog(1, func(e AuditEntry) bool {
		found = e.Account == account && e.Action == action && strings.HasPrefix(e.Result, resultPrefix)
		return !found
	}))
	return found
}

func TestQuotaHoldsForConcurrentUploads(t *testing.T) {
	clk := storagetest.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	h := quotaWorld(t, t.TempDir(), 1<<20, clk)
	jan := acctAs(t, h, "jan")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = quotaPut(h, jan, IWmo, string(rune('a'+i))+".xml", 400<<10) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrQuota):
			t.Errorf("unexpected error %v", err)
		}
	}
	// Bytes written count whatever becomes of the file, so a file refused halfway may have
	// taken the room a second whole one needed: one or two fit, never three.
	if ok < 1 || ok > 2 || len(accepted(aanlUploads(t, h, jan, IWmo))) != ok {
		t.Errorf("%d uploads accepted of 4 × 400 KB against 1 MB, want 1 or 2: %v", ok, errs)
	}
	if got := quotaUsed(t, h, "9999"); got > 1<<20 {
		t.Errorf("used %d, more than the quota", got)
	}
}

func TestQuotaCountsResumedAndRenamedFilesOnce(t *testing.T) {
	clk := storagetest.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	h := quotaWorld(t, t.TempDir(), 10<<20, clk)
	jan := acctAs(t, h, "jan")
	data := aanlData(1 << 20)

	// Cut off after 400 KB, then resumed (reput): the file counts once.
	s, err := h.StartUpload(context.Background(), jan, IWmo, "r.zip", false)
	acctMust(t, err)
	_, err = s.WriteAt(data[:400<<10], 0)
	acctMust(t, err)
	s.Fail(errors.New("verbinding verbroken"))
	if err := s.Close(); err == nil {
		t.Fatal("cut-off upload closed cleanly")
	}
	s, err = h.StartUpload(context.Background(), jan, IWmo, "r.zip", true)
	acctMust(t, err)
	_, err = s.WriteAt(data[400<<10:], 400<<10)
	acctMust(t, err)
	acctMust(t, s.Close())
	if got := quotaUsed(t, h, "9999"); got != 1<<20 {
		t.Errorf("after reput used %d, want %d", got, 1<<20)
	}

	// Staged under a temporary name, then renamed: the rename adds nothing.
	acctMust(t, quotaPut(h, jan, IWmo, "s.zip.filepart", 1<<20))
	acctMust(t, h.RenameUpload(context.Background(), jan, IWmo, "s.zip.filepart", "s.zip"))
	if got := quotaUsed(t, h, "9999"); got != 2<<20 {
		t.Errorf("after rename used %d, want %d", got, 2<<20)
	}
	if n := len(aanlUploads(t, h, jan, IWmo)); n != 2 {
		t.Errorf("%d uploads, want 2", n)
	}
}

func TestNoQuota(t *testing.T) {
	clk := storagetest.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	h := quotaWorld(t, t.TempDir(), -1, clk)
	acctMust(t, quotaPut(h, acctAs(t, h, "jan"), IWmo, "a.xml", 2<<20))
	if limit, used, err := h.UploadQuota("9999"); limit != 0 || used != 0 || err != nil {
		t.Errorf("UploadQuota = %d, %d, %v; want no quota", limit, used, err)
	}
}

func TestParseQuotaAndFormatBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"10GB": 10 << 30, "10 gb": 10 << 30, "500MB": 500 << 20, "1.5KB": 1536, "4096": 4096, "2TB": 2 << 40,
		"0": -1, "geen": -1, "100B": 100,
	} {
		if got, err := ParseQuota(in); got != want || err != nil {
			t.Errorf("ParseQuota(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-5GB", "tien", "NaN", "Inf", "1e30TB", "5 PB"} {
		if _, err := ParseQuota(bad); err == nil || !strings.Contains(err.Error(), "10GB") {
			t.Errorf("ParseQuota(%q) = %v, want an error with an example", bad, err)
		}
	}
	for n, want := range map[int64]string{10 << 30: "10 GB", 700 << 10: "700 KB", 1536: "1.5 KB", 12: "12 bytes"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
