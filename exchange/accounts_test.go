package exchange

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func acctHub(t testing.TB) *Hub {
	t.Helper()
	h, err := Open(Config{DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// acctKey makes a fresh ed25519 key and returns its public half and authorized_keys line.
func acctKey(t testing.TB) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pk, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " test"
}

// acctAs returns the principal of a stored account as a login would.
func acctAs(t testing.TB, h *Hub, name string) *Principal {
	t.Helper()
	a, err := h.Account(name)
	if err != nil {
		t.Fatal(err)
	}
	p := &Principal{Account: a, Remote: "192.0.2.1:5555"}
	if a.Org != "" {
		if p.Org, err = h.Org(a.Org); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func acctMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func acctWant(t testing.TB, err, want error, words ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// acctWorld sets up three organisations and accounts: beheer (beheerder), gb (gebruikersbeheerder
// of 9999), jan (gebruiker of 9999), piet (gebruiker of 0060), zorg (gebruiker of 12345678).
func acctWorld(t testing.TB) *Hub {
	t.Helper()
	h := acctHub(t)
	for _, o := range [][2]string{{"9999", "Test Gemeente 1"}, {"0060", "Ameland"}, {"12345678", "Zorgaanbieder Test"}, {"CAK", "CAK"}} {
		_, err := h.CreateOrg(System, o[0], o[1])
		acctMust(t, err)
	}
	for _, a := range []Account{
		{Name: "beheer", Roles: []Role{Beheerder}},
		{Name: "gb", Org: "9999", Roles: []Role{Gebruikersbeheerder}, Products: []Product{IWmo}},
		{Name: "jan", Org: "9999", Products: []Product{IWmo}},
		{Name: "piet", Org: "0060", Products: []Product{IJw}},
		{Name: "zorg", Org: "12345678", Products: []Product{IWmo}},
	} {
		_, line := acctKey(t)
		a.Keys = []string{line}
		acctMust(t, h.CreateAccount(System, a))
	}
	return h
}

func TestCreateOrg(t *testing.T) {
	h := acctWorld(t)
	o, err := h.CreateOrg(acctAs(t, h, "beheer"), "0363", "Amsterdam")
	acctMust(t, err)
	if o.Kind != Gemeente || o.Name != "Amsterdam" || o.Created.IsZero() {
		t.Errorf("org %+v", o)
	}
	_, err = h.CreateOrg(acctAs(t, h, "gb"), "0364", "Elders")
	acctWant(t, err, ErrDenied, "beheerder")
	_, err = h.CreateOrg(System, "0363", "Nogmaals")
	acctWant(t, err, ErrExists, "0363")
	_, err = h.CreateOrg(System, "ABC", "Fout")
	acctWant(t, err, ErrInvalid, "gemeentecode")
	_, err = h.CreateOrg(System, "0365", "  ")
	acctWant(t, err, ErrInvalid, "naam")
	if got, _ := h.Org("0363"); got.Name != "Amsterdam" {
		t.Errorf("org overwritten: %+v", got)
	}
	_, err = h.Org("0364")
	acctWant(t, err, ErrNotFound, "0364")
	orgs, err := h.Orgs()
	acctMust(t, err)
	var codes []string
	for _, o := range orgs {
		codes = append(codes, o.Code)
	}
	if want := []string{"0060", "0363", "12345678", "9999", "CAK"}; !slices.Equal(codes, want) {
		t.Errorf("orgs %v, want %v", codes, want)
	}
}

func TestAccountPermissions(t *testing.T) {
	h := acctWorld(t)
	gb, jan, beheer := acctAs(t, h, "gb"), acctAs(t, h, "jan"), acctAs(t, h, "beheer")
	_, key := acctKey(t)

	// A gebruikersbeheerder manages its own organisation only.
	acctWant(t, h.CreateAccount(gb, Account{Name: "klaas", Org: "0060", Keys: []string{key}}), ErrDenied, "eigen organisatie")
	acctWant(t, h.Grant(gb, "piet", IWmo), ErrDenied, "eigen organisatie")
	acctWant(t, h.SetDisabled(gb, "piet", true), ErrDenied)
	acctWant(t, h.AddKey(gb, "piet", key), ErrDenied)
	acctWant(t, h.SetRoles(gb, "piet", []Role{Gebruikersbeheerder}), ErrDenied)
	acctWant(t, h.SetDisabled(gb, "beheer", true), ErrDenied)
	_, err := h.Accounts(gb, "0060")
	acctWant(t, err, ErrDenied, "eigen organisatie")
	if piet := acctAs(t, h, "piet"); piet.Account.Disabled || !slices.Equal(piet.Account.Products, []Product{IJw}) || len(piet.Account.Keys) != 1 {
		t.Errorf("denied changes changed piet: %+v", piet.Account)
	}

	// A plain gebruiker manages nobody, not even itself.
	acctWant(t, h.CreateAccount(jan, Account{Name: "klaas", Org: "9999"}), ErrDenied, "gebruikersbeheerder")
	acctWant(t, h.Grant(jan, "jan", IJw), ErrDenied)
	_, err = h.Accounts(jan, "9999")
	acctWant(t, err, ErrDenied)

	// Only a beheerder makes a beheerder.
	acctWant(t, h.CreateAccount(gb, Account{Name: "baas", Roles: []Role{Beheerder}}), ErrDenied, "beheerder")
	acctWant(t, h.SetRoles(gb, "jan", []Role{Beheerder}), ErrDenied, "beheerder")

	// Products follow the organisation's kind.
	acctWant(t, h.Grant(beheer, "zorg", IEb), ErrInvalid, "ieb", "iwmo, ijw")
	acctWant(t, h.Grant(gb, "jan", Product("wmo")), ErrInvalid, "onbekend product")
	acctWant(t, h.CreateAccount(beheer, Account{Name: "cakker", Org: "CAK", Products: []Product{IWmo}}), ErrInvalid, "iwmo")
	if _, err := h.Account("cakker"); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused account stored: %v", err)
	}

	// What is allowed works.
	acctMust(t, h.CreateAccount(gb, Account{Name: "klaas", Keys: []string{key}, Products: []Product{IJw, IWmo, IJw}}))
	klaas := acctAs(t, h, "klaas")
	if klaas.Account.Org != "9999" || !slices.Equal(klaas.Account.Products, []Product{IWmo, IJw}) || !slices.Equal(klaas.Account.Roles, []Role{Gebruiker}) {
		t.Errorf("klaas %+v", klaas.Account)
	}
	acctMust(t, h.Grant(gb, "jan", PGBJw))
	acctMust(t, h.Grant(gb, "jan", PGBJw))
	acctMust(t, h.Revoke(gb, "jan", IWmo))
	acctMust(t, h.SetRoles(gb, "jan", []Role{Productbeheerder}))
	if j := acctAs(t, h, "jan"); !slices.Equal(j.Account.Products, []Product{PGBJw}) || !j.Has(Productbeheerder) || !j.Has(Gebruiker) || j.Has(Beheerder) || !j.CanUse(PGBJw) || j.CanUse(IWmo) {
		t.Errorf("jan %+v", j.Account)
	}
	list, err := h.Accounts(gb, "")
	acctMust(t, err)
	var names []string
	for _, a := range list {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"gb", "jan", "klaas"}) {
		t.Errorf("gb sees %v", names)
	}
	all, err := h.Accounts(beheer, "")
	acctMust(t, err)
	if len(all) != 6 {
		t.Errorf("beheer sees %d accounts", len(all))
	}
	acctMust(t, h.SetRoles(beheer, "jan", []Role{Beheerder}))
	acctMust(t, h.SetDisabled(beheer, "piet", true))
}

func TestStalePrincipalLosesPowers(t *testing.T) {
	h := acctWorld(t)
	gb := acctAs(t, h, "gb")
	acctMust(t, h.SetRoles(System, "gb", nil))
	acctWant(t, h.Grant(gb, "jan", IJw), ErrDenied)
	acctMust(t, h.SetRoles(System, "gb", []Role{Gebruikersbeheerder}))
	acctMust(t, h.SetDisabled(System, "gb", true))
	acctWant(t, h.Grant(gb, "jan", IJw), ErrDenied, "geblokkeerd")
}

func TestSelfLockout(t *testing.T) {
	h := acctWorld(t)
	beheer := acctAs(t, h, "beheer")
	acctWant(t, h.SetDisabled(beheer, "beheer", true), ErrDenied, "eigen account")
	acctWant(t, h.SetRoles(beheer, "beheer", nil), ErrDenied, "eigen rol")
	fp := ssh.FingerprintSHA256(acctParse(t, acctAs(t, h, "beheer").Account.Keys[0]))
	acctWant(t, h.RemoveKey(beheer, "beheer", fp), ErrDenied, "laatste sleutel")
	_, key := acctKey(t)
	acctMust(t, h.CreateAccount(beheer, Account{Name: "tweede", Roles: []Role{Beheerder}, Keys: []string{key}}))
	acctWant(t, h.SetRoles(beheer, "tweede", []Role{Gebruiker}), ErrInvalid, "geen organisatie")
}

func acctParse(t testing.TB, line string) ssh.PublicKey {
	t.Helper()
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	acctMust(t, err)
	return pk
}

func TestAccountValidation(t *testing.T) {
	h := acctWorld(t)
	_, key := acctKey(t)
	for _, name := range []string{"", "a", "Jan", "1jan", "jan jansen", "j/an", strings.Repeat("a", 33), "systeem"} {
		acctWant(t, h.CreateAccount(System, Account{Name: name, Org: "9999"}), ErrInvalid, "accountnaam")
	}
	acctWant(t, h.CreateAccount(System, Account{Name: "jan"}), ErrExists, "bestaat al")
	acctWant(t, h.CreateAccount(System, Account{Name: "kees", Org: "0001"}), ErrNotFound, "0001")
	acctWant(t, h.CreateAccount(System, Account{Name: "kees"}), ErrInvalid, "organisatie")
	acctWant(t, h.CreateAccount(System, Account{Name: "kees", Org: "9999", Roles: []Role{"baas"}}), ErrInvalid, "onbekende rol")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	acctMust(t, err)
	weak, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	acctMust(t, err)
	for _, tc := range []struct{ key, word string }{
		{"geen sleutel", ".pub"},
		{`command="ls" ` + key, "opties"},
		{key + "\n" + key, "één sleutel"},
		{string(ssh.MarshalAuthorizedKey(weak)), "te kort"},
	} {
		acctWant(t, h.CreateAccount(System, Account{Name: "kees", Org: "9999", Keys: []string{tc.key}}), ErrInvalid, tc.word)
		acctWant(t, h.AddKey(System, "jan", tc.key), ErrInvalid, tc.word)
	}
	if n := len(acctAs(t, h, "jan").Account.Keys); n != 1 {
		t.Errorf("jan has %d keys after refused adds", n)
	}
	acctWant(t, h.RemoveKey(System, "jan", "onzin"), ErrInvalid, "vingerafdruk")
	acctWant(t, h.RemoveKey(System, "jan", "SHA256:bestaatniet"), ErrNotFound, "SHA256:bestaatniet")
	acctWant(t, h.Grant(System, "niemand", IWmo), ErrNotFound, "niemand")
}

func TestKeyBelongsToOneAccount(t *testing.T) {
	h := acctWorld(t)
	janKey := acctAs(t, h, "jan").Account.Keys[0]
	pk := acctParse(t, janKey)

	acctWant(t, h.CreateAccount(System, Account{Name: "kees", Org: "9999", Keys: []string{janKey}}), ErrExists, "eigen sleutel")
	if _, err := h.Account("kees"); !errors.Is(err, ErrNotFound) {
		t.Errorf("account with a taken key stored: %v", err)
	}
	acctWant(t, h.AddKey(System, "piet", janKey), ErrExists, ssh.FingerprintSHA256(pk))
	acctWant(t, h.AddKey(System, "jan", janKey), ErrExists)
	if h.KeyKnown("piet", pk.Marshal()) || !h.KeyKnown("jan", pk.Marshal()) {
		t.Error("key index changed by a refused add")
	}

	// Once removed (by full line here) the key may go to another account.
	_, extra := acctKey(t)
	acctMust(t, h.AddKey(System, "jan", extra))
	acctMust(t, h.RemoveKey(System, "jan", janKey))
	if h.KeyKnown("jan", pk.Marshal()) {
		t.Error("removed key still known")
	}
	acctMust(t, h.AddKey(System, "piet", janKey))
	if !h.KeyKnown("piet", pk.Marshal()) {
		t.Error("moved key not known")
	}
	// and removed by fingerprint.
	acctMust(t, h.RemoveKey(System, "piet", ssh.FingerprintSHA256(pk)))
	if h.KeyKnown("piet", pk.Marshal()) {
		t.Error("key removed by fingerprint still known")
	}
}

func TestAuthenticate(t *testing.T) {
	h := acctWorld(t)
	pk := acctParse(t, acctAs(t, h, "jan").Account.Keys[0])
	wire := pk.Marshal()

	if !h.KeyKnown("jan", wire) {
		t.Fatal("jan's key unknown")
	}
	p, err := h.Authenticate("jan", wire, "192.0.2.7:4000")
	acctMust(t, err)
	if p.Account.Name != "jan" || p.Org.Code != "9999" || p.Org.Kind != Gemeente || p.Remote != "192.0.2.7:4000" || !p.CanUse(IWmo) {
		t.Errorf("principal %+v", p)
	}

	// The key of another account, an unknown key, and an unknown user are refused.
	if h.KeyKnown("piet", wire) {
		t.Error("jan's key accepted for piet")
	}
	_, err = h.Authenticate("piet", wire, "192.0.2.7:4001")
	acctWant(t, err, ErrDenied, "piet", "hoort niet bij dit account")
	other, _ := acctKey(t)
	if h.KeyKnown("jan", other.Marshal()) {
		t.Error("unknown key accepted")
	}
	_, err = h.Authenticate("jan", other.Marshal(), "192.0.2.7:4002")
	acctWant(t, err, ErrDenied)
	_, err = h.Authenticate("niemand", wire, "192.0.2.7:4003")
	acctWant(t, err, ErrDenied, "onbekend account")
	_, err = h.Authenticate("jan", []byte("rommel"), "192.0.2.7:4003")
	acctWant(t, err, ErrDenied)

	// A disabled account cannot log in until it is enabled again.
	acctMust(t, h.SetDisabled(System, "jan", true))
	if h.KeyKnown("jan", wire) {
		t.Error("disabled account's key accepted")
	}
	_, err = h.Authenticate("jan", wire, "192.0.2.7:4004")
	acctWant(t, err, ErrDenied, "geblokkeerd")
	acctMust(t, h.SetDisabled(System, "jan", false))
	if !h.KeyKnown("jan", wire) {
		t.Error("enabled account's key refused")
	}
	_, err = h.Authenticate("jan", wire, "192.0.2.7:4005")
	acctMust(t, err)

	h.AuditAttempt("mallory\x1b[31m", "198.51.100.1:22", "sleutel onbekend")

	var logins []AuditEntry
	acctMust(t, h.AuditLog(1, func(e AuditEntry) bool {
		if e.Action == "login" {
			logins = append(logins, e)
		}
		return true
	}))
	var results []string
	for _, e := range logins {
		results = append(results, e.Account+" "+e.Result)
	}
	if len(logins) != 8 || logins[0].Result != "ok" || logins[0].Org != "9999" || logins[0].Remote != "192.0.2.7:4000" ||
		!strings.Contains(logins[1].Result, "hoort niet") || logins[1].Account != "piet" ||
		!strings.Contains(logins[5].Result, "geblokkeerd") || logins[6].Result != "ok" ||
		logins[7].Account != "mallory?[31m" {
		t.Errorf("login audit:\n%s", strings.Join(results, "\n"))
	}
}

func TestSamenwerking(t *testing.T) {
	h := acctWorld(t)
	beheer := acctAs(t, h, "beheer")
	acctMust(t, h.SetSamenwerking(beheer, "0060", IWmo, "9999"))
	if got := h.ActorFor("0060", IWmo); got != "9999" {
		t.Errorf("ActorFor 0060 iwmo = %s", got)
	}
	if got := h.ActorFor("0060", IJw); got != "0060" {
		t.Errorf("ActorFor 0060 ijw = %s", got)
	}
	if got := h.ActorFor("0404", IJw); got != "0404" {
		t.Errorf("ActorFor unknown org = %s", got)
	}
	acctWant(t, h.SetSamenwerking(acctAs(t, h, "gb"), "0060", IJw, "9999"), ErrDenied, "beheerder")
	acctWant(t, h.SetSamenwerking(beheer, "0060", IJw, "12345678"), ErrInvalid, "dezelfde soort")
	acctWant(t, h.SetSamenwerking(beheer, "0060", IJw, "0060"), ErrInvalid, "zichzelf")
	acctWant(t, h.SetSamenwerking(beheer, "0060", IJw, "0001"), ErrNotFound, "0001")
	acctWant(t, h.SetSamenwerking(beheer, "CAK", IWmo, "9999"), ErrInvalid, "iwmo")
	_, err := h.CreateOrg(System, "0363", "Amsterdam")
	acctMust(t, err)
	// No chains: 9999 runs iwmo for 0060, so it cannot hand iwmo on, and nobody can hand
	// iwmo to 0060.
	acctWant(t, h.SetSamenwerking(beheer, "9999", IWmo, "0363"), ErrInvalid, "0060")
	acctWant(t, h.SetSamenwerking(beheer, "0363", IWmo, "0060"), ErrInvalid, "9999")
	acctMust(t, h.SetSamenwerking(beheer, "0060", IWmo, ""))
	acctMust(t, h.SetSamenwerking(beheer, "0060", IWmo, ""))
	if got := h.ActorFor("0060", IWmo); got != "0060" {
		t.Errorf("after end ActorFor = %s", got)
	}
}

func TestBootstrap(t *testing.T) {
	h := acctHub(t)
	pk, line := acctKey(t)
	acctWant(t, h.Bootstrap("geen sleutel"), ErrInvalid)
	acctMust(t, h.Bootstrap(line))
	p, err := h.Authenticate(AdminAccount, pk.Marshal(), "local")
	acctMust(t, err)
	if !p.Has(Beheerder) || p.Org.Code != "" {
		t.Errorf("bootstrap principal %+v", p)
	}
	acctMust(t, h.Bootstrap(line))
	_, other := acctKey(t)
	acctWant(t, h.Bootstrap(other), ErrExists, "--admin-key")
	all, err := h.Accounts(System, "")
	acctMust(t, err)
	if len(all) != 1 || len(all[0].Keys) != 1 {
		t.Errorf("accounts after bootstraps: %+v", all)
	}
}

func TestEveryChangeIsAudited(t *testing.T) {
	h := acctWorld(t)
	gb := acctAs(t, h, "gb")
	acctWant(t, h.Grant(gb, "piet", IWmo), ErrDenied)
	acctMust(t, h.Grant(gb, "jan", IJw))
	var got []AuditEntry
	acctMust(t, h.AuditLog(1, func(e AuditEntry) bool {
		got = append(got, e)
		return true
	}))
	if len(got) < 2 {
		t.Fatalf("%d entries", len(got))
	}
	denied, ok := got[len(got)-2], got[len(got)-1]
	if denied.Account != "gb" || denied.Org != "9999" || denied.Action != "product grant" || denied.Path != "piet iwmo" || !strings.Contains(denied.Result, "geen toestemming") {
		t.Errorf("denied entry %+v", denied)
	}
	if ok.Action != "product grant" || ok.Path != "jan ijw" || ok.Result != "ok" || ok.Remote != gb.Remote {
		t.Errorf("ok entry %+v", ok)
	}
	if got[0].Account != systemName || got[0].Action != "org add" {
		t.Errorf("first entry %+v", got[0])
	}
}
