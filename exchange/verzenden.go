package exchange

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"knooppunt/storage"
)

// Outbound Digikoppeling: a durable queue of its own. A message for a recipient whose route is
// Digikoppeling, Actief and has a CPA gets one Send record, with its ebMS MessageId fixed when
// it is queued; every attempt, after a crash too, uses that MessageId, so the partner's
// duplicate elimination sees one message. Each attempt is recorded (attempts, next try)
// before the bytes leave, so a kill -9 mid-send means one more attempt, never a lost one.

// SendState is where an outbound Digikoppeling message is.
type SendState string

const (
	SendWachtend  SendState = "wachtend"  // queued, not sent yet
	SendVerzonden SendState = "verzonden" // sent, waiting for the Acknowledgment (or, best effort, done)
	SendBevestigd SendState = "bevestigd" // the partner acknowledged it
	SendMislukt   SendState = "mislukt"   // given up; `opnieuw` or a Portaal route takes it further
	// SendAfgegeven: delivered where no Acknowledgment comes (best effort, or a signal the
	// partner took with a 2xx).
	SendAfgegeven SendState = "afgegeven"
)

// Message statuses of the Digikoppeling door, in the berichtenlog.
const (
	MsgVerzondenDK MessageStatus = "verzonden via Digikoppeling"
	MsgBevestigd   MessageStatus = "bevestigd"
	MsgMislukt     MessageStatus = "mislukt"
)

// Send is one message on its way to a partner over Digikoppeling.
type Send struct {
	ID             uint64    `json:"id"`
	Kind           string    `json:"soort"`   // "bericht" or "fo01"
	Message        uint64    `json:"bericht"` // the berichtenlog's message; 0 for an Fo01
	Org            string    `json:"organisatie"`
	Product        Product   `json:"product"`
	Exchange       string    `json:"uitwisseling,omitempty"`
	CPA            string    `json:"cpa"`
	Action         string    `json:"action"`
	MessageID      string    `json:"message_id"`
	ConversationID string    `json:"conversation_id"`
	RefTo          string    `json:"ref_to_message_id,omitempty"`
	Delivery       uint64    `json:"aflevering,omitempty"`
	Entry          int       `json:"volgnummer"` // index of the envelope in the delivery file
	Payload        []byte    `json:"payload,omitempty"`
	ContentType    string    `json:"content_type,omitempty"` // of a prepared signal
	State          SendState `json:"status"`
	Attempts       int       `json:"pogingen"`
	NextTry        time.Time `json:"volgende_poging,omitzero"`
	Reason         string    `json:"reden,omitempty"`
	Created        time.Time `json:"aangemaakt"`
	Done           time.Time `json:"afgerond,omitzero"`
}

const (
	sendBericht = "bericht"
	sendFo01    = "fo01"
	sendSignal  = "signaal"
)

func (s Send) pending() bool { return s.State == SendWachtend || s.State == SendVerzonden }

// putSend stores s with the indexes its state calls for; old is the stored version (nil for a
// new one).
func putSend(t storage.Txn, old *Send, s Send) error {
	if old != nil && old.pending() {
		if err := t.Delete(key(kSendDue, old.NextTry, old.ID)); err != nil {
			return err
		}
	}
	if old != nil && !old.pending() && !old.Done.IsZero() && !old.Done.Equal(s.Done) {
		if err := t.Delete(key(kSendDone, old.Done, old.ID)); err != nil {
			return err
		}
	}
	if s.pending() {
		if err := t.Set(key(kSendDue, s.NextTry, s.ID), nil); err != nil {
			return err
		}
	} else if !s.Done.IsZero() {
		if err := t.Set(key(kSendDone, s.Done, s.ID), nil); err != nil {
			return err
		}
	}
	if old == nil {
		if err := t.Set(key(kSendMID, s.MessageID), be64(s.ID)); err != nil {
			return err
		}
		if s.Message != 0 {
			if err := t.Set(key(kSendMsg, s.Message), be64(s.ID)); err != nil {
				return err
			}
		}
	}
	if s.Exchange != "" {
		rk := key(kSendRoute, s.Org, s.Product, s.Exchange, s.ID)
		if s.State == SendBevestigd || s.State == SendAfgegeven {
			if err := t.Delete(rk); err != nil {
				return err
			}
		} else if err := t.Set(rk, nil); err != nil {
			return err
		}
	}
	return setJSON(t, key(kSend, s.ID), s)
}

func txSend(t storage.Txn, id uint64) (Send, error) {
	var s Send
	err := getJSON(t, key(kSend, id), &s)
	return s, err
}

// indexEndedSends gives every ended send without an idx/senddone entry one, once per store: a
// send that ended before the index existed would otherwise be kept for ever. A marker
// (meta/senddone-indexed) says it was done, so the scan of every send runs once, not at
// every sweep; it walks the sends in bounded transactions and may be cut off and redone.
func (h *Hub) indexEndedSends() error {
	if err := h.kv.View(func(t storage.Txn) error { _, err := t.Get([]byte(kSendDoneIndexed)); return err }); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	start := []byte(kSend)
	for {
		var ended []Send
		var next []byte
		err := h.kv.View(func(t storage.Txn) error {
			return t.Scan([]byte(kSend), storage.ScanOptions{Start: start}, func(k, v []byte) (bool, error) {
				if len(ended) == 1000 {
					next = bytes.Clone(k)
					return false, nil
				}
				var s Send
				if err := json.Unmarshal(v, &s); err != nil {
					return false, fmt.Errorf("verzending %x lezen: %w", k, err)
				}
				if !s.pending() && !s.Done.IsZero() {
					ended = append(ended, s)
				}
				return true, nil
			})
		})
		if err != nil {
			return fmt.Errorf("beëindigde Digikoppeling-verzendingen indexeren: %w", err)
		}
		err = h.kv.Update(func(t storage.Txn) error {
			for _, e := range ended {
				// Read again: a send sent again (opnieuw) since the scan is pending now.
				s, err := txSend(t, e.ID)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				if s.pending() || s.Done.IsZero() {
					continue
				}
				if err := t.Set(key(kSendDone, s.Done, s.ID), nil); err != nil {
					return err
				}
			}
			if next == nil {
				return t.Set([]byte(kSendDoneIndexed), nil)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("beëindigde Digikoppeling-verzendingen indexeren: %w", err)
		}
		if next == nil {
			return nil
		}
		start = next
	}
}

// purgeSends forgets the sends that ended (bevestigd, afgegeven, mislukt) more than
// Bewaartijd ago, with their indexes: by then the message they carried is purged from the
// berichtenlog too, and nothing can send it again. At most 1,000 per transaction.
func (h *Hub) purgeSends(now time.Time) error {
	if err := h.indexEndedSends(); err != nil {
		return err
	}
	limit := now.Add(-Bewaartijd).UnixNano()
	for {
		var ids []uint64
		err := h.kv.View(func(t storage.Txn) error {
			return t.Scan([]byte(kSendDone), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
				// <done>/<id>; key() leaves the '/' out after a time whose last byte is one.
				rest := k[len(kSendDone):]
				if len(rest) < 16 || int64(beUint(rest[:8])) > limit {
					return false, nil
				}
				id, err := idFromKey(k)
				ids = append(ids, id)
				return err == nil && len(ids) < 1000, err
			})
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		err = h.kv.Update(func(t storage.Txn) error {
			for _, id := range ids {
				s, err := txSend(t, id)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if s.pending() {
					continue // sent again (opnieuw) since: its index went with that
				}
				keys := [][]byte{key(kSend, id), key(kSendMID, s.MessageID), key(kSendDone, s.Done, id)}
				if v, err := t.Get(key(kSendMsg, s.Message)); err == nil && bytes.Equal(v, be64(id)) {
					keys = append(keys, key(kSendMsg, s.Message))
				}
				if s.Exchange != "" {
					keys = append(keys, key(kSendRoute, s.Org, s.Product, s.Exchange, id))
				}
				for _, k := range keys {
					if err := t.Delete(k); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("oude Digikoppeling-verzendingen vergeten: %w", err)
		}
		if len(ids) < 1000 {
			return nil
		}
	}
}

// sendable tells whether a route carries messages over Digikoppeling now.
func (h *Hub) sendable(t storage.Txn, org string, product Product, exchange string) (Route, CPA, bool, error) {
	r, err := routeOf(t, org, product, exchange)
	if err != nil || r.Via != Digikoppeling || r.Status != Actief || r.CPA == "" || h.cfg.Digikoppeling == nil {
		return r, CPA{}, false, err
	}
	c, err := h.txCPACached(t, r.CPA)
	if errors.Is(err, ErrNotFound) {
		return r, CPA{}, false, nil
	}
	return r, c, err == nil, err
}

func (h *Hub) kickSender() {
	select {
	case h.sendWake <- struct{}{}:
	default:
	}
}

// queueHeld turns every held delivery whose route now carries Digikoppeling into Send
// records, one per message, in the transaction that takes it off hold.
func (h *Hub) queueHeld() error {
	var ids []uint64
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kHold), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			ids = append(ids, id)
			return err == nil, err
		})
	})
	if err != nil {
		return fmt.Errorf("wachtende berichten lezen: %w", err)
	}
	// Several deliveries per transaction (a sync each was the cost of many small ones); one
	// that makes the transaction too big goes on its own.
	const perTxn = 32
	for len(ids) > 0 {
		chunk := ids[:min(perTxn, len(ids))]
		msgs, err := h.readHeld(chunk)
		if err != nil {
			return fmt.Errorf("wachtende berichten lezen: %w", err)
		}
		err = h.kv.Update(func(t storage.Txn) error {
			for _, id := range chunk {
				if err := h.queueHeldDelivery(t, id, msgs); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, storage.ErrTooBig) && len(chunk) > 1 {
			for _, id := range chunk {
				if err := h.kv.Update(func(t storage.Txn) error { return h.queueHeldDelivery(t, id, msgs) }); err != nil {
					return fmt.Errorf("bestand %d in de verzendwachtrij zetten: %w", id, err)
				}
			}
		} else if err != nil {
			return fmt.Errorf("bestanden in de verzendwachtrij zetten: %w", err)
		}
		ids = ids[len(chunk):]
	}
	return nil
}

// heldMessage is what queueing a held message needs of it, read before the transaction that
// queues it.
type heldMessage struct {
	msg  Message
	sent bool // it has a send already
}

// readHeldMessage reads message mid and whether it has a send already.
func readHeldMessage(t storage.Txn, mid uint64) (heldMessage, error) {
	var hm heldMessage
	if err := getJSON(t, key(kMessage, mid), &hm.msg); err != nil {
		return hm, err
	}
	_, err := t.Get(key(kSendMsg, mid))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return hm, err
	}
	hm.sent = err == nil
	return hm, nil
}

// readHeld reads the messages of the held deliveries ids, and whether each has a send, in a
// read-only transaction of its own. Read inside the queueing transaction, several hundred
// records made PostgreSQL widen that transaction's read locks to the whole table, so that any
// write by another node (a heartbeat) broke its serializable commit, every time: 50
// conflicts in a row and nothing ever sent (TestTwoNodesSendEachMessageOnce). Reading them
// here is safe: a message's Functie and Referentie do not change, and a send is only ever made
// in the transaction that deletes its delivery's hold key, which the queueing transaction
// reads and deletes, so two of them cannot both make one.
func (h *Hub) readHeld(ids []uint64) (map[uint64]heldMessage, error) {
	out := map[uint64]heldMessage{}
	err := h.kv.View(func(t storage.Txn) error {
		clear(out)
		keys := make([][]byte, 0, len(ids))
		for _, id := range ids {
			keys = append(keys, key(kDelivery, id))
		}
		if err := storage.Prefetch(t, keys); err != nil {
			return err
		}
		var mids []uint64
		for _, id := range ids {
			var d Delivery
			if err := getJSON(t, key(kDelivery, id), &d); errors.Is(err, storage.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			mids = append(mids, d.Messages...)
		}
		keys = keys[:0]
		for _, mid := range mids {
			keys = append(keys, key(kMessage, mid), key(kSendMsg, mid))
		}
		if err := storage.Prefetch(t, keys); err != nil {
			return err
		}
		for _, mid := range mids {
			hm, err := readHeldMessage(t, mid)
			if err != nil {
				return err
			}
			out[mid] = hm
		}
		return nil
	})
	return out, err
}

// queueHeldDelivery queues the messages of one held delivery whose route now carries
// Digikoppeling, in t; msgs is what readHeld read of its messages (one it lacks is read in t).
func (h *Hub) queueHeldDelivery(t storage.Txn, id uint64, msgs map[uint64]heldMessage) error {
	var d Delivery
	if err := getJSON(t, key(kDelivery, id), &d); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
	hk := key(kHold, d.Org, d.Product, d.Exchange, d.ID)
	if _, err := t.Get(hk); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil // taken off hold meanwhile
		}
		return err
	}
	_, c, ok, err := h.sendable(t, d.Org, d.Product, d.Exchange)
	if err != nil || !ok {
		return err
	}
	if err := t.Delete(hk); err != nil {
		return err
	}
	now := h.clock.Now()
	for i, mid := range d.Messages {
		hm, ok := msgs[mid]
		if !ok {
			var err error
			if hm, err = readHeldMessage(t, mid); err != nil {
				return err
			}
		}
		if hm.sent {
			continue
		}
		m := hm.msg
		sid, err := h.kv.Sequence("send")
		if err != nil {
			return err
		}
		s := Send{ID: sid, Kind: sendBericht, Message: mid, Org: d.Org, Product: d.Product, Exchange: d.Exchange,
			CPA: c.ID, Action: actionFor(m), MessageID: h.newMessageID(), ConversationID: m.Referentie,
			Delivery: d.ID, Entry: i, State: SendWachtend, NextTry: now, Created: now}
		if err := putSend(t, nil, s); err != nil {
			return err
		}
	}
	return nil
}

// releaseSends hands the messages of a route that went back to Portaal, which were not
// acknowledged, to ophalen/. A delivery file none of whose messages went out is released as it
// is; one that also holds messages the partner already acknowledged is not: the others get a
// delivery file of their own (bytes first, then the record), so that no message reaches the
// recipient twice.
func (h *Hub) releaseSends(org string, product Product, exchange string) error {
	byDelivery := map[uint64][]Send{}
	var order []uint64
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan(key(kSendRoute, org, product, exchange, ""), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			if err != nil {
				return false, err
			}
			s, err := txSend(t, id)
			if err != nil {
				return false, err
			}
			if s.State == SendVerzonden && h.inFlight(id) {
				return true, nil // the attempt under way decides; a retry finds the route changed
			}
			if byDelivery[s.Delivery] == nil {
				order = append(order, s.Delivery)
			}
			byDelivery[s.Delivery] = append(byDelivery[s.Delivery], s)
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	// The files first (a partial release copies its envelopes into a file of its own), then
	// the records of up to releasePerTxn deliveries in one transaction; when one of them
	// fails, each of that group goes on its own so the others are not held up by it.
	var rs []*release
	for _, did := range order {
		r, err := h.prepareRelease(did, byDelivery[did])
		if err != nil {
			return fmt.Errorf("bestand %d naar ophalen: %w", did, err)
		}
		rs = append(rs, r)
	}
	now := h.clock.Now()
	for len(rs) > 0 {
		chunk := rs[:min(releasePerTxn, len(rs))]
		rs = rs[len(chunk):]
		err := h.kv.Update(func(t storage.Txn) error {
			for _, r := range chunk {
				if err := r.apply(h, t, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && len(chunk) > 1 {
			for _, r := range chunk {
				if err := h.kv.Update(func(t storage.Txn) error { return r.apply(h, t, now) }); err != nil {
					return fmt.Errorf("bestand %d naar ophalen: %w", r.d.ID, err)
				}
				if err := r.finish(h); err != nil {
					return err
				}
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("bestand %d naar ophalen: %w", chunk[0].d.ID, err)
		}
		for _, r := range chunk {
			if err := r.finish(h); err != nil {
				return err
			}
		}
	}
	if len(order) > 0 {
		h.publish(Event{Org: org, Product: product, Kind: "delivery"})
	}
	return nil
}

// releasePerTxn bounds the deliveries released in one transaction.
const releasePerTxn = 16

// release is one delivery file going back to ophalen/ (whole, or the part not acknowledged).
type release struct {
	d      Delivery
	part   Delivery // the new file of a partial release
	whole  bool
	sends  []Send
	target *Delivery
	queued bool // history to finish after the commit
}

// prepareRelease reads the delivery and, for a partial release, writes the new file.
func (h *Hub) prepareRelease(did uint64, sends []Send) (*release, error) {
	r := &release{sends: sends}
	if err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kDelivery, did), &r.d) }); err != nil {
		return nil, err
	}
	d := r.d
	release := map[uint64]bool{}
	for _, s := range sends {
		release[s.Message] = true
	}
	r.whole = len(release) == len(d.Messages)
	if !r.whole {
		// The released messages' envelopes, raw, into a file of their own.
		part := Delivery{Org: d.Org, Product: d.Product, Functie: d.Functie, From: d.From, UploadID: d.UploadID, Exchange: d.Exchange}
		err := h.kv.View(func(t storage.Txn) error {
			for g := uint64(1); ; g++ {
				part.ID = d.ID | g<<56
				if _, err := t.Get(key(kDelivery, part.ID)); errors.Is(err, storage.ErrNotFound) {
					return nil
				} else if err != nil {
					return err
				}
			}
		})
		if err != nil {
			return nil, err
		}
		part.Blob = fmt.Sprintf("dlv/vrij/%d.zip", part.ID)
		var idx []int
		for i, mid := range d.Messages {
			if release[mid] {
				idx = append(idx, i)
				part.Messages = append(part.Messages, mid)
			}
		}
		if part.Size, err = h.copyEntries(d.Blob, part.Blob, idx); err != nil {
			return nil, err
		}
		r.part = part
	}
	return r, nil
}

// apply ends the sends as mislukt and puts the delivery (or its part) in ophalen/, in t.
func (r *release) apply(h *Hub, t storage.Txn, now time.Time) error {
	r.queued, r.target = false, nil
	for _, s := range r.sends {
		cur, err := txSend(t, s.ID)
		if err != nil {
			return err
		}
		if !cur.pending() && cur.State != SendMislukt {
			return fmt.Errorf("bericht %d is intussen %s", cur.Message, cur.State)
		}
		old := cur
		cur.State, cur.Reason, cur.Done = SendMislukt, "route staat weer op Portaal", now
		if err := putSend(t, &old, cur); err != nil {
			return err
		}
		if err := t.Delete(key(kSendRoute, cur.Org, cur.Product, cur.Exchange, cur.ID)); err != nil {
			return err
		}
	}
	// Copies: a retry after a conflict starts again from what was read, not from what the
	// attempt before changed (d.Held false would make it skip the release).
	dd, pp := r.d, r.part
	target := &dd
	if !r.whole {
		target = &pp
	} else if !dd.Held {
		return nil
	}
	target.Held = false
	target.CreatedAt = now
	if err := h.putDelivery(t, target); err != nil {
		return err
	}
	queued, err := deliveryHistory(t, target, queuedEvent{Event: StatusEvent{At: now, Status: MsgAfgeleverd}, Relink: true})
	r.queued, r.target = queued, target
	return err
}

// finish completes the history of a committed release.
func (r *release) finish(h *Hub) error {
	if !r.queued || r.target == nil {
		return nil
	}
	return h.finishHistory(r.target.ID)
}

// copyEntries writes the entries idx of the delivery file from into a new file to, raw, and
// returns its size.
func (h *Hub) copyEntries(from, to string, idx []int) (int64, error) {
	r, err := h.files.Open(from)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	zr, err := zip.NewReader(r, r.Size())
	if err != nil {
		return 0, err
	}
	w, err := h.files.Create(to)
	if err != nil {
		return 0, mapNoSpace(err)
	}
	zw := zip.NewWriter(w)
	for _, i := range idx {
		if i >= len(zr.File) {
			w.Abort()
			return 0, fmt.Errorf("bestand %d ontbreekt in %s", i, from)
		}
		f := zr.File[i]
		hdr := f.FileHeader
		dst, err := zw.CreateRaw(&hdr)
		if err == nil {
			var src io.Reader
			if src, err = f.OpenRaw(); err == nil {
				_, err = io.Copy(dst, src)
			}
		}
		if err != nil {
			w.Abort()
			return 0, mapNoSpace(err)
		}
	}
	return commitZip(w, zw, nil)
}

// Resend sends a mislukt message again, with the same MessageId: `opnieuw`. The organisation
// that sent it or receives it may, with the product.
func (h *Hub) Resend(p *Principal, product Product, referentie string) (err error) {
	defer func() { h.auditChange(p, "opnieuw", string(product)+"/"+referentie, err) }()
	err = h.kv.Update(func(t storage.Txn) error {
		// Sending again is bringing a message back, as herstel is: the same policy.
		if _, err := authorize(t, p, ActionRestore, product); err != nil {
			return err
		}
		var sid uint64
		found := false
		err := t.Scan(key(kRecvRef, p.Org.Code, product, referentie, ""), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			mid, err := idFromKey(k)
			if err != nil {
				return false, err
			}
			v, err := t.Get(key(kSendMsg, mid))
			if errors.Is(err, storage.ErrNotFound) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			sid, _ = idFromKey(v)
			found = true
			return false, nil
		})
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: geen bericht %s van uw organisatie dat via Digikoppeling is verstuurd", ErrNotFound, referentie)
		}
		s, err := txSend(t, sid)
		if err != nil {
			return err
		}
		if s.State != SendMislukt {
			return fmt.Errorf("%w: bericht %s is %s, niet mislukt; alleen een mislukt bericht kan opnieuw", ErrInvalid, referentie, s.State)
		}
		if _, _, ok, err := h.sendable(t, s.Org, s.Product, s.Exchange); err != nil || !ok {
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: de route %s van %s gaat niet (meer) via Digikoppeling met een CPA; zet hem eerst weer zo", ErrInvalid, s.Exchange, s.Org)
		}
		old := s
		s.State, s.Attempts, s.Reason, s.NextTry, s.Done = SendWachtend, 0, "", h.clock.Now(), time.Time{}
		return putSend(t, &old, s)
	})
	if err == nil {
		h.kickSender()
	}
	return err
}

// sender is the state of the send loop: which sends have an attempt under way.
type sender struct {
	mu       sync.Mutex
	inFlight map[uint64]bool
	blobs    map[string]*openBlob // delivery files being sent from, by blob name
	blobOf   map[uint64]string    // delivery id -> its blob (deliveryBlob)
}

func (h *Hub) inFlight(id uint64) bool {
	h.sends.mu.Lock()
	defer h.sends.mu.Unlock()
	return h.sends.inFlight[id]
}

// sendWorkers is how many sends are under way at once. 64 rather than 32: with the records
// committed in groups (groupUpdate), more sends under way make bigger groups per sync (at load
// 37: 174 against 146 msgs/s, 1.35 against 1.64 ms CPU per message). The client keeps as many
// connections per partner open (ebmsserver.NewClient), so none is set up per message.
const sendWorkers = 64

// sendLoop runs the outbound queue until ctx ends: it queues what waits on a route that now
// carries Digikoppeling and makes each due attempt. It looks every poll of real time (and
// whenever kicked), and asks the hub's clock what is due, so a fake clock drives retries.
func (h *Hub) sendLoop(ctx context.Context, poll time.Duration) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, sendWorkers)
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastHold := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.sendWake:
			lastHold = time.Time{}
		case <-timer.C:
		}
		// One node at a time sends (knooppunten.go): each batch asks for the lease.
		if h.cfg.Digikoppeling != nil && h.lease("verzenden") {
			if time.Since(lastHold) > 5*time.Second {
				if err := h.queueHeld(); err != nil {
					h.log.Error("verzendwachtrij vullen", "err", err)
				}
				if err := h.purgeReceived(h.clock.Now()); err != nil {
					h.log.Error("oude MessageIds vergeten", "err", err)
				}
				lastHold = time.Now()
			}
			due, err := h.dueSends(h.clock.Now(), 512)
			if err != nil {
				h.log.Error("verzendwachtrij lezen", "err", err)
			}
			for _, id := range due {
				h.sends.mu.Lock()
				busy := h.sends.inFlight[id]
				if !busy {
					h.sends.inFlight[id] = true
				}
				h.sends.mu.Unlock()
				if busy {
					continue
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				wg.Go(func() {
					defer func() { <-sem }()
					defer func() {
						h.sends.mu.Lock()
						delete(h.sends.inFlight, id)
						h.sends.mu.Unlock()
					}()
					if err := h.attempt(ctx, id); err != nil && ctx.Err() == nil {
						h.log.Error("Digikoppeling-bericht versturen", "send", id, "err", err)
					}
				})
			}
		}
		timer.Reset(poll)
	}
}

func (h *Hub) dueSends(now time.Time, limit int) ([]uint64, error) {
	var out []uint64
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kSendDue), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			// <time>/<id>; key() leaves the '/' out when the time's last byte is one (1 in
			// 256 keys), so only the length of time and id is certain.
			rest := k[len(kSendDue):]
			if len(rest) < 16 {
				return true, nil
			}
			at := int64(beUint(rest[:8]))
			if at > now.UnixNano() {
				return false, nil
			}
			id, err := idFromKey(k)
			out = append(out, id)
			return err == nil && len(out) < limit, err
		})
	})
	return out, err
}

// attempt makes one attempt of a due send: recorded first, then sent, then its outcome.
func (h *Hub) attempt(ctx context.Context, id uint64) error {
	dk := h.cfg.Digikoppeling
	now := h.clock.Now()
	var s Send
	var c CPA
	var giveUp string
	err := h.groupUpdate(func(t storage.Txn) error {
		giveUp = ""
		var err error
		if s, err = txSend(t, id); err != nil {
			return err
		}
		if !s.pending() || s.NextTry.After(now) {
			s = Send{}
			return nil
		}
		old := s
		if c, err = h.txCPACached(t, s.CPA); err != nil {
			return err
		}
		if !c.ValidAt(now) {
			giveUp = fmt.Sprintf("CPA %s is niet geldig (van %s tot %s); importeer een nieuwe en verstuur opnieuw", c.ID, c.Start.Format(time.RFC3339), c.End.Format(time.RFC3339))
			s = Send{}
			return nil
		}
		if s.Attempts > c.Retries {
			giveUp = fmt.Sprintf("geen bevestiging na %d pogingen", s.Attempts)
			if s.Reason != "" {
				giveUp += " (laatste: " + s.Reason + ")"
			}
			s = Send{}
			return nil
		}
		if s.Kind == sendBericht && s.Exchange != "" {
			if _, _, ok, err := h.sendable(t, s.Org, s.Product, s.Exchange); err != nil || !ok {
				if err == nil {
					giveUp = "de route gaat niet meer via Digikoppeling"
				}
				s = Send{}
				return err
			}
		}
		s.Attempts++
		s.State = SendVerzonden
		s.NextTry = now.Add(max(c.RetryInterval, time.Second))
		if err := putSend(t, &old, s); err != nil {
			return err
		}
		if s.Attempts == 1 && s.Message != 0 {
			return addHistory(t, []uint64{s.Message}, StatusEvent{At: now, Status: MsgVerzondenDK, By: c.ID}, "")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if giveUp != "" {
		return h.endSend(id, SendMislukt, giveUp)
	}
	if s.ID == 0 {
		return nil
	}
	payload := s.Payload
	if s.Kind == sendBericht {
		if payload, err = h.envelopeOf(s); err != nil {
			return h.endSend(id, SendMislukt, "envelop niet te lezen: "+err.Error())
		}
	}
	ct, body, err := h.buildOutgoing(s, c, payload)
	if err != nil {
		return h.endSend(id, SendMislukt, "bericht niet te maken: "+err.Error())
	}
	res, err := dk.Post(ctx, c, ct, body)
	if ctx.Err() != nil {
		return nil // the record says when to try again
	}
	if err == nil {
		h.dkObs.EbMSSent(s.Attempts > 1)
	}
	switch {
	case err != nil:
		return h.noteRetry(id, "netwerkfout: "+err.Error())
	case res.Status == 503:
		return h.noteRetry(id, "HTTP 503")
	case res.Status < 200 || res.Status > 299:
		return h.endSend(id, SendMislukt, fmt.Sprintf("HTTP %d", res.Status))
	}
	ack, fault, err := h.readAnswer(s, c, res)
	switch {
	case err != nil:
		return h.endSend(id, SendMislukt, "antwoord niet te lezen: "+err.Error())
	case fault != "":
		return h.endSend(id, SendMislukt, fault)
	case ack:
		return h.endSend(id, SendBevestigd, "")
	case s.Kind == sendSignal || !c.AckRequested:
		return h.endSend(id, SendAfgegeven, "") // nothing to acknowledge: sent is done
	}
	return nil // the Acknowledgment comes as a message of its own
}

// PostResult is a partner's HTTP answer.
type PostResult struct {
	Status      int
	ContentType string
	Body        []byte
}

// noteRetry records why an attempt failed; the next try is already set.
func (h *Hub) noteRetry(id uint64, reason string) error {
	return h.groupUpdate(func(t storage.Txn) error {
		s, err := txSend(t, id)
		if err != nil || !s.pending() {
			return err
		}
		old := s
		s.Reason = reason
		return putSend(t, &old, s)
	})
}

// endSend gives a send its final state, with the message's history.
func (h *Hub) endSend(id uint64, state SendState, reason string) error {
	now := h.clock.Now()
	var s Send
	err := h.groupUpdate(func(t storage.Txn) error {
		var err error
		if s, err = txSend(t, id); err != nil {
			return err
		}
		if !s.pending() {
			s = Send{}
			return nil
		}
		old := s
		s.State, s.Done = state, now
		if reason != "" {
			s.Reason = reason
		}
		if err := putSend(t, &old, s); err != nil {
			return err
		}
		if s.Message == 0 || state == SendAfgegeven {
			return nil
		}
		st := MsgBevestigd
		if state == SendMislukt {
			st = MsgMislukt
		}
		return addHistory(t, []uint64{s.Message}, StatusEvent{At: now, Status: st, Detail: reason}, "")
	})
	if err == nil && s.ID != 0 {
		h.dkObs.EbMSSendEnded(string(state))
		h.log.Info("Digikoppeling-bericht "+string(state), "message_id", s.MessageID, "organisatie", s.Org, "reden", reason)
		h.Audit(System, "digikoppeling uit", s.Org+" "+s.MessageID, string(state)+" "+reason)
		h.publish(Event{Org: s.Org, Product: s.Product, Kind: "delivery"})
	}
	return err
}

// Acknowledged takes a partner's Acknowledgment for a message the hub sent: from is the
// sender's OIN, as its certificate shows it.
func (h *Hub) Acknowledged(fromOIN, refTo string) error {
	// Only the partner the message went to may acknowledge it.
	id, err := h.sendByMessageID(fromOIN, refTo)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: geen verzonden bericht met MessageId %s", ErrNotFound, refTo)
	}
	if err != nil {
		return err
	}
	return h.endSend(id, SendBevestigd, "")
}

// envelopeOf reads the envelope of a send from its delivery file, byte for byte. The file is
// opened once for all its messages (an open verifies its checksum, 3 MB for 2,000 envelopes)
// and where each entry lies is read once: per message, both made sending quadratic.
func (h *Hub) envelopeOf(s Send) ([]byte, error) {
	blob, err := h.deliveryBlob(s.Delivery)
	if err != nil {
		return nil, err
	}
	b, err := h.sends.open(h.files, blob)
	if err != nil {
		return nil, err
	}
	defer h.sends.release(b)
	if s.Entry >= len(b.locs) {
		return nil, fmt.Errorf("bestand %d ontbreekt in %s", s.Entry, blob)
	}
	l := b.locs[s.Entry]
	if l.size > uint64(MaxXMLUpload) {
		return nil, fmt.Errorf("bestand %d is groter dan 25 MB", s.Entry)
	}
	var src io.Reader = io.NewSectionReader(b.r, l.offset, int64(l.csize))
	switch l.method {
	case zip.Store:
	case zip.Deflate:
		fr := flate.NewReader(src)
		defer fr.Close()
		src = fr
	default:
		return nil, fmt.Errorf("bestand %d: onbekende compressie %d", s.Entry, l.method)
	}
	buf := bytes.NewBuffer(make([]byte, 0, l.size))
	if _, err := io.Copy(buf, io.LimitReader(src, int64(l.size)+1)); err != nil {
		return nil, err
	}
	if uint64(buf.Len()) != l.size {
		return nil, fmt.Errorf("bestand %d: %d bytes in plaats van %d", s.Entry, buf.Len(), l.size)
	}
	return buf.Bytes(), nil
}

// deliveryBlob is the blob of a delivery, remembered: a delivery's record lists every one of
// its messages (2,000 in a large one), and decoding it for each message sent made sending
// quadratic. A delivery keeps its blob for life; a removed one fails at the open.
func (h *Hub) deliveryBlob(id uint64) (string, error) {
	sd := &h.sends
	sd.mu.Lock()
	blob, ok := sd.blobOf[id]
	sd.mu.Unlock()
	if ok {
		return blob, nil
	}
	var d struct {
		Blob string `json:"blob"`
	}
	if err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kDelivery, id), &d) }); err != nil {
		return "", err
	}
	sd.mu.Lock()
	if len(sd.blobOf) >= 4096 {
		clear(sd.blobOf) // a bound, not an eviction policy: one more read each after a clear
	}
	if sd.blobOf == nil {
		sd.blobOf = map[uint64]string{}
	}
	sd.blobOf[id] = d.Blob
	sd.mu.Unlock()
	return d.Blob, nil
}

// entryLoc is where one entry of a delivery file lies.
type entryLoc struct {
	offset      int64
	csize, size uint64
	method      uint16
}

// openBlob is a delivery file kept open while its messages are sent.
type openBlob struct {
	name string
	r    storage.Reader
	locs []entryLoc
	refs int
}

// maxOpenBlobs is how many idle delivery files stay open.
const maxOpenBlobs = 8

func (sd *sender) open(files storage.Files, name string) (*openBlob, error) {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	if b, ok := sd.blobs[name]; ok {
		b.refs++
		return b, nil
	}
	r, err := files.Open(name)
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, r.Size())
	if err != nil {
		r.Close()
		return nil, err
	}
	b := &openBlob{name: name, r: r, locs: make([]entryLoc, len(zr.File)), refs: 1}
	for i, f := range zr.File {
		off, err := f.DataOffset()
		if err != nil {
			r.Close()
			return nil, err
		}
		b.locs[i] = entryLoc{offset: off, csize: f.CompressedSize64, size: f.UncompressedSize64, method: f.Method}
	}
	if sd.blobs == nil {
		sd.blobs = map[string]*openBlob{}
	}
	sd.blobs[name] = b
	return b, nil
}

// release ends one use; idle files beyond maxOpenBlobs are closed.
func (sd *sender) release(b *openBlob) {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	b.refs--
	if len(sd.blobs) <= maxOpenBlobs {
		return
	}
	for name, x := range sd.blobs {
		if x.refs == 0 && x != b {
			x.r.Close()
			delete(sd.blobs, name)
		}
	}
}

// closeAll closes the delivery files kept open; the hub is closing.
func (sd *sender) closeAll() {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	for name, x := range sd.blobs {
		x.r.Close()
		delete(sd.blobs, name)
	}
}

// Sends lists the outbound Digikoppeling messages of an organisation, newest first (beheerder:
// org "" for all).
func (h *Hub) Sends(p *Principal, org string, limit int) ([]Send, error) {
	var out []Send
	err := h.kv.View(func(t storage.Txn) error {
		if err := mayReadCPA(t, p, org); err != nil && org != "" {
			return err
		}
		return t.Scan([]byte(kSend), storage.ScanOptions{Reverse: true}, func(_, v []byte) (bool, error) {
			var s Send
			if err := json.Unmarshal(v, &s); err != nil {
				return false, err
			}
			if org == "" || s.Org == org {
				s.Payload = nil
				out = append(out, s)
			}
			return len(out) < limit, nil
		})
	})
	return out, err
}

func (p progress) hasHold() bool {
	for _, g := range p.Groups {
		if g.Hold {
			return true
		}
	}
	return false
}
