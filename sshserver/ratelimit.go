package sshserver

import (
	"sync"
	"time"
)

// authLimiter counts failed logins per key: a source address, an account name, or an
// address–account pair (see Server.accountLocked). A key that reaches max failures within
// window is refused until the window that began with its first failure
// has passed, then starts afresh. Memory stays bounded: expired entries are dropped when
// the table grows.
type authLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	addrs  map[string]*failures
}

type failures struct {
	n     int
	since time.Time
}

const limiterPruneAt = 10_000

func newAuthLimiter(max int, window time.Duration, now func() time.Time) *authLimiter {
	return &authLimiter{max: max, window: window, now: now, addrs: map[string]*failures{}}
}

func (l *authLimiter) blocked(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[addr]
	if f == nil {
		return false
	}
	if l.now().Sub(f.since) >= l.window {
		delete(l.addrs, addr)
		return false
	}
	return f.n >= l.max
}

// fail records a failed login and tells whether it made the address blocked.
func (l *authLimiter) fail(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.addrs[addr]
	if f == nil || now.Sub(f.since) >= l.window {
		if len(l.addrs) >= limiterPruneAt {
			l.prune(now)
		}
		f = &failures{since: now}
		l.addrs[addr] = f
	}
	f.n++
	return f.n == l.max
}

func (l *authLimiter) prune(now time.Time) {
	for a, f := range l.addrs {
		if now.Sub(f.since) >= l.window {
			delete(l.addrs, a)
		}
	}
}
