package faults

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/exchange/stuf"
	"knooppunt/loadgen"
)

// TestKillNineDuringReceiving: partners post messages to the real binary over
// Digikoppeling from 8 connections at once (so the hub hands them in together, several per
// aanlevering) while it is killed with SIGKILL 3 times at random moments. Each partner posts
// the same bytes (same MessageId) again until it gets that message's Acknowledgment, as a
// partner's MSH retries. Afterwards every message is in the aanbieder's ophalen exactly once:
// nothing acknowledged was lost, and no retry was processed twice.
func TestKillNineDuringReceiving(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // the same port after every restart
	ln.Close()
	flags := []string{"--demo", "--ebms-listen", addr, "--workers", "2"}
	s := start(t, dir, flags...)
	url := ebmsURL(t, s.Log, s.WaitLog)
	g := loadDemoGemeente(t, dir, s.Log)

	const n, conc, kills = 600, 8, 3
	refs := make([]string, n)
	outs := make([]*ebms.Outgoing, n)
	for i := range outs {
		refs[i] = loadgen.NewRef()
		outs[i] = g.message(t, stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678", Referentie: refs[i]}, []byte("<x/>")))
	}
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var acked, posts atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for range conc {
		wg.Go(func() {
			c := g.client()
			for i := range next {
				for ctx.Err() == nil {
					posts.Add(1)
					status, m, err := postEbMS(c, url, outs[i])
					if err == nil && status == http.StatusOK && m != nil && m.Kind() == ebms.KindAcknowledgment && m.Acknowledgment.RefToMessageID == outs[i].MessageID {
						acked.Add(1)
						break
					}
					time.Sleep(50 * time.Millisecond) // down, or busy: as a partner's retry
				}
			}
		})
	}
	for round := range kills {
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		s.Kill()
		t.Logf("kill %d: %d of %d acknowledged, %d posts", round+1, acked.Load(), n, posts.Load())
		s = start(t, dir, flags...)
	}
	wg.Wait()
	if acked.Load() != n {
		s.Stop()
		t.Fatalf("%d of %d acknowledged", acked.Load(), n)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	// Finish what the last run left queued, in process, and read the aanbieder's ophalen.
	h, err := exchange.Open(exchange.Config{DataDir: dir, OIN: exchange.DemoHubOIN})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(rctx) }()
	for end := time.Now().Add(2 * time.Minute); h.Stats().Queued > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d aanleveringen still queued", h.Stats().Queued)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	acc, _ := h.Account("aanbieder")
	org, _ := h.Org("12345678")
	ds, _, err := h.Inbox(context.Background(), &exchange.Principal{Account: acc, Org: org}, exchange.IWmo, exchange.InboxOptions{Limit: 10 * n, Referenties: true})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, d := range ds {
		for _, r := range d.Referenties {
			count[r]++
		}
	}
	for _, r := range refs {
		if count[r] != 1 {
			t.Errorf("bericht %s is %d keer in ophalen", r, count[r])
		}
	}
	gem, _ := h.Account("gemeente")
	gorg, _ := h.Org("9999")
	list, ups, _ := h.Uploads(context.Background(), &exchange.Principal{Account: gem, Org: gorg}, exchange.IWmo, exchange.ListOptions{Limit: 10 * n})
	if t.Failed() {
		for _, u := range list {
			if u.Status != exchange.Afgeleverd {
				t.Logf("aanlevering %d %s: %s %+v %+v", u.ID, u.Name, u.Status, u.Counts, u.Fouten)
			}
		}
	}
	t.Logf("%d kills, %d posts for %d messages (%d retries), %d aanleveringen, %d delivery files", kills, posts.Load(), n, posts.Load()-n, ups, len(ds))
}
