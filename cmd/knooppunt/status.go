package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"knooppunt/exchange"
	"knooppunt/metrics"
)

// status asks a running hub's metrics listener whether it is ready (/readyz) and prints the
// answer for a person, with a few numbers from /metrics. Exit 0: gereed; 1: niet gereed or
// not reachable; 2: wrong usage.
func status(args []string, stdout, stderr io.Writer) int {
	fs := newSubFlags("status", "", stdout, stderr)
	addr := fs.String("metrics", os.Getenv("KNOOPPUNT_METRICS_LISTEN"), "adres van de metrics van de server (--metrics-listen; KNOOPPUNT_METRICS_LISTEN, anders uit --env)")
	envFile := fs.String("env", defaultEnvFile, "omgevingsbestand van de dienst, voor KNOOPPUNT_METRICS_LISTEN als --metrics ontbreekt")
	asJSON := fs.Bool("json", false, "het antwoord van /readyz als JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "hoe lang te wachten op een antwoord")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fout: onverwacht argument %q\ngebruik: knooppunt status [--metrics ADRES] [--json]\n", fs.Arg(0))
		return 2
	}
	if *addr == "" {
		*addr = envFileValue(*envFile, "KNOOPPUNT_METRICS_LISTEN")
	}
	if *addr == "" || *addr == "uit" {
		fmt.Fprintf(stderr, "fout: geen adres van de metrics; geef --metrics ADRES (zoals bij serve --metrics-listen), zet KNOOPPUNT_METRICS_LISTEN of zet het in %s\n", *envFile)
		return 2
	}
	target := dialable(*addr)
	client := &http.Client{Timeout: *timeout}
	req, err := http.NewRequest("GET", "http://"+target+"/readyz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "fout: --metrics %q: %v\n", *addr, err)
		return 2
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "knooppunt op %s is niet bereikbaar: %v\n(draait de server, met --metrics-listen %s?)\n", target, err, *addr)
		return 1
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	var rd metrics.Readiness
	if err == nil {
		err = json.Unmarshal(body, &rd)
	}
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable) {
		fmt.Fprintf(stderr, "knooppunt op %s gaf een onverwacht antwoord (%s): %.200q\n", target, resp.Status, body)
		return 1
	}
	rd.Ready = rd.Ready && resp.StatusCode == http.StatusOK
	if *asJSON {
		out, _ := json.MarshalIndent(rd, "", "  ")
		fmt.Fprintln(stdout, string(out))
	} else {
		text := rd.Text()
		first, rest, _ := strings.Cut(text, "\n")
		fmt.Fprintf(stdout, "knooppunt op %s: %s\n%s", target, first, rest)
		if s, err := scrape(client, target); err == nil {
			fmt.Fprint(stdout, "\n"+summary(s))
		}
	}
	if !rd.Ready {
		return 1
	}
	return 0
}

// defaultEnvFile is where contrib/knooppunt.service reads its settings.
const defaultEnvFile = "/etc/knooppunt/knooppunt.env"

// envFileValue reads NAME=value from a systemd environment file; "" when it is not there.
func envFileValue(path, name string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	value := ""
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.TrimSpace(k) == name {
			value = strings.Trim(strings.TrimSpace(v), `"'`) // the last one counts, as in systemd
		}
	}
	return value
}

// dialable turns a listen address into one to connect to: no host, 0.0.0.0 or :: mean this
// machine.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func scrape(client *http.Client, target string) (metrics.Samples, error) {
	resp, err := client.Get("http://" + target + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return metrics.Parse(resp.Body)
}

// summary is the numbers a person looks at first, from a scrape.
func summary(s metrics.Samples) string {
	n := func(k string) int64 { return int64(s[k]) }
	size := func(k string) string { return exchange.FormatBytes(n(k)) }
	var b strings.Builder
	fmt.Fprintf(&b, "  verbindingen   %d open; sessies: sftp %d, terminal %d, opdracht %d\n",
		n("knooppunt_ssh_connections_open"), n("knooppunt_ssh_sessions_open|kind=sftp"),
		n("knooppunt_ssh_sessions_open|kind=tui"), n("knooppunt_ssh_sessions_open|kind=command"))
	fmt.Fprintf(&b, "  aanleveringen  %d van %d plaatsen bezet, %d wachtend; %d in de wachtrij, %d in verwerking\n",
		n("knooppunt_admission_slots_in_use"), n("knooppunt_admission_slots"), n("knooppunt_admission_waiting"),
		n("knooppunt_queue_uploads"), n("knooppunt_processing_uploads"))
	fmt.Fprintf(&b, "  sinds de start %d aangenomen, %d afgeleverd, %d afgekeurd; %d mislukte aanmeldingen\n",
		int64(s.Sum("knooppunt_uploads_received_total")),
		int64(sumWhere(s, "knooppunt_uploads_processed_total", "status=afgeleverd")),
		int64(sumWhere(s, "knooppunt_uploads_processed_total", "status=afgekeurd")),
		n("knooppunt_ssh_failed_logins_total"))
	fmt.Fprintf(&b, "  opslag         %s (index %s, waardenlog %s)", exchange.FormatBytes(int64(s.Sum("knooppunt_store_bytes"))),
		size("knooppunt_store_bytes|part=lsm"), size("knooppunt_store_bytes|part=vlog"))
	if _, ok := s["knooppunt_files"]; ok {
		fmt.Fprintf(&b, "; bestanden: %d, samen %s", n("knooppunt_files"), size("knooppunt_files_bytes"))
	}
	b.WriteString("\n")
	return b.String()
}

// sumWhere adds the series of name that carry label (name=value).
func sumWhere(s metrics.Samples, name, label string) float64 {
	total := 0.0
	for k, v := range s {
		if strings.HasPrefix(k, name+"|") && strings.Contains(k+"|", "|"+label+"|") {
			total += v
		}
	}
	return total
}
