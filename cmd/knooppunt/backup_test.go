package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"knooppunt/exchange"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// The offline backup and the restore from the command line, and what they refuse.
func TestBackupAndRestoreCLI(t *testing.T) {
	t.Setenv("KNOOPPUNT_LISTEN", "")
	dir := auditStore(t)
	tarFile := filepath.Join(t.TempDir(), "hub.tar")
	code, _, errOut := runCLI("backup", "--data", dir, "--to", tarFile)
	if code != 0 || !strings.Contains(errOut, "backup klaar: moment ") {
		t.Fatalf("backup: exit %d %s", code, errOut)
	}
	if st, err := os.Stat(tarFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	if _, err := os.Stat(tarFile + ".partial"); !os.IsNotExist(err) {
		t.Fatal("a .partial file is left")
	}
	newDir := filepath.Join(t.TempDir(), "terug")
	code, out, errOut := runCLI("restore", "--from", tarFile, "--data", newDir)
	if code != 0 || !strings.Contains(out, "auditkop gelijk aan die van de backup") || !strings.Contains(out, "auditlog intact") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI("restore", "--from", tarFile, "--data", newDir)
	if code != 1 || !strings.Contains(errOut, "niet leeg") {
		t.Fatalf("restore over the restore: exit %d %s", code, errOut)
	}
	if code, _, _ := runCLI("restore", "--from", tarFile); code != 2 {
		t.Fatalf("restore without --data: exit %d", code)
	}

	// An incremental one on top of the first, restored with both.
	incr := filepath.Join(t.TempDir(), "aanvulling.tar")
	code, _, errOut = runCLI("backup", "--data", dir, "--to", incr, "--sinds", tarFile)
	if code != 0 || !strings.Contains(errOut, "aanvulling op de backup van") {
		t.Fatalf("incremental backup: exit %d %s", code, errOut)
	}
	code, out, errOut = runCLI("restore", "--from", incr, "--from", tarFile, "--data", filepath.Join(t.TempDir(), "t2"))
	if code != 0 || !strings.Contains(out, "auditkop gelijk") {
		t.Fatalf("restore of the incremental: exit %d\n%s%s", code, out, errOut)
	}

	// While a server holds the store, the CLI names the SSH command.
	hub, err := exchange.Open(exchange.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	code, _, errOut = runCLI("backup", "--data", dir, "--to", tarFile)
	if code != 1 || !strings.Contains(errOut, "beheer@localhost backup > ") {
		t.Fatalf("backup of a held store: exit %d %s", code, errOut)
	}
}

func TestShutdownGraceFlag(t *testing.T) {
	t.Setenv("KNOOPPUNT_SHUTDOWN_GRACE", "")
	f, err := parseServe(nil, &bytes.Buffer{})
	if err != nil || f.shutdownGrace.String() != "30s" {
		t.Fatalf("default: %v %v", f.shutdownGrace, err)
	}
	t.Setenv("KNOOPPUNT_SHUTDOWN_GRACE", "2m")
	if f, err = parseServe(nil, &bytes.Buffer{}); err != nil || f.shutdownGrace.String() != "2m0s" {
		t.Fatalf("env: %v %v", f.shutdownGrace, err)
	}
	if _, err := parseServe([]string{"--shutdown-grace", "0"}, &bytes.Buffer{}); err == nil {
		t.Fatal("--shutdown-grace 0 accepted")
	}
}
