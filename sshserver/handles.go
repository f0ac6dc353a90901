package sshserver

import (
	"fmt"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
)

// Caps on the files and directories a client keeps open over SFTP. A file of ophalen/ or
// an upload holds a descriptor for as long as its handle is open, and nothing else stopped a
// client from keeping more: one account held 1,183 on a hub with 1,200 descriptors, after
// which nobody could log in and the store logged "too many open files" 75 times.
const (
	// DefaultMaxHandlesPerSession is Config.MaxHandlesPerSession when it is 0. The limits
	// reply offers 4 (sftpOpenHandles, to tune OpenSSH's pipeline); OpenSSH's sftp keeps one
	// file open at a time and asks for the limit; rclone (a pool of connections, a few
	// streams per file) and lftp keep a handful per session. 64 is far above any of them.
	DefaultMaxHandlesPerSession = 64
	// DefaultMaxHandlesPerAccount is Config.MaxHandlesPerAccount when it is 0: four
	// sessions' worth, over all the account's connections.
	DefaultMaxHandlesPerAccount = 256
	// minOpenHandles is the least Config.MaxOpenHandles becomes from a small descriptor
	// limit.
	minOpenHandles = 16
)

// raiseFileLimit raises the process's soft limit on open descriptors to its hard limit
// (Go's runtime does so too at start on Linux; this also covers a limit lowered since) and
// returns the limit now in force, 0 when it cannot be read.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return lim.Cur
}

// defaultMaxOpenHandles leaves half the process's descriptors to everything that is not a
// client's open file: Badger's tables and value log, the connections' sockets, the delivery
// writer, the logs. A store that runs out of descriptors loses durability, a client that
// runs out gets a clear refusal.
func defaultMaxOpenHandles(limit uint64) int {
	if limit == 0 || limit > 1<<30 {
		limit = 1 << 20
	}
	return max(int(limit/2), minOpenHandles)
}

// handleLimiter counts the handles open per session, per account and in the hub.
type handleLimiter struct {
	mu                     sync.Mutex
	perSession, perAccount int
	global                 int
	total                  int
	accounts               map[string]int
}

func newHandleLimiter(perSession, perAccount, global int) *handleLimiter {
	return &handleLimiter{perSession: perSession, perAccount: perAccount, global: global, accounts: map[string]int{}}
}

// handleCount is one session's open handles and whether the session was told (and the log
// was told) that it reached a cap; the limiter's lock guards it.
type handleCount struct {
	open   int
	warned bool
}

// take claims a handle for account's session; the error says which cap it met, in words
// the client shows, and first whether it is the session's first refusal.
func (l *handleLimiter) take(account string, sess *handleCount) (first bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var msg string
	switch {
	case sess.open >= l.perSession:
		msg = fmt.Sprintf("te veel open bestanden in deze sessie (ten hoogste %d); sluit eerst een bestand", l.perSession)
	case l.accounts[account] >= l.perAccount:
		msg = fmt.Sprintf("te veel open bestanden voor dit account (ten hoogste %d over al zijn verbindingen); sluit eerst een bestand", l.perAccount)
	case l.total >= l.global:
		msg = fmt.Sprintf("het knooppunt heeft te veel open bestanden (ten hoogste %d); probeer het zo opnieuw", l.global)
	default:
		sess.open++
		l.accounts[account]++
		l.total++
		return false, nil
	}
	first = !sess.warned
	sess.warned = true
	return first, statusErr{sftp.ErrSSHFxFailure, msg}
}

func (l *handleLimiter) release(account string, sess *handleCount) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sess.open--
	l.total--
	if l.accounts[account] <= 1 {
		delete(l.accounts, account)
	} else {
		l.accounts[account]--
	}
}

// openHandle claims a handle for the mailbox's session; a refusal is logged once per
// session, not once per open, so that a client that keeps trying cannot flood the log.
func (m *mailbox) openHandle(path string) error {
	if m.handles == nil {
		return nil
	}
	first, err := m.handles.take(m.p.Account.Name, &m.handleCount)
	if err != nil && first {
		m.log.Warn("openen geweigerd: te veel open bestanden", "pad", path, "reden", err.Error())
	}
	return err
}

func (m *mailbox) closeHandle() {
	if m.handles != nil {
		m.handles.release(m.p.Account.Name, &m.handleCount)
	}
}

// closingLister gives a directory handle's place back when pkg/sftp closes it.
type closingLister struct {
	sftp.ListerAt
	m    *mailbox
	once sync.Once
}

func (l *closingLister) Close() error {
	l.once.Do(l.m.closeHandle)
	return nil
}
