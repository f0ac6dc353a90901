package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange/stuf"
	"knooppunt/metrics"
)

func TestMonitorFlags(t *testing.T) {
	t.Setenv("KNOOPPUNT_METRICS_LISTEN", "")
	t.Setenv("KNOOPPUNT_MIN_FREE_DISK", "")
	for _, tc := range []struct {
		args    []string
		env     string
		listen  string
		minFree uint64
		print   bool
	}{
		{nil, "", "", 1 << 30, false},
		{[]string{"--demo"}, "", "127.0.0.1:9464", 1 << 30, true},
		{[]string{"--demo", "--metrics-listen", "uit"}, "", "", 1 << 30, true},
		{[]string{"--metrics-listen", ":9100", "--min-free-disk", "500MB"}, "", ":9100", 500 << 20, false},
		{nil, "10.0.0.1:9464", "10.0.0.1:9464", 1 << 30, false},
		{[]string{"--min-free-disk", "0"}, "", "", 0, false},
	} {
		t.Setenv("KNOOPPUNT_METRICS_LISTEN", tc.env)
		f, err := parseServe(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if f.monitor.listen != tc.listen || f.monitor.minFree != tc.minFree || f.monitor.print != tc.print {
			t.Errorf("%v (env %q): %+v", tc.args, tc.env, f.monitor)
		}
	}
	t.Setenv("KNOOPPUNT_METRICS_LISTEN", "")
	for _, bad := range [][]string{{"--metrics-listen", "9464"}, {"--min-free-disk", "veel"}} {
		var stderr bytes.Buffer
		if code := run(append([]string{"serve"}, bad...), io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), bad[0]) {
			t.Errorf("%v: exit %d, %q", bad, code, stderr.String())
		}
	}
}

// checkScrape fetches /metrics, checks it with promtool (Debian's prometheus package, which
// .ci/run installs) when present, and parses it.
func checkScrape(t *testing.T, addr string) metrics.Samples {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %v %s", err, resp.Status)
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed (apt-get install prometheus): the scrape is only parsed")
	}
	s, err := metrics.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsMoveWithRealTraffic runs the real binary with --demo, uploads a correct and a
// wrong envelope and downloads the delivery with OpenSSH sftp, tries a stranger's key, and
// reads the counters move in a scrape that promtool accepts; then knooppunt status.
func TestMetricsMoveWithRealTraffic(t *testing.T) {
	for _, tool := range []string{"sftp", "ssh-keygen", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "knooppunt")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--demo", "--data", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "KNOOPPUNT_METRICS_LISTEN=")
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var maddr, port string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (maddr == "" || port == "") {
		if m := regexp.MustCompile(`^Metrics: http://([0-9.:]+)/metrics`).FindStringSubmatch(sc.Text()); m != nil {
			maddr = m[1]
		}
		if m := regexp.MustCompile(`-P (\d+) gemeente@`).FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
		}
	}
	if maddr == "" || port == "" {
		t.Fatalf("no metrics address or port printed; stderr %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	before := checkScrape(t, maddr)
	if before["knooppunt_uploads_received_total|product=iwmo"] != 0 || before["knooppunt_ssh_connections_open"] != 0 {
		t.Fatalf("counters before any traffic: %v", before)
	}
	sftpRun := func(account, key, batch string) ([]byte, error) {
		c := exec.Command("sftp", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-P", port, "-b", "-", account+"@127.0.0.1")
		c.Stdin = strings.NewReader(batch)
		c.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
		return c.CombinedOutput()
	}
	good := stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678",
		Referentie: "6f1c1f5e-3b0a-4c55-9d3e-2a9c4f7b8e01"}, []byte("<bericht/>"))
	bad := []byte("<a><b></a>")
	up := t.TempDir()
	os.WriteFile(filepath.Join(up, "goed.xml"), good, 0o600)
	os.WriteFile(filepath.Join(up, "fout.xml"), bad, 0o600)
	if out, err := sftpRun("gemeente", filepath.Join(dir, "demo", "gemeente"),
		"put "+up+"/goed.xml /iwmo/aanleveren/\nput "+up+"/fout.xml /iwmo/aanleveren/\n"); err != nil {
		t.Fatalf("sftp put: %v %s", err, out)
	}
	var s metrics.Samples
	for end := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		s = checkScrape(t, maddr)
		if s.Sum("knooppunt_uploads_processed_total") == 2 || time.Now().After(end) {
			break
		}
	}
	down := t.TempDir()
	if out, err := sftpRun("aanbieder", filepath.Join(dir, "demo", "aanbieder"), "get /iwmo/ophalen/*.ZIP "+down+"/\n"); err != nil {
		t.Fatalf("sftp get: %v %s", err, out)
	}
	got, _ := filepath.Glob(filepath.Join(down, "*.ZIP"))
	if len(got) != 1 {
		t.Fatalf("downloaded %v", got)
	}
	fi, _ := os.Stat(got[0])
	stranger := filepath.Join(t.TempDir(), "vreemd")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	if out, err := sftpRun("gemeente", stranger, "ls\n"); err == nil {
		t.Fatalf("a stranger's key logged in: %s", out)
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s = checkScrape(t, maddr)
		if s["knooppunt_ssh_connections_open"] == 0 && s["knooppunt_ssh_failed_logins_total"] == 1 || time.Now().After(end) {
			break
		}
	}
	want := map[string]float64{
		"knooppunt_uploads_received_total|product=iwmo":                    2,
		"knooppunt_uploads_processed_total|product=iwmo|status=afgeleverd": 1,
		"knooppunt_uploads_processed_total|product=iwmo|status=afgekeurd":  1,
		"knooppunt_upload_processing_seconds|product=iwmo|count":           2,
		"knooppunt_upload_latency_seconds|product=iwmo|count":              2,
		"knooppunt_messages_delivered_total|product=iwmo":                  1,
		"knooppunt_messages_rejected_total|code=IB001|product=iwmo":        1, // not well-formed XML is IB001 (issue 13)
		"knooppunt_sftp_received_bytes_total":                              float64(len(good) + len(bad)),
		"knooppunt_sftp_sent_bytes_total":                                  float64(fi.Size()),
		"knooppunt_ssh_connections_total":                                  3,
		"knooppunt_ssh_connections_open":                                   0,
		"knooppunt_ssh_sessions_total|kind=sftp":                           2,
		"knooppunt_ssh_sessions_open|kind=sftp":                            0,
		"knooppunt_ssh_failed_logins_total":                                1,
		"knooppunt_queue_uploads":                                          0,
		"knooppunt_admission_slots_in_use":                                 0,
	}
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for _, k := range []string{"knooppunt_disk_free_bytes", "knooppunt_store_bytes|part=vlog", "knooppunt_files", "process_resident_memory_bytes"} {
		if _, ok := s[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	if s["knooppunt_retention_runs_total|result=ok"] < 1 {
		t.Error("no retention run counted")
	}

	if code, body := httpGet(t, "http://"+maddr+"/healthz"); code != 200 || !strings.Contains(body, "draait") {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+maddr+"/readyz"); code != 200 || !strings.HasPrefix(body, "gereed\n") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	st := exec.Command(bin, "status")
	st.Env = append(os.Environ(), "KNOOPPUNT_METRICS_LISTEN="+maddr)
	out, err := st.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "knooppunt op "+maddr+": gereed\n") || !strings.Contains(string(out), "opslag      ok") ||
		!strings.Contains(string(out), "2 aangenomen, 1 afgeleverd, 1 afgekeurd; 1 mislukte aanmeldingen") {
		t.Errorf("status: %v\n%s", err, out)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
	}
	// Gone: status says so, exit 1.
	if out, err := exec.Command(bin, "status", "--metrics", maddr).CombinedOutput(); exitCode(err) != 1 || !strings.Contains(string(out), "niet bereikbaar") {
		t.Errorf("status of a stopped hub: %v\n%s", err, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// inProcess is a server run by serveInProcess.
type inProcess struct {
	ssh, metrics, data string
	out                *syncBuffer // what serve printed
	stop               func()      // cancels and waits for the server to end
}

// serveInProcess runs serve with the demo data and monitoring on free ports.
func serveInProcess(t *testing.T, f serveFlags) inProcess {
	t.Helper()
	f.data, f.listen, f.demo = t.TempDir(), "127.0.0.1:0", true
	if f.monitor.listen == "" {
		f.monitor.listen = "127.0.0.1:0"
	}
	f.monitor.print = true
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, f, &out, slog.New(slog.DiscardHandler)) }()
	ports := regexp.MustCompile(`(?s)Metrics: http://([0-9.:]+)/metrics.*-P (\d+) `)
	for end := time.Now().Add(time.Minute); !ports.MatchString(out.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			cancel()
			t.Fatalf("server did not start: %s", out.String())
		}
	}
	m := ports.FindStringSubmatch(out.String())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	return inProcess{ssh: "127.0.0.1:" + m[2], metrics: m[1], data: f.data, out: &out, stop: stop}
}

func TestReadyzIsNotReadyOnALowDisk(t *testing.T) {
	maddr := serveInProcess(t, serveFlags{monitor: monitorFlags{minFree: 1 << 60}}).metrics
	code, body := httpGet(t, "http://"+maddr+"/readyz")
	if code != 503 || !strings.HasPrefix(body, "NIET GEREED\n") || !strings.Contains(body, "te weinig ruimte") || !strings.Contains(body, "opslag      ok") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"status", "--metrics", maddr}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), ": NIET GEREED\n") ||
		!strings.Contains(stdout.String(), "schijf      FOUT  te weinig ruimte") {
		t.Errorf("status: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"status", "--metrics", maddr, "--json"}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), `"gereed": false`) {
		t.Errorf("status --json: exit %d\n%s", code, stdout.String())
	}
	if code, _ := httpGet(t, "http://"+maddr+"/healthz"); code != 200 {
		t.Errorf("/healthz on a low disk: %d", code)
	}
}

// TestReadyzSaysStoppingWhileSessionsDrain: after the signal, while an SFTP session keeps the
// server from stopping, /readyz answers 503 "stopt"; then the listener goes with the server.
func TestReadyzSaysStoppingWhileSessionsDrain(t *testing.T) {
	srv := serveInProcess(t, serveFlags{})
	maddr := srv.metrics
	if code, _ := httpGet(t, "http://"+maddr+"/readyz"); code != 200 {
		t.Fatalf("/readyz before: %d", code)
	}
	b, err := os.ReadFile(filepath.Join(srv.data, "demo", "gemeente"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := gossh.Dial("tcp", srv.ssh, &gossh.ClientConfig{User: "gemeente", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	// Stop in the background: Serve waits up to the shutdown grace for the open session.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		srv.stop()
	}()
	var body string
	code := 0
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + maddr + "/readyz")
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
		if code == 503 {
			break
		}
	}
	if code != 503 || !strings.Contains(body, "het knooppunt stopt") {
		t.Errorf("/readyz while draining: %d %q", code, body)
	}
	<-stopped
	if _, err := net.DialTimeout("tcp", maddr, time.Second); err == nil {
		t.Error("the metrics listener outlived the server")
	}
}

// TestDemoEbMSPortTakenFallsBack: the demo's Digikoppeling port (8443) may be taken by another
// demo on the machine; a test failed on it ("address already in use"). The demo then takes a free
// port and prints that one in its curl command; an address given with --ebms-listen is not replaced.
func TestDemoEbMSPortTakenFallsBack(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var demo ebmsFlags
	if err := demo.check(true); err != nil || !demo.demoListen {
		t.Fatalf("the demo's default Digikoppeling address: %v, %+v", err, demo)
	}
	demo.listen = taken.Addr().String() // as if another demo held 8443
	srv := serveInProcess(t, serveFlags{ebms: demo})
	at := regexp.MustCompile(`Digikoppeling \(ebMS2\) op https://([0-9.:]+)/`)
	var m []string
	for end := time.Now().Add(time.Minute); m == nil && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		m = at.FindStringSubmatch(srv.out.String())
	}
	if m == nil {
		t.Fatalf("no Digikoppeling address printed: %s", srv.out.String())
	}
	if m[1] == taken.Addr().String() {
		t.Fatalf("Digikoppeling on the taken address %s", m[1])
	}
	srv.stop()
	given := ebmsFlags{listen: taken.Addr().String()}
	if err := given.check(true); err != nil {
		t.Fatal(err)
	}
	err = runServer(context.Background(), serveFlags{data: t.TempDir(), listen: "127.0.0.1:0", demo: true, monitor: monitorFlags{listen: "127.0.0.1:0"}, ebms: given},
		io.Discard, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--ebms-listen") {
		t.Fatalf("a taken --ebms-listen: %v", err)
	}
}

// TestDemoMetricsPortTakenFallsBack: serve --demo's default metrics port may be taken (another
// demo, another hub); the demo then takes a free port and prints it. An address given with
// --metrics-listen must not be replaced: there the start fails.
func TestDemoMetricsPortTakenFallsBack(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv := serveInProcess(t, serveFlags{monitor: monitorFlags{listen: taken.Addr().String(), demo: true}})
	if srv.metrics == taken.Addr().String() {
		t.Fatalf("metrics on the taken address %s", srv.metrics)
	}
	if code, _ := httpGet(t, "http://"+srv.metrics+"/healthz"); code != 200 {
		t.Fatalf("/healthz on the fallback port: %d", code)
	}
	srv.stop()
	err = runServer(context.Background(), serveFlags{data: t.TempDir(), listen: "127.0.0.1:0", monitor: monitorFlags{listen: taken.Addr().String()}},
		io.Discard, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
		t.Fatalf("a taken --metrics-listen: %v", err)
	}
}

func TestStatusFindsTheAddress(t *testing.T) {
	t.Setenv("KNOOPPUNT_METRICS_LISTEN", "")
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "geen.env")
	if code := run([]string{"status", "--env", missing}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "geen adres") {
		t.Errorf("no address: exit %d %q", code, stderr.String())
	}
	srv := serveInProcess(t, serveFlags{})
	env := filepath.Join(t.TempDir(), "knooppunt.env")
	os.WriteFile(env, []byte("# de dienst\nKNOOPPUNT_LISTEN=:2222\nKNOOPPUNT_METRICS_LISTEN=\"127.0.0.1:1\"\nKNOOPPUNT_METRICS_LISTEN="+srv.metrics+"\n"), 0o600)
	stdout.Reset()
	if code := run([]string{"status", "--env", env}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), srv.metrics+": gereed") {
		t.Errorf("address from the env file: exit %d %q %q", code, stdout.String(), stderr.String())
	}
	if got := dialable(":9464"); got != "127.0.0.1:9464" {
		t.Errorf("dialable(:9464) = %s", got)
	}
	if got := dialable("[::]:9464"); got != "127.0.0.1:9464" {
		t.Errorf("dialable([::]:9464) = %s", got)
	}
}
