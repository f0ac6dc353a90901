package tui

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/sshserver"
)

// TestSSHSession logs in with OpenSSH through tmux, as a person would, opens Ophalen, marks
// a file gelezen and checks over SFTP, as the same account, that the file left ophalen/nieuw/
// and stays in ophalen/.
func TestSSHSession(t *testing.T) {
	for _, tool := range []string{"tmux", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	w := newWorld(t)
	w.seed()
	keyFile := w.keyFile("gemeente")
	ln := serveSSH(t, w, Options{HubName: "knooppunt-test"})
	port := ln.Addr().(*net.TCPAddr).Port
	tmux, screen := startTmux(t, "portaal", 100, 30,
		fmt.Sprintf("ssh -t -F /dev/null -i %s -p %d -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null gemeente@127.0.0.1; sleep 30", keyFile, port))
	ds, _, err := w.h.Inbox(context.Background(), w.principal("gemeente"), exchange.IWmo, exchange.InboxOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) < 2 {
		t.Fatalf("the seed left %d files in ophalen, want at least 2", len(ds))
	}
	marked := ds[0].Name // the newest, under the cursor when Ophalen opens
	if got := sftpList(t, ln.Addr().String(), keyFile, "/iwmo/ophalen/nieuw"); !slices.Contains(got, marked) {
		t.Fatalf("before the test %s is not in ophalen/nieuw/: %v", marked, got)
	}

	screen("[Aanleveren]")
	screen("Test Gemeente 1 (9999)")
	tmux("send-keys", "-t", "portaal", "Tab", "Tab")
	before := screen("U kunt hier een iWmo bericht ophalen")
	if strings.Contains(before, "✓") {
		t.Fatalf("a file is gelezen before the test marked one:\n%s", before)
	}
	tmux("send-keys", "-t", "portaal", "m")
	after := screen("gemarkeerd als gelezen")
	if !strings.Contains(after, "✓") {
		t.Errorf("the list does not show the file as gelezen:\n%s", after)
	}
	nieuw := sftpList(t, ln.Addr().String(), keyFile, "/iwmo/ophalen/nieuw")
	if slices.Contains(nieuw, marked) {
		t.Errorf("%s is still in ophalen/nieuw/ after marking it gelezen: %v", marked, nieuw)
	}
	for _, d := range ds[1:] {
		if !slices.Contains(nieuw, d.Name) {
			t.Errorf("%s, not marked, left ophalen/nieuw/: %v", d.Name, nieuw)
		}
	}
	if all := sftpList(t, ln.Addr().String(), keyFile, "/iwmo/ophalen"); !slices.Contains(all, marked) {
		t.Errorf("%s is gone from ophalen/ after marking it gelezen: %v", marked, all)
	}
	tmux("send-keys", "-t", "portaal", "q")
	screen("Connection to 127.0.0.1 closed.")
}

func (w *world) keyFile(account string) string {
	for _, d := range w.demo {
		if d.Name == account {
			return d.KeyFile
		}
	}
	w.t.Fatalf("no demo key for %s", account)
	return ""
}

// serveSSH runs the real SSH server with the portal on a random port of 127.0.0.1 until the
// test ends.
func serveSSH(t *testing.T, w *world, opts Options) net.Listener {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sshserver.New(sshserver.Config{Hub: w.h, HostKeys: []gossh.Signer{signer}, TUI: Session(w.h, opts)})
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
	// Registered after newWorld, so it runs first: the server stops before the store closes.
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return ln
}

// startTmux runs command in a detached tmux session of width×height on a server of its
// own; tmux runs tmux commands against it, screen waits until the pane shows want.
func startTmux(t *testing.T, name string, width, height int, command string) (tmux func(args ...string) string, screen func(want string) string) {
	t.Helper()
	for _, tool := range []string{"tmux", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	sock := fmt.Sprintf("knooppunt-tui-%d-%s", os.Getpid(), name)
	tmux = func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", name, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), command)
	t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })
	screen = func(want string) string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			got := tmux("capture-pane", "-p", "-t", name)
			if strings.Contains(got, want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q:\n%s", want, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return tmux, screen
}

// sftpList logs in over SFTP with the key in keyFile, as a script would, and lists dir.
func sftpList(t *testing.T, addr, keyFile, dir string) []string {
	t.Helper()
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "gemeente",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), // a host key made up by this test
		Timeout:         30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	infos, err := client.ReadDir(dir)
	if err != nil {
		t.Fatalf("ls %s: %v", dir, err)
	}
	var names []string
	for _, fi := range infos {
		if !fi.IsDir() {
			names = append(names, fi.Name())
		}
	}
	return names
}

// serveSSH runs the real SSH server with the TUI in front of w's hub on a loopback port
// until the test ends.
func (w *world) serveSSH() net.Listener {
	w.t.Helper()
	return serveSSH(w.t, w, Options{HubName: "knooppunt-test"})
}
