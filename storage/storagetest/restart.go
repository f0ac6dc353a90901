package storagetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Cluster is a PostgreSQL server of one test's own, which the test may stop and start: a
// restart must not hit the other tests on the shared cluster of scripts/test-services.sh.
type Cluster struct {
	URL   string
	t     testing.TB
	bin   string
	dir   string
	port  int
	owner *user.User // root runs the server as postgres
}

// OwnPostgres starts a PostgreSQL server for t alone (initdb in a temporary directory, on a
// loopback port), with the binaries the shared test cluster uses; it stops when t ends. It
// skips, or fails under CI, where that cluster is not configured.
func OwnPostgres(t testing.TB) *Cluster {
	t.Helper()
	base := need(t, "KNOOPPUNT_TEST_SERVICES_DIR")
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatalf("geen initdb onder /usr/lib/postgresql (de testservers in %s zijn er wel)", base)
	}
	c := &Cluster{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "knooppunt-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Getuid() == 0 {
		if c.owner, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("gebruiker postgres: %v", err)
		}
		uid, _ := strconv.Atoi(c.owner.Uid)
		os.Chown(dir, uid, -1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "knooppunt", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	c.Start()
	t.Cleanup(func() { c.pgCtl("stop", "-m", "immediate", "-w") })
	c.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "knooppunt", "knooppunt_test")
	c.URL = fmt.Sprintf("postgres://knooppunt@127.0.0.1:%d/knooppunt_test?sslmode=disable", c.port)
	return c
}

func (c *Cluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := append([]string{filepath.Join(c.bin, name)}, args...)
	if c.owner != nil {
		cmd = append([]string{"runuser", "-u", "postgres", "--"}, cmd...)
	}
	if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
		c.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (c *Cluster) pgCtl(args ...string) {
	c.t.Helper()
	c.run("pg_ctl", append([]string{"-D", filepath.Join(c.dir, "data")}, args...)...)
}

// Stop stops the server as an operator's restart does (pg_ctl stop -m fast): sessions are
// ended, connections refused until Start.
func (c *Cluster) Stop() { c.pgCtl("stop", "-m", "fast", "-w") }

// Start starts the server (again), on the same port.
func (c *Cluster) Start() {
	c.pgCtl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "postgres.log"),
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s", c.port, c.dir))
}

// Restart is pg_ctl restart -m fast.
func (c *Cluster) Restart() {
	c.pgCtl("restart", "-m", "fast", "-w", "-t", "60", "-l", filepath.Join(c.dir, "postgres.log"),
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s", c.port, c.dir))
}
