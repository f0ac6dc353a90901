package exchange_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"knooppunt/exchange"
	"knooppunt/exchange/stuf"
	"knooppunt/tui"
)

// BenchmarkTUIOpenScreen times opening each of the portal's product screens for an
// organisation whose berichtenlog holds 1,000,000 entries (issue 4: any screen within
// 100 ms): from building the session's model to the first view drawn with data, at 80×24.
// It lives here, beside the engine, because only this package's tests can fill the log
// that fast (SeedBerichtenlog); the hub is filled once and shared by the screens.
func BenchmarkTUIOpenScreen(b *testing.B) {
	const logEntries = 1_000_000
	h, gem := benchHub(b)
	seedStart := time.Now()
	if err := exchange.SeedBerichtenlog(h, "9999", "12345678", exchange.IWmo, "WMO301", logEntries, time.Now().Add(-30*24*time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.Logf("berichtenlog filled with %d entries in %s", logEntries, time.Since(seedStart).Round(time.Second))

	screens := []struct {
		name   string
		tabs   int
		filter string // typed on the screen's / line
		want   string // shows the screen has its data
	}{
		{"Aanleveren", 0, "", "Afgeleverd"},
		{"Berichtenlog", 1, "", fmt.Sprintf("%d berichten", logEntries+benchUploads*benchPerUpload*2)},
		// A narrowing filter reads past the newest page, to count its matches: here the 200
		// answers among a million toewijzingen.
		{"Berichtenlog_filter_WMO302", 1, "functie:WMO302", fmt.Sprintf("%d berichten", benchUploads*benchPerUpload)},
		{"Ophalen", 2, "", ".ZIP"},
		{"Routeren", 3, "", "WMO 301/302 (Portaal"},
	}
	opts := tui.Options{HubName: "knooppunt-bench", Host: "hub.example", Port: 2222, Log: slog.New(slog.DiscardHandler)}
	for _, s := range screens {
		b.Run(s.name, func(b *testing.B) {
			open := func() string {
				a := tui.New(context.Background(), h, gem, opts)
				a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
				for range s.tabs {
					a.Update(tea.KeyPressMsg{Code: tea.KeyTab})
				}
				if s.filter != "" {
					a.Update(tea.KeyPressMsg{Code: '/', Text: "/"})
					for _, r := range s.filter {
						a.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
					}
					a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
				}
				return a.View().Content
			}
			if v := open(); !strings.Contains(v, s.want) {
				b.Fatalf("%s opened without its data (%q):\n%s", s.name, s.want, v)
			}
			start := time.Now()
			for b.Loop() {
				open()
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/open")
		})
	}
}

const benchUploads, benchPerUpload = 20, 10

// benchHub is a hub on a temp dir with the demo organisations and its engine running, after
// the gemeente sent benchUploads ZIPs of WMO301 to the aanbieder and the aanbieder answered
// each with WMO302: Aanleveren and Ophalen have pages to show. It returns the gemeente.
func benchHub(b *testing.B) (*exchange.Hub, *exchange.Principal) {
	b.Helper()
	dir := b.TempDir()
	h, err := exchange.Open(exchange.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.SeedDemo(filepath.Join(dir, "demo")); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		h.Close()
	})
	principal := func(name string) *exchange.Principal {
		a, err := h.Account(name)
		if err != nil {
			b.Fatal(err)
		}
		o, err := h.Org(a.Org)
		if err != nil {
			b.Fatal(err)
		}
		return &exchange.Principal{Account: a, Org: o}
	}
	gem, aan := principal("gemeente"), principal("aanbieder")
	for u := range benchUploads {
		heen, terug := map[string][]byte{}, map[string][]byte{}
		for i := range benchPerUpload {
			ref := fmt.Sprintf("6f1c2a7e-0b4d-4c1e-9a3b-%06d%06d", u, i)
			heen[fmt.Sprintf("9999_WMO301_%d.xml", i)] = stuf.Build(stuf.Envelope{
				ZenderOrg: "9999", OntvangerOrg: "12345678", Functie: "WMO301", Referentie: ref}, []byte("<toewijzing/>"))
			terug[fmt.Sprintf("12345678_WMO302_%d.xml", i)] = stuf.Build(stuf.Envelope{
				ZenderOrg: "12345678", OntvangerOrg: "9999", Functie: "WMO302", CrossRef: ref}, []byte("<antwoord/>"))
		}
		benchPut(b, h, gem, fmt.Sprintf("toewijzingen_%02d.zip", u), heen)
		benchPut(b, h, aan, fmt.Sprintf("antwoorden_%02d.zip", u), terug)
	}
	return h, gem
}

// benchPut uploads files as one ZIP the way the SFTP server does and waits until the engine
// delivered it.
func benchPut(b *testing.B, h *exchange.Hub, p *exchange.Principal, name string, files map[string][]byte) {
	b.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, data := range files {
		w, err := zw.Create(n)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	s, err := h.StartUpload(context.Background(), p, exchange.IWmo, name, false)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.WriteAt(buf.Bytes(), 0); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	ups, _, err := h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{Limit: 1})
	if err != nil || len(ups) == 0 {
		b.Fatalf("upload %s not listed: %v", name, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		u, err := h.Upload(p, ups[0].ID)
		if err != nil {
			b.Fatal(err)
		}
		if u.Status.Final() {
			if u.Status != exchange.Afgeleverd {
				b.Fatalf("upload %s: %s %+v", name, u.Status, u.Fouten)
			}
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("upload %s not processed: %+v", name, u)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
