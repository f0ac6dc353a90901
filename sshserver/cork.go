package sshserver

import (
	"net"
	"sync"
	"time"
)

// corkConn lets the SFTP server send a large read answer to the network in one write.
// x/crypto/ssh writes every SSH packet with a write of its own, and OpenSSH's client takes
// packets of at most 32 KB: a 255 KB answer became eight writes, and on loopback each one
// woke the client to read 32 KB. While corked, the encrypted packets gather here and the
// last uncork sends them together, as Linux's TCP_CORK would if it sat below the
// encryption. A 560 MB download with OpenSSH sftp on loopback (chacha20-poly1305) went
// from 17,244 writes to 2,286, and from 2.10 to 1.82 CPU seconds in the hub and 1.60 to
// 1.33 in the client (medians of 12 interleaved runs).
//
// A corked writer may wait inside the SSH layer for something only the client can give:
// window space, or the end of a key exchange, and the client may need to see the
// gathered packets first. So after corkDelay the gathered packets leave by themselves and
// later writes pass straight through until the last uncork.
type corkConn struct {
	net.Conn
	bufs  *sync.Pool // of *[]byte, shared by the server's connections
	delay time.Duration

	mu       sync.Mutex
	corks    int
	corkedAt time.Time
	leak     bool // corkDelay passed: write through until the last uncork
	buf      *[]byte
	err      error // a gathered write failed: the connection is broken
	timer    *time.Timer
}

const (
	// corkDelay is far longer than encrypting one read answer takes (well under 1 ms)
	// and short enough that a client with a small window hardly notices.
	corkDelay = 2 * time.Millisecond
	// corkMax bounds what gathers: a read answer (255 KB of data) is about 262 KB on the
	// wire; a batch of small answers (up to maxBatch) leaves in pieces of this size.
	corkMax = 512 << 10
)

func newCorkConn(c net.Conn, bufs *sync.Pool) *corkConn {
	return &corkConn{Conn: c, bufs: bufs, delay: corkDelay}
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.corks == 0 || c.leak {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = c.bufs.Get().(*[]byte)
	}
	if len(*c.buf)+len(p) > corkMax {
		if err := c.flush(); err != nil {
			return 0, err
		}
		if len(p) > corkMax {
			return c.Conn.Write(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

func (c *corkConn) cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corks++
	if c.corks > 1 {
		return
	}
	c.leak = false
	c.corkedAt = time.Now()
	if c.timer == nil {
		c.timer = time.AfterFunc(c.delay, c.expire)
	} else {
		c.timer.Reset(c.delay)
	}
}

func (c *corkConn) uncork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corks--
	if c.corks > 0 {
		return
	}
	c.timer.Stop()
	c.flush()
	if c.buf != nil {
		c.bufs.Put(c.buf)
		c.buf = nil
	}
}

func (c *corkConn) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A timer stopped too late for an earlier cork may still run: only the current
	// cork's delay counts.
	if c.corks == 0 || time.Since(c.corkedAt) < c.delay {
		return
	}
	c.leak = true
	c.flush()
}

// flush sends what has gathered. Called with mu held.
func (c *corkConn) flush() error {
	if c.buf == nil || len(*c.buf) == 0 {
		return c.err
	}
	if c.err == nil {
		_, c.err = c.Conn.Write(*c.buf)
	}
	*c.buf = (*c.buf)[:0]
	return c.err
}

// newCorkBufs is the pool behind a server's corkConns: buffers exist only while a
// connection is corked, so idle and uploading connections hold none.
func newCorkBufs() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, 0, 64<<10)
		return &b
	}}
}
