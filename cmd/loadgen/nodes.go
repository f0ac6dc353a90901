package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"knooppunt/exchange"
	"knooppunt/hostkeys"
	"knooppunt/loadgen"
	"knooppunt/storage"
)

// shared says where the hub keeps its records and bytes when it runs on several nodes
// (issue 14): the seeded Badger hub is migrated there with `knooppunt migrate` (host keys
// included, so the clients' check against DIR/hostkeys holds at every node), and nodes
// nodes are started on it, each with a data directory of its own for its S3 spool.
type shared struct {
	database, files, s3Endpoint string
	nodes                       int
}

func (s shared) on() bool { return s.database != "" }

func (s shared) flags() []string {
	return []string{"--database", s.database, "--files", s.files, "--s3-endpoint", s.s3Endpoint}
}

// migrate copies the seeded hub in data into the shared stores.
func (s shared) migrate(bin, data string) error {
	// The host keys the clients check against: made here, taken into the database by migrate.
	if _, err := hostkeys.Load(data); err != nil {
		return err
	}
	out, err := exec.Command(bin, append([]string{"migrate", "--data", data}, s.flags()...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("migrate: %w\n%s", err, out)
	}
	fmt.Printf("%s", out)
	return nil
}

// startNodes starts the nodes on the shared stores.
func (s shared) startNodes(o options) ([]*server, error) {
	var out []*server
	for i := range s.nodes {
		dir := filepath.Join(o.data, fmt.Sprintf("knooppunt-%d", i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		flags := s.flags()
		if o.workers > 0 {
			flags = append(flags, "--workers", fmt.Sprint(o.workers))
		}
		if o.maxUploads > 0 {
			flags = append(flags, "--max-uploads", fmt.Sprint(o.maxUploads))
		}
		srv, err := loadgen.Start(o.bin, dir, flags...)
		if err != nil {
			for _, n := range out {
				n.stop()
			}
			return nil, err
		}
		out = append(out, &server{addr: srv.Addr, pid: srv.Pid(), stop: srv.Stop, log: srv.Log})
	}
	return out, nil
}

// openHub opens the hub the run's records are in: the Badger store in data, or the shared
// stores.
func (s shared) openHub(data string) (*exchange.Hub, error) {
	cfg := exchange.Config{DataDir: data, Log: slog.New(slog.DiscardHandler)}
	if !s.on() {
		return exchange.Open(cfg)
	}
	ctx := context.Background()
	kv, err := storage.OpenPostgres(ctx, s.database, cfg.Log)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s.files)
	if err != nil {
		return nil, err
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	files, err := storage.OpenS3(ctx, storage.S3Config{Endpoint: s.s3Endpoint, Bucket: u.Host, Prefix: prefix,
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), Region: os.Getenv("AWS_REGION"),
		SpoolDir: filepath.Join(data, "loadgen-spool")})
	if err != nil {
		kv.Close()
		return nil, err
	}
	cfg.KV, cfg.Files = kv, files
	return exchange.Open(cfg)
}
