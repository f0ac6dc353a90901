package tui

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"knooppunt/exchange"
)

// TestSSHDownloadSelection is the portal's "Download selectie" through the real server: in
// tmux, OpenSSH ssh -t opens Ophalen, selects two of three files and shows the command
// (d); the command, pasted as it is into bash, fetches exactly those two with OpenSSH sftp
// from the host and port the server really listens on.
func TestSSHDownloadSelection(t *testing.T) {
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("sftp is not installed")
	}
	w := newWorld(t)
	w.seed()
	keyFile := w.keyFile("gemeente")
	ln := serveSSH(t, w, Options{HubName: "knooppunt-test"})
	port := ln.Addr().(*net.TCPAddr).Port
	tmux, screen := startTmux(t, "selectie", 100, 30,
		fmt.Sprintf("ssh -t -F /dev/null -i %s -p %d -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null gemeente@127.0.0.1; sleep 30", keyFile, port))
	ds := w.inbox(w.principal("gemeente"))
	if len(ds) != 3 {
		t.Fatalf("the seed left %d files in ophalen, want 3", len(ds))
	}
	screen("[Aanleveren]")
	tmux("send-keys", "-t", "selectie", "Tab", "Tab")
	screen("U kunt hier een iWmo bericht ophalen")
	// The first and the third: space selects and moves down.
	tmux("send-keys", "-t", "selectie", "Space", "Down", "Space")
	screen("Selectie (2)")
	tmux("send-keys", "-t", "selectie", "d")
	got := screen("EOF")
	var lines []string
	in := false
	for _, l := range strings.Split(got, "\n") {
		l = strings.TrimRight(l, " ")
		if strings.HasPrefix(l, "sftp ") {
			in = true
		}
		if in {
			lines = append(lines, l)
		}
		if in && l == "EOF" {
			break
		}
	}
	cmd := strings.Join(lines, "\n")
	wantTarget := fmt.Sprintf("-P %d gemeente@127.0.0.1", port)
	if !strings.Contains(cmd, wantTarget) || !strings.Contains(cmd, "-i ~/.ssh/id_ed25519") {
		t.Fatalf("the command does not name the key placeholder and %q:\n%s", wantTarget, got)
	}
	// Paste it as it is, for a person whose key is ~/.ssh/id_ed25519 and who trusts the host.
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// OpenSSH reads known_hosts from the passwd home, not $HOME: trust the test's host key
	// on the command line, as the person's known_hosts would.
	trusted := strings.Replace(cmd, "sftp ", "sftp -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -F /dev/null ", 1)
	sh := exec.Command("bash", "-c", trusted)
	sh.Dir = dir
	sh.Env = append(os.Environ(), "HOME="+home)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the pasted command failed: %v\n%s\n%s", err, cmd, out)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{ds[0].Name, ds[2].Name}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("the command fetched %v, want exactly %v", names, want)
	}
	// Downloaded to the end: gelezen, the third file not.
	for _, d := range w.inbox(w.principal("gemeente")) {
		if got, want := !d.GelezenAt.IsZero(), slices.Contains(want, d.Name); got != want {
			t.Errorf("%s gelezen = %v, want %v", d.Name, got, want)
		}
	}
	tmux("send-keys", "-t", "selectie", "Escape")
	screen("Selectie (2) ophalen met sftp")
	tmux("send-keys", "-t", "selectie", "q")
	screen("Connection to 127.0.0.1 closed.")
	_ = exchange.IWmo
}

// TestSSHBerichtenlog is the Berichtenlog through the real server at 80×24, in tmux with
// OpenSSH ssh -t: the referentienummer shows whole, the filter takes a bare status word,
// r herstel shows on the deleted file and brings it back, an unknown word is an error on
// screen.
func TestSSHBerichtenlog(t *testing.T) {
	w := newWorld(t)
	w.seed()
	gem := w.principal("gemeente")
	ds := w.inbox(gem)
	if err := w.h.DeleteDeliveries(gem, exchange.IWmo, []string{ds[0].Name}); err != nil {
		t.Fatal(err)
	}
	ln := serveSSH(t, w, Options{HubName: "knooppunt-test"})
	port := ln.Addr().(*net.TCPAddr).Port
	tmux, screen := startTmux(t, "log", 80, 24,
		fmt.Sprintf("ssh -t -F /dev/null -i %s -p %d -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null gemeente@127.0.0.1; sleep 30", w.keyFile("gemeente"), port))
	screen("[Aanleveren]")
	tmux("send-keys", "-t", "log", "Tab")
	screen(ref(101)) // whole, at 80 columns
	tmux("send-keys", "-t", "log", "/")
	tmux("send-keys", "-t", "log", "-l", "verwijderd")
	tmux("send-keys", "-t", "log", "Enter")
	got := screen("Filter: verwijderd")
	if !strings.Contains(got, "1 bericht") || !strings.Contains(got, "r herstel") {
		t.Fatalf("the filter verwijderd does not show the one deleted message with r herstel:\n%s", got)
	}
	tmux("send-keys", "-t", "log", "r")
	screen("[j/n]")
	tmux("send-keys", "-t", "log", "j")
	screen("staat weer in ophalen")
	if n := len(w.inbox(gem)); n != len(ds) {
		t.Errorf("after r herstel ophalen holds %d files, want %d", n, len(ds))
	}
	tmux("send-keys", "-t", "log", "/")
	tmux("send-keys", "-t", "log", "C-u")
	tmux("send-keys", "-t", "log", "-l", "Nergensland")
	tmux("send-keys", "-t", "log", "Enter")
	screen(`"Nergensland": geen functie, status, organisatie`)
	tmux("send-keys", "-t", "log", "Escape")
	screen("Filter: verwijderd")
	tmux("send-keys", "-t", "log", "q")
	screen("Connection to 127.0.0.1 closed.")
}
