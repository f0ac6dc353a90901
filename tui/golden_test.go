package tui

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	xgolden "github.com/charmbracelet/x/exp/golden"

	"knooppunt/exchange"
)

// golden compares a rendered screen with testdata/<test>/<name>.golden; go test -update
// rewrites the files.
func golden(t *testing.T, name, got string) {
	t.Helper()
	t.Run(name, func(t *testing.T) { xgolden.RequireEqual(t, got) })
}

// ascii renders the view as a terminal without colour would get it: attributes such as bold
// and reverse stay, colours go.
func ascii(t *testing.T, a *App) string {
	t.Helper()
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ASCII}
	if _, err := w.WriteString(a.View().Content); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func press(a *App, keys ...string) {
	for _, k := range keys {
		a.Update(keyMsg(k))
	}
}

// keyMsg is the key press a terminal sends for k.
func keyMsg(k string) tea.KeyPressMsg {
	{
		var msg tea.KeyPressMsg
		switch k {
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "backspace":
			msg = tea.KeyPressMsg{Code: tea.KeyBackspace}
		case "home":
			msg = tea.KeyPressMsg{Code: tea.KeyHome}
		case "end":
			msg = tea.KeyPressMsg{Code: tea.KeyEnd}
		case "shift+right":
			msg = tea.KeyPressMsg{Code: tea.KeyRight, Mod: tea.ModShift}
		case "shift+left":
			msg = tea.KeyPressMsg{Code: tea.KeyLeft, Mod: tea.ModShift}
		case "tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab}
		case "shift+tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
		case "space":
			msg = tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
		case "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		case "up":
			msg = tea.KeyPressMsg{Code: tea.KeyUp}
		case "right":
			msg = tea.KeyPressMsg{Code: tea.KeyRight}
		case "ctrl+s":
			msg = tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl}
		default:
			r := []rune(k)[0]
			msg = tea.KeyPressMsg{Code: r, Text: k}
		}
		return msg
	}
}

// TestGoldenFake covers what the real engine shows too briefly to catch: an upload Bezig
// with its expected end, next to a second page.
func TestGoldenFake(t *testing.T) {
	f := newFake()
	p := &exchange.Principal{Account: f.accounts[0], Org: f.orgs[0]}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		a := New(context.Background(), f, p, Options{HubName: "knooppunt-test", Host: "hub.example", Port: 2222})
		a.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		steps := []struct {
			name string
			keys []string
		}{
			{"aanleveren", nil},
			{"aanleveren_pagina2", []string{"right"}},
		}
		for _, s := range steps {
			press(a, s.keys...)
			golden(t, fmt.Sprintf("fake_%s_%dx%d", s.name, size[0], size[1]), ascii(t, a))
		}
	}
}

// panicHub fails the way a bug would: the session must survive it.
type panicHub struct{ *fakeHub }

func (panicHub) Inbox(context.Context, *exchange.Principal, exchange.Product, exchange.InboxOptions) ([]exchange.Delivery, int, error) {
	panic("kapot")
}

func TestPanicKeepsSession(t *testing.T) {
	f := newFake()
	p := &exchange.Principal{Account: f.accounts[0], Org: f.orgs[0]}
	a := New(context.Background(), panicHub{f}, p, Options{Log: slog.New(slog.DiscardHandler)})
	press(a, "tab", "tab")
	got := ascii(t, a)
	if !strings.Contains(got, "Er ging iets mis (kapot)") {
		t.Fatalf("no error shown after a panic:\n%s", got)
	}
	press(a, "tab")
	if !strings.Contains(ansi.Strip(ascii(t, a)), "[Routeren]") {
		t.Fatalf("the session did not go on after the panic:\n%s", ascii(t, a))
	}
}

func TestFilterSyntax(t *testing.T) {
	w := filterWords{loc: time.UTC, cat: exchange.NewCatalogue(), orgs: []exchange.Org{
		{Code: "9999", Name: "Test Gemeente 1"}, {Code: "0060", Name: "Ameland"}, {Code: "12345678", Name: "Zorgaanbieder Test"}}}
	f, err := parseFilter("functie:wmo301 van:01-01-2026 tot:2026-01-31 richting:uit partij:12345678 status:afgeleverd ref:abcd", w)
	if err != nil {
		t.Fatal(err)
	}
	want := exchange.MessageFilter{Functie: "WMO301", From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		Direction: "uit", Counterpart: "12345678", Status: string(exchange.MsgAfgeleverd), Referentie: "abcd"}
	if f != want {
		t.Fatalf("got %+v, want %+v", f, want)
	}
	if f, _ := parseFilter("JW305", w); f.Functie != "JW305" {
		t.Errorf("a bare functie was not taken as functie: %+v", f)
	}
	// The words the screen shows, bare: a status, an organisation's name, a prefix of a
	// referentienummer.
	for q, want := range map[string]exchange.MessageFilter{
		"afgekeurd":                    {Status: string(exchange.MsgAfgekeurd)},
		"afgeleverd in ophalen":        {Status: string(exchange.MsgAfgeleverd)},
		"wacht op route WMO301":        {Status: string(exchange.MsgWachtRoute), Functie: "WMO301"},
		"status:wacht op route":        {Status: string(exchange.MsgWachtRoute)},
		"Ameland":                      {Counterpart: "0060"},
		"zorgaanbieder test uit":       {Counterpart: "12345678", Direction: "uit"},
		"partij:Zorgaanbieder Test":    {Counterpart: "12345678"},
		"zorgaanb":                     {Counterpart: "12345678"},
		"6f1c2a7e":                     {Referentie: "6f1c2a7e"},
		"0060 in":                      {Counterpart: "0060", Direction: "in"},
		"6f1c2a7e-0b4d-4c1e afgekeurd": {Referentie: "6f1c2a7e-0b4d-4c1e", Status: string(exchange.MsgAfgekeurd)},
	} {
		f, err := parseFilter(q, w)
		if err != nil || f != want {
			t.Errorf("%q: got %+v, %v; want %+v", q, f, err, want)
		}
	}
	for q, wantErr := range map[string]string{
		"kleur:rood":                    "onbekend filter",
		"van:gisteren":                  "niet herkend",
		"richting:links":                "richting",
		"van:2026-02-01 tot:2026-01-01": "ligt na",
		"functie:":                      "geen waarde",
		"functie:WMO399":                "functie \"WMO399\" onbekend",
		"status:zoek":                   "status \"zoek\" onbekend",
		"partij:Nergensland":            "organisatie \"Nergensland\" onbekend",
		"Nergensland":                   "\"Nergensland\": geen functie",
		"6f1":                           "te kort",
	} {
		if _, err := parseFilter(q, w); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: got %v, want an error with %q", q, err, wantErr)
		}
	}
}
