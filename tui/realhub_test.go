package tui

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/storage/storagetest"
)

// world is a real hub on a temp dir with the demo organisations and accounts, its engine
// running, and a few uploads processed into reports, ophalen files and the berichtenlog.
type world struct {
	t    *testing.T
	h    *exchange.Hub
	clk  *storagetest.Clock
	dir  string
	demo []exchange.DemoAccount
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	clk := storagetest.NewClock(time.Date(2026, 3, 12, 14, 30, 0, 0, time.UTC))
	h, err := exchange.Open(exchange.Config{DataDir: dir, Clock: clk, Workers: 1, OIN: exchange.DemoHubOIN})
	if err != nil {
		t.Fatal(err)
	}
	demo, err := h.SeedDemo(filepath.Join(dir, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		h.Close()
	})
	return &world{t: t, h: h, clk: clk, dir: dir, demo: demo}
}

func (w *world) principal(name string) *exchange.Principal {
	w.t.Helper()
	a, err := w.h.Account(name)
	if err != nil {
		w.t.Fatal(err)
	}
	p := &exchange.Principal{Account: a}
	if a.Org != "" {
		if p.Org, err = w.h.Org(a.Org); err != nil {
			w.t.Fatal(err)
		}
	}
	return p
}

// upload writes a file into aanleveren/ as the SFTP server does and waits until the engine
// has finished it.
func (w *world) upload(p *exchange.Principal, product exchange.Product, name string, data []byte) exchange.Upload {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := w.h.Subscribe(ctx, p.Org.Code)
	s, err := w.h.StartUpload(context.Background(), p, product, name, false)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := s.WriteAt(data, 0); err != nil {
		w.t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		w.t.Fatal(err)
	}
	ups, _, err := w.h.Uploads(context.Background(), p, product, exchange.ListOptions{Limit: 1})
	if err != nil || len(ups) == 0 {
		w.t.Fatalf("upload %s not listed: %v", name, err)
	}
	id := ups[0].ID
	for {
		u, err := w.h.Upload(p, id)
		if err != nil {
			w.t.Fatal(err)
		}
		if u.Status.Final() {
			w.clk.Add(time.Minute)
			return u
		}
		select {
		case <-events:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			w.t.Fatalf("upload %s not processed: %+v", name, u)
		}
	}
}

func ref(n int) string { return fmt.Sprintf("6f1c2a7e-0b4d-4c1e-9a3b-%012d", n) }

// envelope builds a StUF-GGk envelope like the reference examples.
func envelope(functie, zender, ontvanger, ref, crossRef string) []byte {
	root, code := "envelopHeenbericht-ggk_Di01", "Di01"
	if crossRef != "" {
		root, code = "envelopRetourbericht-ggk_Du01", "Du01"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<GGK:%s xmlns:StUF="http://www.egem.nl/StUF/StUF0301" xmlns:GGK="http://www.stufstandaarden.nl/koppelvlak/ggk0210">
<GGK:stuurgegevens>
<StUF:berichtcode>%s</StUF:berichtcode>
<StUF:zender><StUF:organisatie>%s</StUF:organisatie><StUF:applicatie>Wmo Applicatie</StUF:applicatie></StUF:zender>
<StUF:ontvanger><StUF:organisatie>%s</StUF:organisatie><StUF:applicatie>GGk</StUF:applicatie></StUF:ontvanger>
<StUF:referentienummer>%s</StUF:referentienummer>
<StUF:tijdstipBericht>20260312143000</StUF:tijdstipBericht>
`, root, code, zender, ontvanger, ref)
	if crossRef != "" {
		fmt.Fprintf(&b, "<StUF:crossRefnummer>%s</StUF:crossRefnummer>\n", crossRef)
	}
	fmt.Fprintf(&b, `<StUF:functie>%s</StUF:functie>
</GGK:stuurgegevens>
<GGK:parameters>
<GGK:applicatieVersie>0004</GGK:applicatieVersie>
<GGK:applicatieSubversie>0003</GGK:applicatieSubversie>
<GGK:functieVersie>0002</GGK:functieVersie>
<GGK:functieSubversie>0002</GGK:functieSubversie>
<GGK:bericht><GGK:xmlBestand>SGllciBzdGFhdCBlZW4gaVdtby9pSnctaGVlbmJlcmljaHQu</GGK:xmlBestand></GGK:bericht>
</GGK:parameters>
</GGK:%s>
`, functie, root)
	return b.Bytes()
}

func zipOf(t *testing.T, files map[string][]byte, order ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range order {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2026, 3, 12, 14, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// seed lets the gemeente and the aanbieder exchange a few iWmo messages: toewijzingen, their
// retourberichten, a ZIP with wrong files and a file that is no ZIP at all.
func (w *world) seed() {
	t := w.t
	gem, aan := w.principal("gemeente"), w.principal("aanbieder")
	heen := map[string][]byte{}
	var order []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("9999_WMO301_%d.xml", i)
		heen[name] = envelope("WMO301", "9999", "12345678", ref(i), "")
		order = append(order, name)
	}
	w.upload(gem, exchange.IWmo, "Portaaltest_9999_WMO301_1_3_20260312.zip", zipOf(t, heen, order...))
	for i := 1; i <= 3; i++ {
		w.upload(aan, exchange.IWmo, fmt.Sprintf("12345678_WMO302_%d.xml", i), envelope("WMO302", "12345678", "9999", ref(100+i), ref(i)))
	}
	bad := map[string][]byte{
		"IMG_0463.PNG":      []byte("geen xml"),
		"9999_WMO399.xml":   envelope("WMO399", "9999", "12345678", ref(50), ""),
		"9999_WMO301_9.xml": envelope("WMO301", "9999", "12345678", ref(51), ""),
	}
	w.upload(gem, exchange.IWmo, "bijlagen (1).zip", zipOf(t, bad, "IMG_0463.PNG", "9999_WMO399.xml", "9999_WMO301_9.xml"))
	w.upload(gem, exchange.IWmo, "evil.zip", []byte("dit is geen zip"))
}

func (w *world) app(name string, width, height int) *App {
	a := New(context.Background(), w.h, w.principal(name), Options{HubName: "knooppunt-test", Host: "hub.example", Port: 2222})
	a.Update(tea.WindowSizeMsg{Width: width, Height: height})
	return a
}

func TestGolden(t *testing.T) {
	w := newWorld(t)
	w.seed()
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		a := w.app("gemeente", size[0], size[1])
		steps := []struct {
			name string
			keys []string
		}{
			{"aanleveren", nil},
			{"verslag", []string{"down", "enter"}},
			{"berichtenlog", []string{"esc", "tab"}},
			{"bericht", []string{"enter"}},
			{"ophalen", []string{"esc", "tab", "space"}},
			{"routeren", []string{"tab", "enter"}},
			{"gebruikers", []string{"esc", "tab"}},
			{"nieuw_account", []string{"a"}},
			{"ieb_leeg", []string{"esc", "3"}},
			{"help", []string{"?"}},
		}
		for _, s := range steps {
			press(a, s.keys...)
			golden(t, fmt.Sprintf("%s_%dx%d", s.name, size[0], size[1]), ascii(t, a))
		}
		b := w.app("beheer", size[0], size[1])
		press(b, "tab")
		golden(t, fmt.Sprintf("organisaties_%dx%d", size[0], size[1]), ascii(t, b))
	}
	// Under a samenwerking the rows are another organisation's: greyed, locked, with why.
	if err := w.h.SetSamenwerking(exchange.System, "0060", exchange.IWmo, "9999"); err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		a := w.app("ameland", size[0], size[1])
		press(a, "tab", "tab", "tab", "down", "enter")
		golden(t, fmt.Sprintf("routeren_samenwerking_%dx%d", size[0], size[1]), ascii(t, a))
	}
}

// importCPA imports a CPA between the hub and a demo organisation and returns its id.
func (w *world) importCPA(org string) string {
	w.t.Helper()
	o, err := w.h.Org(org)
	if err != nil {
		w.t.Fatal(err)
	}
	doc, err := ebms.NewCPA(ebms.CPASpec{
		Hub:     ebms.PartySpec{OIN: w.h.OIN(), Endpoint: "https://knooppunt.test/ebms"},
		Partner: ebms.PartySpec{OIN: o.OIN, Endpoint: "https://partner.test/ebms"},
		Start:   w.clk.Now().Add(-time.Hour).Truncate(time.Second),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := w.h.ImportCPA(exchange.System, doc)
	if err != nil {
		w.t.Fatal(err)
	}
	return c.ID
}
