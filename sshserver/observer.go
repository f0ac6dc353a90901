package sshserver

// Observer hears of connections, sessions, failed logins and the bytes of files moved over
// SFTP, for monitoring (package metrics implements it). Its methods are called on the
// connections' goroutines, for every read and write of a file: they must be quick and safe for
// concurrent use.
type Observer interface {
	// ConnOpened: a connection passed the limits per address; ConnClosed follows it.
	ConnOpened()
	ConnClosed()
	// ConnRefused: a connection was closed before the handshake; reason is
	// "max_verbindingen" (too many from its address) or "adres_geblokkeerd" (too many
	// failed logins from its address).
	ConnRefused(reason string)
	// LoginFailed: a client tried to log in and did not get in.
	LoginFailed()
	// SessionOpened: an authenticated session began; kind is "sftp", "tui", "command" or
	// "other" (no terminal and no command: a short text on how to use the hub). SessionClosed
	// follows it.
	SessionOpened(kind string)
	SessionClosed(kind string)
	// SFTPReceived and SFTPSent count the bytes of files, not of the protocol.
	SFTPReceived(n int)
	SFTPSent(n int)
}

type nopObserver struct{}

func (nopObserver) ConnOpened()          {}
func (nopObserver) ConnClosed()          {}
func (nopObserver) ConnRefused(string)   {}
func (nopObserver) LoginFailed()         {}
func (nopObserver) SessionOpened(string) {}
func (nopObserver) SessionClosed(string) {}
func (nopObserver) SFTPReceived(int)     {}
func (nopObserver) SFTPSent(int)         {}

// session counts one session of kind until the returned func is called.
func (s *Server) session(kind string) func() {
	s.obs.SessionOpened(kind)
	return func() { s.obs.SessionClosed(kind) }
}
