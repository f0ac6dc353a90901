package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/storage"
)

// auditStore makes a data directory whose audit log has some entries.
func auditStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	hub, err := exchange.Open(exchange.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hub.SeedDemo(filepath.Join(dir, "demo")); err != nil {
		t.Fatal(err)
	}
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runAudit(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"audit"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAuditVerifyAndTampering(t *testing.T) {
	t.Setenv("KNOOPPUNT_LISTEN", "")
	dir := auditStore(t)
	code, out, errOut := runAudit("verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "auditlog intact: 11 regels") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	anchor := strings.Fields(out[strings.Index(out, "kop: "):])[1]
	if code, out, _ := runAudit("verify", "--data", dir, "--anker", anchor); code != 0 || !strings.Contains(out, "anker klopt") {
		t.Fatalf("verify --anker: exit %d %s", code, out)
	}

	// Someone with access to the data directory changes entry 3 behind the hub's back.
	db, err := storage.OpenBadger(filepath.Join(dir, "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	k := binary.BigEndian.AppendUint64([]byte("audit/"), 3)
	err = db.Update(func(tx storage.Txn) error {
		v, err := tx.Get(k)
		if err != nil {
			return err
		}
		return tx.Set(k, bytes.Replace(v, []byte(`"resultaat":"ok"`), []byte(`"resultaat":"mislukt"`), 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, errOut = runAudit("verify", "--data", dir)
	if code != 1 || !strings.Contains(out, "GEBROKEN: regel 3 ") || !strings.Contains(errOut, "beveiligingsincident") {
		t.Fatalf("tampered log: exit %d\n%s%s", code, out, errOut)
	}
}

func TestAuditExportCLI(t *testing.T) {
	dir := auditStore(t)
	code, out, errOut := runAudit("export", "--data", dir, "--van", "5")
	if code != 0 {
		t.Fatalf("export: exit %d %s", code, errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	want := uint64(5)
	for sc.Scan() {
		var e exchange.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Seq != want || len(e.Hash) != 64 {
			t.Fatalf("line for %d: %v %s", want, err, sc.Text())
		}
		want++
	}
	if want != 12 {
		t.Errorf("export from 5 ended before %d, want 12", want)
	}
}

func TestAuditWhileAServerHoldsTheStore(t *testing.T) {
	t.Setenv("KNOOPPUNT_LISTEN", "127.0.0.1:2200")
	dir := auditStore(t)
	hub, err := exchange.Open(exchange.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	code, _, errOut := runAudit("verify", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "ssh -p 2200 beheer@127.0.0.1 audit verify") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

func TestAuditUsage(t *testing.T) {
	dir := auditStore(t)
	for _, args := range [][]string{nil, {"herschrijf"}, {"verify", "--data", dir, "extra"}, {"verify", "--data", dir, "--anker", "3:abc"},
		{"export", "--data", dir, "--van", "0"}, {"export", "--bogus"}} {
		if code, _, errOut := runAudit(args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	if code, _, errOut := runAudit("verify", "--data", filepath.Join(dir, "nergens")); code != 1 || !strings.Contains(errOut, "nergens") {
		t.Errorf("missing data dir: exit %d, %q", code, errOut)
	}
}

func TestServeLimitFlags(t *testing.T) {
	for _, k := range []string{"KNOOPPUNT_QUOTA", "KNOOPPUNT_MAX_CONNS", "KNOOPPUNT_IDLE_TIMEOUT", "KNOOPPUNT_MAX_SESSION", "KNOOPPUNT_UPLOAD_STALL"} {
		t.Setenv(k, "")
	}
	f, err := parseServe(nil, io.Discard)
	if err != nil || f.quota != 10<<30 || f.maxConns != 64 || f.idleTimeout != 30*time.Minute || f.maxSession != 12*time.Hour || f.uploadStall != 5*time.Minute {
		t.Fatalf("defaults: %+v %v", f, err)
	}
	f, err = parseServe([]string{"--quota", "500MB", "--max-conns", "0", "--idle-timeout", "0", "--max-session", "1h30m", "--upload-stall", "0"}, io.Discard)
	if err != nil || f.quota != 500<<20 || f.maxConns != -1 || f.idleTimeout != 0 || f.maxSession != 90*time.Minute || f.uploadStall >= 0 {
		t.Fatalf("flags: %+v %v", f, err)
	}
	t.Setenv("KNOOPPUNT_QUOTA", "0")
	if f, err = parseServe(nil, io.Discard); err != nil || f.quota != -1 {
		t.Fatalf("KNOOPPUNT_QUOTA=0: %+v %v", f, err)
	}
	for _, bad := range [][]string{{"--quota", "veel"}, {"--max-conns", "-3"}, {"--idle-timeout", "5"}, {"--max-session", "-1h"}, {"--upload-stall", "kort"}} {
		var stderr bytes.Buffer
		if code := run(append([]string{"serve"}, bad...), io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), bad[0]) {
			t.Errorf("%v: exit %d, %q", bad, code, stderr.String())
		}
	}
}

func TestServePayloadCheckFlag(t *testing.T) {
	if f, err := parseServe(nil, io.Discard); err != nil || !f.payloadCheck {
		t.Fatalf("default: payload check %v, %v; want on", f.payloadCheck, err)
	}
	if f, err := parseServe([]string{"--payload-check=false"}, io.Discard); err != nil || f.payloadCheck {
		t.Fatalf("--payload-check=false: %v, %v; want off", f.payloadCheck, err)
	}
}

// The offline commands on a store a running server holds say so, and give the SSH command
// that asks the server instead; a % in the backup's file name stays a %.
func TestOfflineCommandsOnARunningStoreNameTheSSHCommand(t *testing.T) {
	dir := t.TempDir()
	hub, err := exchange.Open(exchange.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	t.Setenv("KNOOPPUNT_LISTEN", "hub.example:2022")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "verify", "--data", dir}, "ssh -p 2022 beheer@hub.example audit verify"},
		{[]string{"backup", "--to", "hub-100%.tar", "--data", dir}, "ssh -p 2022 beheer@hub.example backup > hub-100%.tar"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
