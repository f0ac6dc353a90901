// Package sshserver is the hub's one door: an SSH server that gives each account its SFTP
// mailbox, admin commands (ssh beheer@hub org list) and, through a hook, the terminal UI.
// It only authenticates and translates; every rule lives in package exchange.
package sshserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"charm.land/ssh"
	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
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
	// ShutdownGrace is how long sessions may finish after the context ends before they are
	// cut off; 0 means 5 seconds.
	ShutdownGrace time.Duration
	// CompatLibssh2 also offers CompatMACs, for clients on libssh2 older than 1.11 (curl and
	// PHP on Debian 12), which know no encrypt-then-MAC, AES-GCM or ChaCha20-Poly1305. Off by
	// default: turn it on only when such a client must connect.
	CompatLibssh2 bool
}

// DefaultUploadStall is Config.UploadStall when it is 0: a transfer that moves nothing for
// five minutes has stopped, whatever the client's link.
const DefaultUploadStall = 5 * time.Minute

// Algorithms the server offers: modern ones only.
var (
	KeyExchanges = []string{gossh.KeyExchangeMLKEM768X25519, gossh.KeyExchangeCurve25519}
	Ciphers      = []string{gossh.CipherAES128GCM, gossh.CipherAES256GCM, gossh.CipherChaCha20Poly1305,
		gossh.CipherAES128CTR, gossh.CipherAES192CTR, gossh.CipherAES256CTR}
	MACs              = []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM}
	UserKeyAlgorithms = []string{gossh.KeyAlgoED25519, gossh.KeyAlgoSKED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384,
		gossh.KeyAlgoECDSA521, gossh.KeyAlgoSKECDSA256, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256}
	// CompatMACs put the MAC over the plaintext (with the aes-ctr ciphers); only with
	// Config.CompatLibssh2.
	CompatMACs = []string{gossh.HMACSHA256, gossh.HMACSHA512}
)

// Server is the hub's SSH server.
type Server struct {
	cfg     Config
	hub     *exchange.Hub
	log     *slog.Logger
	srv     *ssh.Server
	limiter *authLimiter
	// accounts counts failed logins per account name; connLimit open connections per address.
	accounts  *authLimiter
	connLimit *connLimiter
	corkBufs  *sync.Pool
	conns     sync.Map // remote address -> *connState, during the handshake
	active    sync.WaitGroup
	started   time.Time
}

// connState follows one connection's authentication for the audit log and the limiter.
type connState struct {
	mu       sync.Mutex
	user     string
	methods  map[string]bool
	attempts int
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
	if cfg.UploadStall == 0 {
		cfg.UploadStall = DefaultUploadStall
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 5 * time.Second
	}
	s := &Server{
		cfg:       cfg,
		hub:       cfg.Hub,
		log:       cfg.Log,
		limiter:   newAuthLimiter(cfg.MaxAuthFailures, cfg.AuthFailureWindow, cfg.Hub.Now),
		accounts:  newAuthLimiter(cfg.MaxAccountFailures, cfg.AccountFailureWindow, cfg.Hub.Now),
		connLimit: newConnLimiter(cfg.MaxConnsPerAddr),
		corkBufs:  newCorkBufs(),
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
		// No port forwarding, no agent: the nil callbacks refuse them.
	}
	s.refuseForwarding(s.srv) // and audit each attempt (doorsturen.go)
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
		grace, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
		if s.srv.Shutdown(grace) != nil {
			s.log.Info("sessies afgebroken na wachttijd", "wachttijd", s.cfg.ShutdownGrace)
			s.srv.Close()
		}
		cancel()
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
		return nil
	}
	if conn = s.admit(ctx, conn); conn == nil {
		return nil
	}
	st := &connState{methods: map[string]bool{}}
	ctx.SetValue(ctxKey{}, st)
	s.conns.Store(conn.RemoteAddr().String(), st)
	return conn
}

func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	st, _ := ctx.Value(ctxKey{}).(*connState)
	macs := MACs
	if s.cfg.CompatLibssh2 {
		macs = append(slices.Clip(MACs), CompatMACs...)
	}
	return &gossh.ServerConfig{
		Config:                  gossh.Config{KeyExchanges: KeyExchanges, Ciphers: Ciphers, MACs: macs},
		PublicKeyAuthAlgorithms: UserKeyAlgorithms,
		MaxAuthTries:            6,
		AuthLogCallback: func(md gossh.ConnMetadata, method string, err error) {
			if st == nil || method == "none" {
				return
			}
			st.mu.Lock()
			st.user = md.User()
			st.methods[method] = true
			st.attempts++
			st.mu.Unlock()
		},
	}
}

// publicKey runs for every key a client offers, before it proves it holds the key; it only
// says whether the key could log in. The login itself is decided after the handshake, from
// the key the client proved (see principal).
func (s *Server) publicKey(ctx ssh.Context, key ssh.PublicKey) bool {
	if s.limiter.blocked(hostOf(ctx.RemoteAddr())) || s.accounts.blocked(ctx.User()) {
		return false
	}
	return s.hub.KeyKnown(ctx.User(), key.Marshal())
}

func (s *Server) connFailed(conn net.Conn, err error) {
	v, ok := s.conns.LoadAndDelete(conn.RemoteAddr().String())
	if !ok {
		return
	}
	st := v.(*connState)
	var authErr *gossh.ServerAuthError
	st.mu.Lock()
	user, attempts, methods := st.user, st.attempts, st.methods
	st.mu.Unlock()
	if !errors.As(err, &authErr) || attempts == 0 {
		return // no login was attempted: a scanner, a dropped connection
	}
	reason := "geen geldige sleutel voor dit account"
	if methods["password"] || methods["keyboard-interactive"] {
		reason = "alleen inloggen met een sleutel is toegestaan"
	}
	ip := hostOf(conn.RemoteAddr())
	if s.limiter.fail(ip) {
		s.log.Warn("adres tijdelijk geblokkeerd: te veel mislukte aanmeldingen", "adres", ip, "venster", s.cfg.AuthFailureWindow)
		reason += "; adres tijdelijk geblokkeerd na te veel mislukte pogingen"
	}
	// Only accounts that exist are counted: a name that logs in nowhere cannot be locked
	// out, and counting every name a scanner tries would let the table grow without end.
	_, unknown := s.hub.Account(user)
	switch {
	case unknown != nil:
	case s.accounts.fail(user):
		s.log.Warn("account tijdelijk geblokkeerd: te veel mislukte aanmeldingen", "account", user, "venster", s.cfg.AccountFailureWindow)
		reason += "; account tijdelijk geblokkeerd na te veel mislukte pogingen"
	case s.accounts.blocked(user):
		reason = "account tijdelijk geblokkeerd na te veel mislukte pogingen; probeer het later opnieuw"
	}
	s.log.Info("aanmelding geweigerd", "account", user, "adres", conn.RemoteAddr().String(), "reden", reason)
	s.hub.AuditAttempt(user, conn.RemoteAddr().String(), fmt.Sprintf("geweigerd: %s (%d pogingen)", reason, attempts))
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
	return s.hub.Authenticate(sess.User(), key.Marshal(), sess.RemoteAddr().String())
}

func (s *Server) handleSession(sess ssh.Session) {
	p, err := s.principal(sess)
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "Toegang geweigerd: %v\n", err)
		sess.Exit(exitDenied)
		return
	}
	g := guardOf(sess)
	sess, forget := g.watchSession(sess, false)
	defer forget()
	if cmd := sess.Command(); len(cmd) > 0 {
		done := g.work()
		code := s.runCommand(sess, p, cmd)
		done()
		sess.Exit(code)
		return
	}
	if _, _, isPty := sess.Pty(); isPty && s.cfg.TUI != nil {
		s.cfg.TUI(sess, p)
		return
	}
	fmt.Fprintf(sess, "Welkom bij knooppunt, %s (%s).\r\n", p.Account.Name, orgLabel(p))
	fmt.Fprintf(sess, "Uw postbus bereikt u met sftp; beheeropdrachten met: ssh %s@<knooppunt> help\r\n", p.Account.Name)
	sess.Exit(0)
}

func orgLabel(p *exchange.Principal) string {
	if p.Org.Code == "" {
		return "beheerder van het knooppunt"
	}
	return p.Org.Code + " " + p.Org.Name
}

func (s *Server) handleSFTP(sess ssh.Session) {
	p, err := s.principal(sess)
	if err != nil {
		s.log.Info("sftp geweigerd", "account", sess.User(), "err", err)
		sess.Exit(exitDenied)
		return
	}
	fs := newMailbox(s.hub, p, s.log, s.started)
	fs.guard = guardOf(sess)
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
