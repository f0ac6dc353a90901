package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// need skips t when the variable is unset, or fails it under CI.
func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s ontbreekt terwijl CI gezet is: start de testservers met eval \"$(scripts/test-services.sh start)\"", name)
		}
		t.Skipf("%s niet gezet: start de testservers met eval \"$(scripts/test-services.sh start)\"", name)
	}
	return v
}

func unique(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return "t_" + name + "_" + hex.EncodeToString(b[:])
}

// DatabaseURL returns the address of a fresh, empty schema in the test database, dropped when
// t ends: every test starts from nothing and tests run side by side.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := need(t, "KNOOPPUNT_TEST_DATABASE_URL")
	schema := unique(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testdatabase: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("testschema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, base); err == nil {
			conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// S3 is where a test keeps its blobs: a bucket on the test server and a prefix of its own.
type S3 struct {
	Endpoint, Bucket, Prefix string
	AccessKey, SecretKey     string
}

// S3Bucket returns the test server's bucket (created when missing) and a fresh prefix in it.
func S3Bucket(t testing.TB) S3 {
	t.Helper()
	s := S3{
		Endpoint:  need(t, "KNOOPPUNT_TEST_S3_ENDPOINT"),
		Bucket:    os.Getenv("KNOOPPUNT_TEST_S3_BUCKET"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Prefix:    unique(t) + "/",
	}
	if s.Bucket == "" {
		s.Bucket = "knooppunt-test"
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Secure: u.Scheme == "https", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := c.BucketExists(ctx, s.Bucket)
	if err != nil {
		t.Fatalf("testbucket %s op %s: %v", s.Bucket, s.Endpoint, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			if ok, _ := c.BucketExists(ctx, s.Bucket); !ok {
				t.Fatalf("testbucket %s aanmaken: %v", s.Bucket, err)
			}
		}
	}
	return s
}
