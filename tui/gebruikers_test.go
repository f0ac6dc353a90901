package tui

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

func newPub(t *testing.T, comment string) string {
	t.Helper()
	// A key of its own per comment, the same in every run: the goldens show its fingerprint.
	seed := sha256.Sum256([]byte(comment))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public()
	pk, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk))) + " " + comment
}

// TestGebruikersRolesKeysDelete (issue 13, items 7 and 9) on the real engine: the list says
// gebruiker for a plain account and counts its keys; r changes roles, s adds and removes
// keys, x deletes the account, each through the exchange's checks; goldens at every size.
func TestGebruikersRolesKeysDelete(t *testing.T) {
	w := newWorld(t)
	gem := w.principal("gemeente")
	first := newPub(t, "piet@oud")
	if err := w.h.CreateAccount(gem, exchange.Account{Name: "piet", Keys: []string{first}, Products: []exchange.Product{exchange.IWmo}}); err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		a := w.app("gemeente", size[0], size[1])
		sz := fmt.Sprintf("%dx%d", size[0], size[1])
		press(a, "shift+tab")
		screen := ascii(t, a)
		golden(t, "gebruikers_"+sz, screen)
		if !strings.Contains(screen, "piet") || !strings.Contains(screen, " gebruiker ") {
			t.Errorf("%s: piet is not listed as gebruiker:\n%s", sz, screen)
		}
		press(a, "down", "r")
		golden(t, "rollen_"+sz, ascii(t, a))
		press(a, "esc", "s")
		golden(t, "sleutels_"+sz, ascii(t, a))
		press(a, "esc")
	}

	a := w.app("gemeente", 100, 30)
	press(a, "shift+tab", "down", "r", "down", "space", "ctrl+s")
	if acc, _ := w.h.Account("piet"); !slices.Contains(acc.Roles, exchange.Productbeheerder) {
		t.Fatalf("r did not make piet productbeheerder: %+v\n%s", acc.Roles, ascii(t, a))
	}
	second := newPub(t, "piet@nieuw")
	press(a, "s", "space", "down")
	typeText(a, second)
	press(a, "ctrl+s")
	acc, _ := w.h.Account("piet")
	if len(acc.Keys) != 1 || !strings.HasSuffix(acc.Keys[0], "piet@nieuw") {
		t.Fatalf("s did not swap the key: %q\n%s", acc.Keys, ascii(t, a))
	}
	press(a, "x")
	if screen := ascii(t, a); !strings.Contains(screen, "Account piet verwijderen") {
		t.Fatalf("x does not ask:\n%s", screen)
	}
	press(a, "j")
	if _, err := w.h.Account("piet"); err == nil {
		t.Fatalf("x then j did not delete piet:\n%s", ascii(t, a))
	}
}

// TestOrganisatiesRenameDelete (issue 13, item 7): the beheerder renames an organisation (n)
// and deletes one (x, j) in the Organisaties tab; deleting one that still has accounts is
// refused on screen with the reason from the exchange.
func TestOrganisatiesRenameDelete(t *testing.T) {
	w := newWorld(t)
	if _, err := w.h.CreateOrg(exchange.System, "0363", "Gemeente Amsterdam"); err != nil {
		t.Fatal(err)
	}
	a := w.app("beheer", 100, 30)
	press(a, "tab", "down", "n")
	for range 40 {
		press(a, "backspace")
	}
	typeText(a, "Amsterdam-Centrum")
	press(a, "ctrl+s")
	if o, _ := w.h.Org("0363"); o.Name != "Amsterdam-Centrum" {
		t.Fatalf("n did not rename 0363: %+v\n%s", o, ascii(t, a))
	}
	golden(t, "hernoemd_100x30", ascii(t, a))
	press(a, "x", "j")
	if _, err := w.h.Org("0363"); err == nil {
		t.Fatalf("x j did not delete 0363:\n%s", ascii(t, a))
	}
	press(a, "x", "j") // now on 12345678, which has the account aanbieder
	if screen := ascii(t, a); !strings.Contains(screen, "heeft nog accounts (aanbieder)") {
		t.Errorf("deleting an organisation with accounts is not refused with the reason:\n%s", screen)
	}
	if _, err := w.h.Org("12345678"); err != nil {
		t.Errorf("12345678 was deleted: %v", err)
	}
}

// TestGoldenBeheerStart (issue 13, item 9): the beheer account's first screen says what it
// is for instead of "Geen producten".
func TestGoldenBeheerStart(t *testing.T) {
	w := newWorld(t)
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		screen := ascii(t, w.app("beheer", size[0], size[1]))
		golden(t, fmt.Sprintf("beheer_%dx%d", size[0], size[1]), screen)
		if strings.Contains(screen, "Geen producten") || !strings.Contains(screen, "Beheerder: accounts en organisaties") {
			t.Errorf("%dx%d: the first screen of beheer does not explain itself:\n%s", size[0], size[1], screen)
		}
	}
}

// TestGebruikersProductsFormGrantsAndRevokes: one save of the products form (enter) both
// revokes a product turned off and grants one turned on, and says how many changed.
func TestGebruikersProductsFormGrantsAndRevokes(t *testing.T) {
	w := newWorld(t)
	gem := w.principal("gemeente")
	if err := w.h.CreateAccount(gem, exchange.Account{Name: "piet", Keys: []string{newPub(t, "piet@p")}, Products: []exchange.Product{exchange.IWmo}}); err != nil {
		t.Fatal(err)
	}
	a := w.app("gemeente", 100, 30)
	// The form lists exchange.Products in order: iWmo first, iJw second.
	press(a, "shift+tab", "down", "enter", "space", "down", "space", "ctrl+s")
	acc, err := w.h.Account("piet")
	if err != nil || !slices.Equal(acc.Products, []exchange.Product{exchange.IJw}) {
		t.Fatalf("products of piet %v (%v), want only ijw\n%s", acc.Products, err, ascii(t, a))
	}
	if screen := ascii(t, a); !strings.Contains(screen, "Producten van piet opgeslagen (2 gewijzigd).") {
		t.Errorf("no confirmation of two changes:\n%s", screen)
	}
	// Saving again unchanged changes nothing and says so.
	press(a, "enter", "ctrl+s")
	if screen := ascii(t, a); !strings.Contains(screen, "(0 gewijzigd)") {
		t.Errorf("unchanged save:\n%s", screen)
	}
}
