package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notifier is a store that carries short messages between the processes sharing it: what one
// sends on a channel reaches every process listening on that channel, after the send returns.
// Messages are hints, not records: one sent while a listener was reconnecting is lost, which
// is why Listen calls fn(nil) after each (re)connect, for the listener to look again.
// PostgreSQL is one (LISTEN/NOTIFY); Badger, used by one process, is not.
type Notifier interface {
	// Notify sends the payloads on channel, in order. Each payload is text of at most
	// MaxNotifyPayload bytes.
	Notify(ctx context.Context, channel string, payloads ...string) error
	// Listen calls fn with every payload sent on channel until ctx ends, reconnecting when
	// the connection breaks; fn(nil) after every (re)connect. It returns ctx's error.
	Listen(ctx context.Context, channel string, fn func(payload *string)) error
}

// MaxNotifyPayload is the longest payload Notify takes (PostgreSQL's limit is 8000 bytes).
const MaxNotifyPayload = 7900

// scopeChannels names the store's Notifier channels after the schema it lives in: channels
// are per database, and several hubs (or tests) may share one database in different schemas.
func (p *Postgres) scopeChannels(ctx context.Context) error {
	var schema string
	if err := p.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	sum := sha256.Sum256([]byte(schema))
	p.prefix = "kp_" + hex.EncodeToString(sum[:8]) + "_"
	return nil
}

// notifyPatience is how long Notify tries to hand events to the database before it drops
// them: long enough to drain a pool's broken connections and to ride out a short restart,
// short enough that a sender does not fall minutes behind.
const notifyPatience = 15 * time.Second

// notifyTry bounds one try (below the store's call time-out): a NOTIFY is one tiny statement,
// and a try that hangs on a connection caught in the restart must not use up the patience.
// A try that timed out may still have been delivered: the receivers then hear an event
// twice, which is harmless (events are hints to look again).
const notifyTry = 5 * time.Second

func (p *Postgres) Notify(ctx context.Context, channel string, payloads ...string) error {
	if len(payloads) == 0 {
		return nil
	}
	for _, pl := range payloads {
		if len(pl) > MaxNotifyPayload {
			return fmt.Errorf("bericht van %d bytes op kanaal %s: ten hoogste %d", len(pl), channel, MaxNotifyPayload)
		}
	}
	ch := p.prefix + channel
	var err error
	// After a restart of the database the pool still holds connections that broke; the first
	// statement on each fails and the pool drops that one. More tries on fresh connections keep
	// the events of that moment from being lost (a CI run lost every event of an upload so).
	// The tries go on for notifyPatience, not a fixed number: a busy node's pool holds many
	// broken connections after a restart, and four tries drained only four of them (CI, under
	// load: a node's events were lost for two minutes after PostgreSQL came back).
	giveUp := time.Now().Add(notifyPatience)
	for try, wait := 0, 20*time.Millisecond; ; try++ {
		if try > 0 {
			if time.Now().After(giveUp) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("database: melding op %s: %w", channel, errors.Join(err, ctx.Err()))
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
		bctx, cancel := context.WithTimeout(ctx, min(p.timeout, notifyTry))
		// One statement, one transaction: the payloads arrive in order, together.
		_, err = p.pool.Exec(bctx, `SELECT pg_notify($1, pl) FROM unnest($2::text[]) WITH ORDINALITY AS u(pl, i) ORDER BY i`, ch, payloads)
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("database: melding op %s: %w", channel, err)
}

func (p *Postgres) Listen(ctx context.Context, channel string, fn func(payload *string)) error {
	delay := 100 * time.Millisecond
	for {
		err := p.listenOnce(ctx, channel, fn, func() { delay = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p.log != nil {
			p.log.Warn("luisteren naar de database onderbroken; opnieuw verbinden", "kanaal", channel, "over", delay, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// listenOnce holds one connection of its own (not the pool's: it waits for as long as it
// lives) on channel until it breaks or ctx ends.
func (p *Postgres) listenOnce(ctx context.Context, channel string, fn func(*string), connected func()) error {
	cctx, cancel := p.bound(ctx)
	conn, err := pgx.ConnectConfig(cctx, p.pool.Config().ConnConfig.Copy())
	if err != nil {
		cancel()
		return err
	}
	defer conn.Close(context.Background())
	ch := p.prefix + channel
	if _, err := conn.Exec(cctx, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
		cancel()
		return err
	}
	cancel()
	connected()
	fn(nil)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		pl := n.Payload
		fn(&pl)
	}
}
