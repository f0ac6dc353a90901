package sshserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// countingObserver counts what the server reports.
type countingObserver struct {
	mu       sync.Mutex
	n        map[string]int
	received int
	sent     int
}

func (o *countingObserver) add(what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[what]++
}

func (o *countingObserver) ConnOpened()            { o.add("open") }
func (o *countingObserver) ConnClosed()            { o.add("closed") }
func (o *countingObserver) ConnRefused(r string)   { o.add("refused " + r) }
func (o *countingObserver) LoginFailed()           { o.add("failed") }
func (o *countingObserver) SessionOpened(k string) { o.add("session " + k) }
func (o *countingObserver) SessionClosed(k string) { o.add("session end " + k) }
func (o *countingObserver) SFTPReceived(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.received += n
}
func (o *countingObserver) SFTPSent(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent += n
}

func (o *countingObserver) get(what string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[what]
}

func TestObserverCountsConnectionsSessionsLoginsAndBytes(t *testing.T) {
	needOpenSSH(t)
	obs := &countingObserver{n: map[string]int{}}
	th := startHub(t, withEngine, func(s *hubSetup) {
		s.cfg.Observer = obs
		s.cfg.TUI = func(ssh.Session, *exchange.Principal) {}
	})
	envl := env("WMO301", "9999", "12345678", uuid4(), "")
	f := writeFile(t, "wmo301.xml", envl)
	if _, err := th.sftp(t, "gemeente", "put "+f+" /iwmo/aanleveren/wmo301.xml\n"); err != nil {
		t.Fatal(err)
	}
	th.final(t, "gemeente", "iwmo", "wmo301.xml")
	dl := t.TempDir()
	if _, err := th.sftp(t, "aanbieder", "get /iwmo/ophalen/*.ZIP "+dl+"/\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := filepath.Glob(filepath.Join(dl, "*"))
	if _, _, code := th.ssh("gemeente", th.keys["gemeente"], "whoami"); code != 0 {
		t.Fatalf("whoami: exit %d", code)
	}
	// A terminal (with a pty: the TUI) and a shell without one (a short text), on one connection.
	conn, err := gossh.Dial("tcp", th.addr, &gossh.ClientConfig{User: "gemeente", Auth: []gossh.AuthMethod{gossh.PublicKeys(demoSigner(t, th, "gemeente"))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, pty := range []bool{true, false} {
		sess, err := conn.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if pty {
			if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := sess.Shell(); err != nil {
			t.Fatal(err)
		}
		sess.Wait()
		sess.Close()
	}
	conn.Close()
	stranger := filepath.Join(t.TempDir(), "vreemd")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	if out, err := th.sftpCmd("gemeente", stranger, "ls\n").CombinedOutput(); err == nil {
		t.Fatalf("unknown key logged in: %s", out)
	}
	eventually(t, "every connection closed", func() bool { return obs.get("closed") == obs.get("open") })
	if len(got) != 1 {
		t.Fatalf("downloaded %v", got)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := map[string]int{"open": 5, "closed": 5, "failed": 1, "session sftp": 2, "session end sftp": 2, "session command": 1, "session end command": 1,
		"session tui": 1, "session end tui": 1, "session other": 1, "session end other": 1}
	for k, v := range want {
		if obs.n[k] != v {
			t.Errorf("%s: %d, want %d (all: %v)", k, obs.n[k], v, obs.n)
		}
	}
	if obs.received != len(envl) {
		t.Errorf("received %d bytes, uploaded %d", obs.received, len(envl))
	}
	if fi, err := os.Stat(got[0]); err != nil || int64(obs.sent) != fi.Size() {
		t.Errorf("sent %d bytes for %v (%v)", obs.sent, got, err)
	}
}
