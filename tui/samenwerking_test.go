package tui

import (
	"fmt"
	"strings"
	"testing"

	"knooppunt/exchange"
)

// TestGoldenSamenwerkingEnWachtend (issue 13, item 8): 9999 runs iWmo for 0060. A file in
// 9999's ophalen for Ameland says so, the berichtenlog names both, Routeren of 9999 says its
// routes carry Ameland's messages too; the aanbieder's route on Digikoppeling counts what
// waits on it, and 9999's upload and its verslag say the messages wait, for whom.
func TestGoldenSamenwerkingEnWachtend(t *testing.T) {
	w := newWorld(t)
	if err := w.h.SetSamenwerking(exchange.System, "0060", exchange.IWmo, "9999"); err != nil {
		t.Fatal(err)
	}
	if err := w.h.SetRoles(exchange.System, "aanbieder", []exchange.Role{exchange.Gebruiker, exchange.Productbeheerder}); err != nil {
		t.Fatal(err)
	}
	gem, aan := w.principal("gemeente"), w.principal("aanbieder")
	w.upload(gem, exchange.IWmo, "0060_WMO301.xml", envelope("WMO301", "0060", "12345678", ref(1), ""))
	w.upload(aan, exchange.IWmo, "12345678_WMO302.xml", envelope("WMO302", "12345678", "0060", ref(2), ref(1)))
	if err := w.h.SetRoute(aan, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, w.importCPA("12345678")); err != nil {
		t.Fatal(err)
	}
	w.upload(gem, exchange.IWmo, "wacht.zip", zipOf(t, map[string][]byte{
		"a.xml": envelope("WMO301", "9999", "12345678", ref(3), ""),
		"b.xml": envelope("WMO301", "9999", "12345678", ref(4), ""),
	}, "a.xml", "b.xml"))
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		a := w.app("gemeente", size[0], size[1])
		sz := fmt.Sprintf("%dx%d", size[0], size[1])
		screen := ascii(t, a)
		golden(t, "aanleveren_"+sz, screen)
		if !strings.Contains(screen, "Afgeleverd; 2 wachten") {
			t.Errorf("%s: the upload does not say 2 messages wait:\n%s", sz, screen)
		}
		press(a, "enter")
		screen = ascii(t, a)
		golden(t, "verslag_"+sz, screen)
		if !strings.Contains(screen, "Wacht op route") {
			t.Errorf("%s: the verslag does not say what waits:\n%s", sz, screen)
		}
		press(a, "esc", "tab")
		golden(t, "berichtenlog_"+sz, ascii(t, a))
		press(a, "tab")
		screen = ascii(t, a)
		golden(t, "ophalen_"+sz, screen)
		if size[0] >= 100 && !strings.Contains(screen, "Zorgaanbieder Test (voor Ameland)") {
			t.Errorf("%s: the file for Ameland does not say so:\n%s", sz, screen)
		}
		press(a, "tab")
		screen = ascii(t, a)
		golden(t, "routeren_"+sz, screen)
		if !strings.Contains(screen, "Samenwerking: deze routes gelden ook voor Ameland (0060)") {
			t.Errorf("%s: Routeren of 9999 does not name Ameland:\n%s", sz, screen)
		}
		b := w.app("aanbieder", size[0], size[1])
		press(b, "tab", "tab", "tab")
		screen = ascii(t, b)
		golden(t, "routeren_aanbieder_"+sz, screen)
		if !strings.Contains(screen, "2 wachtend") {
			t.Errorf("%s: the aanbieder's route does not count 2 waiting:\n%s", sz, screen)
		}
		c := w.app("ameland", size[0], size[1])
		press(c, "tab", "tab", "tab")
		screen = ascii(t, c)
		golden(t, "routeren_ameland_"+sz, screen)
		if !strings.Contains(screen, "Vergrendeld") {
			t.Errorf("%s: Routeren of Ameland is not locked with the reason:\n%s", sz, screen)
		}
	}
}
