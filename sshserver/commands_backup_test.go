package sshserver

import (
	"context"
	"log/slog"
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
	// Only the beheerder.
	for _, acct := range []string{"gemeente", "ameland"} {
		out, errOut, code := th.ssh(acct, th.keys[acct], "backup")
		if code != exitDenied || out != "" || !strings.Contains(errOut, "beheerder") {
			t.Errorf("%s backup: exit %d, stdout %d bytes, stderr %q", acct, code, len(out), errOut)
		}
	}
}
