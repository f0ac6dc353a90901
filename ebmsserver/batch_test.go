package ebmsserver

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
)

// TestConcurrentMessagesEachOnce: 48 messages posted over 8 keep-alive connections at once
// (the hub hands concurrent messages in together, digikoppeling_inbox.go), 4 of them twice:
// every post gets the Acknowledgment of its own message, every envelope reaches the
// aanbieder's ophalen/ once and byte for byte, and the aanleveringen count every message once.
func TestConcurrentMessagesEachOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	const n, conc = 48, 8
	var outs []*ebms.Outgoing
	var envs [][]byte
	for range n {
		env := envelope("WMO301", "9999", "12345678", "")
		envs = append(envs, env)
		outs = append(outs, e.gem.message(t, ebms.ActionDi01, env, e.clk.Now()))
	}
	posts := append(append([]*ebms.Outgoing(nil), outs...), outs[:4]...) // 4 retries racing their first try
	e.gem.client.Transport.(*http.Transport).MaxIdleConnsPerHost = conc
	next := make(chan *ebms.Outgoing, len(posts))
	for _, p := range posts {
		next <- p
	}
	close(next)
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for out := range next {
				status, m := e.post(e.gem, out.ContentType, out.Body)
				if status != http.StatusOK || m == nil || m.Kind() != ebms.KindAcknowledgment || m.Acknowledgment.RefToMessageID != out.MessageID {
					mu.Lock()
					bad = append(bad, out.MessageID)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("no Acknowledgment of their own for %v", bad)
	}
	gem := e.principal("gemeente")
	var ups []exchange.Upload
	eventually(t, "every aanlevering final", func() bool {
		var err error
		ups, _, err = e.h.Uploads(context.Background(), gem, exchange.IWmo, exchange.ListOptions{Limit: n})
		if err != nil {
			return false
		}
		for _, u := range ups {
			if !u.Status.Final() {
				return false
			}
		}
		return true
	})
	correct := 0
	for _, u := range ups {
		correct += u.Counts.Correct
		if u.Status != exchange.Afgeleverd || u.Counts.Incorrect != 0 {
			t.Fatalf("aanlevering %+v", u)
		}
	}
	got := e.inboxEnvelopes(e.principal("aanbieder"))
	if correct != n || len(got) != n {
		t.Fatalf("%d correct in %d aanleveringen, %d envelopes in ophalen; want %d", correct, len(ups), len(got), n)
	}
	for i, env := range envs {
		k := 0
		for _, g := range got {
			if bytes.Equal(g, env) {
				k++
			}
		}
		if k != 1 {
			t.Fatalf("envelope %d is %d times in ophalen", i, k)
		}
	}
	t.Logf("%d messages (and 4 retries) made %d aanleveringen", n, len(ups))
}
