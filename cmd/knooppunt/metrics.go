package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"knooppunt/exchange"
	"knooppunt/metrics"
	"knooppunt/sshserver"
)

const (
	// defaultDemoMetrics is where serve --demo serves its metrics unless told otherwise.
	defaultDemoMetrics = "127.0.0.1:9464"
	defaultMinFreeDisk = "1GiB"
)

// monitorFlags are serve's monitoring options: where /metrics, /healthz and /readyz are
// served (off when empty), and the free disk space below which the hub is not ready.
type monitorFlags struct {
	listen  string
	demo    bool // listen is the demo's default: when taken, another free port will do
	print   bool // print the URL with the demo accounts
	minFree uint64
}

// addMonitorFlags registers --metrics-listen and --min-free-disk on fs; the returned func
// reads them after fs.Parse.
func addMonitorFlags(fs *flag.FlagSet) func(demo bool) (monitorFlags, error) {
	listen := fs.String("metrics-listen", os.Getenv("KNOOPPUNT_METRICS_LISTEN"),
		"adres voor /metrics, /healthz en /readyz (KNOOPPUNT_METRICS_LISTEN); standaard uit, met --demo "+defaultDemoMetrics+"; uit: uit")
	minFree := fs.String("min-free-disk", envOr("KNOOPPUNT_MIN_FREE_DISK", defaultMinFreeDisk),
		"onder deze vrije schijfruimte is het knooppunt niet gereed (KNOOPPUNT_MIN_FREE_DISK); 0: geen grens")
	return func(demo bool) (monitorFlags, error) {
		m := monitorFlags{print: demo}
		n, err := parseBytes(*minFree)
		if err != nil {
			return m, fmt.Errorf("--min-free-disk: %w; schrijf bijvoorbeeld 1GiB, 500MB of 0", err)
		}
		m.minFree = uint64(n)
		switch l := strings.TrimSpace(*listen); {
		case l == "uit" || l == "off":
		case l == "" && demo:
			m.listen, m.demo = defaultDemoMetrics, true
		case l != "":
			if _, _, err := net.SplitHostPort(l); err != nil {
				return m, fmt.Errorf("--metrics-listen %q is geen adres; schrijf bijvoorbeeld 127.0.0.1:9464 of :9464", l)
			}
			m.listen = l
		}
		return m, nil
	}
}

// monitor is the metrics of one serve; a nil monitor (monitoring off) observes nothing.
type monitor struct {
	flags monitorFlags
	m     *metrics.Metrics
	log   *slog.Logger
}

func newMonitor(f monitorFlags, log *slog.Logger) *monitor {
	if f.listen == "" {
		return nil
	}
	return &monitor{flags: f, m: metrics.New(), log: log}
}

// engine is the hub's observer; nil without monitoring.
// The engine's observer also hears of the Digikoppeling door (an optional interface, found
// by a type assertion): this keeps the metrics implementing it.
var _ exchange.DigikoppelingObserver = (*metrics.Metrics)(nil)

func (mon *monitor) engine() exchange.Observer {
	if mon == nil {
		return nil
	}
	return mon.m
}

// server is the SSH server's observer; nil without monitoring.
func (mon *monitor) server() sshserver.Observer {
	if mon == nil {
		return nil
	}
	return mon.m
}

// start listens and serves the metrics and health endpoints until the returned stop is
// called; the caller stops it after the SSH server, so that /readyz says "niet gereed" while
// sessions drain, and before the store closes.
func (mon *monitor) start(hub *exchange.Hub, stdout io.Writer) (stop func(), err error) {
	if mon == nil {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", mon.flags.listen)
	if err != nil && mon.flags.demo {
		mon.log.Warn("metrics-adres van de demo bezet; een ander gekozen", "adres", mon.flags.listen, "err", err)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("metrics: luisteren op %s: %w (kies een ander adres met --metrics-listen)", mon.flags.listen, err)
	}
	mon.m.WatchState(func() metrics.State { return stateOf(hub) })
	h := metrics.Handler(mon.m, func(context.Context) metrics.Readiness { return readiness(hub, mon.flags.minFree) }, hub.ShuttingDown)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, ln, h); err != nil {
			mon.log.Error("metrics gestopt", "err", err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/metrics"
	mon.log.Info("metrics en gezondheid", "adres", ln.Addr().String(), "metrics", url)
	if mon.flags.print {
		fmt.Fprintf(stdout, "Metrics: %s (gereed: knooppunt status --metrics %s)\n\n", url, ln.Addr().String())
	}
	return func() { cancel(); <-done }, nil
}

func stateOf(hub *exchange.Hub) metrics.State {
	st := hub.Stats()
	return metrics.State{
		Queued: st.Queued, Processing: st.Processing, Workers: st.Workers,
		AdmissionCapacity: st.AdmissionCapacity, AdmissionHeld: st.AdmissionHeld, AdmissionWaiting: st.AdmissionWaiting,
		StoreIndexBytes: st.StoreIndexBytes, StoreValueBytes: st.StoreValueBytes, StoreOtherBytes: st.StoreOtherBytes,
		Files: st.Files, FileBytes: st.FileBytes, FilesMeasured: st.FilesMeasured,
		FreeBytes: st.FreeBytes, FreeOK: st.FreeErr == nil,
		ShuttingDown: hub.ShuttingDown(),
	}
}

// readiness checks that the hub can take work: it is not stopping, its store takes a small
// write and gives it back, and the disk has more than minFree bytes free.
func readiness(hub *exchange.Hub, minFree uint64) metrics.Readiness {
	var checks []metrics.Check
	if hub.ShuttingDown() {
		checks = append(checks, metrics.Check{Name: "in bedrijf", Detail: "het knooppunt stopt: het maakt lopende overdrachten af en neemt geen nieuw werk aan"})
	} else {
		checks = append(checks, metrics.Check{Name: "in bedrijf", OK: true, Detail: "neemt werk aan"})
		began := time.Now()
		if err := hub.ProbeStore(); err != nil {
			checks = append(checks, metrics.Check{Name: "opslag", Detail: "schrijven en teruglezen mislukt: " + err.Error()})
		} else {
			checks = append(checks, metrics.Check{Name: "opslag", OK: true, Detail: fmt.Sprintf("schrijven en teruglezen: %s", roundMs(time.Since(began)))})
		}
	}
	free, err := hub.FreeSpace()
	switch {
	case err != nil:
		checks = append(checks, metrics.Check{Name: "schijf", Detail: "vrije ruimte onbekend: " + err.Error()})
	case free < minFree:
		checks = append(checks, metrics.Check{Name: "schijf", Detail: fmt.Sprintf("te weinig ruimte: %s vrij, ondergrens %s (--min-free-disk)",
			exchange.FormatBytes(int64(free)), exchange.FormatBytes(int64(minFree)))})
	default:
		checks = append(checks, metrics.Check{Name: "schijf", OK: true, Detail: fmt.Sprintf("%s vrij, ondergrens %s",
			exchange.FormatBytes(int64(free)), exchange.FormatBytes(int64(minFree)))})
	}
	return metrics.NewReadiness(checks...)
}

func roundMs(d time.Duration) string {
	if d < time.Millisecond {
		return "minder dan 1 ms"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}
