package tui

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// Issue 11: a disabled productbeheerder's open portal still set a route to Inactief. The
// portal holds the principal of its login; exchange decides on the stored account at the save.
func TestDisabledProductbeheerderOpenPortalCannotSetRoute(t *testing.T) {
	for _, c := range []struct {
		name   string
		revoke func(w *world) error
		says   string
	}{
		{"geblokkeerd", func(w *world) error { return w.h.SetDisabled(w.principal("beheer"), "gemeente", true) }, "geblokkeerd"},
		{"rol afgenomen", func(w *world) error {
			return w.h.ChangeRoles(w.principal("beheer"), "gemeente", nil, []exchange.Role{exchange.Productbeheerder})
		}, "productbeheerder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.app("gemeente", 100, 30)
			// Routeren, the first row, its form; the status field set to Inactief.
			press(a, "tab", "tab", "tab", "enter", "down", "down", "space")
			if got := ascii(t, a); !strings.Contains(got, "Inactief") {
				t.Fatalf("the form does not show Inactief:\n%s", got)
			}
			if err := c.revoke(w); err != nil {
				t.Fatal(err)
			}
			press(a, "ctrl+s")
			if got := ascii(t, a); !strings.Contains(got, c.says) {
				t.Errorf("the portal does not say why the save was refused (%q):\n%s", c.says, got)
			}
			w.h.SetDisabled(w.principal("beheer"), "gemeente", false)
			rs, err := w.h.Routes(w.principal("gemeente"), exchange.IWmo)
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Status != exchange.Actief {
				t.Errorf("route %s is %s after the refused save", rs[0].Exchange.Name, rs[0].Status)
			}
		})
	}
}

// TestDisabledAccountPortalIsClosed: the portal of an account that is disabled while it is
// open, over the real SSH server, ends: its connection is closed.
func TestDisabledAccountPortalIsClosed(t *testing.T) {
	w := newWorld(t)
	ln := serveSSH(t, w, Options{HubName: "knooppunt-test"})
	pem, err := os.ReadFile(w.keyFile("gemeente"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	client, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{User: "gemeente", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out bytes.Buffer
	sess.Stdout = writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(b) })
	if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		up := strings.Contains(out.String(), "Aanleveren")
		mu.Unlock()
		if up {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the portal did not open")
		}
	}
	if err := w.h.SetDisabled(w.principal("beheer"), "gemeente", true); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the portal of a disabled account stays open")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// Issue 11, item 1: the portal drew its tabs and products from the principal of the login, so
// after the beheerder took a role or a product away an open portal still showed the tab
// Gebruikers and the product, until the person logged in again. At the next key press the
// portal draws what the store says the account may use now.
func TestRevokedRoleAndProductTabsGoneFromOpenPortal(t *testing.T) {
	w := newWorld(t)
	a := w.app("gemeente", 120, 30)
	before := ansi.Strip(ascii(t, a))
	for _, want := range []string{"Gebruikers", "1 iWmo", "Routeren"} {
		if !strings.Contains(before, want) {
			t.Fatalf("the portal does not show %q before the revocation:\n%s", want, before)
		}
	}
	beheer := w.principal("beheer")
	if err := w.h.ChangeRoles(beheer, "gemeente", nil, []exchange.Role{exchange.Gebruikersbeheerder}); err != nil {
		t.Fatal(err)
	}
	if err := w.h.Revoke(beheer, "gemeente", exchange.IWmo); err != nil {
		t.Fatal(err)
	}
	press(a, "tab")
	got := ansi.Strip(ascii(t, a))
	tabs := strings.Split(got, "\n")[2]
	if strings.Contains(tabs, "Gebruikers") {
		t.Errorf("the tab Gebruikers is still shown after the role gebruikersbeheerder was taken away:\n%s", got)
	}
	if strings.Contains(got, "iWmo") {
		t.Errorf("the product iWmo is still shown after it was revoked:\n%s", got)
	}
	if !strings.Contains(got, "1 iJw") {
		t.Errorf("the products left are not shown from 1:\n%s", got)
	}

	// A disabled account's portal shows nothing it could use and says why (its connection
	// is closed by the server as well: TestDisabledAccountPortalIsClosed).
	if err := w.h.SetDisabled(beheer, "gemeente", true); err != nil {
		t.Fatal(err)
	}
	press(a, "tab")
	got = ansi.Strip(ascii(t, a))
	if strings.Contains(got, "Berichtenlog") || strings.Contains(got, "iJw") || !strings.Contains(got, "geblokkeerd") {
		t.Errorf("the portal of a disabled account still shows tabs or products, or does not say why:\n%s", got)
	}
}
