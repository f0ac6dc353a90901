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
		pty, _, _ = sess.Pty()
		w, h := pty.Window.Width, pty.Window.Height
		if w <= 0 || h <= 0 {
			w, h = 80, 24 // ssh -tt without a terminal of its own asks for a 0×0 one.
		}
		width, height := boundedWindow(w, h)
		// WithWindowSize and WithFilter come after wish's options, which set the size the
		// client asked for and a filter of their own; both are replaced here.
		prog := tea.NewProgram(New(ctx, hub, p, o), append(bm.MakeOptions(sess), tea.WithContext(ctx),
			tea.WithWindowSize(width, height), tea.WithFilter(sessionFilter))...)
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
						prog.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height}) // bounded by sessionFilter
					}
				}
			}
		}()
		if _, err := prog.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
			o.Log.Error("tui: sessie eindigde met een fout", "account", p.Account.Name, "fout", err)
		}
	}
}

// The largest terminal the portal renders at. The renderer keeps a few hundred bytes per
// cell of the window it is told (236 MB for a 1000×1000 pty-req, 2.6 GB for 5000×5000,
// measured), and the client chooses that size. A larger window gets the portal at this
// size in its top-left corner. 240×100 (24,000 cells) fills a 4K screen at a readable font
// and keeps one session's screen within a few MB (TestHugePtyDoesNotGrowHub).
const (
	maxWidth  = 240
	maxHeight = 100
)

func boundedWindow(width, height int) (int, int) {
	return min(max(width, 0), maxWidth), min(max(height, 0), maxHeight)
}

// sessionFilter bounds every window size the program hears of, whether from the pty-req,
// a window-change or an in-band size report the client types into its input, and keeps
// what wish's own filter did: a session cannot be suspended, so suspending resumes.
func sessionFilter(_ tea.Model, msg tea.Msg) tea.Msg {
	switch m := msg.(type) {
	case tea.WindowSizeMsg:
		m.Width, m.Height = boundedWindow(m.Width, m.Height)
		return m
	case tea.SuspendMsg:
		return tea.ResumeMsg{}
	}
	return msg
}
