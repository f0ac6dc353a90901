// Package backendtest opens the stores a test's hub runs on, chosen by KNOOPPUNT_TEST_BACKEND:
// "" or "badger" (Badger and the file store in the data dir, exchange.Open's default) or
// "postgres-s3" (the servers of scripts/test-services.sh, see storagetest):
//
//	eval "$(scripts/test-services.sh start)"
//	KNOOPPUNT_TEST_BACKEND=postgres-s3 go test ./exchange ./sshserver
//
// Where each word lives: the backend a test asks for (Name, PostgresS3), the stores a test's
// hub opens on it (Stores, StoresOn) and a test that only makes sense on Badger (BadgerOnly),
// all in backendtest.go.
package backendtest
