package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"knooppunt/exchange"
)

// typeText types s into the focused input, a key per character.
func typeText(a *App, s string) {
	for _, r := range s {
		if r == ' ' {
			press(a, "space")
			continue
		}
		press(a, string(r))
	}
}

// TestGoldenBerichtenlogFilter: the referentienummer whole at every size, the filter on the
// words the screen shows, an unknown word as an error on screen, and r herstel offered only
// on a file deleted from one's own ophalen/.
func TestGoldenBerichtenlogFilter(t *testing.T) {
	w := newWorld(t)
	w.seed()
	gem := w.principal("gemeente")
	ds := w.inbox(gem)
	if err := w.h.DeleteDeliveries(gem, exchange.IWmo, []string{ds[0].Name}); err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		a := w.app("gemeente", size[0], size[1])
		press(a, "tab")
		screen := ascii(t, a)
		for i := 1; i <= 3; i++ {
			if !strings.Contains(screen, ref(i)) {
				t.Errorf("%dx%d: referentienummer %s not shown whole:\n%s", size[0], size[1], ref(i), screen)
			}
		}
		if strings.Contains(screen, "r herstel") {
			t.Errorf("%dx%d: r herstel offered on a message that cannot be restored:\n%s", size[0], size[1], screen)
		}
		steps := []struct{ name, query string }{
			{"verwijderd", "verwijderd"},
			{"afgeleverd", "afgeleverd in ophalen WMO301"},
			{"organisatie", "Zorgaanbieder Test uit"},
			{"ref_prefix", "6f1c2a7e-0b4d-4c1e-9a3b-00000000010"},
			{"onbekend", "Nergensland"},
		}
		for _, s := range steps {
			press(a, "/")
			for range 80 {
				press(a, "backspace")
			}
			typeText(a, s.query)
			press(a, "enter")
			if s.name == "onbekend" {
				press(a, "esc")
			}
			golden(t, fmt.Sprintf("%s_%dx%d", s.name, size[0], size[1]), ascii(t, a))
		}
	}
}

// TestBerichtenlogDirectionSamenwerking is the regression of issue 13: a message from 0060
// uploaded by 9999 for it is sent ("uit") by 9999, in the TUI as in the command, and the
// filter richting:uit finds it.
func TestBerichtenlogDirectionSamenwerking(t *testing.T) {
	w := newWorld(t)
	if err := w.h.SetSamenwerking(exchange.System, "0060", exchange.IWmo, "9999"); err != nil {
		t.Fatal(err)
	}
	gem := w.principal("gemeente")
	w.upload(gem, exchange.IWmo, "0060_WMO301.xml", envelope("WMO301", "0060", "12345678", ref(7), ""))
	l, err := w.h.MessageList(context.Background(), gem, exchange.IWmo, exchange.MessageFilter{Direction: "uit", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 1 || l.Messages[0].Direction("9999") != "uit" {
		t.Fatalf("richting uit: got %+v", l.Messages)
	}
	a := w.app("gemeente", 120, 40)
	press(a, "tab")
	screen := ascii(t, a)
	if !strings.Contains(screen, "uit      Zorgaanbieder Test (namen") {
		t.Errorf("the row does not read uit, for Ameland:\n%s", screen)
	}
	press(a, "enter")
	if screen := ascii(t, a); !strings.Contains(screen, "Aangeleverd door") || !strings.Contains(screen, "namens Ameland") {
		t.Errorf("the message does not say it was sent for Ameland:\n%s", screen)
	}
	press(a, "esc")
	press(a, "/")
	typeText(a, "uit")
	press(a, "enter")
	if screen := ascii(t, a); !strings.Contains(screen, ref(7)) {
		t.Errorf("the filter uit misses the message:\n%s", screen)
	}
}
