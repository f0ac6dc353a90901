package sshserver

import (
	"bufio"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

func withConfig(f func(*Config)) hubOption { return func(s *hubSetup) { f(&s.cfg) } }

func sshLogin(th *testHub, user string, s gossh.Signer) (*gossh.Client, error) {
	return gossh.Dial("tcp", th.addr, &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(s)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
}

func TestFailedLoginsBlockTheAccountFromTheFailingAddress(t *testing.T) {
	th := startHub(t, withConfig(func(c *Config) { c.MaxAccountFailures = 3 }))
	bad := demoSigner(t, th, "ameland")
	for i := range 3 {
		if c, err := sshLogin(th, "gemeente", bad); err == nil {
			c.Close()
			t.Fatalf("wrong key %d logged in", i)
		}
	}
	// The address is not blocked (its limit is 1000 here), the account is, from this
	// address that failed on it: also with the right key. (From an address that did not
	// fail it is not: TestAccountLockoutIsNotAWeapon.)
	if c, err := sshLogin(th, "gemeente", demoSigner(t, th, "gemeente")); err == nil {
		c.Close()
		t.Fatal("a blocked account logged in")
	}
	assertAuditedEventually(t, th.hub, "gemeente", "account tijdelijk geblokkeerd") // recorded when the server sees the connection end
	// Other accounts from the same address are not affected.
	c, err := sshLogin(th, "aanbieder", demoSigner(t, th, "aanbieder"))
	if err != nil {
		t.Fatalf("another account: %v", err)
	}
	c.Close()
}

func TestConnectionsPerAddressAreCapped(t *testing.T) {
	th := startHub(t, withConfig(func(c *Config) { c.MaxConnsPerAddr = 2 }))
	var open []*gossh.Client
	for range 2 {
		c, err := sshLogin(th, "gemeente", demoSigner(t, th, "gemeente"))
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	// The third is told why before the SSH version, then closed.
	conn, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.Contains(line, "te veel gelijktijdige verbindingen") || !strings.Contains(line, "ten hoogste 2") {
		t.Fatalf("refused connection said %q", line)
	}
	if c, err := sshLogin(th, "gemeente", demoSigner(t, th, "gemeente")); err == nil {
		c.Close()
		t.Fatal("third connection logged in")
	}
	// A closed connection frees its slot.
	open[0].Close()
	eventually(t, "a slot is free again", func() bool {
		c, err := sshLogin(th, "gemeente", demoSigner(t, th, "gemeente"))
		if err == nil {
			open = append(open, c)
		}
		return err == nil
	})
	for _, c := range open[1:] {
		c.Close()
	}
}

// slowUpload writes size bytes to name in chunks with a pause between them, so the
// transfer lasts several time-outs long while it keeps moving.
func slowUpload(t testing.TB, c *sftp.Client, name string, chunks int, pause time.Duration) error {
	t.Helper()
	w, err := c.Create(name)
	if err != nil {
		return err
	}
	chunk := make([]byte, 16<<10)
	for i := range chunks {
		rand.Read(chunk)
		if _, err := w.WriteAt(chunk, int64(i*len(chunk))); err != nil {
			w.Close()
			return err
		}
		time.Sleep(pause)
	}
	return w.Close()
}

// closedSoon waits until the server has closed c's connection.
func closedSoon(t testing.TB, c *sftp.Client) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not close the connection")
		return nil
	}
}

func TestIdleTimeoutSparesATransferInProgress(t *testing.T) {
	const idle = 400 * time.Millisecond
	th := startHub(t, withConfig(func(c *Config) { c.IdleTimeout = idle }))
	c := goClient(t, th, "gemeente")
	// Ten times as long as the idle time-out, but moving all the time.
	if err := slowUpload(t, c, "/iwmo/aanleveren/traag.zip", 40, idle/4); err != nil {
		t.Fatalf("slow upload cut off: %v", err)
	}
	if us := th.uploads(t, "gemeente", "iwmo"); len(us) != 1 || us[0].Size != 40*16<<10 {
		t.Fatalf("uploads %+v", us)
	}
	// Then nothing: the connection is closed.
	closedSoon(t, c)
	if _, err := c.Getwd(); err == nil {
		t.Error("connection still works after the idle time-out")
	}
}

func TestMaxSessionWaitsForTheTransferToEnd(t *testing.T) {
	const maxSession = 500 * time.Millisecond
	th := startHub(t, withConfig(func(c *Config) { c.MaxSession = maxSession }))
	c := goClient(t, th, "gemeente")
	start := time.Now()
	if err := slowUpload(t, c, "/iwmo/aanleveren/lang.zip", 30, maxSession/10); err != nil {
		t.Fatalf("upload cut off at the maximum session time: %v", err)
	}
	if time.Since(start) < maxSession {
		t.Skip("the upload ended before the maximum session time; nothing was shown")
	}
	if us := th.uploads(t, "gemeente", "iwmo"); len(us) != 1 {
		t.Fatalf("uploads %+v", us)
	}
	closedSoon(t, c)
}

func TestIdleSessionIsToldWhy(t *testing.T) {
	th := startHub(t, withConfig(func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }))
	client, err := sshLogin(th, "gemeente", demoSigner(t, th, "gemeente"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	defer stdin.Close()
	stdout, _ := sess.StdoutPipe()
	stderr, _ := sess.StderrPipe()
	// An SFTP session whose client never says anything.
	if err := sess.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, stdout) // until the server closes the connection
	why, _ := io.ReadAll(stderr)
	if !strings.Contains(string(why), "geen activiteit") {
		t.Errorf("stderr %q does not say why", why)
	}
}
