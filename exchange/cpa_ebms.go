package exchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"knooppunt/exchange/ebms"
	"knooppunt/storage"
)

// readCPA parses and checks a CPA document for the hub with OIN hubOIN, and finds the
// organisation it is with by the other party's OIN.
func readCPA(doc []byte, hubOIN string, now time.Time, orgByOIN func(string) (Org, error)) (CPA, error) {
	pc, err := ebms.ParseCPA(doc)
	if err != nil {
		return CPA{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := pc.Check(hubOIN, now); err != nil {
		return CPA{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	oin, err := pc.OtherOIN(hubOIN)
	if err != nil {
		return CPA{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	org, err := orgByOIN(oin)
	if err != nil {
		return CPA{}, fmt.Errorf("%w: CPA %s is met OIN %s, maar geen organisatie heeft dat OIN; geef de organisatie eerst haar OIN met 'org oin CODE %s'", ErrInvalid, pc.ID, oin, oin)
	}
	if pc.ID == "" || len(pc.ID) > 200 {
		return CPA{}, fmt.Errorf("%w: de CPA heeft geen bruikbaar cpaid", ErrInvalid)
	}
	hub, _ := pc.Hub(hubOIN)
	other, _ := pc.Other(hubOIN)
	c := CPA{ID: pc.ID, Org: org.Code, OIN: oin, HubOIN: hubOIN, Start: pc.Start, End: pc.End, Endpoint: other.Endpoint()}
	for _, x := range other.TLSCertificates() {
		c.TLSCerts = append(c.TLSCerts, x.Raw)
	}
	for _, r := range other.Roles {
		if c.Service == "" {
			c.Service, c.Role = r.Service.Value, r.Name
		}
		for _, ab := range r.CanSend {
			c.Sends = append(c.Sends, ab.Action)
		}
		for _, ab := range r.CanReceive {
			c.Receives = append(c.Receives, ab.Action)
		}
	}
	for _, r := range hub.Roles {
		if c.HubRole == "" {
			c.HubRole = r.Name
		}
	}
	slices.Sort(c.Sends)
	c.Sends = slices.Compact(c.Sends)
	slices.Sort(c.Receives)
	c.Receives = slices.Compact(c.Receives)
	// The hub's sending settings come from what it sends the organisation: a heenbericht,
	// else a retourbericht, else an Fo01.
	var b *ebms.Binding
	for _, a := range ebms.GGKActions {
		if b, err = pc.Binding(ebms.PartyID{Type: ebms.PartyTypeOIN, Value: hubOIN}, "", ebms.Service{Value: c.Service}, a); err == nil {
			break
		}
	}
	if b == nil {
		// The organisation only sends: settings from its own channel.
		for _, a := range c.Sends {
			if b, err = pc.Binding(ebms.PartyID{Type: ebms.PartyTypeOIN, Value: oin}, "", ebms.Service{Value: c.Service}, a); err == nil {
				break
			}
		}
	}
	if b != nil {
		if ep := b.Endpoint(); ep != "" && b.To == other {
			c.Endpoint = ep
		}
		c.SyncReply = "none"
		if b.SyncReply() {
			c.SyncReply = "mshSignalsOnly"
		}
		c.AckRequested, c.AckSigned, c.DuplicateElimination, c.Signed = b.AckRequested(), b.AckSignatureRequested(), b.DuplicateElimination(), b.Signed()
		c.Retries, c.RetryInterval = b.Retries()
		c.PersistDuration = b.PersistDuration()
	}
	return c, nil
}

// cpaCache keeps parsed CPAs by cpaid and import time, so a message does not parse its CPA.
type cpaCache struct {
	mu   sync.Mutex
	m    map[string]cachedCPA
	recs map[string]cpaRecord
}

// cpaRecord is a CPA record as stored and as decoded: decoding the JSON (which holds the
// whole CPA document) was a tenth of the CPU of every message in and out.
type cpaRecord struct {
	raw []byte
	c   CPA
}

// txCPACached is txCPA for the hot paths (every message in, every attempt out): the record
// is read as always, and decoded only when its bytes differ from the last ones decoded, so a
// change by another process or transaction is seen at once. The CPA's slices are shared:
// callers only read them.
func (h *Hub) txCPACached(t storage.Txn, id string) (CPA, error) {
	raw, err := t.Get(key(kCPA, id))
	if errors.Is(err, storage.ErrNotFound) {
		return CPA{}, fmt.Errorf("%w: CPA %q bestaat niet; bekijk de CPA's met 'cpa list'", ErrNotFound, id)
	}
	if err != nil {
		return CPA{}, fmt.Errorf("CPA %s lezen: %w", id, err)
	}
	h.cpas.mu.Lock()
	r, ok := h.cpas.recs[id]
	h.cpas.mu.Unlock()
	if ok && bytes.Equal(r.raw, raw) {
		return r.c, nil
	}
	var c CPA
	if err := json.Unmarshal(raw, &c); err != nil {
		return CPA{}, fmt.Errorf("CPA %s lezen: %w", id, err)
	}
	h.cpas.mu.Lock()
	if h.cpas.recs == nil {
		h.cpas.recs = map[string]cpaRecord{}
	}
	h.cpas.recs[id] = cpaRecord{raw: raw, c: c}
	h.cpas.mu.Unlock()
	return c, nil
}

type cachedCPA struct {
	imported time.Time
	pc       *ebms.CPA
}

func (h *Hub) parsedCPA(c CPA) (*ebms.CPA, error) {
	h.cpas.mu.Lock()
	e, ok := h.cpas.m[c.ID]
	h.cpas.mu.Unlock()
	if ok && e.imported.Equal(c.Imported) {
		return e.pc, nil
	}
	pc, err := ebms.ParseCPA(c.XML)
	if err != nil {
		return nil, fmt.Errorf("CPA %s: %w", c.ID, err)
	}
	h.cpas.mu.Lock()
	if h.cpas.m == nil {
		h.cpas.m = map[string]cachedCPA{}
	}
	h.cpas.m[c.ID] = cachedCPA{c.Imported, pc}
	h.cpas.mu.Unlock()
	return pc, nil
}
