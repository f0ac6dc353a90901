package exchange

import (
	"errors"
	"fmt"

	"knooppunt/storage"
)

// CheckOIN tells whether s is an OIN: 20 digits.
func CheckOIN(s string) error {
	if len(s) != 20 {
		return fmt.Errorf("%w: OIN %q is ongeldig: een OIN heeft 20 cijfers, zoals 00000001234567890000", ErrInvalid, s)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return fmt.Errorf("%w: OIN %q is ongeldig: alleen cijfers, 20 stuks", ErrInvalid, s)
		}
	}
	return nil
}

// OIN is the hub's own OIN ("" when none is configured).
func (h *Hub) OIN() string { return h.cfg.OIN }

// claimOIN points the OIN index at code, refusing an OIN another organisation (or the hub)
// has. An empty OIN claims nothing.
func claimOIN(t storage.Txn, oin, code string) error {
	if oin == "" {
		return nil
	}
	v, err := t.Get(key(kOIN, oin))
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return fmt.Errorf("OIN-index lezen: %w", err)
	case string(v) != code:
		return fmt.Errorf("%w: OIN %s is al van organisatie %s; elke organisatie heeft een eigen OIN", ErrExists, oin, v)
	}
	return t.Set(key(kOIN, oin), []byte(code))
}

// SetOIN gives an organisation its OIN, or takes it away with "". Only a beheerder may; a
// CPA of the organisation keeps naming the old OIN, so it is refused while one exists.
func (h *Hub) SetOIN(by *Principal, code, oin string) (err error) {
	defer func() { h.auditChange(by, "org oin", code+" "+oin, err) }()
	if oin != "" {
		if err := CheckOIN(oin); err != nil {
			return err
		}
		if oin == h.cfg.OIN {
			return fmt.Errorf("%w: OIN %s is het OIN van het knooppunt zelf", ErrExists, oin)
		}
	}
	return h.kv.Update(func(t storage.Txn) error {
		actor, err := fresh(t, by)
		if err != nil {
			return err
		}
		if err := requireBeheerder(actor, "een OIN instellen"); err != nil {
			return err
		}
		o, err := txOrg(t, code)
		if err != nil {
			return err
		}
		if o.OIN == oin {
			return nil
		}
		if o.OIN != "" {
			n, err := countCPAs(t, code)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: organisatie %s heeft %d CPA('s) op OIN %s; verwijder die eerst (cpa list, cpa delete)", ErrInvalid, code, n, o.OIN)
			}
			if err := t.Delete(key(kOIN, o.OIN)); err != nil {
				return err
			}
		}
		if err := claimOIN(t, oin, code); err != nil {
			return err
		}
		o.OIN = oin
		return putOrg(t, o)
	})
}

// OrgByOIN finds the organisation with this OIN.
func (h *Hub) OrgByOIN(oin string) (Org, error) {
	var o Org
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		o, err = txOrgByOIN(t, oin)
		return err
	})
	return o, err
}

func txOrgByOIN(t storage.Txn, oin string) (Org, error) {
	v, err := t.Get(key(kOIN, oin))
	if errors.Is(err, storage.ErrNotFound) {
		return Org{}, fmt.Errorf("%w: geen organisatie met OIN %s bekend bij het knooppunt", ErrNotFound, oin)
	}
	if err != nil {
		return Org{}, fmt.Errorf("OIN-index lezen: %w", err)
	}
	return txOrg(t, string(v))
}
