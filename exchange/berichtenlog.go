package exchange

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"knooppunt/storage"
)

// MessageFilter narrows the berichtenlog. Direction is "in" (received) or "uit" (sent);
// Counterpart is the other organisation's code; Referentie matches a referentienummer or
// crossRefnummer that starts with it (at least MinRefPrefix characters); zero fields do not
// filter.
type MessageFilter struct {
	From, To                                            time.Time
	Functie, Direction, Counterpart, Status, Referentie string
	Limit, Offset                                       int
}

func (f MessageFilter) narrows() bool {
	return f.Functie != "" || f.Direction != "" || f.Counterpart != "" || f.Status != "" || f.Referentie != ""
}

// Direction tells how m looks from org: "uit" when org sent it (or sent it for another
// organisation, under a samenwerking), "in" otherwise. It is the one definition: the
// berichtenlog's index, its filter, the TUI and the commands all ask this.
func (m Message) Direction(org string) string {
	if m.Zender == org || m.Uploader == org {
		return "uit"
	}
	return "in"
}

// Counterpart is the other side of m seen from org: the ontvanger of what org sent, the
// zender of what it received.
func (m Message) Counterpart(org string) string {
	if m.Direction(org) == "uit" {
		return m.Ontvanger
	}
	return m.Zender
}

// OnBehalfOf is the organisation org handled m for under a samenwerking: the zender of a
// message org uploaded for it, the ontvanger of one delivered into org's ophalen/ for it;
// "" when org is the zender or ontvanger itself.
func (m Message) OnBehalfOf(org string) string {
	if m.Direction(org) == "uit" {
		if m.Zender != org {
			return m.Zender
		}
		return ""
	}
	if m.Ontvanger != org {
		return m.Ontvanger
	}
	return ""
}

// Restorable tells whether p can put the file holding m back into ophalen/ (Restore): m was
// deleted or expired from the ophalen/ of p's own organisation.
func (m Message) Restorable(p *Principal) bool {
	return p != nil && m.Mailbox == p.Org.Code && m.DeliveryID != 0 &&
		(m.Status == MsgVerwijderd || m.Status == MsgVerlopen)
}

func (f MessageFilter) match(m Message, org string) bool {
	return (f.Functie == "" || f.Functie == m.Functie) &&
		(f.Direction == "" || f.Direction == m.Direction(org)) &&
		(f.Counterpart == "" || f.Counterpart == m.Counterpart(org)) &&
		(f.Status == "" || f.Status == string(m.Status)) &&
		(f.Referentie == "" || strings.HasPrefix(m.Referentie, f.Referentie) || strings.HasPrefix(m.CrossRef, f.Referentie))
}

// MessageCountCap is how far Messages counts the matches of a filtered berichtenlog. Past
// it the count stops, as soon as the page is full, and the list says "at least".
const MessageCountCap = 10_000

// MessageList is one page of a berichtenlog with the number of entries that match. When
// AtLeast is set counting stopped early: at least Total entries match, and there are more
// (Total is MessageCountCap, or the end of the page when that lies further).
type MessageList struct {
	Messages []Message
	Total    int
	AtLeast  bool
}

// Messages lists the organisation's berichtenlog of product, newest first, with the number
// that match; see MessageList, which also tells whether that number was cut off at
// MessageCountCap (then it is a lower bound).
func (h *Hub) Messages(ctx context.Context, p *Principal, product Product, f MessageFilter) ([]Message, int, error) {
	l, err := h.MessageList(ctx, p, product, f)
	return l.Messages, l.Total, err
}

// MessageList lists the organisation's berichtenlog of product, newest first. It never reads
// the whole log: a referentienummer goes straight to its index entries; otherwise it walks a
// time-ordered index backwards from f.To and stops at f.From: without a filter the log's
// own, else the value index (idx/logv2) of the filter's field value with the fewest groups,
// matching the other fields against the summaries its groups carry (berichtenlog_groep.go). Only the
// messages of the page are read. The count stops at MessageCountCap (or the page's end)
// unless f.Limit is 0 (all).
func (h *Hub) MessageList(ctx context.Context, p *Principal, product Product, f MessageFilter) (MessageList, error) {
	if f.Referentie != "" && len(f.Referentie) < MinRefPrefix {
		return MessageList{}, fmt.Errorf("%w: referentienummer %q is te kort om op te zoeken: geef ten minste de eerste %d tekens", ErrInvalid, f.Referentie, MinRefPrefix)
	}
	var l MessageList
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if fp, err = authorize(t, p, ActionReadLog, product); err != nil {
			return err
		}
		if f.Referentie != "" {
			return messagesByRef(ctx, t, p.Org.Code, product, f, &l)
		}
		return messagesByTime(ctx, t, p.Org.Code, product, f, &l)
	})
	if fp == nil {
		return MessageList{}, err // refused
	}
	if err != nil {
		return MessageList{}, fmt.Errorf("berichtenlog van %s lezen: %w", product, err)
	}
	return l, nil
}

// messagesByTime pages through a time-ordered index of org's log of product: its groups
// (see logBatch), newest first, and within each its members, highest id first.
func messagesByTime(ctx context.Context, t storage.Txn, org string, product Product, f MessageFilter, l *MessageList) error {
	prefix := key(kLog, org, product, "")
	start := func(prefix []byte) []byte {
		if f.To.IsZero() {
			return nil
		}
		return append(append(slices.Clip(prefix), timeKey(f.To)...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	}
	vs := f.values()
	if len(vs) > 0 {
		// Walk the index of the field value with the fewest groups in the date range: each
		// is counted, keys only, up to probeLimit.
		fewest := -1
		for _, v := range vs {
			vp := key(kLogV, org, product, v, "")
			n := 0
			err := scanCtx(ctx, t, vp, storage.ScanOptions{Reverse: true, KeysOnly: true, Start: start(vp)}, func(k, _ []byte) (bool, error) {
				if len(k) >= len(vp)+8 && !f.From.IsZero() && int64(binary.BigEndian.Uint64(k[len(vp):])) < f.From.UnixNano() {
					return false, nil
				}
				n++
				return n < probeLimit, nil
			})
			if err != nil {
				return err
			}
			if fewest < 0 || n < fewest {
				fewest, prefix = n, vp
			}
		}
	}
	byValue := len(vs) > 0
	counted := !f.narrows() && f.From.IsZero() && f.To.IsZero()
	if counted {
		n, err := logTotal(ctx, t, org, product)
		if err != nil {
			return err
		}
		l.Total = n
	}
	// Count up to enough to know whether there is a next page, and at least to the cap.
	enough := -1
	if f.Limit > 0 {
		enough = max(MessageCountCap, f.Offset+f.Limit)
	}
	n := 0
	err := scanCtx(ctx, t, prefix, storage.ScanOptions{Reverse: true, Start: start(prefix)}, func(k, v []byte) (bool, error) {
		at, gid, ok := groupKeyParts(k, prefix)
		if !ok {
			return true, nil
		}
		if !f.From.IsZero() && at < f.From.UnixNano() {
			return false, nil
		}
		if byValue && len(vs) == 1 {
			// The entry says how many members have the one value filtered on: a group wholly
			// before the page or after it is counted without reading it.
			c, w := binary.Uvarint(v)
			if _, stop := page(n, f.Offset, f.Limit); w > 0 && c > 0 && (n+int(c) <= f.Offset || stop) {
				if enough >= 0 && n+int(c) > enough {
					n, l.AtLeast = enough, true
					return false, nil
				}
				n += int(c)
				return true, nil
			}
		}
		if byValue {
			var err error
			if v, err = t.Get(key(kLog, org, product, time.Unix(0, at), gid)); errors.Is(err, storage.ErrNotFound) {
				return true, nil // a stray value entry: harmless
			} else if err != nil {
				return false, err
			}
		}
		ms, err := readGroup(t, org, gid, v)
		if err != nil {
			return false, err
		}
		for i := len(ms) - 1; i >= 0; i-- {
			if f.narrows() && !f.matchSum(ms[i].sum) {
				continue
			}
			in, stop := page(n, f.Offset, f.Limit)
			if stop && (counted || n >= enough) {
				l.AtLeast = !counted
				return false, nil
			}
			if !in {
				n++
				continue
			}
			var m Message
			if err := getJSON(t, key(kMessage, ms[i].id), &m); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				return false, err
			}
			l.Messages = append(l.Messages, m)
			n++
		}
		return true, nil
	})
	if !counted {
		l.Total = n
	}
	return err
}

// MinRefPrefix is the shortest start of a referentienummer the berichtenlog looks up: eight
// hex digits of a UUID leave about one match in four billion.
const MinRefPrefix = 4

// maxRefMatches caps the messages one referentienummer prefix reads.
const maxRefMatches = MessageCountCap

// messagesByRef finds the messages of org's log of product whose referentienummer or
// crossRefnummer starts with f.Referentie through their index entries: a handful of
// messages, read whole and matched against the rest of f.
func messagesByRef(ctx context.Context, t storage.Txn, org string, product Product, f MessageFilter, l *MessageList) error {
	var ids []uint64
	for _, prefix := range [][]byte{key(kRecvRef, org, product, f.Referentie), key(kLogXRef, org, product, f.Referentie)} {
		err := scanCtx(ctx, t, prefix, storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			ids = append(ids, id)
			return err == nil && len(ids) < maxRefMatches, err
		})
		if err != nil {
			return err
		}
	}
	var all []Message
	for _, id := range ids {
		var m Message
		if err := getJSON(t, key(kMessage, id), &m); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			return err
		}
		if !f.From.IsZero() && m.ReceivedAt.Before(f.From) || !f.To.IsZero() && m.ReceivedAt.After(f.To) ||
			!f.match(m, org) || slices.ContainsFunc(all, func(o Message) bool { return o.ID == m.ID }) {
			continue
		}
		all = append(all, m)
	}
	// Newest first, as the time index orders them.
	slices.SortFunc(all, func(a, b Message) int {
		if c := b.ReceivedAt.Compare(a.ReceivedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	l.Total = len(all)
	lo := min(f.Offset, len(all))
	hi := len(all)
	if f.Limit > 0 {
		hi = min(lo+f.Limit, hi)
	}
	l.Messages = all[lo:hi]
	return nil
}

// Value indexes: idx/logv2/<org>/<product>/<field letter><value>/<time>/<group id> -> how many
// members of the group have it, one per filterable field value in a berichtenlog group. A
// filter walks the index of its rarest value: each of its values' entries are counted up to
// probeLimit, and the fewest win.
const probeLimit = 2000

const (
	vStatus    = "s"
	vFunctie   = "f"
	vDirection = "r"
	vPartij    = "p"
)

// values are the value-index names of the fields f narrows on.
func (f MessageFilter) values() []string {
	var out []string
	for _, fv := range [...][2]string{{vStatus, f.Status}, {vFunctie, f.Functie}, {vDirection, f.Direction}, {vPartij, f.Counterpart}} {
		if fv[1] != "" {
			out = append(out, fv[0]+fv[1])
		}
	}
	return out
}

// logOrgs lists the organisations whose berichtenlog has an entry for m: a refused message
// only the uploader's.
func (m Message) logOrgs() []string {
	if m.Status == MsgAfgekeurd {
		return []string{m.Uploader}
	}
	return m.orgs()
}

// putLogEntries adds m to the berichtenlog of each of orgs, as a group of its own.
func putLogEntries(t storage.Txn, m Message, orgs []string) error {
	b := newLogBatch()
	if err := b.putLogEntries(t, m, orgs); err != nil {
		return err
	}
	return b.write(t)
}

// updateLogEntries gives m's member of each berichtenlog it is in the summary of m (its new
// status), moving its group's value-index counts along; it never adds an entry to a log. The
// groups are written by c.flush.
func (c *logChanges) updateLogEntries(t storage.Txn, old, m Message) error {
	for _, org := range old.logOrgs() {
		if _, err := c.change(t, org, m, false); err != nil {
			return err
		}
	}
	return nil
}

// deleteLogEntries removes m from every berichtenlog it is in, with its count; the groups are
// written by c.flush.
func (c *logChanges) deleteLogEntries(t storage.Txn, m Message) error {
	for _, org := range m.logOrgs() {
		had, err := c.change(t, org, m, true)
		if err != nil {
			return err
		}
		ks := [][]byte{key(kRecvRef, org, m.Product, m.Referentie, m.ID)}
		if m.CrossRef != "" {
			ks = append(ks, key(kLogXRef, org, m.Product, m.CrossRef, m.ID))
		}
		for _, k := range ks {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		if had {
			if c.counts == nil {
				c.counts = logCounts{}
			}
			c.counts[orgProduct{org, m.Product}]--
		}
	}
	return nil
}

// deleteLogEntries removes m from every berichtenlog it is in, with its count.
func deleteLogEntries(t storage.Txn, m Message) error {
	var c logChanges
	if err := c.deleteLogEntries(t, m); err != nil {
		return err
	}
	return c.flush(t)
}

// Message returns one message of the caller's berichtenlog.
func (h *Hub) Message(p *Principal, id uint64) (Message, error) {
	var m Message
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if fp, err = fresh(t, p); err != nil {
			return err
		}
		return getJSON(t, key(kMessage, id), &m)
	})
	if fp == nil {
		return Message{}, err // refused
	}
	missing := fmt.Errorf("%w: bericht %d staat niet in uw berichtenlog", ErrNotFound, id)
	if errors.Is(err, storage.ErrNotFound) {
		return Message{}, missing
	}
	if err != nil {
		return Message{}, fmt.Errorf("bericht %d lezen: %w", id, err)
	}
	if isBeheerder(fp) {
		return m, nil
	}
	orgs := m.orgs()
	if m.Status == MsgAfgekeurd {
		orgs = []string{m.Uploader}
	}
	for _, o := range orgs {
		if o == fp.Account.Org && decide(fp, ActionReadLog, m.Product) == nil {
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
	if err := h.Allowed(p, ActionRestore, product); err != nil {
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
	present, waiting := "", false // a file of the message that needs no restore, and where it is
	for _, id := range ids {
		did, queued := false, false
		var dlv uint64
		err := h.kv.Update(func(t storage.Txn) error {
			did, queued = false, false
			if _, err := authorize(t, p, ActionRestore, product); err != nil {
				return err
			}
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
			if d.Held {
				waiting = true
				return nil
			}
			if d.DeletedAt.IsZero() {
				present = d.Name
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
			did, dlv = true, d.ID
			queued, err = deliveryHistory(t, &d, queuedEvent{Event: StatusEvent{At: now, Status: MsgHersteld, By: p.Account.Name}})
			return err
		})
		if err != nil {
			return fmt.Errorf("bericht %s herstellen: %w", referentie, err)
		}
		if queued {
			h.afterHistory(dlv)
		}
		if did {
			restored++
		}
	}
	switch {
	case restored == 0 && present != "":
		return fmt.Errorf("%w: het bestand met bericht %s is niet verwijderd: het staat nog in /%s/ophalen/%s; herstellen is niet nodig", ErrExists, referentie, product, present)
	case restored == 0 && waiting:
		return fmt.Errorf("%w: het bestand met bericht %s is niet verwijderd: het wacht op een route naar het portaal (zie 'routes'); herstellen is niet nodig", ErrExists, referentie)
	case restored == 0:
		return fmt.Errorf("%w: geen verwijderd bestand in uw ophalen/ met een bericht met referentienummer %s; berichten worden 60 dagen na ontvangst definitief verwijderd", ErrNotFound, referentie)
	}
	h.publish(Event{Org: org, Product: product, Kind: "delivery"})
	return nil
}
