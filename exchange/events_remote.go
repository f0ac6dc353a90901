package exchange

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"knooppunt/storage"
)

// eventsChannel is the Notifier channel on which the nodes of one hub tell each other of their
// events.
const eventsChannel = "events"

// remoteEvents carries events across the nodes that share one store: what this hub publishes
// goes out on the store's Notifier (PostgreSQL's NOTIFY), and what the others publish comes
// in and goes to this hub's subscribers, so that a TUI on node B follows an upload that node
// A processes without polling. An event stays a hint to look again: one lost while the
// database restarts is made up for by a "reconnect" event to every subscriber.
type remoteEvents struct {
	n     storage.Notifier
	local *broker
	wake  chan<- struct{} // the engine's nudge: an upload at another node may be queued
	// settled hears of another node's upload event, for the admission slot (admission_shared.go).
	settled func(id uint64)
	self    string // this hub's id in payloads: its own events come back and are skipped
	log     *slog.Logger
	out     chan Event
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// remoteEvent is an Event on the wire, with the id of the hub that published it.
type remoteEvent struct {
	From     string  `json:"f"`
	Org      string  `json:"o"`
	Product  Product `json:"p,omitempty"`
	Kind     string  `json:"k"`
	UploadID uint64  `json:"u,omitempty"`
}

// startRemoteEvents starts carrying events over kv when it is a Notifier; nil otherwise (a
// store of one process: the local broker is enough). Its goroutines stop with stop.
func startRemoteEvents(kv storage.KV, local *broker, wake chan<- struct{}, settled func(uint64), log *slog.Logger) *remoteEvents {
	n, ok := kv.(storage.Notifier)
	if !ok {
		return nil
	}
	var id [8]byte
	rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	r := &remoteEvents{n: n, local: local, wake: wake, settled: settled, self: hex.EncodeToString(id[:]), log: log,
		out: make(chan Event, 1024), cancel: cancel}
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.send(ctx) }()
	go func() { defer r.wg.Done(); r.receive(ctx) }()
	return r
}

// publish hands e to the sender; when the sender is behind, e is dropped (a hint, and the
// next event of the same organisation says the same "look again").
func (r *remoteEvents) publish(e Event) {
	if r == nil {
		return
	}
	select {
	case r.out <- e:
	default:
	}
}

func (r *remoteEvents) stop() {
	if r == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}

// send sends the events waiting, many in one statement: a delivery of thousands of
// messages publishes as many events.
func (r *remoteEvents) send(ctx context.Context) {
	var failedSince time.Time
	for {
		var e Event
		select {
		case <-ctx.Done():
			return
		case e = <-r.out:
		}
		batch := []string{r.encode(e)}
	more:
		for len(batch) < 256 {
			select {
			case e = <-r.out:
				batch = append(batch, r.encode(e))
			default:
				break more
			}
		}
		err := r.n.Notify(ctx, eventsChannel, batch...)
		switch {
		case err != nil && ctx.Err() == nil && failedSince.IsZero():
			failedSince = time.Now()
			r.log.Warn("gebeurtenissen niet doorgegeven aan de andere knooppunten", "aantal", len(batch), "err", err)
		case err == nil && !failedSince.IsZero():
			r.log.Info("gebeurtenissen worden weer doorgegeven aan de andere knooppunten", "onderbroken", time.Since(failedSince).Round(time.Second))
			failedSince = time.Time{}
		}
	}
}

func (r *remoteEvents) encode(e Event) string {
	b, _ := json.Marshal(remoteEvent{From: r.self, Org: e.Org, Product: e.Product, Kind: e.Kind, UploadID: e.UploadID})
	return string(b)
}

// receive hands the other nodes' events to the local subscribers until ctx ends.
func (r *remoteEvents) receive(ctx context.Context) {
	first := true
	r.n.Listen(ctx, eventsChannel, func(payload *string) {
		if payload == nil {
			if !first {
				// Events may have been missed while the connection was down.
				r.local.publishAll(Event{Kind: "reconnect"})
			}
			first = false
			return
		}
		var e remoteEvent
		if err := json.Unmarshal([]byte(*payload), &e); err != nil {
			r.log.Warn("onleesbare gebeurtenis van een ander knooppunt", "err", err)
			return
		}
		if e.From == r.self {
			return
		}
		r.local.publish(Event{Org: e.Org, Product: e.Product, Kind: e.Kind, UploadID: e.UploadID})
		if e.Kind == "upload" {
			// The upload may have been queued at that node: this node's engine looks too,
			// at once rather than at its next round.
			select {
			case r.wake <- struct{}{}:
			default:
			}
			r.settled(e.UploadID)
		}
	})
}

// publishAll sends e to every subscriber, each with its own organisation.
func (b *broker) publishAll(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for org, subs := range b.subs {
		e.Org = org
		for ch := range subs {
			select {
			case ch <- e:
			default:
			}
		}
	}
}
