package sshserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// maxNamesPerConn is how many user names one connection may try. x/crypto/ssh lets a
// client change the name between attempts and allows up to 128 of them; each name tried is
// counted and audited, so past this the server refuses further names without a look.
const maxNamesPerConn = 8

// connState follows one connection's authentication for the audit log and the limiters:
// every user name tried, not only the last, and whether one of them logged in. A failure
// counts however the connection ends: with a clean authentication failure, a bad signature
// on a known key, a malformed packet or a reset.
type connState struct {
	mu    sync.Mutex
	names []string            // in the order they were first tried
	tries map[string]*nameTry // by name
	extra int                 // attempts with names past maxNamesPerConn
	ok    string              // the name that logged in, once one did
}

// nameTry is what one user name saw on a connection.
type nameTry struct {
	attempts int
	password bool // tried a password or keyboard-interactive
	knownKey bool // offered a key that could log in: a failure after it is the signature or the end
}

func newConnState() *connState { return &connState{tries: map[string]*nameTry{}} }

// try records an attempt for name; false when the connection has tried too many names
// and this one is refused without a look.
func (st *connState) try(name string) (*nameTry, bool) {
	t := st.tries[name]
	if t == nil {
		if len(st.names) >= maxNamesPerConn {
			st.extra++
			return nil, false
		}
		t = &nameTry{}
		st.tries[name] = t
		st.names = append(st.names, name)
	}
	return t, true
}

// offered records a key offered for name (the public-key callback, which runs once per
// name and key, whether the client asks or signs); false when the name is one too many.
func (st *connState) offered(name string, known bool) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.try(name)
	if ok && known {
		t.knownKey = true
	}
	return ok
}

// attempted records the end of one attempt (AuthLogCallback). A success for name makes the
// other names tried on this connection failures now: the connection will not fail, and a
// client must not hide guesses at one account before logging in to its own.
func (s *Server) attempted(st *connState, md gossh.ConnMetadata, method string, err error) {
	if st == nil || method == "none" {
		return
	}
	st.mu.Lock()
	if err == nil {
		st.ok = md.User()
		failed := st.failedNames()
		st.mu.Unlock()
		if len(failed) > 0 {
			s.loginFailed(md.RemoteAddr(), failed, func(string) string { return "geen geldige sleutel voor dit account" }, 0)
		}
		return
	}
	if t, ok := st.try(md.User()); ok {
		t.attempts++
		if method == "password" || method == "keyboard-interactive" {
			t.password = true
		}
	}
	st.mu.Unlock()
}

// failedNames are the names tried that did not log in, with their attempts; the caller
// holds st.mu. They are taken: a name is counted once.
func (st *connState) failedNames() []failedName {
	var out []failedName
	for _, n := range st.names {
		if n != st.ok {
			out = append(out, failedName{name: n, try: *st.tries[n]})
		}
	}
	st.names, st.tries = nil, map[string]*nameTry{}
	return out
}

type failedName struct {
	name string
	try  nameTry
}

// publicKey runs for every key a client offers, before it proves it holds the key; it only
// says whether the key could log in. The login itself is decided after the handshake, from
// the key the client proved (see principal).
func (s *Server) publicKey(ctx ssh.Context, key ssh.PublicKey) bool {
	user, ip := ctx.User(), hostOf(ctx.RemoteAddr())
	known := s.hub.KeyKnown(user, key.Marshal())
	if st, _ := ctx.Value(ctxKey{}).(*connState); st != nil && !st.offered(user, known) {
		return false
	}
	if s.limiter.blocked(ip) || s.accountLocked(ip, user) {
		return false
	}
	return known
}

// accountLocked: logins to an account are refused from an address that failed on it while
// the account as a whole has too many failures. An address that has not failed on it, such
// as its owner's, still gets in: knowing an account's name is not enough to lock it out.
func (s *Server) accountLocked(ip, user string) bool {
	return s.accounts.blocked(user) && s.pairs.blocked(pairKey(ip, user))
}

func pairKey(ip, user string) string { return ip + "\x00" + user }

func (s *Server) connFailed(conn net.Conn, err error) {
	v, ok := s.conns.LoadAndDelete(conn.RemoteAddr().String())
	if !ok {
		return
	}
	st := v.(*connState)
	st.mu.Lock()
	if st.ok != "" {
		st.mu.Unlock()
		return // it logged in; what failed before was counted then
	}
	failed, extra := st.failedNames(), st.extra
	st.mu.Unlock()
	if len(failed) == 0 && extra == 0 {
		return // no login was attempted: a scanner, a dropped connection
	}
	var authErr *gossh.ServerAuthError
	clean := errors.As(err, &authErr)
	why := func(name string) string {
		var t nameTry
		for _, f := range failed {
			if f.name == name {
				t = f.try
			}
		}
		switch {
		case t.password:
			return "alleen inloggen met een sleutel is toegestaan"
		case clean:
			return "geen geldige sleutel voor dit account"
		case t.knownKey && strings.Contains(err.Error(), "verif"):
			// x/crypto/ssh ends the handshake with the key's own Verify error.
			return "ongeldige handtekening"
		case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || isTimeout(err):
			return "aanmelding afgebroken: de verbinding werd verbroken"
		}
		return "aanmelding afgebroken: ongeldig bericht van de client"
	}
	s.log.Debug("aanmelding mislukt", "adres", conn.RemoteAddr().String(), "err", err)
	s.loginFailed(conn.RemoteAddr(), failed, why, extra)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// loginFailed counts one failed connection against the address, and each name it tried
// against that account and the address–account pair, and audits each name.
func (s *Server) loginFailed(remote net.Addr, failed []failedName, why func(string) string, extra int) {
	s.obs.LoginFailed()
	ip := hostOf(remote)
	addrBlocked := s.limiter.fail(ip)
	if addrBlocked {
		s.log.Warn("adres tijdelijk geblokkeerd: te veel mislukte aanmeldingen", "adres", ip, "venster", s.cfg.AuthFailureWindow)
	}
	for _, f := range failed {
		reason := why(f.name)
		if addrBlocked {
			reason += "; adres tijdelijk geblokkeerd na te veel mislukte pogingen"
		}
		// Only accounts that exist are counted: a name that logs in nowhere cannot be
		// locked out, and counting every name a scanner tries would let the tables grow
		// without end.
		if _, unknown := s.hub.Account(f.name); unknown == nil {
			wasLocked := s.accountLocked(ip, f.name)
			s.pairs.fail(pairKey(ip, f.name))
			switch {
			case s.accounts.fail(f.name):
				s.log.Warn("account tijdelijk geblokkeerd voor adressen met mislukte aanmeldingen", "account", f.name, "venster", s.cfg.AccountFailureWindow)
				reason += "; account tijdelijk geblokkeerd na te veel mislukte pogingen (vanaf adressen waarvandaan het mislukte)"
			case wasLocked:
				reason = "account tijdelijk geblokkeerd vanaf dit adres na te veel mislukte pogingen; probeer het later opnieuw"
			}
		}
		attempts := max(f.try.attempts, 1)
		s.log.Info("aanmelding geweigerd", "account", f.name, "adres", remote.String(), "reden", reason)
		s.hub.AuditAttempt(f.name, remote.String(), fmt.Sprintf("geweigerd: %s (%d pogingen)", reason, attempts))
	}
	if extra > 0 {
		s.log.Info("aanmelding geweigerd: te veel namen op één verbinding", "adres", remote.String(), "pogingen", extra)
		s.hub.AuditAttempt("", remote.String(), fmt.Sprintf("geweigerd: nog %d pogingen met andere namen dan de eerste %d (niet bekeken)", extra, maxNamesPerConn))
	}
}
