package exchange

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"knooppunt/storage"
)

// Organisaties: the organisations connected to the hub, by AGB or gemeentecode. Only a
// beheerder adds, renames or deletes one; each change lands in the audit log, refused or not.

func txOrg(t storage.Txn, code string) (Org, error) {
	return txRecord[Org](t, key(kOrg, code), "organisatie", code, "de organisaties met 'org list'")
}

func putOrg(t storage.Txn, o Org) error { return setJSON(t, key(kOrg, o.Code), o) }

// eachOrg calls fn with every organisation, by code.
func eachOrg(t storage.Txn, fn func(Org)) error { return eachJSON(t, []byte(kOrg), "organisatie", fn) }

// orgName is name as an organisation's name: trimmed, one line of 1 to 100 characters.
func orgName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, "\r\n\t") {
		return "", fmt.Errorf("%w: geef de organisatie een naam van 1 tot 100 tekens op één regel, zoals \"Gemeente Ameland\"", ErrInvalid)
	}
	return name, nil
}

// CreateOrg connects an organisation to the hub. Only a beheerder may.
func (h *Hub) CreateOrg(by *Principal, code, name string) (o Org, err error) {
	return h.CreateOrgOIN(by, code, name, "")
}

// CreateOrgOIN connects an organisation with its OIN ("" for none). Only a beheerder may.
func (h *Hub) CreateOrgOIN(by *Principal, code, name, oin string) (o Org, err error) {
	defer func() { h.auditChange(by, "org add", code, err) }()
	if oin != "" {
		if err := CheckOIN(oin); err != nil {
			return Org{}, err
		}
	}
	kind, err := KindOf(code)
	if err != nil {
		return Org{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if name, err = orgName(name); err != nil {
		return Org{}, err
	}
	o = Org{Code: code, Name: name, Kind: kind, Created: h.clock.Now(), OIN: oin}
	err = h.kv.Update(func(t storage.Txn) error {
		if _, err := authorize(t, by, ActionManageOrgs, ""); err != nil {
			return err
		}
		if _, err := txOrg(t, code); err == nil {
			return fmt.Errorf("%w: organisatie %s bestaat al; bekijk haar met 'org list'", ErrExists, code)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := claimOIN(t, oin, code); err != nil {
			return err
		}
		return putOrg(t, o)
	})
	if err != nil {
		return Org{}, err
	}
	return o, nil
}

// Org returns an organisation.
func (h *Hub) Org(code string) (Org, error) {
	var o Org
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		o, err = txOrg(t, code)
		return err
	})
	return o, err
}

// Orgs lists every organisation by code.
func (h *Hub) Orgs() ([]Org, error) {
	var out []Org
	err := h.kv.View(func(t storage.Txn) error {
		out = nil
		return eachOrg(t, func(o Org) {
			out = append(out, o)
		})
	})
	return out, err
}

// OrgList lists the organisations by may see, by code: every one for a beheerder, its own for
// a gebruikersbeheerder ('org list').
func (h *Hub) OrgList(by *Principal) ([]Org, error) {
	var out []Org
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		out = nil
		var err error
		if fp, err = authorize(t, by, ActionReadOrgs, ""); err != nil {
			return err
		}
		return eachOrg(t, func(o Org) {
			if isBeheerder(fp) || o.Code == fp.Account.Org {
				out = append(out, o)
			}
		})
	})
	return out, err
}

// RenameOrg gives an organisation a new name; its code, which every message carries, stays.
// Only a beheerder may.
func (h *Hub) RenameOrg(by *Principal, code, name string) (err error) {
	defer func() { h.auditChange(by, "org naam", code+" "+name, err) }()
	if name, err = orgName(name); err != nil {
		return err
	}
	err = h.kv.Update(func(t storage.Txn) error {
		if _, err := authorize(t, by, ActionManageOrgs, ""); err != nil {
			return err
		}
		o, err := txOrg(t, code)
		if err != nil {
			return err
		}
		o.Name = name
		return putOrg(t, o)
	})
	if err == nil {
		h.publish(Event{Org: code, Kind: "org"})
	}
	return err
}

// DeleteOrg disconnects an organisation from the hub. Only a beheerder may, and only once
// nothing refers to it any more: no message of it younger than the Bewaartijd (60 days; the
// berichtenlog and herstel need them), no account, no samenwerking. The refusal says what
// is left and, for messages, from when it can go.
func (h *Hub) DeleteOrg(by *Principal, code string) (err error) {
	defer func() { h.auditChange(by, "org delete", code, err) }()
	return h.kv.Update(func(t storage.Txn) error {
		if _, err := authorize(t, by, ActionManageOrgs, ""); err != nil {
			return err
		}
		o, err := txOrg(t, code)
		if err != nil {
			return err
		}
		var newest time.Time
		for _, p := range Products {
			prefix := key(kLog, code, p, "")
			err := t.Scan(prefix, storage.ScanOptions{Reverse: true, KeysOnly: true}, func(k, _ []byte) (bool, error) {
				if len(k) >= len(prefix)+8 {
					if at := time.Unix(0, int64(binary.BigEndian.Uint64(k[len(prefix):]))); at.After(newest) {
						newest = at
					}
				}
				return false, nil
			})
			if err != nil {
				return err
			}
		}
		if !newest.IsZero() {
			return fmt.Errorf("%w: organisatie %s heeft berichten die jonger zijn dan 60 dagen (het nieuwste van %s); "+
				"die blijven in de berichtenlog tot hun bewaartijd om is; verwijderen kan vanaf %s. Hernoemen kan wel: org naam %s NIEUWENAAM",
				ErrInvalid, code, newest.In(amsterdam).Format("02-01-2006"), newest.Add(Bewaartijd).In(amsterdam).Format("02-01-2006 15:04"), code)
		}
		var accounts, partners []string
		err = eachAccount(t, func(a Account) {
			if a.Org == code {
				accounts = append(accounts, a.Name)
			}
		})
		if err != nil {
			return err
		}
		if len(accounts) > 0 {
			return fmt.Errorf("%w: organisatie %s heeft nog accounts (%s); verwijder die eerst met 'gebruiker verwijder NAAM'", ErrInvalid, code, strings.Join(accounts, ", "))
		}
		err = eachOrg(t, func(other Org) {
			for p, a := range other.Samenwerking {
				if a == code {
					partners = append(partners, fmt.Sprintf("%s voor %s", p, other.Code))
				}
			}
		})
		if err != nil {
			return err
		}
		for p, a := range o.Samenwerking {
			partners = append(partners, fmt.Sprintf("%s door %s", p, a))
		}
		if len(partners) > 0 {
			slices.Sort(partners)
			return fmt.Errorf("%w: organisatie %s zit in een samenwerking (%s); beëindig die eerst met 'org samenwerking'", ErrInvalid, code, strings.Join(partners, "; "))
		}
		var routes [][]byte
		err = t.Scan(key(kRoute, code, ""), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			routes = append(routes, slices.Clone(k))
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, k := range routes {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		return t.Delete(key(kOrg, code))
	})
}
