package exchange

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"knooppunt/storage"
)

// MessageFilter narrows the berichtenlog. Direction is "in" (received) or "uit" (sent);
// Counterpart is the other organisation's code; zero fields do not filter.
type MessageFilter struct {
	From, To                                            time.Time
	Functie, Direction, Counterpart, Status, Referentie string
	Limit, Offset                                       int
}

func (f MessageFilter) narrows() bool {
	return f.Functie != "" || f.Direction != "" || f.Counterpart != "" || f.Status != "" || f.Referentie != ""
}

// direction tells how m looks from org: "uit" when org sent it (or sent it for a member),
// "in" otherwise.
func (m Message) direction(org string) string {
	if m.Zender == org || m.Uploader == org {
		return "uit"
	}
	return "in"
}

func (m Message) counterpart(org string) string {
	if m.direction(org) == "uit" {
		return m.Ontvanger
	}
	return m.Zender
}

func (f MessageFilter) match(m Message, org string) bool {
	return (f.Functie == "" || f.Functie == m.Functie) &&
		(f.Direction == "" || f.Direction == m.direction(org)) &&
		(f.Counterpart == "" || f.Counterpart == m.counterpart(org)) &&
		(f.Status == "" || f.Status == string(m.Status)) &&
		(f.Referentie == "" || f.Referentie == m.Referentie || f.Referentie == m.CrossRef)
}

// Messages lists the organisation's berichtenlog of product, newest first, with the total
// that matches. It walks the time index backwards from f.To, so the newest page costs the
// same whatever the log's length; only a narrowing filter reads further.
func (h *Hub) Messages(p *Principal, product Product, f MessageFilter) ([]Message, int, error) {
	if err := mayUse(p, product); err != nil {
		return nil, 0, err
	}
	org := p.Org.Code
	prefix := key(kLog, org, product, "")
	opts := storage.ScanOptions{Reverse: true, KeysOnly: true}
	if !f.To.IsZero() {
		opts.Start = append(key(kLog, org, product, f.To), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	}
	counted := !f.narrows() && f.From.IsZero() && f.To.IsZero()
	var out []Message
	total := 0
	err := h.kv.View(func(t storage.Txn) error {
		if counted {
			if v, err := t.Get(key(kLogCount, org, product)); err == nil {
				total = int(binary.BigEndian.Uint64(v))
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
		n := 0
		err := t.Scan(prefix, opts, func(k, _ []byte) (bool, error) {
			if len(k) < len(prefix)+16 {
				return true, nil
			}
			at := int64(binary.BigEndian.Uint64(k[len(prefix):]))
			if !f.From.IsZero() && at < f.From.UnixNano() {
				return false, nil
			}
			in, stop := page(n, f.Offset, f.Limit)
			if stop && counted {
				return false, nil
			}
			if !in && !f.narrows() {
				n++
				return true, nil
			}
			id, err := idFromKey(k)
			if err != nil {
				return false, err
			}
			var m Message
			if err := getJSON(t, key(kMessage, id), &m); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return true, nil
				}
				return false, err
			}
			if !f.match(m, org) {
				return true, nil
			}
			if in {
				out = append(out, m)
			}
			n++
			return true, nil
		})
		if !counted {
			total = n
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("berichtenlog van %s lezen: %w", product, err)
	}
	return out, total, nil
}

// Message returns one message of the caller's berichtenlog.
func (h *Hub) Message(p *Principal, id uint64) (Message, error) {
	if p == nil {
		return Message{}, fmt.Errorf("%w: meld u aan", ErrDenied)
	}
	var m Message
	err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kMessage, id), &m) })
	missing := fmt.Errorf("%w: bericht %d staat niet in uw berichtenlog", ErrNotFound, id)
	if errors.Is(err, storage.ErrNotFound) {
		return Message{}, missing
	}
	if err != nil {
		return Message{}, fmt.Errorf("bericht %d lezen: %w", id, err)
	}
	if p.Has(Beheerder) {
		return m, nil
	}
	orgs := m.orgs()
	if m.Status == MsgAfgekeurd {
		orgs = []string{m.Uploader}
	}
	for _, o := range orgs {
		if o == p.Org.Code && p.CanUse(m.Product) {
			return m, nil
		}
	}
	return Message{}, missing
}

// Restore puts a deleted or expired file back into ophalen/: the file that holds the message
// with this referentienummer. It works until the message is purged, 60 days after arrival.
func (h *Hub) Restore(p *Principal, product Product, referentie string) (err error) {
	defer func() {
		res := "ok"
		if err != nil {
			res = err.Error()
		}
		h.Audit(p, "herstel", fmt.Sprintf("%s/berichtenlog/%s", product, referentie), res)
	}()
	if err := mayUse(p, product); err != nil {
		return err
	}
	org := p.Org.Code
	var ids []uint64
	err = h.kv.View(func(t storage.Txn) error {
		return t.Scan(key(kRecvRef, org, product, referentie, ""), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			ids = append(ids, id)
			return err == nil, err
		})
	})
	if err != nil {
		return fmt.Errorf("berichtenlog lezen: %w", err)
	}
	now := h.clock.Now()
	restored := 0
	for _, id := range ids {
		did := false
		err := h.kv.Update(func(t storage.Txn) error {
			did = false
			var m Message
			if err := getJSON(t, key(kMessage, id), &m); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return err
			}
			if m.DeliveryID == 0 || m.Mailbox != org {
				return nil
			}
			var d Delivery
			if err := getJSON(t, key(kDelivery, m.DeliveryID), &d); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return err
			}
			if d.DeletedAt.IsZero() || d.Held {
				return nil
			}
			name, err := freeName(t, d.Org, d.Product, d.Name)
			if err != nil {
				return err
			}
			d.Name, d.DeletedAt, d.GelezenAt = name, time.Time{}, time.Time{}
			if err := t.Set(key(kDlvName, d.Org, d.Product, d.Name), be64(d.ID)); err != nil {
				return err
			}
			if err := t.Set(key(kInbox, d.Org, d.Product, d.CreatedAt, d.ID), nil); err != nil {
				return err
			}
			if err := setJSON(t, key(kDelivery, d.ID), d); err != nil {
				return err
			}
			did = true
			return addHistory(t, d.Messages, StatusEvent{At: now, Status: MsgHersteld, By: p.Account.Name}, "")
		})
		if err != nil {
			return fmt.Errorf("bericht %s herstellen: %w", referentie, err)
		}
		if did {
			restored++
		}
	}
	if restored == 0 {
		return fmt.Errorf("%w: geen verwijderd bestand in uw ophalen/ met een bericht met referentienummer %s; berichten worden 60 dagen na ontvangst definitief verwijderd", ErrNotFound, referentie)
	}
	h.publish(Event{Org: org, Product: product, Kind: "delivery"})
	return nil
}
