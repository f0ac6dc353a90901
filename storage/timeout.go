package storage

import (
	"context"
	"time"
)

// DefaultCallTimeout bounds one call to a database or object store server (a statement, a
// BEGIN or COMMIT, a HEAD or DELETE) unless SetTimeout says otherwise: a server that hangs
// (a network partition, a stopped process that keeps its sockets) then fails the call with
// an error, which the caller reports, instead of holding an SFTP session or a worker for
// ever. Calls that move a blob's bytes get more: see S3's transferTimeout.
const DefaultCallTimeout = 30 * time.Second

// SetTimeout sets how long one call to the database may take; 0 or less means
// DefaultCallTimeout. Call it before the store is used.
func (p *Postgres) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultCallTimeout
	}
	p.timeout = d
}

func (p *Postgres) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.timeout)
}

func (t *pgTxn) bound() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, t.timeout)
}

// SetTimeout sets how long one call to the object store may take before it fails; a call
// that moves a blob's bytes gets this plus a second per MB (see transferTimeout). 0 or less
// means DefaultCallTimeout. Call it before the store is used.
func (s *S3) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultCallTimeout
	}
	s.timeout = d
}

// minTransferRate is the slowest transfer to or from the object store that is not taken
// for a hung one.
const minTransferRate = 1 << 20 // bytes per second

func (s *S3) bound() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// transferTimeout bounds a call that moves size bytes.
func (s *S3) transferTimeout(size int64) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout+time.Duration(size/minTransferRate)*time.Second)
}
