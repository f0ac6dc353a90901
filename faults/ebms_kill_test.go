package faults

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"knooppunt/ebmsserver"
	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/exchange/stuf"
	"knooppunt/loadgen"
)

// TestKillNineDuringSending: the aanbieder's route is Digikoppeling; the hub sends a thousand
// messages to its endpoint while it is killed with SIGKILL KNOOPPUNT_KILLS times (3 unless
// set). After the last restart every message is bevestigd, the endpoint saw every envelope,
// and always under one MessageId: a resend after a crash repeats the MessageId, so the
// partner's duplicate elimination sees each message once.
func TestKillNineDuringSending(t *testing.T) {
	needBinary(t)
	kills := 3
	if v, err := strconv.Atoi(os.Getenv("KNOOPPUNT_KILLS")); err == nil && v > 0 {
		kills = v
	}
	dir := t.TempDir()
	flags := []string{"--demo", "--ebms-listen", "127.0.0.1:0", "--workers", "2"}
	srv := start(t, dir, flags...)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// The aanbieder's endpoint: a certificate of the demo CA, an Acknowledgment in the
	// response after a short pause (a wider window for the kills).
	pki, err := ebmsserver.LoadOrCreatePKI(filepath.Join(dir, "demo", "pki"))
	if err != nil {
		t.Fatal(err)
	}
	cf, kf, err := pki.Issue("partner-endpoint", "Zorgaanbieder Test", "00000099000012345678", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(pki.CA)
	refRE := regexp.MustCompile(`<StUF:referentienummer>([^<]+)<`)
	var mu sync.Mutex
	idsOf := map[string]map[string]bool{} // referentienummer -> MessageIds
	posts := 0
	var lastPost time.Time
	ep := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, err := ebms.ParseMessage(r.Header.Get("Content-Type"), body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		p, err := m.Payload()
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		ref := refRE.FindSubmatch(p.Data)
		if ref == nil {
			http.Error(w, "geen referentienummer", 400)
			return
		}
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		mu.Lock()
		posts++
		lastPost = time.Now()
		if idsOf[string(ref[1])] == nil {
			idsOf[string(ref[1])] = map[string]bool{}
		}
		idsOf[string(ref[1])][m.Header.MessageID] = true
		mu.Unlock()
		ack, _ := ebms.BuildAcknowledgment(&m.Header, nil, ebms.Reply{})
		w.Header().Set("Content-Type", ack.ContentType)
		w.Write(ack.Body)
	}))
	ep.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	ep.StartTLS()
	defer ep.Close()

	// Offline: a CPA for the aanbieder with this endpoint (retries every 2 s), its route on
	// Digikoppeling, and a ZIP of envelopes from the gemeente waiting to be processed.
	const n = 1000
	refs := map[string]bool{}
	func() {
		h, err := exchange.Open(exchange.Config{DataDir: dir, OIN: exchange.DemoHubOIN})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		leaf, _ := x509.ParseCertificate(cert.Certificate[0])
		doc, err := ebms.NewCPA(ebms.CPASpec{
			ID:            "kill-test",
			Hub:           ebms.PartySpec{OIN: exchange.DemoHubOIN, Endpoint: "https://127.0.0.1:1/ebms"},
			Partner:       ebms.PartySpec{OIN: "00000099000012345678", Endpoint: ep.URL + "/ebms", Cert: leaf},
			SyncReplyMode: "mshSignalsOnly", Retries: 100, RetryInterval: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.ImportCPA(exchange.System, doc); err != nil {
			t.Fatal(err)
		}
		if err := h.SetRoles(exchange.System, "aanbieder", []exchange.Role{exchange.Gebruiker, exchange.Productbeheerder}); err != nil {
			t.Fatal(err)
		}
		aan, _ := h.Account("aanbieder")
		org, _ := h.Org("12345678")
		if err := h.SetRoute(&exchange.Principal{Account: aan, Org: org}, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, "kill-test"); err != nil {
			t.Fatal(err)
		}
		var zb bytes.Buffer
		zw := zip.NewWriter(&zb)
		for i := range n {
			ref := loadgen.NewRef()
			refs[ref] = true
			w, _ := zw.Create(fmt.Sprintf("b%03d.xml", i))
			w.Write(stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678", Referentie: ref}, []byte("<x/>")))
		}
		zw.Close()
		gem, _ := h.Account("gemeente")
		gorg, _ := h.Org("9999")
		if _, err := h.HandIn(context.Background(), &exchange.Principal{Account: gem, Org: gorg}, exchange.IWmo, "veel.zip", zb.Bytes(), "", nil); err != nil {
			t.Fatal(err)
		}
	}()

	for round := range kills {
		s := start(t, dir, flags...)
		time.Sleep(time.Duration(300+rand.IntN(1500)) * time.Millisecond)
		s.Kill()
		mu.Lock()
		t.Logf("kill %d: %d posts, %d berichten gezien", round+1, posts, len(idsOf))
		mu.Unlock()
	}
	s := start(t, dir, flags...)
	end := time.Now().Add(3 * time.Minute)
	for {
		mu.Lock()
		seen := len(idsOf)
		mu.Unlock()
		if seen == n {
			break
		}
		if time.Now().After(end) {
			s.Stop()
			h, err := exchange.Open(exchange.Config{DataDir: dir, OIN: exchange.DemoHubOIN})
			if err == nil {
				sends, _ := h.Sends(exchange.System, "12345678", 10*n)
				for _, x := range sends {
					if x.State != exchange.SendBevestigd {
						t.Logf("niet bevestigd: %+v", x)
					}
				}
				t.Logf("%d verzendingen", len(sends))
				h.Close()
			}
			t.Fatalf("na 3 minuten %d van %d berichten bij de partner", seen, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The hub records an Acknowledgment after the partner's answer: stop it only once the
	// partner has had no post for 5 s (more than the CPA's 2 s RetryInterval, so a retry of a send whose
	// Acknowledgment a kill lost has come), and no send is stopped between answer and record
	// (it would stay verzonden, and go again, under the same MessageId, at the next start).
	for quiet := time.Now().Add(30 * time.Second); time.Now().Before(quiet); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		idle := time.Since(lastPost)
		mu.Unlock()
		if idle > 5*time.Second {
			break
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for ref := range refs {
		if len(idsOf[ref]) != 1 {
			t.Errorf("bericht %s kwam onder %d MessageIds", ref, len(idsOf[ref]))
		}
	}
	h, err := exchange.Open(exchange.Config{DataDir: dir, OIN: exchange.DemoHubOIN})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sends, err := h.Sends(exchange.System, "12345678", 10*n)
	if err != nil {
		t.Fatal(err)
	}
	states := map[exchange.SendState]int{}
	for _, s := range sends {
		states[s.State]++
	}
	if len(sends) != n || states[exchange.SendBevestigd] != n {
		t.Errorf("%d verzendingen: %v", len(sends), states)
	}
	t.Logf("%d kills, %d posts voor %d berichten (herhalingen met hetzelfde MessageId: %d)", kills, posts, n, posts-n)
}
