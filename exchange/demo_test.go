package exchange

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestSeedDemo(t *testing.T) {
	h := acctHub(t)
	dir := filepath.Join(t.TempDir(), "demo")
	first, err := h.SeedDemo(dir)
	acctMust(t, err)

	want := map[string]struct {
		org      string
		products []Product
	}{
		"gemeente":  {"9999", Products},
		"ameland":   {"0060", []Product{IWmo, IJw}},
		"aanbieder": {"12345678", []Product{IWmo, IJw}},
		"cak":       {"CAK", []Product{IEb}},
		"svb":       {"SVB", []Product{PGBWmo, PGBJw}},
		"beheer":    {"", nil},
	}
	if len(first) != len(want) {
		t.Fatalf("%d demo accounts", len(first))
	}
	keys := map[string][]byte{}
	for _, d := range first {
		w, ok := want[d.Name]
		if !ok || d.Org != w.org || !slices.Equal(d.Products, w.products) || d.KeyFile != filepath.Join(dir, d.Name) {
			t.Errorf("demo account %+v", d)
			continue
		}
		for file, mode := range map[string]os.FileMode{d.KeyFile: 0o600, d.KeyFile + ".pub": 0o644} {
			st, err := os.Stat(file)
			acctMust(t, err)
			if st.Mode().Perm() != mode {
				t.Errorf("%s mode %v, want %v", file, st.Mode().Perm(), mode)
			}
		}
		priv, err := os.ReadFile(d.KeyFile)
		acctMust(t, err)
		keys[d.Name] = priv
		signer, err := ssh.ParsePrivateKey(priv)
		acctMust(t, err)
		pubLine, err := os.ReadFile(d.KeyFile + ".pub")
		acctMust(t, err)
		if pub := acctParse(t, string(pubLine)); string(pub.Marshal()) != string(signer.PublicKey().Marshal()) || pub.Type() != ssh.KeyAlgoED25519 {
			t.Errorf("%s: .pub does not match the private key", d.Name)
		}
		p, err := h.Authenticate(d.Name, signer.PublicKey().Marshal(), "local")
		acctMust(t, err)
		if p.Org.Code != w.org {
			t.Errorf("%s logs in with org %q", d.Name, p.Org.Code)
		}
	}
	g := acctAs(t, h, "gemeente")
	if !g.Has(Gebruikersbeheerder) || !g.Has(Productbeheerder) || g.Has(Beheerder) {
		t.Errorf("gemeente roles %v", g.Account.Roles)
	}
	if b := acctAs(t, h, "beheer"); !b.Has(Beheerder) {
		t.Errorf("beheer roles %v", b.Account.Roles)
	}
	if o, err := h.Org("12345678"); err != nil || o.Name != "Zorgaanbieder Test" || o.Kind != Aanbieder {
		t.Errorf("org 12345678: %+v %v", o, err)
	}

	// A second run reuses keys and accounts.
	second, err := h.SeedDemo(dir)
	acctMust(t, err)
	if !slices.EqualFunc(first, second, func(a, b DemoAccount) bool {
		return a.Name == b.Name && a.Org == b.Org && a.KeyFile == b.KeyFile && slices.Equal(a.Products, b.Products)
	}) {
		t.Errorf("second run differs:\n%+v\n%+v", first, second)
	}
	for name, priv := range keys {
		again, err := os.ReadFile(filepath.Join(dir, name))
		acctMust(t, err)
		if string(again) != string(priv) {
			t.Errorf("%s key rewritten", name)
		}
		if a := acctAs(t, h, name); len(a.Account.Keys) != 1 {
			t.Errorf("%s has %d keys", name, len(a.Account.Keys))
		}
	}

	// A key file gone: the account stays as it is and no key file is offered.
	acctMust(t, os.Remove(filepath.Join(dir, "cak")))
	third, err := h.SeedDemo(dir)
	acctMust(t, err)
	for _, d := range third {
		if (d.Name == "cak") != (d.KeyFile == "") {
			t.Errorf("after removing cak's key: %+v", d)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cak")); !os.IsNotExist(err) {
		t.Errorf("cak key recreated: %v", err)
	}
}

func TestSeedDemoReusesKeyFilesOnANewStore(t *testing.T) {
	dir := t.TempDir()
	_, err := acctHub(t).SeedDemo(dir)
	acctMust(t, err)
	before, err := os.ReadFile(filepath.Join(dir, "svb"))
	acctMust(t, err)
	h := acctHub(t)
	got, err := h.SeedDemo(dir)
	acctMust(t, err)
	signer, err := ssh.ParsePrivateKey(before)
	acctMust(t, err)
	if !h.KeyKnown("svb", signer.PublicKey().Marshal()) {
		t.Error("existing svb key not used for the new store")
	}
	for _, d := range got {
		if d.KeyFile == "" {
			t.Errorf("%s has no key file", d.Name)
		}
	}
}

func TestSeedDemoAfterBootstrap(t *testing.T) {
	h := acctHub(t)
	_, line := acctKey(t)
	acctMust(t, h.Bootstrap(line))
	got, err := h.SeedDemo(t.TempDir())
	acctMust(t, err)
	for _, d := range got {
		if (d.Name == AdminAccount) != (d.KeyFile == "") {
			t.Errorf("%+v", d)
		}
	}
}
