package tui

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	bm "charm.land/wish/v2/bubbletea"

	"knooppunt/exchange"
)

// Session serves the portal to an interactive session of the account p, which the SSH
// server has authenticated from the key proven in the handshake. It returns when the person
// leaves or the session ends; sshserver.Config.TUI takes it.
func Session(hub Hub, opts Options) func(ssh.Session, *exchange.Principal) {
	return func(sess ssh.Session, p *exchange.Principal) {
		pty, windows, ok := sess.Pty()
		if !ok {
			return
		}
		o := opts
		o.NoAltScreen = o.NoAltScreen || pty.Term == "dumb"
		if host, port, err := net.SplitHostPort(sess.LocalAddr().String()); err == nil {
			if o.Host == "" {
				o.Host = host
			}
			if o.Port == 0 {
				o.Port, _ = strconv.Atoi(port)
			}
		}
		if o.Log == nil {
			o.Log = slog.Default()
		}
		ctx, cancel := context.WithCancel(sess.Context())
		defer cancel()
		popts := append(bm.MakeOptions(sess), tea.WithContext(ctx))
		if pty.Window.Width <= 0 || pty.Window.Height <= 0 {
			// ssh -tt without a terminal of its own asks for a 0×0 one.
			popts = append(popts, tea.WithWindowSize(80, 24))
		}
		prog := tea.NewProgram(New(ctx, hub, p, o), popts...)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case w, ok := <-windows:
					if !ok {
						return
					}
					if w.Width > 0 && w.Height > 0 {
						prog.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
					}
				}
			}
		}()
		if _, err := prog.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
			o.Log.Error("tui: sessie eindigde met een fout", "account", p.Account.Name, "fout", err)
		}
	}
}
