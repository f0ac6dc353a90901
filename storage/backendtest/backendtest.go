package backendtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// PostgresS3 is the KNOOPPUNT_TEST_BACKEND value for PostgreSQL and S3.
const PostgresS3 = "postgres-s3"

// Name is the backend KNOOPPUNT_TEST_BACKEND asks for ("" for the default).
func Name() string { return os.Getenv("KNOOPPUNT_TEST_BACKEND") }

// A data dir opened again (a restart in a test) gets the same database schema and prefix.
var opened = struct {
	sync.Mutex
	m map[string]place
}{m: map[string]place{}}

type place struct {
	url string
	s3  storagetest.S3
}

// Stores opens the stores of dir on the backend KNOOPPUNT_TEST_BACKEND names; nil, nil for
// Badger, which exchange.Open then opens in dir.
func Stores(t testing.TB, dir string) (storage.KV, storage.Files) {
	t.Helper()
	return StoresOn(t, dir, Name())
}

// StoresOn is Stores on the named backend.
func StoresOn(t testing.TB, dir, backend string) (storage.KV, storage.Files) {
	t.Helper()
	switch backend {
	case "", "badger":
		return nil, nil
	case PostgresS3:
	default:
		t.Fatalf("KNOOPPUNT_TEST_BACKEND=%q: ken alleen badger en %s", backend, PostgresS3)
	}
	opened.Lock()
	p, ok := opened.m[dir]
	opened.Unlock()
	if !ok {
		p = place{url: storagetest.DatabaseURL(t), s3: storagetest.S3Bucket(t)}
		opened.Lock()
		opened.m[dir] = p
		opened.Unlock()
	}
	ctx := context.Background()
	kv, err := storage.OpenPostgres(ctx, p.url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.OpenS3(ctx, storage.S3Config{Endpoint: p.s3.Endpoint, Bucket: p.s3.Bucket, Prefix: p.s3.Prefix,
		AccessKey: p.s3.AccessKey, SecretKey: p.s3.SecretKey, SpoolDir: filepath.Join(dir, "s3-spool")})
	if err != nil {
		kv.Close()
		t.Fatal(err)
	}
	return kv, files
}

// BadgerOnly skips a test that reaches into the data dir by hand (a file in DIR/files, a
// copy of DIR) when KNOOPPUNT_TEST_BACKEND puts the stores elsewhere.
func BadgerOnly(t testing.TB, why string) {
	t.Helper()
	if b := Name(); b != "" && b != "badger" {
		t.Skipf("alleen op Badger en DIR/files: %s", why)
	}
}
