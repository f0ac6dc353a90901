package exchange

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

// KNOOPPUNT_TEST_BACKEND=postgres-s3 runs the engine tests that open their hub through
// newEngine on PostgreSQL and S3 (the servers of scripts/test-services.sh) instead of Badger
// and the file store:
//
//	eval "$(scripts/test-services.sh start)"
//	KNOOPPUNT_TEST_BACKEND=postgres-s3 go test ./exchange -run 'TestDeliver|TestRules'
const backendPostgresS3 = "postgres-s3"

// A data dir opened again (a restart in a test) gets the same database schema and prefix.
var testBackends = struct {
	sync.Mutex
	m map[string]testBackend
}{m: map[string]testBackend{}}

type testBackend struct {
	url string
	s3  storagetest.S3
}

// testStores opens the stores of dir on backend ("" or "badger": nil, nil, Open's default).
func testStores(t testing.TB, dir, backend string) (storage.KV, storage.Files) {
	t.Helper()
	switch backend {
	case "", "badger":
		return nil, nil
	case backendPostgresS3:
	default:
		t.Fatalf("KNOOPPUNT_TEST_BACKEND=%q: ken alleen badger en %s", backend, backendPostgresS3)
	}
	testBackends.Lock()
	b, ok := testBackends.m[dir]
	if !ok {
		b = testBackend{url: storagetest.DatabaseURL(t), s3: storagetest.S3Bucket(t)}
		testBackends.m[dir] = b
	}
	testBackends.Unlock()
	ctx := context.Background()
	kv, err := storage.OpenPostgres(ctx, b.url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.OpenS3(ctx, storage.S3Config{Endpoint: b.s3.Endpoint, Bucket: b.s3.Bucket, Prefix: b.s3.Prefix,
		AccessKey: b.s3.AccessKey, SecretKey: b.s3.SecretKey, SpoolDir: filepath.Join(dir, "s3-spool")})
	if err != nil {
		kv.Close()
		t.Fatal(err)
	}
	return kv, files
}

// badgerOnly skips a test that reaches into DIR by hand when KNOOPPUNT_TEST_BACKEND puts the
// stores elsewhere.
func badgerOnly(t *testing.T, why string) {
	t.Helper()
	if b := envBackend(); b != "" && b != "badger" {
		t.Skipf("alleen op Badger en DIR/files: %s", why)
	}
}

// envBackend is the backend KNOOPPUNT_TEST_BACKEND asks for.
func envBackend() string { return os.Getenv("KNOOPPUNT_TEST_BACKEND") }

// The engine's core tests on PostgreSQL and S3, whatever KNOOPPUNT_TEST_BACKEND says: a ZIP to
// several recipients, the business rules of a mixed ZIP, a retour, samenwerking, routes.
func TestEngineOnPostgresAndS3(t *testing.T) {
	storagetest.DatabaseURL(t) // skips (or fails under CI) without the servers
	t.Setenv("KNOOPPUNT_TEST_BACKEND", backendPostgresS3)
	for name, fn := range map[string]func(*testing.T){
		"DeliverZipToRecipients": TestDeliverZipToRecipients,
		"RulesMixedZip":          TestRulesMixedZip,
		"RetourGoesBackToSender": TestRetourGoesBackToSender,
		"EngineSamenwerking":     TestEngineSamenwerking,
		"Routes":                 TestRoutes,
	} {
		t.Run(name, fn)
	}
}

// BenchmarkThroughputBackends is BenchmarkThroughput on Badger and the file store, then on
// PostgreSQL and S3 (the servers of scripts/test-services.sh), side by side in one run.
func BenchmarkThroughputBackends(b *testing.B) {
	for _, backend := range []string{"badger", backendPostgresS3} {
		b.Run(backend, func(b *testing.B) {
			if backend != "badger" {
				storagetest.DatabaseURL(b)
			}
			b.Setenv("KNOOPPUNT_TEST_BACKEND", backend)
			benchThroughput(b, false)
		})
	}
}
