package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one condition of readiness, as a person reads it.
type Check struct {
	Name   string `json:"naam"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Readiness says whether the hub can take work now, and why not.
type Readiness struct {
	Ready  bool    `json:"gereed"`
	Checks []Check `json:"controles"`
}

// NewReadiness is ready when every check is OK.
func NewReadiness(checks ...Check) Readiness {
	r := Readiness{Ready: true, Checks: checks}
	for _, c := range checks {
		r.Ready = r.Ready && c.OK
	}
	return r
}

// Text is the readiness in lines for a person: a verdict, then each check.
func (r Readiness) Text() string {
	var b strings.Builder
	if r.Ready {
		b.WriteString("gereed\n")
	} else {
		b.WriteString("NIET GEREED\n")
	}
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		verdict := "ok"
		if !c.OK {
			verdict = "FOUT"
		}
		fmt.Fprintf(&b, "  %-*s  %-4s  %s\n", width, c.Name, verdict, c.Detail)
	}
	return b.String()
}

// readyCacheFor is how long one readiness answer is reused: the store check writes to disk,
// and several monitors polling at once should share one write.
const readyCacheFor = time.Second

// Handler serves /metrics, /healthz (the process answers) and /readyz (ready(ctx) says the hub
// can take work: 200, else 503). /readyz answers JSON when asked for with "Accept:
// application/json", else the lines of Readiness.Text. stopping (nil: never) bypasses the
// cached answer: a drain can end within readyCacheFor, and a load balancer must see it begin.
func Handler(m *Metrics, ready func(context.Context) Readiness, stopping func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "knooppunt draait")
	})
	var mu sync.Mutex
	var last Readiness
	var lastAt time.Time
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if lastAt.IsZero() || time.Since(lastAt) >= readyCacheFor || (last.Ready && stopping != nil && stopping()) {
			last, lastAt = ready(r.Context()), time.Now()
		}
		rd := last
		mu.Unlock()
		code := http.StatusOK
		if !rd.Ready {
			code = http.StatusServiceUnavailable
		}
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(rd)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprint(w, rd.Text())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "knooppunt: /metrics (Prometheus), /healthz (draait het proces), /readyz (neemt het werk aan)\n")
	})
	return mux
}

// Serve answers on ln until ctx ends, then finishes the requests in progress (at most two
// seconds) and returns.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(stop); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
