package sshserver

import (
	"io"
	"sync"
)

// maxBatch bounds what batchWriter holds: past it, the SFTP server waits for the network.
const maxBatch = 1 << 20

// batchWriter gathers the SFTP server's writes into few SSH packets. pkg/sftp writes every
// response as two writes (header, then payload), and the SSH channel sends each write as at
// least one packet of its own: a 32 KB read answer became a 13-byte packet and a 32 KB one.
// Here, while one batch is on its way to the client, the next one collects; no timer is
// involved, so a lone response leaves at once.
type batchWriter struct {
	w       io.Writer
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	spare   []byte
	err     error
	done    bool
	sending bool // a write to w is under way (by loop or a large Write)
	head    []byte
	idle    chan struct{}
	cork    corker // may be nil
}

// corker gathers the connection's writes between cork and uncork (see corkConn).
type corker interface {
	cork()
	uncork()
}

func newBatchWriter(w io.Writer, c corker) *batchWriter {
	b := &batchWriter{w: w, idle: make(chan struct{}), cork: c}
	b.cond.L = &b.mu
	go b.loop()
	return b
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && !b.done && len(b.buf) >= maxBatch {
		b.cond.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.ErrClosedPipe
	}
	if len(p) >= directMin {
		return b.direct(p)
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return len(p), nil
}

// directMin is the size from which a write skips the buffer: a large read answer (up to
// 255 KB with limits@openssh.com) goes to the channel as is, with what is gathered before it
// and its first 32 KB in one packet, instead of being copied whole.
const directMin = 64 << 10

// packetData is what one SSH packet to OpenSSH's client carries at most (its channels' maximum
// packet size).
const packetData = 32 << 10

// direct sends p itself once earlier writes are out. Called with mu held.
func (b *batchWriter) direct(p []byte) (int, error) {
	for b.err == nil && b.sending {
		b.cond.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	b.sending = true
	k := min(len(p), packetData)
	b.head = append(append(b.head[:0], b.buf...), p[:k]...)
	b.buf = b.buf[:0]
	b.mu.Unlock()
	err := b.corked(len(b.head)+len(p), func() error {
		if _, err := b.w.Write(b.head); err != nil {
			return err
		}
		_, err := b.w.Write(p[k:])
		return err
	})
	b.mu.Lock()
	b.sending = false
	if err != nil && b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (b *batchWriter) loop() {
	defer close(b.idle)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for (len(b.buf) == 0 || b.sending) && b.err == nil && !(b.done && !b.sending && len(b.buf) == 0) {
			b.cond.Wait()
		}
		if b.err != nil || len(b.buf) == 0 {
			return
		}
		out := b.buf
		b.buf = b.spare[:0]
		b.sending = true
		b.mu.Unlock()
		err := b.corked(len(out), func() error {
			_, err := b.w.Write(out)
			return err
		})
		b.mu.Lock()
		b.sending = false
		b.spare = out[:0]
		if err != nil {
			b.err = err
		}
		b.cond.Broadcast()
	}
}

// corked runs send, which writes n bytes, with the connection corked when that is more
// than one SSH packet, so that it leaves in one network write rather than one per packet.
// An upload's status answers fit in one packet and go as they are.
func (b *batchWriter) corked(n int, send func() error) error {
	if b.cork == nil || n <= packetData {
		return send()
	}
	b.cork.cork()
	defer b.cork.uncork()
	return send()
}

// Flush sends what is left and stops the writer; later writes fail.
func (b *batchWriter) Flush() error {
	b.mu.Lock()
	b.done = true
	b.cond.Broadcast()
	b.mu.Unlock()
	<-b.idle
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
