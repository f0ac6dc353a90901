package tui

import (
	"net"
	"strconv"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	bm "charm.land/wish/v2/bubbletea"

	"knooppunt/exchange"
)

// Middleware serves the portal to every session that asks for a terminal and has no
// command; other sessions (commands, sessions without a pty) go on to next. principal returns
// the account the SSH server verified for the session after the handshake, or nil to refuse.
func Middleware(hub Hub, opts Options, principal func(ssh.Session) *exchange.Principal) wish.Middleware {
	return bm.MiddlewareWithProgramHandler(func(sess ssh.Session) *tea.Program {
		if _, _, ok := sess.Pty(); !ok || len(sess.Command()) > 0 {
			return nil
		}
		p := principal(sess)
		if p == nil {
			return nil
		}
		o := opts
		if o.Host == "" || o.Port == 0 {
			if host, port, err := net.SplitHostPort(sess.LocalAddr().String()); err == nil {
				if o.Host == "" {
					o.Host = host
				}
				if o.Port == 0 {
					o.Port, _ = strconv.Atoi(port)
				}
			}
		}
		app := New(sess.Context(), hub, p, o)
		return tea.NewProgram(app, bm.MakeOptions(sess)...)
	})
}
