package exchange

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"knooppunt/exchange/ebms"
	"knooppunt/storage"
)

// Group commit of inbound Digikoppeling messages (issue 12: ≥ 1,000 messages/s with a durable
// Acknowledgment). Made durable one by one, each message cost a blob fsync, a directory fsync
// and a synced transaction before its Acknowledgment, and then a whole aanlevering's worth of
// engine work (its own verslag, delivery file and synced writes). Messages that arrive while a
// hand-in is being made durable wait in the inbox; the next hand-in takes all of them that
// belong to one organisation and product as one aanlevering: one blob (a ZIP of the envelopes,
// stored byte for byte), one transaction with every message's duplicate-elimination record, and
// one run of the engine. A message alone in the inbox is handed in as before, as an .xml.
//
// Why one aanlevering of several messages is right (DOMAIN.md, the seed): an aanlevering is
// what an organisation hands in at one moment, an .xml or a .zip of envelopes, and the seed's
// portal treats a ZIP's envelopes one by one: each is checked, routed and delivered on its own,
// rejected ones are listed per file in the verwerkingsverslag, and the berichtenlog has one
// entry per envelope either way. The messages of one aanlevering here are all the sending
// organisation's own, of one product, arrived within the same few milliseconds. Each file in
// the ZIP is named after its ebMS MessageId, and the upload keeps every message's ebMS data
// (EbMSBatch), so a rejected envelope still gets its own Fo01 with its own crossRefnummer and
// a StatusRequest still finds its aanlevering.

// Bounds of one batched hand-in: enough to make one fsync serve many messages, small enough
// that a batch stays one ordinary aanlevering (well under an .xml's 25 MB).
const (
	inboxMaxMessages = 64
	inboxMaxBytes    = 16 << 20
)

// inbox holds the inbound messages waiting for their hand-in; one drain at a time takes them.
type inbox struct {
	mu       sync.Mutex
	queue    []*inItem
	draining bool
}

// inItem is one received user message on its way to being durable.
type inItem struct {
	ctx     context.Context
	p       *Principal
	product Product
	name    string
	data    []byte
	oin     string
	mid     string
	in      *EbMSIn
	rec     received
	c       CPA
	ack     *ebms.Outgoing
	sync    bool
	done    chan inResult
}

// inResult: the message is durable (err nil), a duplicate of one that is (dup), or refused.
type inResult struct {
	dup bool
	err error
}

// handInEbMS makes the message durable as (part of) an aanlevering and returns once it is, or
// once it was refused. It waits for its result even when ctx ends: the hand-in may already
// have happened, and the partner's retry is then answered as a duplicate.
func (h *Hub) handInEbMS(it *inItem) inResult {
	it.done = make(chan inResult, 1)
	ib := &h.inbox
	ib.mu.Lock()
	ib.queue = append(ib.queue, it)
	if !ib.draining {
		ib.draining = true
		// The drain ends when the inbox is empty; every message it takes is answered.
		go h.drainInbox()
	}
	ib.mu.Unlock()
	return <-it.done
}

func (h *Hub) drainInbox() {
	ib := &h.inbox
	for {
		ib.mu.Lock()
		if len(ib.queue) == 0 {
			ib.draining = false
			ib.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(ib.queue) && n < inboxMaxMessages && (n == 0 || size+len(ib.queue[n].data) <= inboxMaxBytes) {
			size += len(ib.queue[n].data)
			n++
		}
		batch := ib.queue[:n:n]
		ib.queue = append([]*inItem(nil), ib.queue[n:]...)
		ib.mu.Unlock()

		// One aanlevering per organisation and product, in arrival order; the groups of
		// different organisations are made durable side by side.
		type gk struct {
			org     string
			product Product
		}
		groups := map[gk][]*inItem{}
		var order []gk
		for _, it := range batch {
			k := gk{it.p.Org.Code, it.product}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], it)
		}
		var wg sync.WaitGroup
		for _, k := range order {
			wg.Go(func() { h.handInGroup(groups[k]) })
		}
		wg.Wait()
	}
}

// handInGroup hands in the messages of one organisation and product: alone as before, or
// together as one aanlevering. When one of them turns out to be a duplicate of a message made
// durable meanwhile, the group's transaction is refused as a whole and each message is
// handed in on its own, where the duplicate is recognised by itself.
func (h *Hub) handInGroup(items []*inItem) {
	// The same MessageId twice in one batch (a partner's retry that overtook its first try):
	// the later one waits for the first and is then a duplicate.
	var first, again []*inItem
	seen := map[string]bool{}
	for _, it := range items {
		k := it.oin + "\x00" + it.mid
		if seen[k] {
			again = append(again, it)
			continue
		}
		seen[k] = true
		first = append(first, it)
	}
	if len(first) == 1 {
		first[0].done <- h.handInOne(first[0])
	} else if err := h.handInBatch(first); errors.Is(err, errDuplicate) {
		var wg sync.WaitGroup
		for _, it := range first {
			wg.Go(func() { it.done <- h.handInOne(it) })
		}
		wg.Wait()
	} else {
		for _, it := range first {
			it.done <- inResult{err: err}
		}
	}
	for _, it := range again {
		it.done <- inResult{dup: true}
	}
}

// record writes the message's duplicate-elimination record (and its asynchronous
// Acknowledgment) in the transaction that creates upload u.
func (h *Hub) recordReceived(t storage.Txn, it *inItem, u *Upload) error {
	k := key(kEbIn, it.oin, it.mid)
	if _, err := t.Get(k); err == nil {
		return errDuplicate
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	rec := it.rec
	rec.Upload = u.ID
	if !it.sync && it.ack != nil {
		if err := h.putSignal(t, it.c, it.ack.ContentType, it.ack.Body, it.mid); err != nil {
			return err
		}
	}
	if err := setJSON(t, k, rec); err != nil {
		return err
	}
	return t.Set(key(kEbInExp, rec.Until, it.oin, it.mid), nil)
}

// handInOne hands one message in as an aanlevering of its own.
func (h *Hub) handInOne(it *inItem) inResult {
	dup := false
	_, err := h.HandIn(it.ctx, it.p, it.product, it.name, it.data, DoorDigikoppeling, func(t storage.Txn, u *Upload) error {
		u.EbMS = it.in
		err := h.recordReceived(t, it, u)
		dup = errors.Is(err, errDuplicate)
		return err
	})
	if dup {
		return inResult{dup: true}
	}
	return inResult{err: err}
}

// handInBatch hands several messages in as one aanlevering: a ZIP with each envelope stored
// byte for byte under a name made of its MessageId.
func (h *Hub) handInBatch(items []*inItem) error {
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	ins := make([]EbMSIn, len(items))
	names := map[string]bool{}
	now := h.clock.Now()
	for i, it := range items {
		name := it.name
		for n := 2; names[name]; n++ {
			// Two MessageIds that differ only in characters a file name leaves out.
			name = fmt.Sprintf("ebms-%s-%d.xml", fileNameOf(it.mid), n)
		}
		names[name] = true
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: now})
		if err != nil {
			return err
		}
		if _, err := w.Write(it.data); err != nil {
			return err
		}
		ins[i] = *it.in
		ins[i].Bestand = name
	}
	if err := zw.Close(); err != nil {
		return err
	}
	mid := fileNameOf(items[0].mid)
	if len(mid) > 100 {
		mid = mid[:100]
	}
	name := fmt.Sprintf("ebms-%d-berichten-%s.zip", len(items), mid)
	ctx, stop := whileAnyWaits(items)
	defer stop()
	_, err := h.HandIn(ctx, items[0].p, items[0].product, name, zb.Bytes(), DoorDigikoppeling, func(t storage.Txn, u *Upload) error {
		u.EbMSBatch = ins
		for _, it := range items {
			if err := h.recordReceived(t, it, u); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// whileAnyWaits is a context that ends when every message's request has ended: a batch
// waits for admission as long as one of its partners still waits for the answer.
func whileAnyWaits(items []*inItem) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(items)))
	stops := make([]func() bool, 0, len(items))
	for _, it := range items {
		stops = append(stops, context.AfterFunc(it.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}
