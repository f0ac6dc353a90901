package sshserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"charm.land/ssh"
	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/sshserver/opdrachten"
)

// Config sets up a Server.
type Config struct {
	Hub      *exchange.Hub
	HostKeys []gossh.Signer
	Log      *slog.Logger
	// TUI serves an interactive session (a terminal without a command) for an authenticated
	// account; it returns when the session should end. Nil: the session gets a short text
	// on how to use the hub.
	TUI func(s ssh.Session, p *exchange.Principal)
	// MaxAuthFailures is how many failed logins a source address may have within
	// AuthFailureWindow before it is refused for the rest of the window. 0 means 10.
	MaxAuthFailures   int
	AuthFailureWindow time.Duration // 0 means one minute
	// MaxAccountFailures is how many failed logins one account name may have within
	// AccountFailureWindow, from any address, before logins to it are refused for the rest
	// of the window (also with the right key). 0 means 20.
	MaxAccountFailures   int
	AccountFailureWindow time.Duration // 0 means 15 minutes
	// MaxHandlesPerSession, MaxHandlesPerAccount and MaxOpenHandles cap the files and
	// directories open over SFTP in one session, in all sessions of one account and in the
	// hub; 0 means DefaultMaxHandlesPerSession, DefaultMaxHandlesPerAccount and half the
	// process's descriptor limit (see handles.go). An open past a cap is refused.
	MaxHandlesPerSession int
	MaxHandlesPerAccount int
	MaxOpenHandles       int
	// MaxChannelsPerConn caps the session channels one connection may have open at once;
	// 0 means DefaultMaxChannelsPerConn. A further channel open is refused with
	// ResourceShortage.
	MaxChannelsPerConn int
	// MaxConnsPerAddr caps the connections one source address may have open at once; 0
	// means 64, negative means no cap.
	MaxConnsPerAddr int
	// IdleTimeout closes a connection whose sessions moved no data for this long, unless
	// the server is still working for it; 0 means never. See guard.
	IdleTimeout time.Duration
	// MaxSession closes a connection older than this once no file is open over SFTP; 0
	// means never.
	MaxSession time.Duration
	// UploadStall closes a connection that has an upload open but moved no data for this
	// long. An open upload holds one of the hub's few admission slots (exchange.Config.
	// MaxUploads), which a client that hung or vanished without a close would otherwise keep
	// until IdleTimeout. What arrived is kept for reput. 0 means DefaultUploadStall, negative
	// means only IdleTimeout applies.
	UploadStall time.Duration
	// ShutdownGrace is how long transfers in progress may finish after the context ends
	// before they are cut off; connections without one close at once (see drain). 0 means
	// 5 seconds.
	ShutdownGrace time.Duration
	// StrictCrypto offers only encrypt-then-MAC and AEAD (StrictMACs): no MAC over the
	// plaintext. Off by default, so that the clients people already have connect: curl and PHP
	// on Debian 12 (libssh2 1.10) know no etm MAC, AES-GCM or ChaCha20-Poly1305.
	StrictCrypto bool
	// Observer hears of connections, sessions, failed logins and SFTP bytes, for
	// monitoring; nil hears nothing.
	Observer Observer
}

// DefaultUploadStall is Config.UploadStall when it is 0: a transfer that moves nothing for
// five minutes has stopped, whatever the client's link.
const DefaultUploadStall = 5 * time.Minute

// Algorithms the server offers: what OpenSSH's own server offers among the safe choices (no
// SHA-1, no CBC, no NIST curves, no DSA). The client's order decides; the etm MACs come first
// for clients that take the server's order into account.
var (
	KeyExchanges = []string{gossh.KeyExchangeMLKEM768X25519, gossh.KeyExchangeCurve25519}
	Ciphers      = []string{gossh.CipherAES128GCM, gossh.CipherAES256GCM, gossh.CipherChaCha20Poly1305,
		gossh.CipherAES128CTR, gossh.CipherAES192CTR, gossh.CipherAES256CTR}
	// StrictMACs are the MACs of Config.StrictCrypto: encrypt-then-MAC only.
	StrictMACs = []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM}
	// MACs are offered by default: the etm ones, then hmac-sha2-256 and hmac-sha2-512 in their
	// classic encrypt-and-MAC form, which libssh2 before 1.11 needs (with aes-ctr). BSI
	// TR-02102-4 (2024) allows both; see SECURITY.md.
	MACs              = []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM, gossh.HMACSHA256, gossh.HMACSHA512}
	UserKeyAlgorithms = []string{gossh.KeyAlgoED25519, gossh.KeyAlgoSKED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384,
		gossh.KeyAlgoECDSA521, gossh.KeyAlgoSKECDSA256, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256}
)

// Server is the hub's SSH server.
type Server struct {
	cfg     Config
	hub     *exchange.Hub
	log     *slog.Logger
	srv     *ssh.Server
	limiter failLimiter
	// accounts counts failed logins per account name, pairs per address and account name
	// (see accountLocked); connLimit open connections per address.
	accounts  failLimiter
	pairs     failLimiter
	connLimit *connLimiter
	handles   *handleLimiter
	corkBufs  *sync.Pool
	obs       Observer
	conns     sync.Map // remote address -> *connState, during the handshake
	active    sync.WaitGroup
	started   time.Time
	guards    sync.Map    // *guard -> struct{}: open connections, for the drain at shutdown
	draining  atomic.Bool // shutting down: no new transfers
	live      liveConns   // logged-in connections per account, closed when it is disabled
}

type ctxKey struct{}

// New builds a server; Serve runs it.
func New(cfg Config) (*Server, error) {
	if cfg.Hub == nil || len(cfg.HostKeys) == 0 {
		return nil, errors.New("sshserver: hub en hostsleutels zijn nodig")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxAuthFailures <= 0 {
		cfg.MaxAuthFailures = 10
	}
	if cfg.AuthFailureWindow <= 0 {
		cfg.AuthFailureWindow = time.Minute
	}
	if cfg.MaxAccountFailures <= 0 {
		cfg.MaxAccountFailures = defaultMaxAccountFailures
	}
	if cfg.AccountFailureWindow <= 0 {
		cfg.AccountFailureWindow = defaultAccountFailureWindow
	}
	if cfg.MaxConnsPerAddr == 0 {
		cfg.MaxConnsPerAddr = defaultMaxConnsPerAddr
	}
	if cfg.MaxHandlesPerSession <= 0 {
		cfg.MaxHandlesPerSession = DefaultMaxHandlesPerSession
	}
	if cfg.MaxHandlesPerAccount <= 0 {
		cfg.MaxHandlesPerAccount = DefaultMaxHandlesPerAccount
	}
	if limit := raiseFileLimit(); cfg.MaxOpenHandles <= 0 {
		cfg.MaxOpenHandles = defaultMaxOpenHandles(limit)
	}
	if cfg.MaxChannelsPerConn <= 0 {
		cfg.MaxChannelsPerConn = DefaultMaxChannelsPerConn
	}
	if cfg.UploadStall == 0 {
		cfg.UploadStall = DefaultUploadStall
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 5 * time.Second
	}
	s := &Server{
		cfg:       cfg,
		hub:       cfg.Hub,
		log:       cfg.Log,
		limiter:   newFailLimiter(cfg.Hub, cfg.Log, "adres", cfg.MaxAuthFailures, cfg.AuthFailureWindow),
		accounts:  newFailLimiter(cfg.Hub, cfg.Log, "account", cfg.MaxAccountFailures, cfg.AccountFailureWindow),
		pairs:     newFailLimiter(cfg.Hub, cfg.Log, "paar", 1, cfg.AccountFailureWindow),
		connLimit: newConnLimiter(cfg.MaxConnsPerAddr),
		handles:   newHandleLimiter(cfg.MaxHandlesPerSession, cfg.MaxHandlesPerAccount, cfg.MaxOpenHandles),
		corkBufs:  newCorkBufs(),
		obs:       cfg.Observer,
		started:   cfg.Hub.Now(),
	}
	signers := make([]ssh.Signer, 0, len(cfg.HostKeys))
	for _, k := range cfg.HostKeys {
		signers = append(signers, k)
	}
	s.srv = &ssh.Server{
		HostSigners:              signers,
		Version:                  "knooppunt",
		Handler:                  s.track(s.handleSession),
		PublicKeyHandler:         s.publicKey,
		ConnCallback:             s.connOpened,
		ServerConfigCallback:     s.serverConfig,
		ConnectionFailedCallback: s.connFailed,
		ConnectionCloseCallback:  s.connClosed,
		HandshakeTimeout:         30 * time.Second,
		SubsystemHandlers:        map[string]ssh.SubsystemHandler{"sftp": s.track(s.handleSFTP)},
		// Only sessions, and only so many per connection (see sessionChannel).
		ChannelHandlers: map[string]ssh.ChannelHandler{"session": s.sessionChannel},
		// No port forwarding, no agent: the nil callbacks refuse them.
	}
	s.refuseForwarding(s.srv) // and audit each attempt (doorsturen.go)
	cfg.Hub.OnAccountClosed(s.closeAccount)
	return s, nil
}

// Serve accepts connections on ln until ctx ends, then lets open sessions finish for
// ShutdownGrace, cuts off the rest and returns when every session handler has returned, so
// the caller may close the store.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("knooppunt stopt: geen nieuwe verbindingen; lopende overdrachten mogen afronden", "wachttijd", s.cfg.ShutdownGrace)
		s.draining.Store(true)
		stopDrain := make(chan struct{})
		drained := make(chan struct{})
		go func() { s.drain(stopDrain); close(drained) }()
		grace, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
		if s.srv.Shutdown(grace) != nil {
			s.log.Warn("overdrachten afgebroken na de wachttijd; wat binnenkwam blijft bewaard voor reput", "wachttijd", s.cfg.ShutdownGrace)
			s.srv.Close()
		}
		cancel()
		close(stopDrain)
		<-drained
		err = <-errc
	}
	s.active.Wait()
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) track(h func(ssh.Session)) func(ssh.Session) {
	return func(sess ssh.Session) {
		s.active.Add(1)
		defer s.active.Done()
		h(sess)
	}
}

func hostOf(addr net.Addr) string {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

func (s *Server) connOpened(ctx ssh.Context, conn net.Conn) net.Conn {
	if s.limiter.blocked(hostOf(conn.RemoteAddr())) {
		s.log.Debug("verbinding geweigerd: te veel mislukte aanmeldingen", "adres", conn.RemoteAddr().String())
		s.obs.ConnRefused("adres_geblokkeerd")
		return nil
	}
	if conn = s.admit(ctx, conn); conn == nil {
		return nil
	}
	st := newConnState()
	ctx.SetValue(ctxKey{}, st)
	s.conns.Store(conn.RemoteAddr().String(), st)
	return conn
}

func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	st, _ := ctx.Value(ctxKey{}).(*connState)
	macs := MACs
	if s.cfg.StrictCrypto {
		macs = StrictMACs
	}
	return &gossh.ServerConfig{
		Config:                  gossh.Config{KeyExchanges: KeyExchanges, Ciphers: Ciphers, MACs: macs},
		PublicKeyAuthAlgorithms: UserKeyAlgorithms,
		MaxAuthTries:            6,
		AuthLogCallback: func(md gossh.ConnMetadata, method string, err error) {
			s.attempted(st, md, method, err)
			if g, _ := ctx.Value(guardKey{}).(*guard); g != nil && err == nil && method != "none" {
				s.live.add(md.User(), g) // logged in: closed when the account is disabled
			}
		},
	}
}

func (s *Server) connClosed(conn net.Conn) { s.conns.Delete(conn.RemoteAddr().String()) }

// principal authenticates the session from the key the client proved during the
// handshake; it records the login.
func (s *Server) principal(sess ssh.Session) (*exchange.Principal, error) {
	s.conns.Delete(sess.RemoteAddr().String())
	key := sess.PublicKey()
	if key == nil {
		return nil, fmt.Errorf("%w: geen sleutel", exchange.ErrDenied)
	}
	p, err := s.hub.Authenticate(sess.User(), key.Marshal(), sess.RemoteAddr().String())
	if err != nil {
		return nil, err
	}
	if g := guardOf(sess); g != nil {
		s.live.add(p.Account.Name, g)
		// Disabled between Authenticate and add: closeAccount may have missed this one.
		if _, err := s.hub.Refresh(p); err != nil {
			s.live.remove(g)
			return nil, err
		}
	}
	return p, nil
}

// liveConns is the registry of logged-in connections by account, so that disabling or
// deleting an account closes its open connections (exchange tells: Hub.OnAccountClosed). A
// connection leaves it when it closes.
type liveConns struct {
	mu sync.Mutex
	by map[string]map[*guard]struct{}
}

func (l *liveConns) add(account string, g *guard) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string]map[*guard]struct{}{}
	}
	if l.by[account] == nil {
		l.by[account] = map[*guard]struct{}{}
	}
	l.by[account][g] = struct{}{}
	g.account.Store(&account)
}

func (l *liveConns) remove(g *guard) {
	a := g.account.Load()
	if a == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.by[*a], g)
	if len(l.by[*a]) == 0 {
		delete(l.by, *a)
	}
}

func (l *liveConns) of(account string) []*guard {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*guard, 0, len(l.by[account]))
	for g := range l.by[account] {
		out = append(out, g)
	}
	return out
}

// closeAccount closes every open connection of an account that was disabled or deleted:
// each session is told why first. It runs on the goroutine of the change and does not wait.
func (s *Server) closeAccount(account string) {
	for _, g := range s.live.of(account) {
		s.live.remove(g)
		go g.cut(fmt.Sprintf("account %s is geblokkeerd of verwijderd; de verbinding wordt gesloten", account))
	}
}

func (s *Server) handleSession(sess ssh.Session) {
	p, err := s.principal(sess)
	if err != nil {
		s.obs.LoginFailed()
		fmt.Fprintf(sess.Stderr(), "Toegang geweigerd: %v\n", err)
		sess.Exit(exitDenied)
		return
	}
	g := guardOf(sess)
	sess, forget := g.watchSession(sess, false)
	defer forget()
	kind := "other"
	_, _, isPty := sess.Pty()
	switch {
	case len(sess.Command()) > 0:
		kind = "command"
	case isPty && s.cfg.TUI != nil:
		kind = "tui"
	}
	defer s.session(kind)()
	if cmd := sess.Command(); len(cmd) > 0 && cmd[0] == "scp" {
		refuseLegacySCP(sess)
		return
	}
	if cmd := sess.Command(); len(cmd) > 0 {
		done := g.work()
		code := s.runCommand(sess, p, cmd)
		done()
		sess.Exit(code)
		return
	}
	if kind == "tui" {
		s.cfg.TUI(sess, p)
		return
	}
	fmt.Fprintf(sess, "Welkom bij knooppunt, %s (%s).\r\n", p.Account.Name, opdrachten.OrgLabel(p))
	fmt.Fprintf(sess, "Het portaal opent in een terminal: ssh -t %s@<knooppunt> (zonder -t opent ssh geen terminal als er een opdracht of invoer bij is).\r\n", p.Account.Name)
	fmt.Fprintf(sess, "Uw postbus bereikt u met sftp; opdrachten met: ssh %s@<knooppunt> help\r\n", p.Account.Name)
	sess.Exit(0)
}

// legacySCP is what an scp client in its old mode (scp -O, or OpenSSH before 9.0) gets: the
// hub speaks only SFTP, where every rule of the postbus is enforced.
const legacySCP = "knooppunt: scp -O (het oude scp-protocol) wordt niet ondersteund; gebruik scp zonder -O (SFTP-modus, OpenSSH 9.0 en nieuwer; ouder: scp -s) of sftp"

// refuseLegacySCP answers "scp -t" and "scp -f" in the protocol's own way: a 0x01 byte and
// a line, which scp prints as its error, in both directions.
func refuseLegacySCP(sess ssh.Session) {
	fmt.Fprintf(sess, "\x01%s\n", legacySCP)
	sess.Exit(1)
}

func (s *Server) handleSFTP(sess ssh.Session) {
	p, err := s.principal(sess)
	if err != nil {
		s.obs.LoginFailed()
		s.log.Info("sftp geweigerd", "account", sess.User(), "err", err)
		sess.Exit(exitDenied)
		return
	}
	defer s.session("sftp")()
	fs := newMailbox(s.hub, p, s.log, s.started)
	fs.guard = guardOf(sess)
	fs.handles = s.handles
	fs.obs = s.obs
	sess, forget := fs.guard.watchSession(sess, true)
	defer forget()
	out := newBatchWriter(sess, fs.guard.corker())
	rs := sftp.NewRequestServer(sftpConn{Reader: &limitsShim{r: sess, w: out}, Writer: out, Closer: sess},
		sftp.Handlers{FileGet: fs, FilePut: fs, FileCmd: fs, FileList: fs},
		sftp.WithRSMaxTxPacket(sftpMaxData))
	err = rs.Serve()
	if err != nil && !errors.Is(err, io.EOF) {
		s.log.Info("sftp-sessie afgebroken", "account", p.Account.Name, "err", err)
	}
	out.Flush()
	// The exit status goes out before the channel closes: scp fails without it.
	sess.Exit(0)
	rs.Close()
}

// sftpConn is the SFTP server's side of the session: reads from the channel, writes
// through a batchWriter.
type sftpConn struct {
	io.Reader
	io.Writer
	io.Closer
}
