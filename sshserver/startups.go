package sshserver

import (
	"net"
	"sync"
)

// DefaultMaxStartups is Config.MaxStartups when it is 0: OpenSSH's own default start value
// (MaxStartups 10:30:100).
const DefaultMaxStartups = 10

// startupListener bounds the connections that are still in their handshake and login, as
// OpenSSH's MaxStartups does, but by waiting instead of dropping: a connection past the bound
// stays in the kernel's accept queue until one before it has logged in or gone, and its
// client sees a slower connect, not a refusal.
//
// Why: a handshake costs the server CPU (key exchange, the host key's signature) and a login
// costs it several store reads and an audit entry; on a shared store those are PostgreSQL
// transactions, and the pool opens a new connection (tens of milliseconds of the database's
// CPU) for each that finds none free. When 250 clients connect at once (the start of the
// two-node load test, issue 14) all of that lands in the same second as the first uploads'
// processing, which then waits for the CPU and the database: the slowest uploads of the run
// were those first ten seconds. Logged-in sessions are the work the hub has taken on; new
// logins queue behind them instead of crowding them out.
//
// A connection holds its place from Accept until its handshake ends: logged in
// (AuthLogCallback), failed, or closed. The handshake's own deadline (HandshakeTimeout)
// starts at Accept, so a client that stalls holds a place at most that long.
type startupListener struct {
	net.Listener
	places    chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newStartupListener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &startupListener{Listener: ln, places: make(chan struct{}, max), closed: make(chan struct{})}
}

// Accept waits for a place before it takes the next connection from the kernel.
func (l *startupListener) Accept() (net.Conn, error) {
	select {
	case l.places <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.places
		return nil, err
	}
	return &startupConn{Conn: c, done: sync.OnceFunc(func() { <-l.places })}, nil
}

// Close also ends an Accept that waits for a place.
func (l *startupListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// startupConn is a connection in its handshake; done gives its place back (once).
type startupConn struct {
	net.Conn
	done func()
}

func (c *startupConn) Close() error {
	c.done()
	return c.Conn.Close()
}

// startupKey keys the connection's startupConn in its ssh.Context.
type startupKey struct{}
