package storage

import (
	"context"
	"errors"
	"github.com/jackc/pgx/v5"
	"log/slog"
	"sync"
	"testing"
	"time"

	"knooppunt/storage/storagetest"
)

// listener follows a Listen: every payload, and a nil for each (re)connect.
func listen(t *testing.T, p *Postgres, channel string) <-chan *string {
	t.Helper()
	got := make(chan *string, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Listen(ctx, channel, func(pl *string) { got <- pl }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen ended with %v", err)
		}
	})
	return got
}

func next(t *testing.T, got <-chan *string) *string {
	t.Helper()
	select {
	case pl := <-got:
		return pl
	case <-time.After(30 * time.Second):
		t.Fatal("nothing heard within 30 s")
		return nil
	}
}

// What one store sends reaches another process's store on the same database, in order; a
// store in another schema of that database hears nothing of it; after PostgreSQL drops the
// listening connection, the listener reconnects and hears what is sent after.
func TestPostgresNotifyAcrossStores(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	open := func(url string) *Postgres {
		p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a, b := open(url), open(url)
	other := open(storagetest.DatabaseURL(t))
	heard := listen(t, b, "events")
	otherHeard := listen(t, other, "events")
	if pl := next(t, heard); pl != nil {
		t.Fatalf("first call %q, want nil (connected)", *pl)
	}
	if pl := next(t, otherHeard); pl != nil {
		t.Fatalf("other schema: first call %q, want nil", *pl)
	}
	if err := a.Notify(context.Background(), "events", "een", "twee"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"een", "twee"} {
		if pl := next(t, heard); pl == nil || *pl != want {
			t.Fatalf("heard %v, want %q", pl, want)
		}
	}
	// The other schema's listener: a message of its own arrives, and nothing came before it.
	if err := other.Notify(context.Background(), "events", "eigen"); err != nil {
		t.Fatal(err)
	}
	if pl := next(t, otherHeard); pl == nil || *pl != "eigen" {
		t.Fatalf("other schema heard %v first, want its own message", pl)
	}
	if err := a.Notify(context.Background(), "events", string(make([]byte, MaxNotifyPayload+1))); err == nil {
		t.Fatal("a payload over MaxNotifyPayload was sent")
	}

	// PostgreSQL drops the listening connection (as a restart does).
	admin := open(url)
	// Only b's listener: the server is shared with the other packages' tests, running at once.
	if _, err := admin.pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query = $1 AND pid <> pg_backend_pid()`, `LISTEN `+pgx.Identifier{b.prefix + "events"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	for {
		pl := next(t, heard)
		if pl == nil {
			break // reconnected
		}
		t.Fatalf("heard %q before reconnecting", *pl)
	}
	if err := a.Notify(context.Background(), "events", "drie"); err != nil {
		t.Fatal(err)
	}
	if pl := next(t, heard); pl == nil || *pl != "drie" {
		t.Fatalf("after reconnecting heard %v, want drie", pl)
	}
}

// A database that does not answer fails a call after the store's time-out instead of
// holding the caller: here a lock another session holds on the table.
func TestPostgresCallTimesOut(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	set(t, p, "k", "v")
	p.SetTimeout(300 * time.Millisecond)
	holder, err := p.pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(context.Background(), `LOCK TABLE kv IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	err = p.View(func(txn Txn) error { _, err := txn.Get([]byte("k")); return err })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("View on a locked table: %v, want a deadline error", err)
	}
	err = p.Update(func(txn Txn) error { return txn.Set([]byte("k"), []byte("w")) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Update on a locked table: %v, want a deadline error", err)
	}
	holder.Rollback(context.Background())
	// Nothing was lost, and the store works again.
	if v, err := get(t, p, "k"); err != nil || string(v) != "v" {
		t.Fatalf("after the lock: %q %v", v, err)
	}
	set(t, p, "k", "w")
}

// A Notify sent while PostgreSQL restarts succeeds once the database is back, when that is
// within notifyPatience: the sender keeps trying on fresh connections instead of dropping the
// events after four quick tries (CI, under load: a node's events after a restart were lost).
// Whether the other node hears that one depends on whether its listener reconnected first
// (NOTIFY reaches only connections listening at that moment; the reconnect itself tells the
// subscribers to look again); what is sent after its reconnect, it hears.
func TestPostgresNotifyRidesOutARestart(t *testing.T) {
	pg := storagetest.OwnPostgres(t)
	open := func() *Postgres {
		p, err := OpenPostgres(context.Background(), pg.URL, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a, b := open(), open()
	// a's pool holds several connections, as a busy node's does; all break at the restart.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { a.pool.Exec(context.Background(), `SELECT pg_sleep(0.05)`) })
	}
	wg.Wait()
	heard := listen(t, b, "events")
	if pl := next(t, heard); pl != nil {
		t.Fatalf("first call %q, want nil (connected)", *pl)
	}

	pg.Stop()
	sent := make(chan error, 1)
	go func() { sent <- a.Notify(context.Background(), "events", "tijdens de herstart") }()
	time.Sleep(time.Second) // the database stays away longer than a few quick tries
	pg.Start()
	if err := <-sent; err != nil {
		t.Fatalf("Notify across a restart of about a second: %v", err)
	}
	for {
		pl := next(t, heard)
		if pl == nil {
			break // b's listener reconnected
		}
		if *pl != "tijdens de herstart" {
			t.Fatalf("heard %q before reconnecting", *pl)
		}
	}
	if err := a.Notify(context.Background(), "events", "na de herstart"); err != nil {
		t.Fatal(err)
	}
	for {
		pl := next(t, heard)
		if pl != nil && *pl == "na de herstart" {
			break
		}
		if pl == nil || *pl != "tijdens de herstart" {
			t.Fatalf("heard %v, want the message sent after the reconnect", pl)
		}
	}
}
