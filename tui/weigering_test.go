package tui

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusedUploadInAanleveren: a put that OpenSSH's sftp answers only with "Permission
// denied" shows in the portal's Aanleveren as Afgekeurd, and its verslag says why (issue 13,
// item 1). Through the real server: sftp -b for the put, ssh -t in tmux for the portal.
func TestRefusedUploadInAanleveren(t *testing.T) {
	for _, tool := range []string{"tmux", "ssh", "sftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	w := newWorld(t)
	keyFile := w.keyFile("gemeente")
	ln := serveSSH(t, w, Options{HubName: "knooppunt-test"})
	port := ln.Addr().(*net.TCPAddr).Port
	opts := fmt.Sprintf("-F /dev/null -i %s -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null", keyFile)

	notes := filepath.Join(t.TempDir(), "notities.txt")
	if err := os.WriteFile(notes, []byte("geen bericht"), 0o644); err != nil {
		t.Fatal(err)
	}
	put := exec.Command("sh", "-c", fmt.Sprintf("echo 'put %s /iwmo/aanleveren/' | sftp %s -P %d -b - gemeente@127.0.0.1", notes, opts, port))
	put.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if out, err := put.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("sftp put notities.txt: %v %s", err, out)
	}

	tmux, screen := startTmux(t, "portaal", 100, 30, fmt.Sprintf("ssh -t %s -p %d gemeente@127.0.0.1; sleep 30", opts, port))
	list := screen("notities.txt")
	if !strings.Contains(list, "Afgekeurd") {
		t.Fatalf("Aanleveren does not show the refusal as Afgekeurd:\n%s", list)
	}
	tmux("send-keys", "-t", "portaal", "Enter")
	verslag := screen("KP009")
	if !strings.Contains(verslag, "wordt niet aangenomen") {
		t.Fatalf("the verslag does not give the reason:\n%s", verslag)
	}
	tmux("send-keys", "-t", "portaal", "Escape", "q")
}
