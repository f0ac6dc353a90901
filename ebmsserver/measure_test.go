package ebmsserver

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
)

// TestMeasure is scripts/bench-ebms.sh: inbound messages/s with a durable Acknowledgment over
// keep-alive two-sided TLS (p50/p99 request to Acknowledgment), outbound messages/s to a local
// acknowledging receiver, and the RSS of this process with 200 partner connections open. Only
// with KNOOPPUNT_MEASURE=1.
func TestMeasure(t *testing.T) {
	if os.Getenv("KNOOPPUNT_MEASURE") == "" {
		t.Skip("KNOOPPUNT_MEASURE=1 scripts/bench-ebms.sh")
	}
	// The default workers of a 2-CPU machine (exchange.DefaultWorkers).
	e := newEnv(t, envOpts{workers: exchange.DefaultWorkers()})
	const n, conc = 2000, 16
	bodies := make([]*ebms.Outgoing, n)
	for i := range bodies {
		bodies[i] = e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	}
	e.gem.client.Transport.(*http.Transport).MaxIdleConnsPerHost = conc
	lat := make([]time.Duration, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				status, m := e.post(e.gem, bodies[i].ContentType, bodies[i].Body)
				lat[i] = time.Since(t0)
				if status != 200 || m == nil || m.Kind() != ebms.KindAcknowledgment {
					t.Errorf("message %d: %d %+v", i, status, m)
				}
			}
		})
	}
	wg.Wait()
	el, cpuIn := time.Since(start), cpuTime()-cpu0
	slices.Sort(lat)
	t.Logf("inbound: %d messages, %d connections: %.0f messages/s, p50 %v, p99 %v", n, conc, float64(n)/el.Seconds(), lat[n/2].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond))
	// Concurrent messages are handed in together (digikoppeling_inbox.go): how many
	// aanleveringen the messages made, and how long until the engine had finished them all.
	gem := e.principal("gemeente")
	var ups int
	eventually(t, "every inbound aanlevering final", func() bool {
		us, total, err := e.h.Uploads(context.Background(), gem, exchange.IWmo, exchange.ListOptions{Limit: 1})
		ups = total
		return err == nil && len(us) == 1 && us[0].Status.Final() && e.h.Stats().Queued == 0
	})
	t.Logf("inbound: %d messages made %d aanleveringen; all processed %v after the first post", n, ups, time.Since(start).Round(time.Millisecond))
	// CPU of this process (partner clients, TLS, hub) per message: what the machine's load
	// does not change; 2 cores / this is the throughput two idle cores would bound.
	t.Logf("inbound: CPU %v per message until acknowledged, %v per message until processed", (cpuIn / n).Round(time.Microsecond), ((cpuTime() - cpu0) / n).Round(time.Microsecond))

	// Outbound: the aanbieder's route on Digikoppeling, one ZIP of m envelopes handed in.
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	const m = 2000
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for i := range m {
		w, _ := zw.Create(fmt.Sprintf("b%04d.xml", i))
		w.Write(envelope("WMO301", "9999", "12345678", ""))
	}
	zw.Close()
	if _, err := e.h.HandIn(context.Background(), e.principal("gemeente"), exchange.IWmo, "veel.zip", zb.Bytes(), "", nil); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	cpu1 := cpuTime()
	eventually := func() {
		deadline := time.Now().Add(5 * time.Minute)
		for e.zorg.gotCount.Load() < m {
			if first.IsZero() && e.zorg.gotCount.Load() > 0 {
				first = time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatalf("outbound: %d of %d after 5 minutes", e.zorg.gotCount.Load(), m)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	eventually()
	oel := time.Since(first)
	t.Logf("outbound: %d messages in %v: %.0f messages/s (from the first post to the last)", m, oel.Round(time.Millisecond), float64(m)/oel.Seconds())
	t.Logf("outbound: CPU %v per message (hand-in, processing, sending, the receiver)", ((cpuTime() - cpu1) / m).Round(time.Microsecond))

	// 200 partner connections, each with one Ping answered and kept alive.
	from := ebms.Party{PartyIDs: []ebms.PartyID{{Type: ebms.PartyTypeOIN, Value: gemOIN}}}
	to := ebms.Party{PartyIDs: []ebms.PartyID{{Type: ebms.PartyTypeOIN, Value: hubOIN}}}
	var clients []*http.Client
	for range 200 {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{e.gem.cert}, RootCAs: e.pool}}}
		ping, _ := ebms.BuildPing(ebms.Signal{CPAID: e.gem.cpaID, From: from, To: to, Timestamp: e.clk.Now()})
		resp, err := c.Post("https://"+e.addr+Path, ping.ContentType, bytes.NewReader(ping.Body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		clients = append(clients, c)
	}
	st, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			t.Logf("200 connections open (server and clients in this one process): %s", strings.Join(strings.Fields(l), " "))
		}
	}
	la, _ := os.ReadFile("/proc/loadavg")
	t.Logf("loadavg: %s", strings.TrimSpace(string(la)))
	_ = clients
}

// cpuTime is the user and system CPU this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
