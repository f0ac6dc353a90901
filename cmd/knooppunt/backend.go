package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"knooppunt/exchange"
	"knooppunt/storage"
)

// backendFlags choose where the hub keeps its records and bytes: Badger in DIR/db and the
// file store in DIR/files (the default), or PostgreSQL (--database) and S3-compatible object
// storage (--files s3://…). Either may be chosen alone. With --database the SSH host keys live in
// the database too (hostkeys.LoadShared), so every node presents the same fingerprints.
type backendFlags struct {
	database    string // postgres://…
	files       string // s3://BUCKET[/PREFIX]
	s3Endpoint  string
	credentials string // file with AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…
	// timeout bounds one call to PostgreSQL or S3 (storage.DefaultCallTimeout when 0).
	timeout time.Duration
	// s3Cache is storage.S3Config.RecentCache: 0 its default, less than 0 none.
	s3Cache int64
}

func addBackendFlags(fs *flag.FlagSet) func() (backendFlags, error) {
	var b backendFlags
	fs.StringVar(&b.database, "database", os.Getenv("KNOOPPUNT_DATABASE_URL"),
		"records in PostgreSQL in plaats van DIR/db (KNOOPPUNT_DATABASE_URL), bijvoorbeeld postgres://knooppunt@db/knooppunt")
	fs.StringVar(&b.files, "files", os.Getenv("KNOOPPUNT_FILES"),
		"bestanden in S3-opslag in plaats van DIR/files (KNOOPPUNT_FILES): s3://BUCKET[/PREFIX]")
	fs.StringVar(&b.s3Endpoint, "s3-endpoint", os.Getenv("KNOOPPUNT_S3_ENDPOINT"),
		"adres van de S3-opslag (KNOOPPUNT_S3_ENDPOINT), bijvoorbeeld https://s3.example.nl")
	fs.StringVar(&b.credentials, "s3-credentials", os.Getenv("KNOOPPUNT_S3_CREDENTIALS"),
		"bestand met AWS_ACCESS_KEY_ID=… en AWS_SECRET_ACCESS_KEY=… (KNOOPPUNT_S3_CREDENTIALS); anders uit de omgeving")
	timeout := fs.String("storage-timeout", envOr("KNOOPPUNT_STORAGE_TIMEOUT", storage.DefaultCallTimeout.String()),
		"hoe lang één aanroep naar PostgreSQL of S3 mag duren (KNOOPPUNT_STORAGE_TIMEOUT)")
	s3Cache := fs.String("s3-cache", os.Getenv("KNOOPPUNT_S3_CACHE"), fmt.Sprintf(
		"MB aan net geschreven bestanden die een knooppunt in DIR/s3-spool bewaart om ze zelf terug te lezen (KNOOPPUNT_S3_CACHE); standaard %d, 0: geen", storage.DefaultRecentCache>>20))
	return func() (backendFlags, error) {
		if *s3Cache != "" {
			mb, err := strconv.ParseInt(*s3Cache, 10, 64)
			if err != nil || mb < 0 || mb > 1<<20 {
				return b, fmt.Errorf("--s3-cache %q is geen aantal MB; schrijf bijvoorbeeld 256, of 0 voor geen", *s3Cache)
			}
			b.s3Cache = mb << 20
			if mb == 0 {
				b.s3Cache = -1
			}
		}
		d, err := time.ParseDuration(*timeout)
		if err != nil || d <= 0 {
			return b, fmt.Errorf("--storage-timeout %q is geen duur; schrijf bijvoorbeeld 30s of 1m", *timeout)
		}
		b.timeout = d
		if b.database != "" && !strings.HasPrefix(b.database, "postgres://") && !strings.HasPrefix(b.database, "postgresql://") {
			return b, fmt.Errorf("--database %q: verwacht postgres://GEBRUIKER@HOST[:POORT]/DATABASE", redactDatabase(b.database))
		}
		if b.files != "" {
			if _, _, err := parseS3Files(b.files); err != nil {
				return b, err
			}
			if b.s3Endpoint == "" {
				return b, fmt.Errorf("--files %s: geef ook --s3-endpoint (KNOOPPUNT_S3_ENDPOINT)", b.files)
			}
		}
		return b, nil
	}
}

// parseS3Files splits s3://BUCKET[/PREFIX] into the bucket and a prefix ending in "/".
func parseS3Files(v string) (bucket, prefix string, err error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return "", "", fmt.Errorf("--files %q: verwacht s3://BUCKET of s3://BUCKET/PREFIX", v)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	return u.Host, prefix, nil
}

// redactDatabase leaves a password out of a database address.
func redactDatabase(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "(ongeldig adres)"
	}
	return u.Redacted()
}

// s3Credentials reads the key pair from file, or else from the environment.
func s3Credentials(file string) (access, secret string, err error) {
	access, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", "", fmt.Errorf("--s3-credentials: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			switch strings.TrimSpace(strings.TrimPrefix(k, "export ")) {
			case "AWS_ACCESS_KEY_ID", "aws_access_key_id":
				if ok {
					access = v
				}
			case "AWS_SECRET_ACCESS_KEY", "aws_secret_access_key":
				if ok {
					secret = v
				}
			}
		}
		if err := sc.Err(); err != nil {
			return "", "", fmt.Errorf("--s3-credentials %s: %w", file, err)
		}
	}
	if access == "" || secret == "" {
		return "", "", fmt.Errorf("--files: geen S3-sleutels; zet AWS_ACCESS_KEY_ID en AWS_SECRET_ACCESS_KEY of geef --s3-credentials BESTAND")
	}
	return access, secret, nil
}

// apply opens the chosen stores into cfg (nil leaves exchange's default in DataDir).
func (b backendFlags) apply(ctx context.Context, cfg *exchange.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if b.database != "" {
		db, err := storage.OpenPostgres(ctx, b.database, log)
		if err != nil {
			return err
		}
		db.SetTimeout(b.timeout)
		cfg.KV, cfg.StoreName = db, redactDatabase(b.database)
		log.Info("records in PostgreSQL", "database", cfg.StoreName)
	}
	if b.files != "" {
		bucket, prefix, _ := parseS3Files(b.files)
		access, secret, err := s3Credentials(b.credentials)
		if err == nil {
			cfg.Files, err = storage.OpenS3(ctx, storage.S3Config{Endpoint: b.s3Endpoint, Bucket: bucket, Prefix: prefix,
				AccessKey: access, SecretKey: secret, Region: os.Getenv("AWS_REGION"),
				SpoolDir: filepath.Join(cfg.DataDir, "s3-spool"), RecentCache: b.s3Cache})
		}
		if err == nil {
			cfg.Files.(*storage.S3).SetTimeout(b.timeout)
		}
		if err != nil {
			if cfg.KV != nil {
				cfg.KV.Close()
				cfg.KV = nil
			}
			return err
		}
		log.Info("bestanden in S3", "adres", b.s3Endpoint, "bucket", bucket, "prefix", prefix)
	}
	return nil
}

// sharedStore refuses an offline command (audit, backup) when the environment says the hub
// keeps its records or bytes in PostgreSQL or S3: opening DIR would find (or make) an empty
// Badger store and answer for that. Such a hub answers over SSH. online is the SSH hint with
// the port and host to fill in.
func sharedStore(data string, stderr io.Writer, online string) bool {
	if os.Getenv("KNOOPPUNT_DATABASE_URL") == "" && os.Getenv("KNOOPPUNT_FILES") == "" {
		return false
	}
	listen := envOr("KNOOPPUNT_LISTEN", defaultListen)
	fmt.Fprintf(stderr, "fout: deze hub bewaart zijn gegevens in PostgreSQL of S3 (KNOOPPUNT_DATABASE_URL, KNOOPPUNT_FILES), "+
		"niet in %s. "+online+"\n", data, portOf(listen), hostOf(listen))
	return true
}
