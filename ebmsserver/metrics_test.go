package ebmsserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/metrics"
)

// TestDigikoppelingMetrics: the Digikoppeling counters move with real traffic over TLS: a
// message received and acknowledged, its duplicate acknowledged again (not received again), a
// wrong OIN refused by reason, and out: a first attempt refused with 503, its retry
// bevestigd, and a message that ends mislukt on an HTTP 400. The scrape passes promtool.
func TestDigikoppelingMetrics(t *testing.T) {
	m := metrics.New()
	e := newEnv(t, envOpts{observer: m})
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	for range 2 {
		if _, ack := e.post(e.gem, out.ContentType, out.Body); ack == nil || ack.Kind() != ebms.KindAcknowledgment {
			t.Fatalf("no Acknowledgment: %+v", ack)
		}
	}
	if _, me := e.post(e.zorg, out.ContentType, out.Body); me == nil || me.Kind() != ebms.KindMessageError {
		t.Fatalf("wrong OIN not refused: %+v", me)
	}
	e.finalUpload(e.principal("gemeente"))

	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	status := func(want exchange.MessageStatus, n int) func() bool {
		return func() bool {
			ms, _, _ := e.h.Messages(context.Background(), zorg, exchange.IWmo, exchange.MessageFilter{})
			k := 0
			for _, x := range ms {
				if x.Status == want {
					k++
				}
			}
			return k == n
		}
	}
	e.zorg.fail503.Store(1)
	e.upload(e.principal("gemeente"), "uit.xml", envelope("WMO301", "9999", "12345678", ""))
	eventually(t, "a refused attempt", func() bool { return e.zorg.fail503.Load() == 0 })
	time.Sleep(100 * time.Millisecond)
	e.clk.Add(61 * time.Second)
	eventually(t, "bevestigd", status(exchange.MsgBevestigd, 1))
	e.zorg.fail400.Store(1)
	e.upload(e.principal("gemeente"), "uit2.xml", envelope("WMO301", "9999", "12345678", ""))
	eventually(t, "mislukt", status(exchange.MsgMislukt, 1))

	scrape := func() []byte {
		w := httptest.NewRecorder()
		metrics.Handler(m, nil, nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return w.Body.Bytes()
	}
	// The counter moves after the status is committed (a counted end is a durable end), so the
	// status can be seen a moment before the counter: wait for the counter, not only the status.
	eventually(t, "mislukt counted", func() bool {
		got, err := metrics.Parse(bytes.NewReader(scrape()))
		return err == nil && got["knooppunt_ebms_sends_ended_total|status=mislukt"] == 1 &&
			got["knooppunt_ebms_sends_ended_total|status=bevestigd"] == 1
	})
	body := scrape()
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed (apt-get install prometheus): the scrape is only parsed")
	}
	got, err := metrics.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		"knooppunt_ebms_received_total":                       1,
		"knooppunt_ebms_acknowledged_total":                   2,
		"knooppunt_ebms_refused_total|reason=SecurityFailure": 1,
		"knooppunt_ebms_refused_total|reason=Inconsistent":    0,
		"knooppunt_ebms_sent_total":                           2,
		"knooppunt_ebms_retries_total":                        1,
		"knooppunt_ebms_sends_ended_total|status=bevestigd":   1,
		"knooppunt_ebms_sends_ended_total|status=mislukt":     1,
		"knooppunt_ebms_sends_ended_total|status=afgegeven":   0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", k, v, ok, want)
		}
	}
}
