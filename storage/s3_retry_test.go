package storage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A PUT refused with versitygw's ExistingObjectIsDirectory (its answer when a concurrent
// DELETE removes the directory the object goes into) is sent again and the commit succeeds;
// any other refusal, and a lasting one, still fails the commit. An in-process stand-in for
// the server: the race cannot be provoked on demand.
func TestS3PutRetriedAfterExistingObjectIsDirectory(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int32  // PUTs refused before one succeeds
		code     string // of the refusal
		wantPuts int32
		wantErr  bool
	}{
		{"once", 1, "ExistingObjectIsDirectory", 2, false},
		{"lasting", 99, "ExistingObjectIsDirectory", putAttempts, true},
		{"other", 1, "AccessDenied", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var puts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.Method {
				case http.MethodHead: // BucketExists
					w.WriteHeader(http.StatusOK)
				case http.MethodPut:
					if puts.Add(1) <= tc.failures {
						w.Header().Set("Content-Type", "application/xml")
						w.WriteHeader(http.StatusConflict)
						w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + tc.code + `</Code><Message>refused (` + tc.code + `)</Message></Error>`))
						return
					}
					w.Header().Set("ETag", `"x"`)
					w.WriteHeader(http.StatusOK)
				default:
					w.WriteHeader(http.StatusNotImplemented)
				}
			}))
			defer srv.Close()
			s, err := OpenS3(context.Background(), S3Config{Endpoint: srv.URL, Bucket: "emmer", AccessKey: "k", SecretKey: "s", SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			w, err := s.Create("aanleveren/0363/iwmo/000000000000000b")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteAt([]byte("inhoud"), 0); err != nil {
				t.Fatal(err)
			}
			err = w.Commit()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Commit: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("Commit: %v, want the server's %s", err, tc.code)
			}
			if got := puts.Load(); got != tc.wantPuts {
				t.Fatalf("%d PUTs, want %d", got, tc.wantPuts)
			}
		})
	}
}
