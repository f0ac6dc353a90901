package storage

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"knooppunt/storage/storagetest"
)

// Hubs that start at once on a new database migrate it once: the others wait on the advisory
// lock and find the schema done.
func TestPostgresMigratesOnceUnderLock(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
			if err != nil {
				errs <- err
				return
			}
			p.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var version, rows int
	if err := p.pool.QueryRow(context.Background(), `SELECT max(version), count(*) FROM knooppunt_schema`).Scan(&version, &rows); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || rows != 1 {
		t.Fatalf("schema version %d in %d rows, want %d in 1", version, rows, len(migrations))
	}
}

// When PostgreSQL drops every connection (a restart, a failover), the store reconnects: the
// next transactions work, and what was committed before is there.
func TestPostgresReconnects(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	set(t, p, "before", "1")
	admin, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var killed int
	err = admin.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'knooppunt' AND pid <> pg_backend_pid() AND datname = current_database()`).Scan(&killed)
	admin.Close()
	if err != nil || killed == 0 {
		t.Fatalf("terminated %d connections: %v", killed, err)
	}
	// The pool's connections are dead; the next transactions get new ones.
	set(t, p, "after", "2")
	for _, k := range []string{"before", "after"} {
		if _, err := get(t, p, k); err != nil {
			t.Fatalf("%s after reconnect: %v", k, err)
		}
	}
}
