package exchange

import (
	"testing"

	"knooppunt/storage"
	"knooppunt/storage/backendtest"
	"knooppunt/storage/storagetest"
)

// KNOOPPUNT_TEST_BACKEND=postgres-s3 runs the engine tests that open their hub through
// newEngine on PostgreSQL and S3 (see storage/backendtest) instead of Badger and the file store:
//
//	eval "$(scripts/test-services.sh start)"
//	KNOOPPUNT_TEST_BACKEND=postgres-s3 go test ./exchange
const backendPostgresS3 = backendtest.PostgresS3

// testStores opens the stores of dir on backend ("" or "badger": nil, nil, Open's default).
func testStores(t testing.TB, dir, backend string) (storage.KV, storage.Files) {
	t.Helper()
	return backendtest.StoresOn(t, dir, backend)
}

func badgerOnly(t *testing.T, why string) { backendtest.BadgerOnly(t, why) }

// envBackend is the backend KNOOPPUNT_TEST_BACKEND asks for.
func envBackend() string { return backendtest.Name() }

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
