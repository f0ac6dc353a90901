package sshserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"knooppunt/exchange"
	"knooppunt/exchange/codes"
	"knooppunt/exchange/zipintake/ziptest"
)

func withHub(f func(*exchange.Config)) hubOption { return func(s *hubSetup) { f(&s.hub) } }

// waitSignal is a log handler that tells when an upload starts to wait for admission.
type waitSignal struct{ waits chan struct{} }

func (w waitSignal) Enabled(context.Context, slog.Level) bool { return true }
func (w waitSignal) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w waitSignal) WithGroup(string) slog.Handler            { return w }
func (w waitSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "aanlevering wacht op ruimte" {
		select {
		case w.waits <- struct{}{}:
		default:
		}
	}
	return nil
}

// wmo301From is a valid upload of one WMO301 from org to the demo aanbieder.
func wmo301From(t testing.TB, org string) []byte {
	return ziptest.Build(t, ziptest.File{Name: "b.xml", Data: env("WMO301", org, "12345678", uuid4(), "")})
}

// handIn writes a WMO301 of org into the open upload f of account, closes it, and checks
// that the upload ends Afgeleverd.
func handIn(t testing.TB, th *testHub, f *sftp.File, account, org, name string) {
	t.Helper()
	if _, err := f.ReadFrom(bytes.NewReader(wmo301From(t, org))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if u := th.final(t, account, exchange.IWmo, name); u.Status != exchange.Afgeleverd {
		t.Fatalf("%s: %s %+v", name, u.Status, u.Fouten)
	}
}

func TestSecondPutWaitsUntilTheFirstIsProcessed(t *testing.T) {
	sig := waitSignal{waits: make(chan struct{}, 1)}
	th := startHub(t, withEngine, withHub(func(c *exchange.Config) {
		c.MaxUploads = 1
		c.Log = slog.New(sig)
	}))
	gemeente, ameland := goClient(t, th, "gemeente"), goClient(t, th, "ameland")

	// The first upload takes the only slot when it is opened and keeps it until processed.
	first, err := gemeente.Create("/iwmo/aanleveren/eerste.zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.ReadFrom(bytes.NewReader(wmo301From(t, "9999"))); err != nil {
		t.Fatal(err)
	}

	type result struct {
		firstAtOpen exchange.UploadStatus // the first upload's status when the second was let in
		err         error
	}
	second := make(chan result, 1)
	go func() {
		f, err := ameland.Create("/iwmo/aanleveren/tweede.zip")
		if err != nil {
			second <- result{err: err}
			return
		}
		var r result
		for _, u := range th.uploads(t, "gemeente", exchange.IWmo) {
			if u.Name == "eerste.zip" {
				r.firstAtOpen = u.Status
			}
		}
		if _, err := f.ReadFrom(bytes.NewReader(wmo301From(t, "0060"))); err != nil {
			f.Close()
			second <- result{err: err}
			return
		}
		r.err = f.Close()
		second <- r
	}()
	<-sig.waits
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-second
	if r.err != nil {
		t.Fatalf("second put: %v", r.err)
	}
	if r.firstAtOpen != exchange.Afgeleverd {
		t.Fatalf("second put let in while the first upload was %q", r.firstAtOpen)
	}
	if u := th.final(t, "ameland", exchange.IWmo, "tweede.zip"); u.Status != exchange.Afgeleverd {
		t.Fatalf("second upload %s: %+v", u.Status, u.Fouten)
	}
}

func TestBusyHubRefusesThePutWithAFailureStatus(t *testing.T) {
	th := startHub(t, withEngine, withHub(func(c *exchange.Config) {
		c.MaxUploads = 1
		c.UploadWait = time.Millisecond
	}))
	gemeente, ameland := goClient(t, th, "gemeente"), goClient(t, th, "ameland")
	first, err := gemeente.Create("/iwmo/aanleveren/eerste.zip")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ameland.Create("/iwmo/aanleveren/tweede.zip")
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure || !strings.Contains(se.Error(), "probeer het over enkele minuten opnieuw") {
		t.Fatalf("put into a busy hub: %v", err)
	}
	// The first upload is not disturbed.
	handIn(t, th, first, "gemeente", "9999", "eerste.zip")
	if us := th.uploads(t, "ameland", exchange.IWmo); len(us) != 1 || !us[0].AtDoor || us[0].Fouten[0].Code != codes.KP012 {
		t.Fatalf("refused put not recorded as Afgekeurd with KP012: %+v", us)
	}
}

// An upload that stops moving holds its admission slot only until Config.UploadStall: then
// its connection is closed, what arrived is kept for reput, and the next upload gets in.
func TestStalledUploadGivesItsSlotBack(t *testing.T) {
	th := startHub(t, withEngine,
		withHub(func(c *exchange.Config) { c.MaxUploads = 1 }),
		withConfig(func(c *Config) { c.UploadStall = 400 * time.Millisecond }))
	gemeente, ameland := goClient(t, th, "gemeente"), goClient(t, th, "ameland")

	stalled, err := gemeente.Create("/iwmo/aanleveren/hangt.zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stalled.Write(make([]byte, 16<<10)); err != nil {
		t.Fatal(err)
	}
	// Nothing more from gemeente. ameland waits for the only slot, and gets it.
	f, err := ameland.Create("/iwmo/aanleveren/tweede.zip")
	if err != nil {
		t.Fatalf("put after a stalled upload: %v", err)
	}
	handIn(t, th, f, "ameland", "0060", "tweede.zip")

	closedSoon(t, gemeente)
	if us := th.uploads(t, "gemeente", exchange.IWmo); len(us) != 0 {
		t.Fatalf("the stalled upload was recorded: %+v", us)
	}
	eventually(t, "the stalled upload kept for reput", func() bool {
		ps := th.pending(t, "gemeente", exchange.IWmo)
		return len(ps) == 1 && ps[0].Name == "hangt.zip" && ps[0].Partial && ps[0].Size == 16<<10
	})
}

// A slow upload that keeps moving is not a stalled one.
func TestSlowUploadIsNotStalled(t *testing.T) {
	const stall = 400 * time.Millisecond
	th := startHub(t, withConfig(func(c *Config) { c.UploadStall = stall }))
	c := goClient(t, th, "gemeente")
	if err := slowUpload(t, c, "/iwmo/aanleveren/traag.zip", 30, stall/4); err != nil {
		t.Fatalf("slow upload cut off: %v", err)
	}
	if us := th.uploads(t, "gemeente", exchange.IWmo); len(us) != 1 || us[0].Size != 30*16<<10 {
		t.Fatalf("uploads %+v", us)
	}
	// Without an upload open, the connection may rest beyond the stall limit.
	time.Sleep(3 * stall)
	if _, err := c.Getwd(); err != nil {
		t.Fatalf("an idle connection without an upload was closed: %v", err)
	}
}
