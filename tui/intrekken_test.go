package tui

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

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
