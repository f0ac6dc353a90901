package tui

import (
	"context"
	"errors"
	"strings"
	"testing"

	"knooppunt/exchange"
)

// TestTerminalSteeringInTheTUI: a file name, an envelope's functie and an organisation name
// with a C1 CSI or a bidi override reached the terminal raw through the verslag, the
// berichtenlog and the status line.
func TestTerminalSteeringInTheTUI(t *testing.T) {
	f := newFake()
	f.orgs[0].Name = "Gemeente\u009b2J"
	p := &exchange.Principal{Account: f.accounts[0], Org: f.orgs[0]}
	c := newCommon(context.Background(), f, p, Options{})
	u := exchange.Upload{ID: 1, Org: "9999", Name: "rapport\u202egpj.zip", Status: exchange.Afgekeurd,
		Fouten: []exchange.Fout{{Bestand: "a\u2066b.xml", Code: "IB004", Detail: "functie WMO\u009b31m wordt niet ondersteund"}}}
	s := &berichtenlog{c: c}
	m := exchange.Message{Functie: "WMO\u009b31m", Referentie: "r\u202e1", File: "x\u0085.xml", Zender: "9999", Ontvanger: "12345678"}
	c.Fail(errors.New("rapport\u202egpj.zip bestaat niet"))
	for where, out := range map[string]string{
		"verslag":     c.verslagView(u, 100),
		"bericht":     s.detailView(m),
		"organisatie": c.OrgName("9999"),
		"statusregel": c.status,
	} {
		for _, r := range "\u009b\u202e\u2066\u0085" {
			if strings.ContainsRune(out, r) {
				t.Errorf("%s shows %U raw: %q", where, r, out)
			}
		}
	}
}
