package tui

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// run starts the portal for account in a teatest program and types keys into it.
func (w *world) run(account string) (*teatest.TestModel, func(keys ...string)) {
	a := w.app(account, 100, 30)
	tm := teatest.NewTestModel(w.t, a, teatest.WithInitialTermSize(100, 30))
	w.t.Cleanup(func() { tm.Quit() })
	return tm, func(keys ...string) {
		for _, k := range keys {
			tm.Send(keyMsg(k))
		}
	}
}

// until waits until the hub's state satisfies cond; the program applies keys on its own
// goroutine.
func until(t *testing.T, tm *teatest.TestModel, what string, cond func() bool) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func([]byte) bool { return cond() },
		teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

func (w *world) inbox(p *exchange.Principal) []exchange.Delivery {
	ds, _, err := w.h.Inbox(context.Background(), p, exchange.IWmo, exchange.InboxOptions{Limit: 100})
	if err != nil {
		w.t.Fatal(err)
	}
	return ds
}

func TestFlowOphalenSelectMarkDelete(t *testing.T) {
	w := newWorld(t)
	w.seed()
	p := w.principal("gemeente")
	before := w.inbox(p)
	tm, keys := w.run("gemeente")
	keys("tab", "tab", "space", "space", "m")
	until(t, tm, "two files gelezen", func() bool {
		ds := w.inbox(p)
		return !ds[0].GelezenAt.IsZero() && !ds[1].GelezenAt.IsZero() && ds[2].GelezenAt.IsZero()
	})
	keys("u")
	until(t, tm, "mark removed", func() bool { return w.inbox(p)[0].GelezenAt.IsZero() })
	keys("x", "n")
	keys("x", "j")
	until(t, tm, "selection deleted", func() bool { return len(w.inbox(p)) == len(before)-2 })
	if got := w.inbox(p)[0].Name; got != before[2].Name {
		t.Errorf("the unselected file %s should remain, got %s", before[2].Name, got)
	}
	// The deleted file's message is in the berichtenlog and goes back to ophalen.
	keys("shift+tab", "/")
	tm.Type("status:verwijderd")
	keys("enter", "enter", "r", "j")
	until(t, tm, "restored", func() bool { return len(w.inbox(p)) == len(before)-1 })
}

func TestFlowAanleverenDelete(t *testing.T) {
	w := newWorld(t)
	w.seed()
	p := w.principal("gemeente")
	tm, keys := w.run("gemeente")
	keys("space", "x", "j")
	until(t, tm, "upload hidden", func() bool {
		ups, total, err := w.h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{Limit: 10})
		return err == nil && total == 2 && ups[0].Name == "bijlagen (1).zip"
	})
}

func TestFlowEditRoute(t *testing.T) {
	w := newWorld(t)
	p := w.principal("gemeente")
	tm, keys := w.run("gemeente")
	cpa := w.importCPA("9999")
	keys("tab", "tab", "tab", "down", "enter", "space", "down", "space", "down", "space", "ctrl+s")
	until(t, tm, "route saved", func() bool {
		rs, err := w.h.Routes(p, exchange.IWmo)
		if err != nil {
			t.Fatal(err)
		}
		r := rs[1]
		return r.Via == exchange.Digikoppeling && r.CPA == cpa && r.Status == exchange.Inactief
	})
}

func TestFlowRouteNeedsProductbeheerder(t *testing.T) {
	w := newWorld(t)
	a := w.app("ameland", 100, 30)
	press(a, "tab", "tab", "tab", "enter")
	got := ascii(t, a)
	if !strings.Contains(got, "Alleen een productbeheerder") {
		t.Fatalf("a gebruiker could open the route form:\n%s", got)
	}
	press(a, "enter", "space", "ctrl+s")
	rs, _ := w.h.Routes(w.principal("ameland"), exchange.IWmo)
	if rs[0].Via != exchange.Portaal {
		t.Fatal("route changed without a productbeheerder")
	}
}

func TestFlowAddAccount(t *testing.T) {
	w := newWorld(t)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(pub)
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub)))
	tm, keys := w.run("gemeente")
	keys("shift+tab", "a")
	tm.Type("piet")
	keys("tab")
	tm.Send(tea.PasteMsg{Content: line})
	keys("ctrl+s")
	until(t, tm, "account created", func() bool { _, err := w.h.Account("piet"); return err == nil })
	// Grant iJw: the new account is the last row.
	keys("G", "enter", "down", "space", "ctrl+s")
	until(t, tm, "product granted", func() bool {
		a, _ := w.h.Account("piet")
		return slices.Equal(a.Products, []exchange.Product{exchange.IJw}) && a.Org == "9999" && len(a.Keys) == 1
	})
	keys("b", "j")
	until(t, tm, "account blocked", func() bool { a, _ := w.h.Account("piet"); return a.Disabled })
}

// TestFlowSamenwerking sets a samenwerking for a second product: choosing the product shows
// who runs that one, so the first product's partner is never copied to it unseen.
func TestFlowSamenwerking(t *testing.T) {
	w := newWorld(t)
	if err := w.h.SetSamenwerking(exchange.System, "0060", exchange.IWmo, "9999"); err != nil {
		t.Fatal(err)
	}
	tm, keys := w.run("beheer")
	keys("tab", "s", "space", "tab") // Ameland is the first row; iJw has no partner yet
	tm.Type("9999")
	keys("ctrl+s")
	until(t, tm, "iJw run by 9999, iWmo unchanged", func() bool {
		o, _ := w.h.Org("0060")
		return o.Samenwerking[exchange.IJw] == "9999" && o.Samenwerking[exchange.IWmo] == "9999"
	})
	keys("s", "space", "tab")
	for range 4 {
		tm.Send(tea.KeyPressMsg{Code: tea.KeyBackspace})
	}
	keys("ctrl+s")
	until(t, tm, "iJw ended", func() bool {
		o, _ := w.h.Org("0060")
		return o.Samenwerking[exchange.IJw] == "" && o.Samenwerking[exchange.IWmo] == "9999"
	})
}
