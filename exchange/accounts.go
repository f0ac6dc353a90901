package exchange

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"knooppunt/storage"
)

var accountName = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,31}$`)

// systemName is who the audit log names for changes made by the hub itself (nil principal);
// no account may take it.
const systemName = "systeem"

// AdminAccount is the account Bootstrap creates.
const AdminAccount = "beheer"

// keyIndexEntry is the value at key(kKeyIndex, fingerprint). It copies the account's
// disabled flag so that the SSH public-key callback answers with one read.
type keyIndexEntry struct {
	Account  string `json:"account"`
	Disabled bool   `json:"geblokkeerd,omitempty"`
}

func txAccount(t storage.Txn, name string) (Account, error) {
	return txRecord[Account](t, key(kAccount, name), "account", name, "de accounts met 'account list'")
}

// eachAccount calls fn with every account, by name.
func eachAccount(t storage.Txn, fn func(Account)) error {
	return eachJSON(t, []byte(kAccount), "account", fn)
}

// putAccount stores an account and points the key index at it, with its disabled flag.
func putAccount(t storage.Txn, a Account) error {
	if err := setJSON(t, key(kAccount, a.Name), a); err != nil {
		return err
	}
	idx, err := json.Marshal(keyIndexEntry{Account: a.Name, Disabled: a.Disabled})
	if err != nil {
		return err
	}
	for _, line := range a.Keys {
		pk, _, err := parseKey(line)
		if err != nil {
			return err
		}
		if err := t.Set(key(kKeyIndex, ssh.FingerprintSHA256(pk)), idx); err != nil {
			return err
		}
	}
	return nil
}

// claimKey fails when the key is on an account already.
func claimKey(t storage.Txn, pk ssh.PublicKey) error {
	_, err := t.Get(key(kKeyIndex, ssh.FingerprintSHA256(pk)))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("sleutelindex lezen: %w", err)
	}
	return fmt.Errorf("%w: sleutel %s is al in gebruik bij een account; maak voor dit account een eigen sleutel (ssh-keygen -t ed25519)", ErrExists, ssh.FingerprintSHA256(pk))
}

// parseKey reads one authorized_keys line and returns it in a normal form: type, base64 and
// comment, without options.
func parseKey(line string) (ssh.PublicKey, string, error) {
	const hint = "plak één regel uit een .pub-bestand, zoals 'ssh-ed25519 AAAA… naam'"
	pk, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, "", fmt.Errorf("%w: dit is geen openbare SSH-sleutel; %s", ErrInvalid, hint)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, "", fmt.Errorf("%w: geef één sleutel per keer; %s", ErrInvalid, hint)
	}
	if len(options) > 0 {
		return nil, "", fmt.Errorf("%w: opties voor de sleutel (%s) worden niet ondersteund; %s", ErrInvalid, strings.Join(options, ","), hint)
	}
	if _, ok := pk.(*ssh.Certificate); ok {
		return nil, "", fmt.Errorf("%w: certificaten worden niet ondersteund; %s", ErrInvalid, hint)
	}
	switch pk.Type() {
	case ssh.KeyAlgoDSA:
		return nil, "", fmt.Errorf("%w: DSA-sleutels zijn onveilig en worden geweigerd; maak een nieuwe met ssh-keygen -t ed25519", ErrInvalid)
	case ssh.KeyAlgoRSA:
		if cpk, ok := pk.(ssh.CryptoPublicKey); ok {
			if rk, ok := cpk.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
				return nil, "", fmt.Errorf("%w: deze RSA-sleutel is te kort (%d bits, minimaal 2048); maak een nieuwe met ssh-keygen -t ed25519", ErrInvalid, rk.N.BitLen())
			}
		}
	}
	norm := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	if comment = strings.TrimSpace(comment); comment != "" {
		norm += " " + comment
	}
	return pk, norm, nil
}

// auditChange records the outcome of a change made by by.
func (h *Hub) auditChange(by *Principal, action, path string, err error) {
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	h.Audit(by, action, path, result)
}

// CreateAccount adds a login. A beheerder may add one to any organisation (a beheerder
// account may belong to none); a gebruikersbeheerder to its own organisation only, which is
// also the default when a.Org is empty. Roles default to gebruiker.
func (h *Hub) CreateAccount(by *Principal, a Account) (err error) {
	defer func() { h.auditChange(by, "account add", a.Name, err) }()
	if !accountName.MatchString(a.Name) || a.Name == systemName {
		return fmt.Errorf("%w: accountnaam %q is ongeldig: gebruik 2 tot 32 kleine letters, cijfers, '.', '_' of '-', beginnend met een letter (niet %q)", ErrInvalid, a.Name, systemName)
	}
	var keys []string
	var pks []ssh.PublicKey
	for _, line := range a.Keys {
		pk, norm, err := parseKey(line)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(pks, func(o ssh.PublicKey) bool { return bytes.Equal(o.Marshal(), pk.Marshal()) }) {
			continue
		}
		pks = append(pks, pk)
		keys = append(keys, norm)
	}
	a.Keys = keys
	roles := a.Roles
	a.Roles = normRoles(roles)
	products := a.Products
	a.Products = normProducts(products)
	a.Created = h.clock.Now()
	return h.kv.Update(func(t storage.Txn) error {
		actor, err := authorize(t, by, ActionManageAccts, "")
		if err != nil {
			return err
		}
		acct := a
		if acct.Org == "" && !isBeheerder(actor) {
			acct.Org = actor.Account.Org
		}
		if _, err := txAccount(t, acct.Name); err == nil {
			return fmt.Errorf("%w: account %q bestaat al; kies een andere naam", ErrExists, acct.Name)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := canManage(actor, acct); err != nil {
			return err
		}
		if err := checkRoles(actor, roles); err != nil {
			return err
		}
		var org Org
		if acct.Org == "" {
			if !slices.Contains(acct.Roles, Beheerder) {
				return fmt.Errorf("%w: geef de organisatie van het account op; alleen een beheerder van het knooppunt kan zonder organisatie", ErrInvalid)
			}
		} else if org, err = txOrg(t, acct.Org); err != nil {
			return err
		}
		for _, p := range products {
			if err := h.checkProduct(org, p); err != nil {
				return err
			}
		}
		for _, pk := range pks {
			if err := claimKey(t, pk); err != nil {
				return err
			}
		}
		return putAccount(t, acct)
	})
}

// Account returns an account.
func (h *Hub) Account(name string) (Account, error) {
	var a Account
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		a, err = txAccount(t, name)
		return err
	})
	return a, err
}

// Accounts lists the accounts of org by name; org "" lists all of them, which only a
// beheerder may. A gebruikersbeheerder sees its own organisation's accounts.
func (h *Hub) Accounts(by *Principal, org string) ([]Account, error) {
	var out []Account
	err := h.kv.View(func(t storage.Txn) error {
		out = nil
		actor, err := authorize(t, by, ActionManageAccts, "")
		if err != nil {
			return err
		}
		if !isBeheerder(actor) {
			if org == "" {
				org = actor.Account.Org
			}
			if org != actor.Account.Org {
				return fmt.Errorf("%w: u bekijkt alleen accounts van uw eigen organisatie (%s)", ErrDenied, actor.Account.Org)
			}
		}
		if org != "" {
			if _, err := txOrg(t, org); err != nil {
				return err
			}
		}
		return eachAccount(t, func(a Account) {
			if org == "" || a.Org == org {
				out = append(out, a)
			}
		})
	})
	return out, err
}

// txManaged reads the account name for a change by by, in t: by must be allowed to manage
// accounts (fresh, in this transaction) and this account in particular.
func txManaged(t storage.Txn, by *Principal, name string) (*Principal, Account, error) {
	actor, err := authorize(t, by, ActionManageAccts, "")
	if err != nil {
		return nil, Account{}, err
	}
	a, err := txAccount(t, name)
	if err != nil {
		return nil, Account{}, err
	}
	if err := canManage(actor, a); err != nil {
		return nil, Account{}, err
	}
	return actor, a, nil
}

// updateAccount applies change to a stored account after checking by may manage it.
func (h *Hub) updateAccount(by *Principal, name string, change func(t storage.Txn, actor *Principal, a *Account) error) error {
	return h.kv.Update(func(t storage.Txn) error {
		actor, a, err := txManaged(t, by, name)
		if err != nil {
			return err
		}
		before := slices.Clone(a.Keys)
		if err := change(t, actor, &a); err != nil {
			return err
		}
		for _, line := range before {
			if slices.Contains(a.Keys, line) {
				continue
			}
			pk, _, err := parseKey(line)
			if err != nil {
				return err
			}
			if err := t.Delete(key(kKeyIndex, ssh.FingerprintSHA256(pk))); err != nil {
				return err
			}
		}
		return putAccount(t, a)
	})
}

func isSelf(actor *Principal, name string) bool {
	return !actor.IsSystem() && actor.Account.Name == name
}

// SetDisabled blocks or unblocks an account. A blocked account cannot log in; nobody can
// block their own account.
func (h *Hub) SetDisabled(by *Principal, name string, disabled bool) (err error) {
	action := "account disable"
	if !disabled {
		action = "account enable"
	}
	defer func() { h.auditChange(by, action, name, err) }()
	err = h.updateAccount(by, name, func(_ storage.Txn, actor *Principal, a *Account) error {
		if disabled && isSelf(actor, name) {
			return fmt.Errorf("%w: u kunt uw eigen account niet blokkeren; vraag dit aan een andere beheerder", ErrDenied)
		}
		a.Disabled = disabled
		return nil
	})
	if err == nil && disabled {
		h.accountClosed(name)
	}
	return err
}

// AddKey puts a public key (an authorized_keys line) on an account. A key belongs to one
// account only.
func (h *Hub) AddKey(by *Principal, name, authorizedKey string) (err error) {
	pk, norm, err := parseKey(authorizedKey)
	fp := ""
	if err == nil {
		fp = ssh.FingerprintSHA256(pk)
	}
	defer func() { h.auditChange(by, "key add", name+" "+fp, err) }()
	if err != nil {
		return err
	}
	return h.updateAccount(by, name, func(t storage.Txn, _ *Principal, a *Account) error {
		if err := claimKey(t, pk); err != nil {
			return err
		}
		a.Keys = append(a.Keys, norm)
		return nil
	})
}

// RemoveKey takes a key off an account, named by its authorized_keys line or its SHA256
// fingerprint as ssh-keygen -lf prints it. Nobody removes the last key of their own account.
func (h *Hub) RemoveKey(by *Principal, name, keyOrFingerprint string) (err error) {
	fp := strings.TrimSpace(keyOrFingerprint)
	if !strings.HasPrefix(fp, "SHA256:") {
		pk, _, perr := parseKey(fp)
		if perr != nil {
			fp = ""
			err = fmt.Errorf("%w: geef de sleutel als regel uit het .pub-bestand of als vingerafdruk zoals 'SHA256:…' (ssh-keygen -lf BESTAND.pub)", ErrInvalid)
		} else {
			fp = ssh.FingerprintSHA256(pk)
		}
	}
	defer func() { h.auditChange(by, "key remove", name+" "+fp, err) }()
	if err != nil {
		return err
	}
	return h.updateAccount(by, name, func(_ storage.Txn, actor *Principal, a *Account) error {
		i := slices.IndexFunc(a.Keys, func(line string) bool {
			pk, _, err := parseKey(line)
			return err == nil && ssh.FingerprintSHA256(pk) == fp
		})
		if i < 0 {
			return fmt.Errorf("%w: sleutel %s staat niet op account %q; bekijk de sleutels met 'account list'", ErrNotFound, fp, name)
		}
		if len(a.Keys) == 1 && isSelf(actor, name) {
			return fmt.Errorf("%w: dit is de laatste sleutel van uw eigen account; voeg eerst een andere sleutel toe", ErrDenied)
		}
		a.Keys = slices.Delete(a.Keys, i, i+1)
		return nil
	})
}

// Grant lets an account use a product. The product must be one its organisation exchanges.
func (h *Hub) Grant(by *Principal, name string, p Product) (err error) {
	defer func() { h.auditChange(by, "product grant", name+" "+string(p), err) }()
	return h.updateAccount(by, name, func(t storage.Txn, _ *Principal, a *Account) error {
		org := Org{}
		if a.Org != "" {
			o, err := txOrg(t, a.Org)
			if err != nil {
				return err
			}
			org = o
		}
		if err := h.checkProduct(org, p); err != nil {
			return err
		}
		a.Products = normProducts(append(a.Products, p))
		return nil
	})
}

// Revoke takes a product away from an account.
func (h *Hub) Revoke(by *Principal, name string, p Product) (err error) {
	defer func() { h.auditChange(by, "product revoke", name+" "+string(p), err) }()
	if _, ok := h.cat.Product(p); !ok {
		return fmt.Errorf("%w: onbekend product %q: kies uit iwmo, ijw, ieb, pgb-wmo, pgb-jw", ErrInvalid, p)
	}
	return h.updateAccount(by, name, func(_ storage.Txn, _ *Principal, a *Account) error {
		a.Products = slices.DeleteFunc(a.Products, func(x Product) bool { return x == p })
		return nil
	})
}

// SetRoles replaces an account's roles. Only a beheerder hands out or takes away beheerder,
// an account without organisation stays beheerder, and nobody takes beheerder from
// themselves.
func (h *Hub) SetRoles(by *Principal, name string, roles []Role) (err error) {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	defer func() { h.auditChange(by, "roles set", name+" "+strings.Join(names, ","), err) }()
	return h.updateAccount(by, name, func(_ storage.Txn, actor *Principal, a *Account) error {
		if err := checkRoles(actor, roles); err != nil {
			return err
		}
		return applyRoles(actor, a, name, roles)
	})
}

// KeyKnown tells the SSH public-key callback whether key (SSH wire format) is on user's
// enabled account. It reads one key and records nothing: the callback runs for every key a
// client offers, and Authenticate records the login.
func (h *Hub) KeyKnown(user string, key []byte) bool {
	pk, err := ssh.ParsePublicKey(key)
	if err != nil {
		return false
	}
	var e keyIndexEntry
	err = h.kv.View(func(t storage.Txn) error {
		v, err := t.Get(keyIndexKey(pk))
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &e)
	})
	return err == nil && e.Account == user && !e.Disabled
}

func keyIndexKey(pk ssh.PublicKey) []byte { return key(kKeyIndex, ssh.FingerprintSHA256(pk)) }

// Authenticate checks, after the SSH handshake, that the verified key (SSH wire format)
// belongs to user's enabled account, records the attempt in the audit log and returns who
// logged in. Failures wrap ErrDenied.
func (h *Hub) Authenticate(user string, key []byte, remote string) (*Principal, error) {
	p, reason := h.authenticate(user, key)
	if reason != "" {
		h.AuditAttempt(user, remote, reason)
		return nil, fmt.Errorf("%w: inloggen als %q geweigerd: %s", ErrDenied, user, reason)
	}
	p.Remote = remote
	h.Audit(p, "login", "", "ok")
	return p, nil
}

// authenticate returns the principal, or why the login is refused.
func (h *Hub) authenticate(user string, key []byte) (*Principal, string) {
	pk, err := ssh.ParsePublicKey(key)
	if err != nil {
		return nil, "ongeldige sleutel"
	}
	fp := ssh.FingerprintSHA256(pk)
	var p Principal
	var reason string
	err = h.kv.View(func(t storage.Txn) error {
		reason = ""
		a, err := txAccount(t, user)
		if errors.Is(err, ErrNotFound) {
			reason = "onbekend account"
			return nil
		}
		if err != nil {
			return err
		}
		onAccount := slices.ContainsFunc(a.Keys, func(line string) bool {
			k, _, err := parseKey(line)
			return err == nil && bytes.Equal(k.Marshal(), pk.Marshal())
		})
		v, err := t.Get(keyIndexKey(pk))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		var e keyIndexEntry
		if err == nil {
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
		}
		switch {
		case !onAccount || e.Account != user:
			reason = "sleutel " + fp + " hoort niet bij dit account"
			return nil
		case a.Disabled:
			reason = "account is geblokkeerd"
			return nil
		}
		p.Account = a
		if a.Org != "" {
			o, err := txOrg(t, a.Org)
			if errors.Is(err, ErrNotFound) {
				reason = "organisatie " + a.Org + " van het account bestaat niet"
				return nil
			}
			if err != nil {
				return err
			}
			p.Org = o
		}
		return nil
	})
	if err != nil {
		h.log.Error("inloggen controleren", "account", user, "err", err)
		return nil, "storing bij het controleren"
	}
	if reason != "" {
		return nil, reason
	}
	return &p, ""
}

// Bootstrap gives a store without accounts its first beheerder, account "beheer", with the
// given key. On a store where a beheerder already has that key it does nothing.
func (h *Hub) Bootstrap(adminAuthorizedKey string) error {
	pk, norm, err := parseKey(adminAuthorizedKey)
	if err != nil {
		return fmt.Errorf("beheerderssleutel: %w", err)
	}
	all, err := h.Accounts(System, "")
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return h.CreateAccount(System, Account{Name: AdminAccount, Roles: []Role{Beheerder}, Keys: []string{norm}})
	}
	for _, a := range all {
		if !slices.Contains(a.Roles, Beheerder) {
			continue
		}
		for _, line := range a.Keys {
			if k, _, err := parseKey(line); err == nil && bytes.Equal(k.Marshal(), pk.Marshal()) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: dit knooppunt heeft al accounts, maar geen beheerder met sleutel %s; laat een beheerder de sleutel toevoegen met 'ssh %s@<knooppunt> key add <account> \"<sleutel>\"', of start zonder --admin-key", ErrExists, ssh.FingerprintSHA256(pk), AdminAccount)
}

// The changes to accounts beyond adding them (issue 13): roles of an existing account and
// deleting an account. Each is decided against the acting account as the store has it in the
// same transaction, and each lands in the audit log, refused or not.

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
