package exchange

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"knooppunt/storage"
)

// The changes to accounts and organisations beyond adding them (issue 13): roles of an
// existing account, deleting an account, renaming and deleting an organisation. Each is
// decided here, against the acting account as the store has it in the same transaction,
// and each lands in the audit log, refused or not.

// ChangeRoles adds and takes away roles of an existing account in one step, with the rules
// of SetRoles; a gebruikersbeheerder does not take that role from themselves (the
// organisation could end up without one).
func (h *Hub) ChangeRoles(by *Principal, name string, add, remove []Role) (err error) {
	var words []string
	for _, r := range add {
		words = append(words, "+"+string(r))
	}
	for _, r := range remove {
		words = append(words, "-"+string(r))
	}
	defer func() { h.auditChange(by, "roles change", name+" "+strings.Join(words, ","), err) }()
	if len(add) == 0 && len(remove) == 0 {
		return fmt.Errorf("%w: noem een rol om toe te voegen (+productbeheerder) of af te nemen (-productbeheerder)", ErrInvalid)
	}
	if err := checkRoles(System, append(slices.Clone(add), remove...)); err != nil {
		return err
	}
	if slices.Contains(remove, Gebruiker) {
		return fmt.Errorf("%w: elk account is gebruiker; blokkeer of verwijder het account om de toegang te beëindigen", ErrInvalid)
	}
	return h.updateAccount(by, name, func(_ storage.Txn, actor *Principal, a *Account) error {
		next := slices.DeleteFunc(slices.Concat(a.Roles, add), func(r Role) bool { return slices.Contains(remove, r) })
		if err := checkRoles(actor, next); err != nil {
			return err
		}
		if isSelf(actor, name) && slices.Contains(remove, Gebruikersbeheerder) && slices.Contains(a.Roles, Gebruikersbeheerder) && !isBeheerder(actor) {
			return fmt.Errorf("%w: u kunt uw eigen rol gebruikersbeheerder niet afnemen; vraag dit aan een andere gebruikersbeheerder of de beheerder", ErrDenied)
		}
		return applyRoles(actor, a, name, next)
	})
}

// applyRoles sets a's roles to next after the checks every role change shares.
func applyRoles(actor *Principal, a *Account, name string, next []Role) error {
	next = normRoles(next)
	had := slices.Contains(a.Roles, Beheerder)
	has := slices.Contains(next, Beheerder)
	if had && !has {
		if !isBeheerder(actor) {
			return fmt.Errorf("%w: alleen een beheerder van het knooppunt mag de rol beheerder afnemen", ErrDenied)
		}
		if isSelf(actor, name) {
			return fmt.Errorf("%w: u kunt uw eigen rol beheerder niet afnemen; vraag dit aan een andere beheerder", ErrDenied)
		}
		if a.Org == "" {
			return fmt.Errorf("%w: account %q hoort bij geen organisatie en moet beheerder blijven; blokkeer het account als het niet meer nodig is", ErrInvalid, name)
		}
	}
	a.Roles = next
	return nil
}

// DeleteAccount removes an account and its keys: it can no longer log in, and its name is
// free again. What it did stays in the audit log and in the records of its uploads. Nobody
// deletes their own account.
func (h *Hub) DeleteAccount(by *Principal, name string) (err error) {
	defer func() { h.auditChange(by, "account delete", name, err) }()
	defer func() {
		if err == nil {
			h.accountClosed(name)
		}
	}()
	return h.kv.Update(func(t storage.Txn) error {
		actor, a, err := txManaged(t, by, name)
		if err != nil {
			return err
		}
		if isSelf(actor, name) {
			return fmt.Errorf("%w: u kunt uw eigen account niet verwijderen; vraag dit aan een andere gebruikersbeheerder of de beheerder", ErrDenied)
		}
		for _, line := range a.Keys {
			pk, _, err := parseKey(line)
			if err != nil {
				return err
			}
			if err := t.Delete(key(kKeyIndex, ssh.FingerprintSHA256(pk))); err != nil {
				return err
			}
		}
		return t.Delete(key(kAccount, name))
	})
}

// RenameOrg gives an organisation a new name; its code, which every message carries, stays.
// Only a beheerder may.
func (h *Hub) RenameOrg(by *Principal, code, name string) (err error) {
	defer func() { h.auditChange(by, "org naam", code+" "+name, err) }()
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, "\r\n\t") {
		return fmt.Errorf("%w: geef de organisatie een naam van 1 tot 100 tekens op één regel, zoals \"Gemeente Ameland\"", ErrInvalid)
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
		err = t.Scan([]byte(kAccount), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var a Account
			if err := json.Unmarshal(v, &a); err != nil {
				return false, err
			}
			if a.Org == code {
				accounts = append(accounts, a.Name)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if len(accounts) > 0 {
			return fmt.Errorf("%w: organisatie %s heeft nog accounts (%s); verwijder die eerst met 'gebruiker verwijder NAAM'", ErrInvalid, code, strings.Join(accounts, ", "))
		}
		err = t.Scan([]byte(kOrg), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var other Org
			if err := json.Unmarshal(v, &other); err != nil {
				return false, err
			}
			for p, a := range other.Samenwerking {
				if a == code {
					partners = append(partners, fmt.Sprintf("%s voor %s", p, other.Code))
				}
			}
			return true, nil
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
