package exchange

import (
	"errors"
	"fmt"

	"knooppunt/storage"
)

// Status history of a delivery file's messages, in bounded transactions.
//
// Marking a file gelezen or ongelezen, deleting, expiring, restoring or releasing it appends
// one status event to each of its messages: the message record and its berichtenlog index
// entries, about 1 KB a message. Written in the transaction that changes the file, a file of
// some 5,000 messages no longer fits in one Badger transaction ("Txn is too big"), so a large
// delivery could never be marked, deleted or restored. The readers (the status filter of the
// berichtenlog, its counts, Restore) read the status of each message from its own record and
// index, so the per-message rewrite stays; it is only cut into chunks:
//
//   - the delivery record, which ophalen/ and its listing read, is the truth and changes in
//     the first transaction, together with a small marker histq/<delivery> that queues the
//     event (a store-format addition: a new kind of record, no existing record changes);
//   - finishHistory then writes the event into histChunk messages per transaction, each
//     transaction also recording in the marker how far it got, and removes the marker with
//     the last chunk. A chunk and its progress commit together, so a crash between chunks
//     loses nothing and redoes nothing; the start of the server and every retention sweep
//     finish what a crash left queued.
//
// Events queue per delivery in the order they were committed, so a file marked gelezen and
// at once ongelezen ends "afgeleverd" in every message. A small file (the usual case) whose
// queue is empty gets its events in the same transaction, as before.

// histChunk is how many messages one transaction rewrites: with their index entries about
// 0.5 MB, well below Badger's limit (15 % of the 16 MB memtable).
const histChunk = 500

type pendingHistory struct {
	Queue []queuedEvent `json:"wachtrij"`
	Next  int           `json:"volgende"` // messages of Queue[0] already done, in delivery order
}

type queuedEvent struct {
	Event  StatusEvent   `json:"gebeurtenis"`
	OnlyIf MessageStatus `json:"alleen_bij,omitempty"`
	Relink bool          `json:"koppel,omitempty"` // also point each message at this delivery
}

// deliveryHistory records q for every message of d: at once in t when d is small and nothing
// waits for it, otherwise queued for finishHistory. It says whether it queued; the caller then
// calls finishHistory(d.ID) once t has committed.
func deliveryHistory(t storage.Txn, d *Delivery, q queuedEvent) (queued bool, err error) {
	var p pendingHistory
	switch err := getJSON(t, key(kHistQ, d.ID), &p); {
	case errors.Is(err, storage.ErrNotFound):
		if len(d.Messages) <= histChunk {
			return false, applyHistory(t, d.ID, d.Messages, q)
		}
	case err != nil:
		return false, err
	}
	p.Queue = append(p.Queue, q)
	return true, setJSON(t, key(kHistQ, d.ID), p)
}

// applyHistory writes q into the messages ids of delivery did. Redoing it is harmless only
// because the caller records its progress in the same transaction.
func applyHistory(t storage.Txn, did uint64, ids []uint64, q queuedEvent) error {
	if q.Relink {
		for _, id := range ids {
			m, found, err := txMessage(t, id)
			if err != nil {
				return err
			}
			if found && m.DeliveryID != did {
				m.DeliveryID = did
				if err := setJSON(t, key(kMessage, id), m); err != nil {
					return err
				}
			}
		}
	}
	return addHistory(t, ids, q.Event, q.OnlyIf)
}

// finishHistory writes what is queued for delivery did into its messages, histChunk messages
// per transaction. The transactions are lazy: one lost in a power cut loses its progress with
// it, and the marker, committed durably or lazily with the change it belongs to, brings it back.
func (h *Hub) finishHistory(did uint64) error {
	for {
		done := false
		err := h.kv.UpdateLazy(func(t storage.Txn) error {
			done = false
			k := key(kHistQ, did)
			var p pendingHistory
			if err := getJSON(t, k, &p); errors.Is(err, storage.ErrNotFound) {
				done = true
				return nil
			} else if err != nil {
				return err
			}
			var d Delivery
			if err := getJSON(t, key(kDelivery, did), &d); errors.Is(err, storage.ErrNotFound) {
				done = true // purged meanwhile, with its messages
				return t.Delete(k)
			} else if err != nil {
				return err
			}
			if len(p.Queue) > 0 {
				end := min(p.Next+histChunk, len(d.Messages))
				if err := applyHistory(t, did, d.Messages[min(p.Next, end):end], p.Queue[0]); err != nil {
					return err
				}
				p.Next = end
				if end >= len(d.Messages) {
					p.Queue, p.Next = p.Queue[1:], 0
				}
			}
			if len(p.Queue) == 0 {
				done = true
				return t.Delete(k)
			}
			return setJSON(t, k, p)
		})
		if err != nil {
			return fmt.Errorf("historie van de berichten van bestand %d bijwerken: %w", did, err)
		}
		if done {
			return nil
		}
		if histChunkHook != nil {
			if err := histChunkHook(did); err != nil {
				return err
			}
		}
	}
}

// histChunkHook, when set (by tests), runs after each chunk that left more to do; an error
// stops finishHistory there, as a crash would.
var histChunkHook func(did uint64) error

// afterHistory finishes what deliveryHistory queued for did, once its transaction committed.
// The change itself stands: a failure here is logged, and the next sweep or start finishes it.
func (h *Hub) afterHistory(did uint64) {
	if err := h.finishHistory(did); err != nil {
		h.log.Error("historie van berichten bijwerken; de volgende opruimronde maakt het af", "aflevering", did, "err", err)
	}
}

// finishAllHistory finishes every queued history, after a crash at start and in each sweep.
func (h *Hub) finishAllHistory() error {
	var ids []uint64
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kHistQ), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			ids = append(ids, id)
			return err == nil, err
		})
	})
	if err != nil {
		return fmt.Errorf("wachtende historie zoeken: %w", err)
	}
	for _, id := range ids {
		if err := h.finishHistory(id); err != nil {
			return err
		}
	}
	return nil
}
