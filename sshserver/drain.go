package sshserver

import (
	"time"

	"github.com/pkg/sftp"
)

// Draining at shutdown: the listener is closed first (gliderlabs' Shutdown), then every
// connection is closed as soon as it has no transfer or command in progress and has been
// quiet for drainQuiet, so the answer to a client's last close (its upload accepted) is on
// its way before the connection goes. Connections that move a file keep going until the
// file is closed or ShutdownGrace ends. New files are refused meanwhile with a clear reason.

// drainQuiet is how long a connection without open files must have been silent before the
// drain closes it: the answer to an SFTP close is written right after the handler returns.
const drainQuiet = 300 * time.Millisecond

const drainReason = "het knooppunt stopt (onderhoud of herstart); maak over enkele minuten opnieuw verbinding, er is niets verloren"

// drain closes idle connections until stop is closed.
func (s *Server) drain(stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		now := time.Now()
		s.guards.Range(func(k, _ any) bool {
			g := k.(*guard)
			if g.open.Load() == 0 && g.working.Load() == 0 && now.Sub(time.Unix(0, g.last.Load())) >= drainQuiet {
				s.guards.Delete(g)
				go g.cut(drainReason)
			}
			return true
		})
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// refuseWhileDraining turns away a new transfer once the server is stopping.
func (m *mailbox) refuseWhileDraining(what, path string) error {
	if m.guard == nil || !m.guard.s.draining.Load() {
		return nil
	}
	return m.refuse(what, path, statusErr{sftp.ErrSSHFxFailure, drainReason})
}
