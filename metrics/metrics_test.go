package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CheckExposition checks a scrape with promtool (Debian's prometheus package; .ci/run
// installs it) when it is there, and always with the text parser of prometheus/common. It
// returns the families by name.
func CheckExposition(t testing.TB, body []byte) Samples {
	t.Helper()
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed (apt-get install prometheus): only the text parser checks the scrape")
	}
	got, err := Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	return got
}

func get(t *testing.T, h http.Handler, path, accept string) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestScrapeParsesAndCountersMove(t *testing.T) {
	m := New()
	m.WatchState(func() State {
		return State{Queued: 3, Processing: 1, Workers: 8, AdmissionCapacity: 16, AdmissionHeld: 4, StoreIndexBytes: 10, StoreValueBytes: 20,
			Files: 7, FileBytes: 7000, FilesMeasured: time.Unix(1_700_000_000, 0), FreeBytes: 1 << 30, FreeOK: true}
	})
	m.UploadReceived("iwmo")
	m.UploadFinished("iwmo", "afgekeurd", 200*time.Millisecond, time.Second, 2)
	m.MessageRejected("iwmo", "IB004")
	m.AdmissionWaited(3*time.Second, "bezet")
	m.RetentionRun(time.Millisecond, nil)
	m.RetentionRun(time.Millisecond, errors.New("schijf vol"))
	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed()
	m.ConnRefused("max_verbindingen")
	m.LoginFailed()
	m.SessionOpened("sftp")
	m.SessionOpened("command")
	m.SessionClosed("command")
	m.SFTPReceived(1000)
	m.SFTPSent(500)

	code, body := get(t, Handler(m, nil, nil), "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	got := CheckExposition(t, []byte(body))
	want := map[string]float64{
		"knooppunt_uploads_received_total|product=iwmo":                   1,
		"knooppunt_uploads_received_total|product=pgb-jw":                 0,
		"knooppunt_uploads_processed_total|product=iwmo|status=afgekeurd": 1,
		"knooppunt_upload_processing_seconds|product=iwmo|count":          1,
		"knooppunt_upload_latency_seconds|product=iwmo|count":             1,
		"knooppunt_messages_delivered_total|product=iwmo":                 2,
		"knooppunt_messages_rejected_total|code=IB004|product=iwmo":       1,
		"knooppunt_admission_waits_total|outcome=bezet":                   1,
		"knooppunt_admission_wait_seconds|count":                          1,
		"knooppunt_retention_runs_total|result=ok":                        1,
		"knooppunt_retention_runs_total|result=fout":                      1,
		"knooppunt_ssh_connections_total":                                 2,
		"knooppunt_ssh_connections_open":                                  1,
		"knooppunt_ssh_connections_refused_total|reason=max_verbindingen": 1,
		"knooppunt_ssh_failed_logins_total":                               1,
		"knooppunt_ssh_sessions_total|kind=command":                       1,
		"knooppunt_ssh_sessions_open|kind=sftp":                           1,
		"knooppunt_ssh_sessions_open|kind=command":                        0,
		"knooppunt_sftp_received_bytes_total":                             1000,
		"knooppunt_sftp_sent_bytes_total":                                 500,
		"knooppunt_queue_uploads":                                         3,
		"knooppunt_processing_uploads":                                    1,
		"knooppunt_admission_slots":                                       16,
		"knooppunt_admission_slots_in_use":                                4,
		"knooppunt_store_bytes|part=vlog":                                 20,
		"knooppunt_files":                                                 7,
		"knooppunt_files_bytes":                                           7000,
		"knooppunt_files_counted_timestamp_seconds":                       1_700_000_000,
		"knooppunt_disk_free_bytes":                                       1 << 30,
		"knooppunt_shutting_down":                                         0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["process_resident_memory_bytes"]; !ok {
		t.Error("no process metrics")
	}
	if got["knooppunt_retention_last_success_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Error("last retention success not set")
	}
}

func TestStateLeavesOutWhatIsNotKnown(t *testing.T) {
	m := New()
	m.WatchState(func() State { return State{} })
	_, body := get(t, Handler(m, nil, nil), "/metrics", "")
	got := CheckExposition(t, []byte(body))
	for _, k := range []string{"knooppunt_files", "knooppunt_files_bytes", "knooppunt_disk_free_bytes"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s reported without a measurement", k)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	calls := 0
	ok := true
	h := Handler(New(), func(context.Context) Readiness {
		calls++
		return NewReadiness(
			Check{Name: "opslag", OK: true, Detail: "schrijven en teruglezen: 3 ms"},
			Check{Name: "schijf", OK: ok, Detail: "10 GiB vrij"})
	}, nil)
	if code, body := get(t, h, "/healthz", ""); code != 200 || body != "knooppunt draait\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, h, "/readyz", "")
	if code != 200 || !strings.HasPrefix(body, "gereed\n") || !strings.Contains(body, "  schijf  ok    10 GiB vrij\n") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	// A second look within a second reuses the answer: the check writes to disk.
	get(t, h, "/readyz", "")
	if calls != 1 {
		t.Errorf("readiness computed %d times", calls)
	}

	ok = false
	h = Handler(New(), func(context.Context) Readiness {
		return NewReadiness(Check{Name: "schijf", OK: ok, Detail: "100 MiB vrij; ondergrens 1 GiB"})
	}, nil)
	code, body = get(t, h, "/readyz", "application/json")
	var rd Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 503 || rd.Ready || len(rd.Checks) != 1 || rd.Checks[0].OK {
		t.Errorf("/readyz json: %d %q %v", code, body, err)
	}
	if code, body := get(t, h, "/readyz", ""); code != 503 || !strings.HasPrefix(body, "NIET GEREED\n") || !strings.Contains(body, "FOUT") {
		t.Errorf("/readyz text: %d %q", code, body)
	}
	if code, _ := get(t, h, "/nergens", ""); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	ln := httptest.NewUnstartedServer(nil).Listener
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(New(), nil, nil)) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

// TestLabelsNameNoOrganisation: the scrape is unauthenticated, so no label may carry who
// (an organisation, account, address) or what (a file name): only these label names exist.
func TestLabelsNameNoOrganisation(t *testing.T) {
	m := New()
	m.WatchState(func() State { return State{FilesMeasured: time.Now(), FreeOK: true} })
	m.UploadFinished("iwmo", "afgeleverd", time.Second, time.Second, 1)
	m.MessageRejected("iwmo", "IB004")
	m.AdmissionWaited(time.Second, "bezet")
	m.ConnRefused("adres_geblokkeerd")
	_, body := get(t, Handler(m, nil, nil), "/metrics", "")
	allowed := map[string]bool{"product": true, "status": true, "code": true, "outcome": true, "result": true, "kind": true, "reason": true, "part": true, "le": true}
	for _, k := range CheckExposition(t, []byte(body)).Keys() {
		if !strings.HasPrefix(k, "knooppunt_") {
			continue
		}
		for _, l := range strings.Split(k, "|")[1:] {
			if name, _, _ := strings.Cut(l, "="); name != "count" && name != "sum" && !allowed[name] {
				t.Errorf("%s: label %q", k, name)
			}
		}
	}
}

// A drain can end within the second a ready answer is reused: once the hub stops, /readyz
// asks again instead of repeating "gereed" to the load balancer.
func TestReadyzCacheDoesNotHideStopping(t *testing.T) {
	stopping := false
	h := Handler(New(), func(context.Context) Readiness {
		return NewReadiness(Check{Name: "in bedrijf", OK: !stopping, Detail: "-"})
	}, func() bool { return stopping })
	if code, _ := get(t, h, "/readyz", ""); code != 200 {
		t.Fatalf("/readyz before stopping: %d", code)
	}
	stopping = true
	if code, _ := get(t, h, "/readyz", ""); code != 503 {
		t.Errorf("/readyz right after stopping: %d, want 503", code)
	}
}
