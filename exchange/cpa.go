package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"knooppunt/storage"
)

// CPA is an imported Collaboration Protocol Agreement between the hub and one organisation:
// what the hub needs of it to receive and send over Digikoppeling. XML is the document as
// imported; the rest is read from it at import.
type CPA struct {
	ID       string    `json:"cpaid"`
	Org      string    `json:"organisatie"`
	OIN      string    `json:"oin"`           // the organisation's PartyId
	HubOIN   string    `json:"oin_knooppunt"` // the hub's PartyId
	Start    time.Time `json:"start"`
	End      time.Time `json:"einde"`
	Service  string    `json:"service"`
	Role     string    `json:"rol"`                 // the organisation's role
	HubRole  string    `json:"rol_knooppunt"`       // the hub's role
	Sends    []string  `json:"verstuurt"`           // actions the organisation may send the hub
	Receives []string  `json:"ontvangt"`            // actions the organisation accepts from the hub
	Endpoint string    `json:"endpoint"`            // the organisation's https endpoint
	TLSCerts [][]byte  `json:"tls_certs,omitempty"` // DER of the organisation's TLS certificates, when the CPA names them

	SyncReply            string        `json:"syncreplymode"` // of the organisation's channel: "none" or "mshSignalsOnly"
	AckRequested         bool          `json:"ack_requested"`
	AckSigned            bool          `json:"ack_signature_requested"`
	DuplicateElimination bool          `json:"duplicate_elimination"`
	Signed               bool          `json:"ondertekend"`
	Retries              int           `json:"retries"`
	RetryInterval        time.Duration `json:"retry_interval"`
	PersistDuration      time.Duration `json:"persist_duration"`

	Imported time.Time `json:"geimporteerd"`
	By       string    `json:"door"`
	XML      []byte    `json:"xml"`
}

// Profile names the Digikoppeling profile the CPA amounts to: osb-be or osb-rm, with -s when
// messages are signed.
func (c CPA) Profile() string {
	p := "osb-be"
	if c.AckRequested {
		p = "osb-rm"
	}
	if c.Signed {
		p += "-s"
	}
	return p
}

// ValidAt tells whether the CPA is in force at t.
func (c CPA) ValidAt(t time.Time) bool { return !t.Before(c.Start) && t.Before(c.End) }

// Duplicate elimination keeps a received MessageId at least (1+Retries)×RetryInterval; the
// hub keeps it at least a day longer than that, and never shorter than the CPA's
// PersistDuration.
func (c CPA) keepMessageIDs() time.Duration {
	d := time.Duration(1+c.Retries) * c.RetryInterval
	return max(d, c.PersistDuration) + 24*time.Hour
}

func txCPA(t storage.Txn, id string) (CPA, error) {
	var c CPA
	err := getJSON(t, key(kCPA, id), &c)
	if errors.Is(err, storage.ErrNotFound) {
		return c, fmt.Errorf("%w: CPA %q bestaat niet; bekijk de CPA's met 'cpa list'", ErrNotFound, id)
	}
	if err != nil {
		return c, fmt.Errorf("CPA %s lezen: %w", id, err)
	}
	return c, nil
}

// GetCPA returns one CPA. A beheerder may read any; an organisation's accounts its own.
func (h *Hub) GetCPA(p *Principal, id string) (CPA, error) {
	var c CPA
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if c, err = txCPA(t, id); err != nil {
			return err
		}
		return mayReadCPA(t, p, c.Org)
	})
	return c, err
}

func mayReadCPA(t storage.Txn, p *Principal, org string) error {
	actor, err := fresh(t, p)
	if err != nil {
		return err
	}
	if isBeheerder(actor) || actor.Account.Org == org {
		return nil
	}
	return fmt.Errorf("%w: u ziet alleen de CPA's van uw eigen organisatie", ErrDenied)
}

// CPAs lists the CPAs of org, or of every organisation with org "" (beheerder only).
func (h *Hub) CPAs(p *Principal, org string) ([]CPA, error) {
	out := []CPA{}
	err := h.kv.View(func(t storage.Txn) error {
		actor, err := fresh(t, p)
		if err != nil {
			return err
		}
		if org == "" && !isBeheerder(actor) {
			org = actor.Account.Org
		}
		if err := mayReadCPA(t, p, org); err != nil && org != "" {
			return err
		}
		prefix := key(kCPA, "")
		if org != "" {
			prefix = key(kCPAOrg, org, "")
		}
		return t.Scan(prefix, storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			var c CPA
			if org != "" {
				var err error
				if c, err = txCPA(t, string(k[len(prefix):])); err != nil {
					return false, err
				}
			} else if err := json.Unmarshal(v, &c); err != nil {
				return false, err
			}
			c.XML = nil
			out = append(out, c)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func countCPAs(t storage.Txn, org string) (int, error) {
	n := 0
	err := t.Scan(key(kCPAOrg, org, ""), storage.ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
		n++
		return true, nil
	})
	return n, err
}

// ImportCPA checks a CPA document and stores it, replacing an earlier version with the same
// cpaid of the same organisation. Only a beheerder may.
func (h *Hub) ImportCPA(by *Principal, doc []byte) (c CPA, err error) {
	defer func() { h.auditChange(by, "cpa import", c.ID, err) }()
	if len(doc) > maxCPASize {
		return CPA{}, fmt.Errorf("%w: een CPA is ten hoogste %d KB", ErrTooLarge, maxCPASize>>10)
	}
	if h.cfg.OIN == "" {
		return CPA{}, fmt.Errorf("%w: het knooppunt heeft geen OIN; start het met --oin (of KNOOPPUNT_OIN)", ErrInvalid)
	}
	now := h.clock.Now()
	err = h.kv.Update(func(t storage.Txn) error {
		actor, err := fresh(t, by)
		if err != nil {
			return err
		}
		if err := requireBeheerder(actor, "CPA's importeren"); err != nil {
			return err
		}
		c, err = readCPA(doc, h.cfg.OIN, now, func(oin string) (Org, error) { return txOrgByOIN(t, oin) })
		if err != nil {
			return err
		}
		c.Imported, c.By, c.XML = now, actor.Account.Name, doc
		old, err := txCPA(t, c.ID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		case old.Org != c.Org:
			return fmt.Errorf("%w: CPA %s bestaat al voor organisatie %s; een cpaid hoort bij één organisatie", ErrExists, c.ID, old.Org)
		}
		if err := t.Set(key(kCPAOrg, c.Org, c.ID), nil); err != nil {
			return err
		}
		return setJSON(t, key(kCPA, c.ID), c)
	})
	if err != nil {
		return CPA{}, err
	}
	h.kickSender()
	return c, nil
}

// maxCPASize bounds a CPA document; real ones are 10–30 KB.
const maxCPASize = 1 << 20

func actorName(a *Account) string {
	if a == nil {
		return systemName
	}
	return a.Name
}

// DeleteCPA removes a CPA, refused while a route of its organisation uses it. Only a
// beheerder may.
func (h *Hub) DeleteCPA(by *Principal, id string) (err error) {
	defer func() { h.auditChange(by, "cpa delete", id, err) }()
	return h.kv.Update(func(t storage.Txn) error {
		actor, err := fresh(t, by)
		if err != nil {
			return err
		}
		if err := requireBeheerder(actor, "CPA's verwijderen"); err != nil {
			return err
		}
		c, err := txCPA(t, id)
		if err != nil {
			return err
		}
		var users []string
		err = t.Scan(key(kRoute, c.Org, ""), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var r Route
			if err := json.Unmarshal(v, &r); err != nil {
				return false, err
			}
			if r.CPA == id {
				users = append(users, fmt.Sprintf("%s %s", r.Product, r.Exchange))
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if len(users) > 0 {
			slices.Sort(users)
			return fmt.Errorf("%w: CPA %s wordt gebruikt door de route(s) %v van %s; kies daar eerst een ander CPA of Portaal", ErrInvalid, id, users, c.Org)
		}
		if err := t.Delete(key(kCPAOrg, c.Org, id)); err != nil {
			return err
		}
		return t.Delete(key(kCPA, id))
	})
}
