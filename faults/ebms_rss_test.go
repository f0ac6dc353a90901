package faults

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
)

// TestRSSWith200PartnerConnections measures the real binary, out of process (issue 12: RSS
// with 200 concurrent partner connections ≤ 256 MB): `serve --demo` with the Digikoppeling
// endpoint, 200 partner connections over two-sided TLS with the demo gemeente's certificate,
// each answered a Ping and kept alive, then each posting one message at once. The server's
// VmRSS and VmHWM come from /proc/<pid>/status; the clients live in this test process.
func TestRSSWith200PartnerConnections(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	s := start(t, dir, "--demo", "--ebms-listen", "127.0.0.1:0")
	defer s.Stop()
	if !s.WaitLog("Digikoppeling-endpoint luistert", 30*time.Second) {
		t.Fatalf("no endpoint:\n%s", s.Log())
	}
	m := regexp.MustCompile(`Digikoppeling-endpoint luistert" adres=https://(\S+)/ebms`).FindStringSubmatch(s.Log())
	if m == nil {
		t.Fatalf("no endpoint address:\n%s", s.Log())
	}
	url := "https://" + m[1] + "/ebms"
	pkiDir := filepath.Join(dir, "demo", "pki")
	// The demo writes the partners' certificates and CPAs once its endpoint listens.
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(pkiDir, "cpa-9999.xml")); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no demo CPA in %s:\n%s", pkiDir, s.Log())
		}
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "9999.pem"), filepath.Join(pkiDir, "9999-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	doc, err := os.ReadFile(filepath.Join(pkiDir, "cpa-9999.xml"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ebms.ParseCPA(doc)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	oin := strings.TrimPrefix(leaf.Subject.SerialNumber, "OIN:")
	me := ebms.PartyID{Type: ebms.PartyTypeOIN, Value: oin}
	from := ebms.Party{PartyIDs: []ebms.PartyID{me}}
	to := ebms.Party{PartyIDs: []ebms.PartyID{{Type: ebms.PartyTypeOIN, Value: exchange.DemoHubOIN}}}
	b, err := pc.Binding(me, "", ebms.Service{Value: ebms.GGKService}, ebms.ActionDi01)
	if err != nil {
		t.Fatal(err)
	}
	status := func() (rss, hwm int) {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(s.Pid()) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(st), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "VmRSS:" {
				rss, _ = strconv.Atoi(f[1])
			}
			if len(f) >= 2 && f[0] == "VmHWM:" {
				hwm, _ = strconv.Atoi(f[1])
			}
		}
		return rss, hwm
	}
	rss0, _ := status()

	const n = 200
	post := func(c *http.Client, ct string, body []byte) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("SOAPAction", `"ebXML"`)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &httpError{resp.StatusCode}
		}
		return nil
	}
	clients := make([]*http.Client, n)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}, Timeout: time.Minute}
		ping, err := ebms.BuildPing(ebms.Signal{CPAID: pc.ID, From: from, To: to, Timestamp: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		err = post(clients[i], ping.ContentType, ping.Body)
		// The demo writes the CPA file just before it imports it.
		for end := time.Now().Add(10 * time.Second); err != nil && i == 0 && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			err = post(clients[i], ping.ContentType, ping.Body)
		}
		if err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	rss1, _ := status()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range clients {
		env := exchange.BuildEnvelope(exchange.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678"}, []byte("<bericht>rss</bericht>"))
		out, err := ebms.BuildUserMessage(b.UserMessage(ebms.NewMessageID("rss.test"), ebms.Part{ContentType: "application/xml", Data: env}, time.Now()), nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = post(c, out.ContentType, out.Body) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	rss2, hwm := status()
	la, _ := os.ReadFile("/proc/loadavg")
	t.Logf("server VmRSS: %d MB after start, %d MB with %d connections open (one Ping each), %d MB after each posted a message at once; VmHWM %d MB; load %s",
		rss0>>10, rss1>>10, n, rss2>>10, hwm>>10, strings.TrimSpace(string(la)))
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	if hwm > 256<<10 {
		t.Fatalf("VmHWM %d MB > 256 MB", hwm>>10)
	}
}

type httpError struct{ status int }

func (e *httpError) Error() string { return "HTTP " + strconv.Itoa(e.status) }
