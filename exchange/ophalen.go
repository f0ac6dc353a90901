package exchange

import (
	"context"
	"errors"
	"fmt"
	"time"

	"knooppunt/storage"
)

// InboxOptions page the files in ophalen/.
type InboxOptions struct {
	Limit, Offset int
	OnlyNew       bool // only files not marked gelezen
	Referenties   bool // fill each file's Referenties
}

// inboxChunk is how many delivery records Inbox reads ahead at once.
const inboxChunk = 256

// Inbox lists the files waiting in the organisation's ophalen/ of product, newest first,
// with the total number of files that match.
func (h *Hub) Inbox(ctx context.Context, p *Principal, product Product, opts InboxOptions) ([]Delivery, int, error) {
	var out []Delivery
	total := 0
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if fp, err = authorize(t, p, ActionFetch, product); err != nil {
			return err
		}
		// The ids first, then the records a chunk at a time, each chunk's read in one query on
		// PostgreSQL: a record per round trip made listing an ophalen/ of a few hundred files
		// (which every polling client does every few seconds) hundreds of round trips.
		var ids []uint64
		err = scanCtx(ctx, t, key(kInbox, p.Org.Code, product, ""), storage.ScanOptions{Reverse: true, KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			if err != nil {
				return false, err
			}
			ids = append(ids, id)
			return true, nil
		})
		if err != nil {
			return err
		}
		for start := 0; start < len(ids); start += inboxChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := ids[start:min(start+inboxChunk, len(ids))]
			var want [][]byte
			for i, id := range part {
				// Without OnlyNew every file counts, so the page is known by position.
				if in, _ := page(start+i, opts.Offset, opts.Limit); in || opts.OnlyNew {
					want = append(want, key(kDelivery, id))
				}
			}
			if err := storage.Prefetch(t, want); err != nil {
				return err
			}
			for _, id := range part {
				var d Delivery
				in, _ := page(total, opts.Offset, opts.Limit)
				if in || opts.OnlyNew {
					if err := getJSON(t, key(kDelivery, id), &d); err != nil {
						return fmt.Errorf("aflevering %d lezen: %w", id, err)
					}
					if opts.OnlyNew && !d.GelezenAt.IsZero() {
						continue
					}
				}
				if in {
					if opts.Referenties {
						if d.Referenties, err = referenties(t, d.Messages); err != nil {
							return err
						}
					}
					out = append(out, d)
				}
				total++
			}
		}
		return nil
	})
	if fp == nil {
		return nil, 0, err // refused, as authorize said it
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ophalen/ van %s lezen: %w", product, err)
	}
	return out, total, nil
}

// referenties reads the referentienummers of the messages ids, in their order.
func referenties(t storage.Txn, ids []uint64) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		m, found, err := txMessage(t, id)
		if err != nil {
			return nil, fmt.Errorf("bericht %d lezen: %w", id, err)
		}
		if found {
			out = append(out, m.Referentie)
		}
	}
	return out, nil
}

// Referenties gives the referentienummers of the messages in the files names of p's
// ophalen/ of product: any one of them brings its file back with Restore once it is deleted.
func (h *Hub) Referenties(p *Principal, product Product, names []string) (map[string][]string, error) {
	out := make(map[string][]string, len(names))
	err := h.kv.View(func(t storage.Txn) error {
		if _, err := authorize(t, p, ActionFetch, product); err != nil {
			return err
		}
		for _, name := range names {
			d, err := h.delivery(t, p.Org.Code, product, name)
			if err != nil {
				return err
			}
			if out[name], err = referenties(t, d.Messages); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// notInOphalen is the error for a name that is not (or no longer) a file in ophalen/.
func notInOphalen(name string) error {
	return fmt.Errorf("%w: %s staat niet in ophalen/; vernieuw de lijst", ErrNotFound, name)
}

// deliveryIDByName reads the id of the visible file name in org's ophalen/ of product.
func deliveryIDByName(t storage.Txn, org string, product Product, name string) (uint64, error) {
	v, err := t.Get(key(kDlvName, org, product, name))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, notInOphalen(name)
	}
	if err != nil {
		return 0, err
	}
	return idFromKey(v)
}

// delivery finds a visible file in org's ophalen/ by name.
func (h *Hub) delivery(t storage.Txn, org string, product Product, name string) (Delivery, error) {
	id, err := deliveryIDByName(t, org, product, name)
	if err != nil {
		return Delivery{}, err
	}
	var d Delivery
	if err := getJSON(t, key(kDelivery, id), &d); err != nil {
		return Delivery{}, fmt.Errorf("aflevering %s lezen: %w", name, err)
	}
	return d, nil
}

// deliveryID reads, in a snapshot, the id of the file name in p's ophalen/ of product. It
// checks p as authorize does, and returns what authorize gave (nil: refused, and err says
// why); the read-write transaction that uses the id checks p again.
func (h *Hub) deliveryID(p *Principal, product Product, name string) (fp *Principal, id uint64, err error) {
	err = h.kv.View(func(t storage.Txn) error {
		if p != nil {
			if err := storage.Prefetch(t, principalKeys(p, key(kDlvName, p.Org.Code, product, name))); err != nil {
				return err
			}
		}
		var err error
		if fp, err = authorize(t, p, ActionMark, product); err != nil {
			return err
		}
		id, err = deliveryIDByName(t, p.Org.Code, product, name)
		return err
	})
	return fp, id, err
}

// visibleDelivery reads delivery id in t and checks that it still is the file name in org's
// ophalen/ of product, as idx/dname/ said in an earlier snapshot: deleted (hideDelivery),
// purged, held or restored under another name since, it is not. A file has a name entry
// exactly when its record is neither deleted nor held, under the record's name, so the record
// alone decides.
func visibleDelivery(t storage.Txn, id uint64, org string, product Product, name string) (Delivery, error) {
	var d Delivery
	err := getJSON(t, key(kDelivery, id), &d)
	if err == nil && (!d.DeletedAt.IsZero() || d.Held || d.Org != org || d.Product != product || d.Name != name) {
		err = storage.ErrNotFound
	}
	if errors.Is(err, storage.ErrNotFound) {
		return Delivery{}, notInOphalen(name)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("aflevering %s lezen: %w", name, err)
	}
	return d, nil
}

// Delivery finds a file in p's ophalen/ of product by name: its record only, for a stat or
// to resolve a name, without opening (and checksumming) its bytes.
func (h *Hub) Delivery(p *Principal, product Product, name string) (Delivery, error) {
	var d Delivery
	err := h.kv.View(func(t storage.Txn) error {
		if p != nil {
			if err := storage.Prefetch(t, principalKeys(p, key(kDlvName, p.Org.Code, product, name))); err != nil {
				return err
			}
		}
		if _, err := authorize(t, p, ActionFetch, product); err != nil {
			return err
		}
		var err error
		d, err = h.delivery(t, p.Org.Code, product, name)
		return err
	})
	return d, err
}

// OpenDelivery opens a file in ophalen/ for reading. The caller closes the reader.
func (h *Hub) OpenDelivery(p *Principal, product Product, name string) (storage.Reader, Delivery, error) {
	d, err := h.Delivery(p, product, name)
	if err != nil {
		return nil, Delivery{}, err
	}
	r, err := h.files.Open(d.Blob)
	if err != nil {
		return nil, Delivery{}, fmt.Errorf("bestand %s openen: %w", name, err)
	}
	return r, d, nil
}

// maxMarks bounds the gelezen marks of one node that run at once. One at a time halved the
// conflicts of a two-node load test but slowed its download sessions 2.4×; two is the middle.
const maxMarks = 2

// SetGelezen marks files in ophalen/ as read (gelezen true) or removes the mark. A gelezen
// file leaves ophalen/ 168 hours after it was read.
func (h *Hub) SetGelezen(p *Principal, product Product, names []string, gelezen bool) error {
	now := h.clock.Now()
	for _, name := range names {
		changed, queued := false, false
		var did uint64
		// The name's delivery id from a snapshot: the read-write transaction below then reads
		// the delivery's own record, not idx/dname/. On PostgreSQL every index read locks its
		// leaf page for the serializable check, and the names of an organisation's new files
		// are inserted on those same pages by every upload delivering to it: a mark read
		// there conflicted with them (SetGelezen was the first place of serialization failures
		// in the two-node load test). The record tells whether the id still is the visible
		// file of that name (visibleDelivery); writing it makes a concurrent mark, delete or
		// restore of the same file a conflict, as before.
		fp, id, err := h.deliveryID(p, product, name)
		if err == nil {
			// Lazy: a gelezen mark lost in a power cut leaves the file unread (downloadable
			// again, kept longer); the next durable write or the store's periodic sync makes
			// it durable. At most maxMarks marks at a time per node: the marks of files from
			// one upload, made by its recipients' sessions at the same moment, rewrite the same
			// berichtenlog group of the sender and messages on the same index pages, and side
			// by side they conflicted with each other (15,900 failures in a two-node load test
			// once the audit log no longer held the download sessions back).
			h.marks <- struct{}{}
			err = h.kv.UpdateLazy(func(t storage.Txn) error {
				changed, queued = false, false
				if err := storage.Prefetch(t, principalKeys(p, key(kDelivery, id), key(kHistQ, id))); err != nil {
					return err
				}
				var err error
				if fp, err = authorize(t, p, ActionMark, product); err != nil {
					return err
				}
				d, err := visibleDelivery(t, id, p.Org.Code, product, name)
				if err != nil {
					return err
				}
				if gelezen == !d.GelezenAt.IsZero() {
					return nil
				}
				// The messages' records in one query, not a round trip each in applyHistory:
				// the transaction is shorter, and so is the time it holds a mark slot.
				if len(d.Messages) <= histChunk {
					ks := make([][]byte, len(d.Messages))
					for i, mid := range d.Messages {
						ks[i] = key(kMessage, mid)
					}
					if err := storage.Prefetch(t, ks); err != nil {
						return err
					}
				}
				changed = true
				status := MsgGelezen
				if gelezen {
					if err := t.Set(key(kGelezen, now, d.ID), nil); err != nil {
						return err
					}
				} else {
					if err := t.Delete(key(kGelezen, d.GelezenAt, d.ID)); err != nil {
						return err
					}
					status = MsgOngelezen
				}
				d.GelezenAt = time.Time{}
				if gelezen {
					d.GelezenAt = now
				}
				if err := setJSON(t, key(kDelivery, d.ID), d); err != nil {
					return err
				}
				did = d.ID
				queued, err = deliveryHistory(t, &d, queuedEvent{Event: StatusEvent{At: now, Status: status, By: p.Account.Name}})
				return err
			})
			<-h.marks
		}
		if fp == nil {
			return err // refused
		}
		if err != nil {
			return fmt.Errorf("markering gelezen van %s: %w", name, err)
		}
		if queued {
			h.afterHistory(did)
		}
		if changed {
			action := "gelezen"
			if !gelezen {
				action = "ongelezen"
			}
			h.Audit(p, action, string(product)+"/ophalen/"+name, "ok")
			h.publish(Event{Org: p.Org.Code, Product: product, Kind: "delivery"})
		}
	}
	return nil
}

// DeleteDeliveries removes files from ophalen/. They stay in the berichtenlog and can be
// restored until they are purged, 60 days after they arrived.
func (h *Hub) DeleteDeliveries(p *Principal, product Product, names []string) error {
	now := h.clock.Now()
	for _, name := range names {
		var fp *Principal
		var did uint64
		queued := false
		err := h.kv.Update(func(t storage.Txn) error {
			var err error
			if fp, err = authorize(t, p, ActionDelete, product); err != nil {
				return err
			}
			d, err := h.delivery(t, p.Org.Code, product, name)
			if err != nil {
				return err
			}
			did = d.ID
			queued, err = h.hideDelivery(t, d, now, StatusEvent{At: now, Status: MsgVerwijderd, By: p.Account.Name})
			return err
		})
		if queued && err == nil {
			h.afterHistory(did)
		}
		if err != nil {
			h.Audit(p, "verwijder", string(product)+"/ophalen/"+name, err.Error())
			if fp == nil {
				return err // refused
			}
			return fmt.Errorf("%s verwijderen: %w", name, err)
		}
		h.Audit(p, "verwijder", string(product)+"/ophalen/"+name, "ok")
	}
	if len(names) > 0 {
		h.publish(Event{Org: p.Org.Code, Product: product, Kind: "delivery"})
	}
	return nil
}

// hideDelivery takes a file out of ophalen/ while keeping it for the berichtenlog and Restore.
// When it queued the messages' history, the caller calls afterHistory(d.ID) after the commit.
func (h *Hub) hideDelivery(t storage.Txn, d Delivery, now time.Time, ev StatusEvent) (queued bool, err error) {
	for _, k := range [][]byte{key(kInbox, d.Org, d.Product, d.CreatedAt, d.ID), key(kDlvName, d.Org, d.Product, d.Name)} {
		if err := t.Delete(k); err != nil {
			return false, err
		}
	}
	if !d.GelezenAt.IsZero() {
		if err := t.Delete(key(kGelezen, d.GelezenAt, d.ID)); err != nil {
			return false, err
		}
	}
	d.DeletedAt = now
	if err := setJSON(t, key(kDelivery, d.ID), d); err != nil {
		return false, err
	}
	return deliveryHistory(t, &d, queuedEvent{Event: ev})
}
