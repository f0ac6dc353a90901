package sshserver

import (
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// chanListener hands out the connections put in conns, and counts the Accepts that reached it:
// those are the connections taken from the kernel's queue.
type chanListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	calls  int
}

func (l *chanListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

func (l *chanListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// With MaxStartups 2 the third connection stays in the kernel's queue while two are in their
// handshake; one logging in lets it through, a close too, and closing the listener ends an
// Accept that waits for a place.
func TestStartupsWaitForAPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := &chanListener{conns: make(chan net.Conn, 4), closed: make(chan struct{})}
		for range 4 {
			a, b := net.Pipe()
			defer b.Close()
			inner.conns <- a
		}
		ln := newStartupListener(inner, 2)
		c1, err1 := ln.Accept()
		c2, err2 := ln.Accept()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		third := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			third <- c
		}()
		synctest.Wait() // the third Accept is blocked, or took a connection it should not have
		if n := inner.accepted(); n != 2 {
			t.Fatalf("%d connections taken from the queue with two in their handshake and MaxStartups 2", n)
		}
		c1.(*startupConn).done() // c1 logged in
		c3 := <-third
		if n := inner.accepted(); n != 3 {
			t.Fatalf("%d connections taken after one logged in, want 3", n)
		}
		c1.Close() // a logged-in connection closing gives nothing back a second time

		fourth := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
			fourth <- err
		}()
		synctest.Wait()
		if n := inner.accepted(); n != 3 {
			t.Fatalf("a logged-in connection that closed freed a second place: %d taken", n)
		}
		c2.Close() // c2 failed its handshake
		if err := <-fourth; err != nil {
			t.Fatal(err)
		}
		c3.Close()

		// Two places taken again, and an Accept waiting: Close ends it.
		for range 2 {
			a, b := net.Pipe()
			defer b.Close()
			inner.conns <- a
		}
		if _, err := ln.Accept(); err != nil {
			t.Fatal(err)
		}
		if _, err := ln.Accept(); err != nil {
			t.Fatal(err)
		}
		waiting := make(chan error, 1)
		go func() { _, err := ln.Accept(); waiting <- err }()
		synctest.Wait()
		ln.Close()
		if err := <-waiting; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	})
}

// End to end with MaxStartups 1: a connection that never starts its handshake holds the only
// place, and a client's login completes once that connection goes; a logged-in session holds
// no place: another client logs in next to it (without that, the second login would wait for
// the first session to end, and time out).
func TestMaxStartupsQueuesLoginsBehindAHandshake(t *testing.T) {
	th := startHub(t, withConfig(func(c *Config) { c.MaxStartups = 1 }))
	idle, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// The server answers an accepted connection with its version: idle holds the place now.
	if err := idle.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := idle.Read(buf); err != nil {
		t.Fatalf("no version from the server: %v", err)
	}

	type login struct {
		c   *gossh.Client
		err error
	}
	done := make(chan login, 1)
	go func() {
		c, err := loginGuarded(th, "gemeente", demoSigner(t, th, "gemeente"))
		done <- login{c, err}
	}()
	// That it waits is TestStartupsWaitForAPlace's to show without a clock; here: the place
	// comes free when the connection that held it goes, and a login gives its place back.
	idle.Close()
	first := <-done
	if first.err != nil {
		t.Fatalf("login after the place came free: %v", first.err)
	}
	defer first.c.Close()
	second, err := loginGuarded(th, "aanbieder", demoSigner(t, th, "aanbieder"))
	if err != nil {
		t.Fatalf("a second login next to a logged-in session: %v", err)
	}
	second.Close()
}

// loginGuarded is sshLogin with a deadline on the handshake too (sshLogin's Timeout covers the
// TCP connect only): a login the server never takes from its queue fails the test instead of
// hanging it. A guard against a hang, not a measure.
func loginGuarded(th *testHub, user string, s gossh.Signer) (*gossh.Client, error) {
	conn, err := net.DialTimeout("tcp", th.addr, 20*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	cc, chans, reqs, err := gossh.NewClientConn(conn, th.addr, &gossh.ClientConfig{User: user,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(s)}, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return gossh.NewClient(cc, chans, reqs), nil
}
