package faults

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/stuf"
	"knooppunt/loadgen"
)

// bigZip is a stored (uncompressed) ZIP of n envelopes of about size bytes each, with
// payloads that do not compress: on the wire it is as big as it says.
func bigZip(t *testing.T, zender string, envs []loadgen.Envelope, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	payload := make([]byte, size*3/4)
	for _, e := range envs {
		rand.Read(payload)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: loadgen.EntryName(e.Ref), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(stuf.Build(stuf.Envelope{ZenderOrg: zender, OntvangerOrg: e.Ontvanger, Referentie: e.Ref}, payload))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// exited waits for the server process to end by itself and returns how long it took.
func exited(t *testing.T, srv *loadgen.Server, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for time.Since(began) < within {
		if err := syscall.Kill(srv.Pid(), 0); err != nil {
			return time.Since(began)
		}
		if strings.Contains(srv.Log(), "knooppunt gestopt") {
			return time.Since(began)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("de server stopte niet binnen %s na SIGTERM:\n%s", within, srv.Log())
	return 0
}

// statusOf asks the running server, through the command door, for the status of an upload.
func statusOf(t *testing.T, c *loadgen.Client, name string) string {
	t.Helper()
	sess, err := c.SSH.NewSession()
	if err != nil {
		return ""
	}
	defer sess.Close()
	out, _ := sess.Output("aanleveringen --json")
	var ups []struct {
		Name   string `json:"bestandsnaam"`
		Status string `json:"status"`
	}
	json.Unmarshal(out, &ups)
	for _, u := range ups {
		if u.Name == name {
			return u.Status
		}
	}
	return ""
}

// TestSIGTERMDrains stops the hub with SIGTERM twice: during a 100 MB upload by OpenSSH sftp,
// which finishes within --shutdown-grace and is accepted, while new connections are refused;
// and while the engine processes a large upload, which is parked and finished after the
// restart. At the end every upload is recorded once and every envelope delivered exactly
// once.
func TestSIGTERMDrains(t *testing.T) {
	needBinary(t)
	needOpenSSH(t)
	dir, keys := t.TempDir(), t.TempDir()
	setup, _ := seedWithBeheerder(t, dir, keys, 1, 2)
	g := setup.Gemeenten[0]
	key := keyFile(t, keys, g)
	var sent []loadgen.Envelope

	// 1. SIGTERM during a 100 MB upload, limited to ~25 MB/s so it takes a few seconds.
	envs := spread(5, setup.Aanbieders)
	sent = append(sent, envs...)
	big := filepath.Join(t.TempDir(), "groot.zip")
	if err := os.WriteFile(big, bigZip(t, g.Org, envs, 20<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := start(t, dir, "--shutdown-grace", "60s")
	put := sftpBatch(t, srv.Addr, key, g.Name, "put "+big+" /iwmo/aanleveren/groot.zip\n", "-l", "200000")
	var putOut bytes.Buffer
	put.Stdout, put.Stderr = &putOut, &putOut
	if err := put.Start(); err != nil {
		t.Fatal(err)
	}
	putDone := make(chan error, 1)
	go func() { putDone <- put.Wait() }()
	time.Sleep(1500 * time.Millisecond)
	select {
	case err := <-putDone:
		t.Fatalf("the upload ended before the SIGTERM (%v): make it slower\n%s", err, putOut.String())
	default:
	}
	srv.Signal(syscall.SIGTERM)
	if !srv.WaitLog("knooppunt stopt", 5*time.Second) {
		t.Fatalf("no drain in the log:\n%s", srv.Log())
	}
	// Draining: a new connection is refused.
	if out, err := exec.Command("ssh", append(opensshArgs(key), "-p", portOf(t, srv.Addr), g.Name+"@127.0.0.1", "whoami")...).CombinedOutput(); err == nil {
		t.Errorf("a new connection during the drain was accepted:\n%s", out)
	}
	if err := <-putDone; err != nil {
		t.Fatalf("the upload in progress did not finish during the drain: %v\n%s\n%s", err, putOut.String(), srv.Log())
	}
	took := exited(t, srv, 60*time.Second)
	if err := srv.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("100 MB-upload afgerond tijdens het stoppen; server stopte %s na het einde van de upload", took.Round(time.Millisecond))

	// 2. SIGTERM while the engine processes a large upload.
	srv = start(t, dir, "--shutdown-grace", "60s")
	c := dial(t, srv, dir, g)
	many := spread(20000, setup.Aanbieders)
	sent = append(sent, many...)
	if err := c.Put("iwmo", "veel.zip", loadgen.BuildZip(g.Org, many, loadgen.Payload(300))); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(time.Minute)
	for statusOf(t, c, "veel.zip") != "Bezig" {
		if time.Now().After(end) {
			t.Fatalf("veel.zip never Bezig: %s", statusOf(t, c, "veel.zip"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	srv.Signal(syscall.SIGTERM)
	took = exited(t, srv, 60*time.Second)
	if err := srv.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("SIGTERM tijdens de verwerking: server stopte na %s", took.Round(time.Millisecond))

	// After the restart: everything once.
	srv = start(t, dir)
	waitAllFinal(t, srv, dir, setup)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	st := finish(t, dir, setup)
	if len(st.uploads) != 2 {
		t.Fatalf("%d uploads recorded, want 2: %v", len(st.uploads), st.uploads)
	}
	for name, u := range st.uploads {
		if u.Status != exchange.Afgeleverd {
			t.Errorf("%s: %s %+v", name, u.Status, u.Counts)
		}
	}
	lost, doubled := 0, 0
	for _, e := range sent {
		switch st.delivered[e.Ref] {
		case 1:
		case 0:
			lost++
		default:
			doubled++
		}
	}
	if lost > 0 || doubled > 0 || len(st.delivered) != len(sent) {
		t.Fatalf("%d envelopes sent, %d delivered: %d lost, %d doubled", len(sent), len(st.delivered), lost, doubled)
	}
}
