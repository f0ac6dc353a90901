package sshserver

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// liveHeap is the Go heap in use after a collection: what the process keeps, not garbage
// waiting for the next cycle.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestChannelsPerConnectionAreCapped: 100 idle session channels on one connection took
// 176 MB. Beyond DefaultMaxChannelsPerConn the open is refused with ResourceShortage; a
// closed channel frees its place.
func TestChannelsPerConnectionAreCapped(t *testing.T) {
	th := startHub(t)
	c, err := sshLogin(th, "gemeente", demoSigner(t, th, "gemeente"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fill := make([]byte, 4<<20)
	before := liveHeap()
	var open []gossh.Channel
	refused := 0
	for range 100 {
		ch, reqs, err := c.OpenChannel("session", nil)
		if err != nil {
			var oe *gossh.OpenChannelError
			if !errors.As(err, &oe) || oe.Reason != gossh.ResourceShortage || !strings.Contains(oe.Message, "ten hoogste 10") {
				t.Fatalf("channel open refused with %v, want ResourceShortage", err)
			}
			refused++
			continue
		}
		go gossh.DiscardRequests(reqs)
		open = append(open, ch)
		// Fill the channel's window: nobody reads a channel that asked for nothing.
		go ch.Write(fill)
	}
	time.Sleep(2 * time.Second)
	grown := int64(liveHeap()) - int64(before)
	t.Logf("100 channel opens with their windows filled: %d open, %d refused; live heap %+.1f MB", len(open), refused, float64(grown)/(1<<20))
	if len(open) != DefaultMaxChannelsPerConn {
		t.Fatalf("%d channels open on one connection, want %d", len(open), DefaultMaxChannelsPerConn)
	}
	// What the open channels may hold is their windows (2 MB each) and a little more.
	if budget := int64(DefaultMaxChannelsPerConn) * 3 << 20; grown > budget {
		t.Errorf("the open channels of one connection hold %.1f MB, the budget is %d MB", float64(grown)/(1<<20), budget>>20)
	}
	// A closed channel gives its place back: a command runs on a new one.
	open[0].Close()
	eventually(t, "a command runs after a channel closed", func() bool {
		sess, err := c.NewSession()
		if err != nil {
			return false
		}
		defer sess.Close()
		out, err := sess.Output("versie")
		return err == nil && len(out) > 0
	})
	for _, ch := range open[1:] {
		ch.Close()
	}
}

// openMany opens name n times over c and keeps what opened; it returns the files and the
// first refusal.
func openMany(c *sftp.Client, name string, n int) ([]*sftp.File, error) {
	var open []*sftp.File
	for range n {
		f, err := c.Open(name)
		if err != nil {
			return open, err
		}
		open = append(open, f)
	}
	return open, nil
}

// TestOpenHandlesAreCapped: one account kept 1,183 files of ophalen/ open, each a
// descriptor, until nobody else could log in and the store ran out of descriptors. A
// session, an account and the hub each have a cap; the open past it is refused with a
// clear SFTP error, and another account still logs in and downloads.
func TestOpenHandlesAreCapped(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine, withConfig(func(c *Config) { c.MaxHandlesPerAccount = 100; c.MaxOpenHandles = 150 }))
	d := deliver(t, th)
	name := "/iwmo/ophalen/" + d.Name

	first := goClient(t, th, "aanbieder")
	held, err := openMany(first, name, 200)
	if len(held) != DefaultMaxHandlesPerSession || err == nil || !strings.Contains(err.Error(), "te veel open bestanden in deze sessie (ten hoogste 64)") {
		t.Fatalf("one session opened %d handles, then %v; want %d, then a refusal", len(held), err, DefaultMaxHandlesPerSession)
	}
	second := goClient(t, th, "aanbieder")
	more, err := openMany(second, name, 200)
	if len(more) != 100-DefaultMaxHandlesPerSession || err == nil || !strings.Contains(err.Error(), "te veel open bestanden voor dit account (ten hoogste 100 ") {
		t.Fatalf("a second session of the account opened %d more, then %v; want %d, then a refusal", len(more), err, 100-DefaultMaxHandlesPerSession)
	}

	// Another account logs in and downloads.
	gem := goClient(t, th, "gemeente")
	reports, err := gem.ReadDir("/iwmo/verslagen")
	if err != nil || len(reports) == 0 {
		t.Fatalf("gemeente's verslagen: %v, %v", reports, err)
	}
	report := "/iwmo/verslagen/" + reports[0].Name()
	f, err := gem.Open(report)
	if err != nil {
		t.Fatalf("another account could not open its verslag: %v", err)
	}
	if b, err := io.ReadAll(f); err != nil || len(b) == 0 {
		t.Fatalf("another account could not download its verslag: %d bytes, %v", len(b), err)
	}
	f.Close()
	// The hub's cap: 100 held by aanbieder, 50 more for gemeente, then no more for anyone.
	gems, err := openMany(gem, report, 100)
	if len(gems) != 50 || err == nil || !strings.Contains(err.Error(), "het knooppunt heeft te veel open bestanden") {
		t.Fatalf("gemeente opened %d, then %v; want 50, then a refusal", len(gems), err)
	}
	// Closing gives the places back.
	for _, f := range append(held, more...) {
		f.Close()
	}
	if f, err := first.Open(name); err != nil {
		t.Fatalf("after closing, an open is refused: %v", err)
	} else {
		f.Close()
	}
	for _, f := range gems {
		f.Close()
	}
	// A session that ends without closing its files gives their places back too.
	third := goClient(t, th, "aanbieder")
	if dropped, err := openMany(third, name, 50); err != nil {
		t.Fatalf("opened %d, then %v", len(dropped), err)
	}
	third.Close()
	eventually(t, "the account's places are back", func() bool {
		again, err := openMany(first, name, DefaultMaxHandlesPerSession)
		for _, f := range again {
			f.Close()
		}
		return err == nil
	})
}
