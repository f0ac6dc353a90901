package exchange

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"sync"
	"testing"
	"time"

	"knooppunt/exchange/ebms"
	"knooppunt/storage"
)

// dkReceiver is the partner's MSH in a test: it acknowledges every message in the HTTP
// response and counts, per MessageId, the posts, the nodes that made them and the payloads
// they carried.
type dkReceiver struct {
	mu       sync.Mutex
	posts    map[string]int               // MessageId -> posts
	byNode   map[string]map[string]bool   // node -> MessageIds it posted
	payloads map[[32]byte]map[string]bool // payload -> MessageIds that carried it
	total    int
	onPost   func(node string, total int) // called, unlocked, before the answer goes back
	frozenAt time.Time                    // when the test froze a node (zero: not yet)
	takenAt  time.Time                    // the first post after frozenAt by another node
	frozen   string
}

func newDKReceiver() *dkReceiver {
	return &dkReceiver{posts: map[string]int{}, byNode: map[string]map[string]bool{}, payloads: map[[32]byte]map[string]bool{}}
}

// post is node's DigikoppelingConfig.Post.
func (r *dkReceiver) post(node string) func(context.Context, CPA, string, []byte) (PostResult, error) {
	return func(_ context.Context, _ CPA, ct string, body []byte) (PostResult, error) {
		m, err := ebms.ParseMessage(ct, body)
		if err != nil || len(m.Payloads) != 1 {
			return PostResult{Status: 400}, nil
		}
		mid := m.Header.MessageID
		sum := sha256.Sum256(m.Payloads[0].Data)
		r.mu.Lock()
		r.posts[mid]++
		if r.byNode[node] == nil {
			r.byNode[node] = map[string]bool{}
		}
		r.byNode[node][mid] = true
		if r.payloads[sum] == nil {
			r.payloads[sum] = map[string]bool{}
		}
		r.payloads[sum][mid] = true
		r.total++
		if !r.frozenAt.IsZero() && r.takenAt.IsZero() && node != r.frozen {
			r.takenAt = time.Now()
		}
		total := r.total
		onPost := r.onPost
		r.mu.Unlock()
		if onPost != nil {
			onPost(node, total)
		}
		ack, err := ebms.BuildAcknowledgment(&m.Header, nil, ebms.Reply{})
		if err != nil {
			return PostResult{}, err
		}
		return PostResult{Status: 200, ContentType: ack.ContentType, Body: ack.Body}, nil
	}
}

func (r *dkReceiver) postedBy(node, mid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byNode[node][mid]
}

// messageSends reads the send records of messages (no signals) from kv.
func messageSends(t *testing.T, kv storage.KV) []Send {
	t.Helper()
	var out []Send
	err := kv.View(func(tx storage.Txn) error {
		out = out[:0]
		return tx.Scan([]byte(kSend), storage.ScanOptions{}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			if err != nil {
				return false, err
			}
			s, err := txSend(tx, id)
			if err == nil && s.Kind == sendBericht {
				out = append(out, s)
			}
			return err == nil, err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Two nodes on one database send over Digikoppeling, under the send lease. The node that holds
// it stops answering (a pause: its store blocks) halfway through; the other takes the lease over
// once the first's heartbeat is stale and sends the rest, and, one RetryInterval later, again
// the messages the frozen node had posted but not recorded as bevestigd. Every message ends
// bevestigd under the one MessageId it got first; the partner sees each message under that
// MessageId only, posted twice only when the first attempt went unrecorded; and when the
// frozen node comes back it does not send again.
func TestTwoNodesSendEachMessageOnce(t *testing.T) {
	p := newSharedPlace(t)
	recv := newDKReceiver()
	fks := map[string]*freezingKV{}
	nodes := map[string]*testEngine{}
	for _, name := range []string{"a", "b"} {
		kv, _ := p.open(t, t.TempDir())
		fk := &freezingKV{KV: kv, gate: make(chan struct{})}
		fks[name] = fk
		dir := t.TempDir()
		_, files := p.open(t, dir)
		cfg := quickBeats
		cfg.KV, cfg.Files, cfg.Node, cfg.Log = fk, files, name, slog.New(slog.DiscardHandler)
		cfg.Digikoppeling = &DigikoppelingConfig{Post: recv.post(name), Host: "test"}
		nodes[name] = newEngineWith(t, dir, cfg)
		t.Cleanup(fk.thaw) // before the node's engine stops (cleanups run last first)
	}
	a := nodes["a"]

	const n = 400
	// Halfway, the node making the post stops answering: its commits (the outcome of this
	// attempt among them) block until thawed.
	var frozen, other string
	var freezeOnce sync.Once
	recv.mu.Lock()
	recv.onPost = func(node string, total int) {
		if total >= n/2 {
			freezeOnce.Do(func() {
				fks[node].frozen.Store(true)
				recv.mu.Lock()
				frozen = node
				recv.frozen, recv.frozenAt = node, time.Now()
				recv.mu.Unlock()
			})
		}
	}
	recv.mu.Unlock()

	zorg := a.principal("12345678", Productbeheerder)
	if err := a.h.SetRoute(zorg, IWmo, "WMO 301/302", Digikoppeling, Actief, a.importCPA("12345678")); err != nil {
		t.Fatal(err)
	}
	files := make([]file, n)
	for i := range files {
		ref := newRef()
		files[i] = file{ref + ".xml", envelope("WMO301", "0363", "12345678", ref, "")}
	}
	gem := a.principal("0363")
	u := a.put(gem, IWmo, "dk.zip", zipOf(t, files...))

	var fo *freezingKV
	pollUntil(t, "een knooppunt bevroren halverwege het versturen", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		if frozen == "" {
			return false
		}
		fo = fks[frozen]
		return true
	})
	other = map[string]string{"a": "b", "b": "a"}[frozen]
	o := nodes[other]
	t.Logf("knooppunt %s bevroren na %d verzendingen; %s neemt over", frozen, n/2, other)
	if got := o.wait(o.principal("0363"), u.ID); got.Status != Afgeleverd || got.Counts.Correct != n {
		t.Fatalf("upload: %s %+v %+v", got.Status, got.Counts, got.Fouten)
	}

	// The other node takes the lease (after NodeStale) and sends what was not attempted. What
	// the frozen node recorded as sent waits for its RetryInterval: once the other node has
	// nothing under way and every unfinished send is such an attempt, its clock moves on.
	pollUntil(t, "alleen nog pogingen van het bevroren knooppunt open", func() bool {
		o.h.sends.mu.Lock()
		busy := len(o.h.sends.inFlight)
		o.h.sends.mu.Unlock()
		if busy > 0 {
			return false
		}
		ss := messageSends(t, fo.KV)
		if len(ss) != n {
			return false
		}
		for _, s := range ss {
			if s.pending() && (s.Attempts == 0 || recv.postedBy(other, s.MessageID)) {
				return false
			}
		}
		return true
	})
	recv.mu.Lock()
	takeover := recv.takenAt.Sub(recv.frozenAt)
	recv.mu.Unlock()
	o.clk.Add(2 * time.Minute)
	pollUntil(t, "alle berichten bevestigd", func() bool {
		for _, s := range messageSends(t, fo.KV) {
			if s.State != SendBevestigd {
				return false
			}
		}
		return true
	})

	// The frozen node comes back: the attempts it had under way commit late and find their
	// sends ended; none is posted again. (Which node holds the lease from now on is not
	// asserted: under load a heartbeat can miss NodeStale and the lease move back, which the
	// send records make harmless.)
	recv.mu.Lock()
	before := recv.total
	recv.mu.Unlock()
	fo.thaw()
	f := nodes[frozen]
	pollUntil(t, "de pogingen van het bevroren knooppunt afgerond", func() bool {
		f.h.sends.mu.Lock()
		defer f.h.sends.mu.Unlock()
		return len(f.h.sends.inFlight) == 0
	})

	ss := messageSends(t, fo.KV)
	mids := map[string]bool{}
	msgs := map[uint64]bool{}
	for _, s := range ss {
		if s.State != SendBevestigd {
			t.Errorf("bericht %d: %s (%s)", s.Message, s.State, s.Reason)
		}
		if mids[s.MessageID] || msgs[s.Message] {
			t.Errorf("bericht %d of MessageId %s twice in the sends", s.Message, s.MessageID)
		}
		mids[s.MessageID], msgs[s.Message] = true, true
	}
	zorgB := o.principal("12345678", Productbeheerder)
	list, total, err := o.h.Messages(context.Background(), zorgB, IWmo, MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	bevestigd := 0
	for _, m := range list {
		if m.Status == MsgBevestigd {
			bevestigd++
		}
	}
	t.Logf("berichtenlog: %d van %d (totaal %d) bevestigd", bevestigd, len(list), total)
	if len(list) > 0 && bevestigd != len(list) {
		t.Errorf("berichtenlog: %d of %d listed messages bevestigd", bevestigd, len(list))
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(msgs) != n || len(recv.payloads) != n || len(recv.posts) != n {
		t.Fatalf("%d messages, %d distinct payloads and %d MessageIds at the partner, want %d each", len(msgs), len(recv.payloads), len(recv.posts), n)
	}
	for sum, ids := range recv.payloads {
		if len(ids) != 1 {
			t.Errorf("payload %x under %d MessageIds", sum[:6], len(ids))
		}
	}
	again := 0
	for mid, c := range recv.posts {
		if !mids[mid] {
			t.Errorf("MessageId %s at the partner is no message's", mid)
		}
		if c > 1 {
			again++
			// Posted again only by the node that took over, of an attempt the frozen node
			// made and could not record.
			if c != 2 || !recv.byNode[frozen][mid] || !recv.byNode[other][mid] {
				t.Errorf("MessageId %s posted %d times (by %s: %t, by %s: %t)", mid, c,
					frozen, recv.byNode[frozen][mid], other, recv.byNode[other][mid])
			}
		}
	}
	if recv.total != before {
		t.Errorf("the node that came back posted %d more", recv.total-before)
	}
	t.Logf("%d posts of %d messages: %s %d, %s %d; %d sent again after the freeze; first post by %s %v after the freeze (NodeStale %v)",
		recv.total, n, frozen, len(recv.byNode[frozen]), other, len(recv.byNode[other]), again, other,
		takeover.Round(time.Millisecond), quickBeats.NodeStale)
}
