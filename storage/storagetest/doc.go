// Package storagetest finds the PostgreSQL and S3-compatible servers that tests of the second
// storage backend run against: scripts/test-services.sh starts them and exports their
// addresses. Without them such tests skip, except under CI, where they fail.
//
// Where each word lives: the PostgreSQL address (DatabaseURL) and the S3-compatible server
// (S3), both in storagetest.go.
package storagetest
