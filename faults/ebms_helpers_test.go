package faults

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
)

// demoGemeente is the demo's gemeente 9999 as a Digikoppeling partner of a `serve --demo`
// in dir: its client certificate, the demo CA and its CPA with the hub.
type demoGemeente struct {
	cert    tls.Certificate
	pool    *x509.CertPool
	cpa     *ebms.CPA
	binding *ebms.Binding
	from    ebms.Party
	to      ebms.Party
}

// loadDemoGemeente waits for the demo to have written the partners' certificates and CPAs
// (it does once its endpoint listens) and reads gemeente 9999's.
func loadDemoGemeente(t *testing.T, dir string, log func() string) *demoGemeente {
	t.Helper()
	pkiDir := filepath.Join(dir, "demo", "pki")
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(pkiDir, "cpa-9999.xml")); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no demo CPA in %s:\n%s", pkiDir, log())
		}
	}
	g := &demoGemeente{pool: x509.NewCertPool()}
	var err error
	if g.cert, err = tls.LoadX509KeyPair(filepath.Join(pkiDir, "9999.pem"), filepath.Join(pkiDir, "9999-key.pem")); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	g.pool.AppendCertsFromPEM(caPEM)
	doc, err := os.ReadFile(filepath.Join(pkiDir, "cpa-9999.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if g.cpa, err = ebms.ParseCPA(doc); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(g.cert.Certificate[0])
	me := ebms.PartyID{Type: ebms.PartyTypeOIN, Value: strings.TrimPrefix(leaf.Subject.SerialNumber, "OIN:")}
	g.from = ebms.Party{PartyIDs: []ebms.PartyID{me}}
	g.to = ebms.Party{PartyIDs: []ebms.PartyID{{Type: ebms.PartyTypeOIN, Value: exchange.DemoHubOIN}}}
	if g.binding, err = g.cpa.Binding(me, "", ebms.Service{Value: ebms.GGKService}, ebms.ActionDi01); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *demoGemeente) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{g.cert}, RootCAs: g.pool}}, Timeout: time.Minute}
}

// message is a WMO301 from 9999 to 12345678 with envelope env, under a new MessageId.
func (g *demoGemeente) message(t *testing.T, env []byte) *ebms.Outgoing {
	t.Helper()
	out, err := ebms.BuildUserMessage(g.binding.UserMessage(ebms.NewMessageID("faults.test"), ebms.Part{ContentType: "application/xml", Data: env}, time.Now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (g *demoGemeente) ping(t *testing.T) *ebms.Outgoing {
	t.Helper()
	p, err := ebms.BuildPing(ebms.Signal{CPAID: g.cpa.ID, From: g.from, To: g.to, Timestamp: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// postEbMS posts one ebMS message and returns the status and the parsed answer (nil when
// empty or unreadable).
func postEbMS(c *http.Client, url string, out *ebms.Outgoing) (int, *ebms.Message, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(out.Body))
	req.Header.Set("Content-Type", out.ContentType)
	req.Header.Set("SOAPAction", `"ebXML"`)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) == 0 {
		return resp.StatusCode, nil, err
	}
	m, _ := ebms.ParseMessage(resp.Header.Get("Content-Type"), b)
	return resp.StatusCode, m, nil
}

// procStatus reads VmRSS and VmHWM (kB) of process pid.
func procStatus(t *testing.T, pid int) (rss, hwm int) {
	t.Helper()
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
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
