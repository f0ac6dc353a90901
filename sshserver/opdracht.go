package sshserver

import (
	"io"
	"strings"

	"charm.land/ssh"

	"knooppunt/exchange"
	"knooppunt/sshserver/opdrachten"
)

// The exit codes of a command (package opdrachten), as the server's own refusals use them too.
const (
	exitOK     = opdrachten.ExitOK
	exitError  = opdrachten.ExitError
	exitUsage  = opdrachten.ExitUsage
	exitDenied = opdrachten.ExitDenied
)

// runCommand runs `ssh account@hub OPDRACHT …` through package opdrachten: the session's
// streams, the principal and where the connection came in are all a command gets of the
// server.
func (s *Server) runCommand(sess ssh.Session, p *exchange.Principal, argv []string) int {
	_, _, tty := sess.Pty()
	env := opdrachten.Env{Hub: s.hub, Principal: p, Stdin: sess, Stdout: sess, Stderr: sess.Stderr(),
		HostKeys: s.cfg.HostKeys, Listen: sess.LocalAddr().String(), Terminal: tty}
	if conn, ok := sess.Context().Value(ssh.ContextKeyConn).(io.Closer); ok {
		env.Hangup = func() { conn.Close() }
	}
	code := opdrachten.Run(sess.Context(), env, argv)
	s.log.Info("opdracht", "account", p.Account.Name, "opdracht", strings.Join(argv, " "), "exitcode", code)
	return code
}

// Version is the line 'versie' shows, for the program's own 'knooppunt versie'.
func Version() string { return opdrachten.Version() }

// AuditCheckText says in one or two lines what a check found, for the CLI and for ssh.
func AuditCheckText(c exchange.AuditCheck) string { return opdrachten.AuditCheckText(c) }

// BackupText says in one or two lines what a backup holds, for the CLI and for ssh.
func BackupText(m exchange.BackupManifest) string { return opdrachten.BackupText(m) }
