package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
)

// TestVerwerkingsduurAgreesWithTheVerslag: the TUI's verslag screen counted the processing time
// from the receipt (wait for admission and queue included) while the verslag file counts from
// Bezig; an upload that waited 5 minutes and was processed in 2 seconds showed 00:05:02 on
// screen and 00:00:02 in its verslag.
func TestVerwerkingsduurAgreesWithTheVerslag(t *testing.T) {
	f := newFake()
	p := &exchange.Principal{Account: f.accounts[0], Org: f.orgs[0]}
	c := newCommon(context.Background(), f, p, Options{})
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	u := exchange.Upload{ID: 1, Org: f.orgs[0].Code, Name: "a.zip", Status: exchange.Afgeleverd,
		ReceivedAt: t0, StartedAt: t0.Add(5 * time.Minute), FinishedAt: t0.Add(5*time.Minute + 2*time.Second)}
	want := exchange.Duur(2 * time.Second)
	if got := exchange.Duur(u.Verwerkingsduur()); got != want {
		t.Fatalf("Verwerkingsduur = %s, want %s", got, want)
	}
	out := c.verslagView(u, 100)
	line := ""
	for l := range strings.Lines(out) {
		if strings.Contains(l, "Verwerkingsduur") {
			line = l
		}
	}
	if !strings.Contains(line, want) || strings.Contains(line, "00:05:02") {
		t.Errorf("verslag screen shows %q, want %s like the verslag", strings.TrimSpace(line), want)
	}
	// Refused at the door: no start, counted from the receipt, never negative or huge.
	door := exchange.Upload{ReceivedAt: t0, FinishedAt: t0.Add(time.Second)}
	if got := door.Verwerkingsduur(); got != time.Second {
		t.Errorf("refused at the door: %v, want 1s", got)
	}
	if got := (exchange.Upload{ReceivedAt: t0}).Verwerkingsduur(); got != 0 {
		t.Errorf("not finished: %v, want 0", got)
	}
}
