package sshserver

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Defaults of the abuse limits in Config.
const (
	defaultMaxAccountFailures   = 20
	defaultAccountFailureWindow = 15 * time.Minute
	defaultMaxConnsPerAddr      = 64
)

// DefaultMaxChannelsPerConn is Config.MaxChannelsPerConn when it is 0: OpenSSH's own
// MaxSessions. Each open channel may hold a window of 2 MB the client has sent and nobody
// read yet (x/crypto/ssh's fixed channel window), plus its goroutines and buffers: 100 idle
// channels on one connection took 176 MB. sftp, scp, rclone and lftp use one channel per
// connection; ssh's ControlMaster multiplexes a few.
const DefaultMaxChannelsPerConn = 10

// sessionChannel opens a session channel unless the connection already has
// MaxChannelsPerConn of them; the channel counts until it is closed.
func (s *Server) sessionChannel(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	g, _ := ctx.Value(guardKey{}).(*guard)
	if g != nil {
		if n := g.channels.Add(1); int(n) > s.cfg.MaxChannelsPerConn {
			g.channels.Add(-1)
			s.log.Warn("kanaal geweigerd: te veel kanalen op één verbinding", "account", conn.User(), "adres", g.addr, "maximum", s.cfg.MaxChannelsPerConn)
			ch.Reject(gossh.ResourceShortage, fmt.Sprintf("te veel sessies op deze verbinding (ten hoogste %d)", s.cfg.MaxChannelsPerConn))
			return
		}
		defer g.channels.Add(-1)
	}
	// DefaultSessionHandler returns when the channel is closed, by either side.
	ssh.DefaultSessionHandler(srv, conn, ch, ctx)
}

// connLimiter caps the open connections per source address.
type connLimiter struct {
	mu    sync.Mutex
	max   int // <= 0: no cap
	addrs map[string]int
}

func newConnLimiter(max int) *connLimiter { return &connLimiter{max: max, addrs: map[string]int{}} }

// take claims a slot for addr; false when addr already has max connections open.
func (l *connLimiter) take(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.addrs[addr] >= l.max {
		return false
	}
	l.addrs[addr]++
	return true
}

func (l *connLimiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs[addr] <= 1 {
		delete(l.addrs, addr)
		return
	}
	l.addrs[addr]--
}

// guard follows one connection for the time-outs: when its sessions last moved data, how
// many files it has open, how many operations the server is still working on for it.
//
// The idle time-out never cuts off a transfer in progress: a transfer moves data (the
// client's read or write requests, the server's answers) and while the server works on
// something slow for the client (closing a large upload, a long command) the connection
// counts as busy. The maximum session time is checked only between transfers: with a file
// open, the connection may run past it.
type guard struct {
	s        *Server
	conn     net.Conn
	addr     string
	opened   time.Time
	last     atomic.Int64           // unix nanoseconds of the last data on a session channel
	open     atomic.Int32           // files open over SFTP
	uploads  atomic.Int32           // of those, uploads (each holds an admission slot)
	working  atomic.Int32           // operations the server is busy with
	channels atomic.Int32           // session channels open
	sessions sync.Map               // ssh.Session -> struct{}: told why the connection ends
	account  atomic.Pointer[string] // the account logged in on it (liveConns)
	closed   chan struct{}
	once     sync.Once
	cork     *corkConn
}

// guardedConn is the connection the SSH server uses: closing it, whoever does, ends the
// guard and frees the address's slot.
type guardedConn struct {
	net.Conn
	g *guard
}

func (c *guardedConn) Close() error {
	c.g.once.Do(func() {
		c.g.s.guards.Delete(c.g)
		c.g.s.live.remove(c.g)
		close(c.g.closed)
		c.g.s.connLimit.release(c.g.addr)
		c.g.s.obs.ConnClosed()
	})
	return c.Conn.Close()
}

type guardKey struct{}

// admit claims a connection slot for conn's address and starts its guard; nil when the
// address has too many connections open (it is told so in a line before the SSH version,
// which RFC 4253 allows, and which `ssh -v` shows).
func (s *Server) admit(ctx ssh.Context, conn net.Conn) net.Conn {
	addr := hostOf(conn.RemoteAddr())
	if !s.connLimit.take(addr) {
		s.log.Warn("verbinding geweigerd: te veel gelijktijdige verbindingen", "adres", addr, "maximum", s.cfg.MaxConnsPerAddr)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(conn, "knooppunt: te veel gelijktijdige verbindingen vanaf %s (ten hoogste %d); sluit andere sessies en probeer het opnieuw\r\n", addr, s.cfg.MaxConnsPerAddr)
		s.obs.ConnRefused("max_verbindingen")
		return nil
	}
	s.obs.ConnOpened()
	g := &guard{s: s, conn: conn, addr: addr, opened: time.Now(), closed: make(chan struct{})}
	g.touch()
	ctx.SetValue(guardKey{}, g)
	s.guards.Store(g, struct{}{})
	if s.cfg.IdleTimeout > 0 || s.cfg.MaxSession > 0 || s.cfg.UploadStall > 0 {
		go g.watch()
	}
	g.cork = newCorkConn(conn, s.corkBufs)
	return &guardedConn{Conn: g.cork, g: g}
}

// corker is what a session's SFTP writer corks its large answers with; nil without a guard.
func (g *guard) corker() corker {
	if g == nil {
		return nil
	}
	return g.cork
}

func guardOf(sess ssh.Session) *guard {
	g, _ := sess.Context().Value(guardKey{}).(*guard)
	return g
}

func (g *guard) touch() {
	if g != nil {
		g.last.Store(time.Now().UnixNano())
	}
}

// begin and end bracket a file open over SFTP; work brackets something the server is busy
// with. All are nil-safe, for sessions without a guard.
func (g *guard) begin() {
	if g != nil {
		g.open.Add(1)
	}
}

func (g *guard) end() {
	if g != nil {
		g.open.Add(-1)
		g.touch()
	}
}

// beginUpload and endUpload bracket an upload: a file open over SFTP that holds one of the
// hub's admission slots.
func (g *guard) beginUpload() {
	if g != nil {
		g.uploads.Add(1)
		g.begin()
	}
}

func (g *guard) endUpload() {
	if g != nil {
		g.uploads.Add(-1)
		g.end()
	}
}

func (g *guard) work() func() {
	if g == nil {
		return func() {}
	}
	g.working.Add(1)
	return func() {
		g.working.Add(-1)
		g.touch()
	}
}

// watch closes the connection when it has been idle too long, when an upload it has open
// stalled, or when it has passed its maximum time between transfers. It stops when the
// connection closes.
func (g *guard) watch() {
	cfg := g.s.cfg
	tick := time.Second
	for _, d := range []time.Duration{cfg.IdleTimeout, cfg.MaxSession, cfg.UploadStall} {
		if d > 0 {
			tick = min(tick, max(d/4, 10*time.Millisecond))
		}
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-g.closed:
			return
		case <-t.C:
		}
		now := time.Now()
		if g.working.Load() > 0 {
			continue
		}
		idle := now.Sub(time.Unix(0, g.last.Load()))
		switch {
		case cfg.IdleTimeout > 0 && idle >= cfg.IdleTimeout:
			g.cut(fmt.Sprintf("verbinding gesloten: %s geen activiteit (de grens is %s)", idle.Round(time.Second), cfg.IdleTimeout))
			return
		case cfg.UploadStall > 0 && idle >= cfg.UploadStall && g.uploads.Load() > 0:
			g.cut(fmt.Sprintf("verbinding gesloten: een aanlevering ontving %s geen gegevens (de grens is %s); wat binnenkwam is bewaard, hervat de upload met reput of lever opnieuw aan", idle.Round(time.Second), cfg.UploadStall))
			return
		case cfg.MaxSession > 0 && now.Sub(g.opened) >= cfg.MaxSession && g.open.Load() == 0:
			g.cut(fmt.Sprintf("verbinding gesloten: de sessie duurde langer dan %s; maak opnieuw verbinding", cfg.MaxSession))
			return
		}
	}
}

// cut tells every session why and closes the connection. A client that reads nothing can
// block the message; it gets a second, then the connection closes anyway (which ends the
// blocked write too).
func (g *guard) cut(why string) {
	g.s.log.Info(why, "adres", g.conn.RemoteAddr().String())
	told := make(chan struct{})
	go func() {
		defer close(told)
		g.sessions.Range(func(k, _ any) bool {
			k.(ssh.Session).Stderr().Write([]byte("\r\nknooppunt: " + why + "\r\n"))
			return true
		})
	}()
	t := time.NewTimer(time.Second)
	select {
	case <-told:
	case <-t.C:
	}
	t.Stop()
	g.conn.Close()
}

// watchSession wraps sess so that the data it moves counts as activity: both ways for SFTP
// (requests and answers), only what the client sends for a terminal, whose screen may
// redraw on its own.
func (g *guard) watchSession(sess ssh.Session, answers bool) (ssh.Session, func()) {
	if g == nil {
		return sess, func() {}
	}
	g.sessions.Store(sess, struct{}{})
	return &watchedSession{Session: sess, g: g, answers: answers}, func() { g.sessions.Delete(sess) }
}

type watchedSession struct {
	ssh.Session
	g       *guard
	answers bool
}

func (w *watchedSession) Read(b []byte) (int, error) {
	n, err := w.Session.Read(b)
	if n > 0 {
		w.g.touch()
	}
	return n, err
}

func (w *watchedSession) Write(b []byte) (int, error) {
	n, err := w.Session.Write(b)
	if n > 0 && w.answers {
		w.g.touch()
	}
	return n, err
}

var _ io.ReadWriter = (*watchedSession)(nil)
