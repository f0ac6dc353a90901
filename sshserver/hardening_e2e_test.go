package sshserver

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

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
