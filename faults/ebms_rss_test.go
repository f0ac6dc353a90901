package faults

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"knooppunt/exchange/ebms"
	"knooppunt/exchange/stuf"
)

// ebmsURL waits for the endpoint of a server started with --ebms-listen and returns its URL.
func ebmsURL(t *testing.T, logf func() string, wait func(string, time.Duration) bool) string {
	t.Helper()
	if !wait("Digikoppeling-endpoint luistert", 30*time.Second) {
		t.Fatalf("no endpoint:\n%s", logf())
	}
	m := regexp.MustCompile(`Digikoppeling-endpoint luistert" adres=(https://\S+/ebms)`).FindAllStringSubmatch(logf(), -1)
	if m == nil {
		t.Fatalf("no endpoint address:\n%s", logf())
	}
	return m[len(m)-1][1]
}

// TestRSSWith200PartnerConnections measures the real binary, out of process (issue 12: RSS
// with 200 concurrent partner connections ≤ 256 MB): `serve --demo` with the Digikoppeling
// endpoint, 200 partner connections over two-sided TLS with the demo gemeente's certificate,
// each answered a Ping and kept alive, then each posting one message at once (each must be
// acknowledged). The server's VmRSS and VmHWM come from /proc/<pid>/status; the clients live
// in this test process.
func TestRSSWith200PartnerConnections(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	s := start(t, dir, "--demo", "--ebms-listen", "127.0.0.1:0")
	defer s.Stop()
	url := ebmsURL(t, s.Log, s.WaitLog)
	g := loadDemoGemeente(t, dir, s.Log)
	rss0, _ := procStatus(t, s.Pid())

	const n = 200
	clients := make([]*http.Client, n)
	for i := range clients {
		clients[i] = g.client()
		status, m, err := postEbMS(clients[i], url, g.ping(t))
		// The demo writes the CPA file just before it imports it.
		for end := time.Now().Add(10 * time.Second); (err != nil || status != http.StatusOK) && i == 0 && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			status, m, err = postEbMS(clients[i], url, g.ping(t))
		}
		if err != nil || status != http.StatusOK || m == nil || m.Kind() != ebms.KindPong {
			t.Fatalf("ping %d: %d %v %+v", i, status, err, m)
		}
	}
	rss1, _ := procStatus(t, s.Pid())
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range clients {
		out := g.message(t, stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678"}, []byte("<bericht>rss</bericht>")))
		wg.Go(func() {
			status, m, err := postEbMS(c, url, out)
			if err == nil && (status != http.StatusOK || m == nil || m.Kind() != ebms.KindAcknowledgment) {
				err = fmt.Errorf("answer %d %+v", status, m)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	rss2, hwm := procStatus(t, s.Pid())
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
