package tui

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/sshserver"
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
	keyFile := ""
	for _, d := range w.demo {
		if d.Name == "gemeente" {
			keyFile = d.KeyFile
		}
	}
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sshserver.New(sshserver.Config{Hub: w.h, HostKeys: []gossh.Signer{signer},
		TUI: Session(w.h, Options{HubName: "knooppunt-test"})})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
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

	sock := fmt.Sprintf("knooppunt-weiger-%d", os.Getpid())
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", "portaal", "-x", "100", "-y", "30", fmt.Sprintf("ssh -t %s -p %d gemeente@127.0.0.1; sleep 30", opts, port))
	t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })
	screen := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			got := tmux("capture-pane", "-p", "-t", "portaal")
			if strings.Contains(got, want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q:\n%s", want, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
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
