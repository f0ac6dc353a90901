package sshserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"knooppunt/exchange"
)

func TestBackupCommandOverSSH(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	th.sftp(t, "gemeente", "ls /iwmo\n")

	out, errOut, code := th.ssh("beheer", th.keys["beheer"], "backup")
	if code != exitOK || !strings.Contains(errOut, "backup klaar: moment ") {
		t.Fatalf("backup: exit %d, stderr %q", code, errOut)
	}
	res, err := exchange.RestoreBackup(context.Background(), strings.NewReader(out),
		exchange.Config{DataDir: filepath.Join(t.TempDir(), "terug"), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("restore of what ssh wrote (%d bytes): %v", len(out), err)
	}
	if !res.AuditMatches || res.Records == 0 {
		t.Fatalf("restore: %+v", res)
	}
	// An incremental one: the manifest of the first on stdin.
	m, err := exchange.ReadManifest(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	mj, _ := json.Marshal(m)
	cmd := exec.Command("ssh", append(th.sshOpts(th.keys["beheer"]), "-p", th.port, "beheer@127.0.0.1", "--", "backup", "--sinds", "-")...)
	cmd.Stdin = bytes.NewReader(mj)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	var incr, incrErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &incr, &incrErr
	if err := cmd.Run(); err != nil || !strings.Contains(incrErr.String(), "aanvulling op de backup van") {
		t.Fatalf("backup --sinds -: %v %s", err, incrErr.String())
	}
	if _, err := exchange.RestoreBackup(context.Background(), &incr, exchange.Config{DataDir: filepath.Join(t.TempDir(), "t2"), Log: slog.New(slog.DiscardHandler)},
		strings.NewReader(out)); err != nil {
		t.Fatalf("restore of the incremental: %v", err)
	}

	// A backup is binary: on a terminal (ssh -tt) the server says so, and no tar comes out.
	tty := exec.Command("ssh", append(th.sshOpts(th.keys["beheer"]), "-tt", "-p", th.port, "beheer@127.0.0.1", "--", "backup")...)
	tty.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	ttyOut, err := tty.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(ttyOut), "zonder terminal") || bytes.Contains(ttyOut, []byte("manifest.json")) {
		t.Fatalf("backup on a terminal: %v, %d bytes: %q", err, len(ttyOut), ttyOut[:min(len(ttyOut), 300)])
	}

	// Only the beheerder.
	for _, acct := range []string{"gemeente", "ameland"} {
		for _, args := range [][]string{{"backup"}, {"backup", "--sinds", "-"}} {
			out, errOut, code := th.ssh(acct, th.keys[acct], args...)
			if code != exitDenied || out != "" || !strings.Contains(errOut, "beheerder") {
				t.Errorf("%s %v: exit %d, stdout %d bytes, stderr %q", acct, args, code, len(out), errOut)
			}
		}
	}
}
