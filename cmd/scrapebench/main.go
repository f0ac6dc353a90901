package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"knooppunt/loadgen"
)

func main() {
	bin := flag.String("bin", "", "knooppunt binary (go build -o … ./cmd/knooppunt)")
	data := flag.String("data", "", "data directory (created and seeded when empty)")
	sessions := flag.Int("sessions", 200, "SFTP sessions to open, each its own account and loopback address")
	n := flag.Int("n", 1000, "scrapes per phase")
	every := flag.Duration("every", time.Second, "how often each session lists its folder in the busy phase")
	flag.Parse()
	if *bin == "" || *data == "" {
		fmt.Fprintln(os.Stderr, "gebruik: scrapebench --bin KNOOPPUNT --data MAP [--sessions 200] [--n 1000]")
		os.Exit(2)
	}
	if err := run(*bin, *data, *sessions, *n, *every); err != nil {
		fmt.Fprintln(os.Stderr, "fout:", err)
		os.Exit(1)
	}
}

var metricsAddr = regexp.MustCompile(`msg="metrics en gezondheid" adres=(\S+)`)

func run(bin, data string, sessions, n int, every time.Duration) error {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	setup, err := loadgen.Seed(data, sessions, 1)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	srv, err := loadgen.Start(bin, data, "--metrics-listen", "127.0.0.1:0", "--max-conns", "0")
	if err != nil {
		return err
	}
	defer srv.Stop()
	if !srv.WaitLog("metrics en gezondheid", 30*time.Second) {
		return fmt.Errorf("geen metrics-adres in het log:\n%s", srv.Log())
	}
	m := metricsAddr.FindStringSubmatch(srv.Log())
	url := "http://" + m[1] + "/metrics"
	client := &http.Client{Timeout: time.Minute}
	fmt.Printf("knooppunt pid %d, %s, %d scrapes per phase, %d sessions\n\n", srv.Pid(), url, n, sessions)
	fmt.Println("| phase | sessions open (scrape) | p50 | p90 | p99 | max | /healthz p50 / p99 (control) | server CPU over the phase / scrapes | body | load average (1/5/15 min) before → after |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")

	phase := func(name string) error {
		before := loadavg()
		u0, _ := loadgen.ProcUsage(srv.Pid())
		times, health, size, open, err := scrapes(client, url, n)
		if err != nil {
			return err
		}
		u1, _ := loadgen.ProcUsage(srv.Pid())
		slices.Sort(times)
		slices.Sort(health)
		pct := func(ts []time.Duration, p float64) time.Duration { return ts[min(len(ts)-1, int(p*float64(len(ts))))] }
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s / %s | %s | %d KB | %s → %s |\n", name, open,
			ms(pct(times, 0.50)), ms(pct(times, 0.90)), ms(pct(times, 0.99)), ms(times[len(times)-1]),
			ms(pct(health, 0.50)), ms(pct(health, 0.99)),
			ms((u1.CPU-u0.CPU)/time.Duration(n)), size>>10, before, loadavg())
		return nil
	}
	if err := phase("no sessions"); err != nil {
		return err
	}

	clients := make([]*loadgen.Client, len(setup.Gemeenten))
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for i, a := range setup.Gemeenten {
		wg.Go(func() {
			c, err := loadgen.DialFrom(srv.Addr, data, a, net.IPv4(127, 1, byte(i/200), byte(i%200+1)))
			if err != nil {
				errs <- fmt.Errorf("sessie %d: %w", i, err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	close(errs)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for err := range errs {
		return err
	}
	if err := phase(fmt.Sprintf("%d idle SFTP sessions", len(clients))); err != nil {
		return err
	}

	// Busy: every session lists its ophalen/ folder every interval while the scrapes run.
	ctx, cancel := context.WithCancel(context.Background())
	var busy sync.WaitGroup
	for _, c := range clients {
		busy.Go(func() {
			for ctx.Err() == nil {
				c.SFTP.ReadDir("/iwmo/ophalen")
				select {
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	err = phase(fmt.Sprintf("%d SFTP sessions, each listing ophalen/ every %s", len(clients), every))
	cancel()
	busy.Wait()
	return err
}

// scrapes times n scrapes one after another, each followed by a /healthz as a control (what
// any request costs the server at that moment); it returns both sets of times, the body's size
// and the open sessions the last scrape reported.
func scrapes(client *http.Client, url string, n int) (times, health []time.Duration, size int, open string, err error) {
	get := func(u string) ([]byte, time.Duration, error) {
		began := time.Now()
		resp, err := client.Get(u)
		if err != nil {
			return nil, 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return nil, 0, fmt.Errorf("%s: %v %s", u, err, resp.Status)
		}
		return body, time.Since(began), nil
	}
	var body []byte
	for range n {
		b, d, err := get(url)
		if err != nil {
			return nil, nil, 0, "", err
		}
		body, size = b, len(b)
		times = append(times, d)
		if _, d, err = get(strings.TrimSuffix(url, "/metrics") + "/healthz"); err != nil {
			return nil, nil, 0, "", err
		}
		health = append(health, d)
	}
	open = "?"
	if m := regexp.MustCompile(`(?m)^knooppunt_ssh_sessions_open\{kind="sftp"\} (\S+)$`).FindSubmatch(body); m != nil {
		open = string(m[1])
	}
	return times, health, size, open, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	var a, b5, c string
	fmt.Sscan(string(b), &a, &b5, &c)
	return a + "/" + b5 + "/" + c
}
