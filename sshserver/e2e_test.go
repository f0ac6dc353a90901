package sshserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/hostkeys"
	"knooppunt/storage/backendtest"
)

// testHub is a real hub with the demo data behind a real SSH server on a loopback port.
type testHub struct {
	hub  *exchange.Hub
	dir  string
	addr string
	port string
	keys map[string]string // demo account -> private key file
	stop func()
}

// hubSetup is what startHub builds: the hub's and the server's Config, and whether the
// processing engine runs.
type hubSetup struct {
	hub    exchange.Config
	cfg    Config
	engine bool
}

type hubOption func(*hubSetup)

func withEngine(s *hubSetup) { s.engine = true }

func startHub(t testing.TB, opts ...hubOption) *testHub {
	t.Helper()
	return startHubIn(t, t.TempDir(), opts...)
}

func startHubIn(t testing.TB, dir string, opts ...hubOption) *testHub {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	setup := hubSetup{hub: exchange.Config{DataDir: dir, Log: log, OIN: exchange.DemoHubOIN}, cfg: Config{Log: log, MaxAuthFailures: 1000}}
	for _, o := range opts {
		o(&setup)
	}
	if setup.hub.KV == nil && setup.hub.Files == nil {
		setup.hub.KV, setup.hub.Files = backendtest.Stores(t, dir) // KNOOPPUNT_TEST_BACKEND
	}
	hub, err := exchange.Open(setup.hub)
	if err != nil {
		t.Fatal(err)
	}
	accts, err := hub.SeedDemo(filepath.Join(dir, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := hostkeys.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	setup.cfg.Hub = hub
	for _, k := range keys {
		setup.cfg.HostKeys = append(setup.cfg.HostKeys, k.Signer)
	}
	srv, err := New(setup.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	engine := make(chan error, 1)
	if setup.engine {
		go func() { engine <- hub.Run(ctx) }()
	} else {
		engine <- nil
	}
	th := &testHub{hub: hub, dir: dir, addr: ln.Addr().String(), keys: map[string]string{}}
	_, th.port, _ = net.SplitHostPort(th.addr)
	for _, a := range accts {
		th.keys[a.Name] = a.KeyFile
	}
	stopped := false
	th.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := <-engine; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := hub.Close(); err != nil {
			t.Errorf("close hub: %v", err)
		}
	}
	t.Cleanup(th.stop)
	return th
}

func (th *testHub) principal(t testing.TB, account string) *exchange.Principal {
	t.Helper()
	a, err := th.hub.Account(account)
	if err != nil {
		t.Fatal(err)
	}
	p := &exchange.Principal{Account: a}
	if a.Org != "" {
		if p.Org, err = th.hub.Org(a.Org); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (th *testHub) uploads(t testing.TB, account string, product exchange.Product) []exchange.Upload {
	t.Helper()
	us, _, err := th.hub.Uploads(context.Background(), th.principal(t, account), product, exchange.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func (th *testHub) pending(t testing.TB, account string, product exchange.Product) []exchange.PendingFile {
	t.Helper()
	ps, err := th.hub.Pending(th.principal(t, account), product)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func needOpenSSH(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"sftp", "ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("OpenSSH %s not installed", tool)
		}
	}
}

// sshOpts makes OpenSSH clients use exactly the given key and nothing of the machine's
// configuration or agent.
func (th *testHub) sshOpts(key string) []string {
	return []string{"-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"}
}

// sftpCmd builds an OpenSSH `sftp -b -` run as account (logging in with key), reading batch.
func (th *testHub) sftpCmd(account, key, batch string, extra ...string) *exec.Cmd {
	args := append(th.sshOpts(key), "-P", th.port, "-b", "-")
	args = append(args, extra...)
	args = append(args, account+"@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Stdin = strings.NewReader(batch)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	return cmd
}

// sftp runs a batch as a demo account and returns its output lines that are not the echoed
// commands.
func (th *testHub) sftp(t testing.TB, account, batch string, extra ...string) ([]string, error) {
	t.Helper()
	out, err := th.sftpCmd(account, th.keys[account], batch, extra...).CombinedOutput()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "sftp>") {
			lines = append(lines, l)
		}
	}
	if err != nil {
		return lines, fmt.Errorf("%w: %s", err, out)
	}
	return lines, nil
}

func (th *testHub) ssh(account, key string, command ...string) (stdout, stderr string, code int) {
	args := append(th.sshOpts(key), "-p", th.port, account+"@127.0.0.1", "--")
	args = append(args, command...)
	cmd := exec.Command("ssh", args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		e.WriteString(err.Error())
	}
	return o.String(), e.String(), code
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func base(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, filepath.Base(l))
	}
	return out
}

func TestEachDemoAccountSeesExactlyItsProducts(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	want := map[string][]string{
		"gemeente":  {"iwmo", "ijw", "ieb", "pgb-wmo", "pgb-jw"},
		"ameland":   {"iwmo", "ijw"},
		"aanbieder": {"iwmo", "ijw"},
		"cak":       {"ieb"},
		"svb":       {"pgb-wmo", "pgb-jw"},
		"beheer":    nil,
	}
	for account, products := range want {
		t.Run(account, func(t *testing.T) {
			got, err := th.sftp(t, account, "ls -1\n")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sortedCopy(base(got)), sortedCopy(products)) {
				t.Fatalf("ls / = %q, want %q", got, products)
			}
			for _, p := range products {
				got, err := th.sftp(t, account, "ls -1 /"+p+"\n")
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(base(got), []string{"aanleveren", "ophalen", "verslagen"}) {
					t.Fatalf("ls /%s = %q", p, got)
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestPutIntoAanleverenIsRecorded(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	data := []byte("<bericht/>")
	f := writeFile(t, "wmo301.xml", data)
	if _, err := th.sftp(t, "gemeente", "cd /iwmo/aanleveren\nput "+f+"\n"); err != nil {
		t.Fatal(err)
	}
	us := th.uploads(t, "gemeente", exchange.IWmo)
	if len(us) != 1 || us[0].Name != "wmo301.xml" || us[0].Status != exchange.Ontvangen || us[0].Size != int64(len(data)) || us[0].Org != "9999" {
		t.Fatalf("uploads = %+v", us)
	}
	// The client may look at it right after (rclone does).
	lines, err := th.sftp(t, "gemeente", "ls -l /iwmo/aanleveren/wmo301.xml\n")
	if err != nil || len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprint(len(data))) {
		t.Fatalf("ls -l after put = %q, %v", lines, err)
	}
	// Another organisation sees nothing of it.
	if us := th.uploads(t, "ameland", exchange.IWmo); len(us) != 0 {
		t.Fatalf("ameland sees %+v", us)
	}
	assertAudited(t, th.hub, "gemeente", "aanleveren", "iwmo/aanleveren/wmo301.xml", "ontvangen")
}

// audited tells whether the audit log has an entry of account and action whose path and
// result contain path and result.
func audited(h *exchange.Hub, account, action, path, result string) bool {
	found := false
	h.AuditLog(0, func(e exchange.AuditEntry) bool {
		found = e.Account == account && e.Action == action && strings.Contains(e.Path, path) && strings.Contains(e.Result, result)
		return !found
	})
	return found
}

func assertAudited(t testing.TB, h *exchange.Hub, account, action, path, result string) {
	t.Helper()
	if !audited(h, account, action, path, result) {
		var all []string
		h.AuditLog(0, func(e exchange.AuditEntry) bool {
			all = append(all, fmt.Sprintf("%s %s %s %s", e.Account, e.Action, e.Path, e.Result))
			return true
		})
		t.Fatalf("no audit entry %s %s %s %q in:\n%s", account, action, path, result, strings.Join(all, "\n"))
	}
}

func TestOperationsOutsideTheRulesAreDenied(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	f := writeFile(t, "x.xml", []byte("<x/>"))
	cases := map[string]struct{ account, batch string }{
		"put into ophalen":          {"gemeente", "put " + f + " /iwmo/ophalen/x.xml\n"},
		"put into verslagen":        {"gemeente", "put " + f + " /iwmo/verslagen/x.xml\n"},
		"put into root":             {"gemeente", "put " + f + " /x.xml\n"},
		"put into product folder":   {"gemeente", "put " + f + " /iwmo/x.xml\n"},
		"put a .txt":                {"gemeente", "put " + f + " /iwmo/aanleveren/x.txt\n"},
		"mkdir":                     {"gemeente", "mkdir /iwmo/aanleveren/map\n"},
		"mkdir at root":             {"gemeente", "mkdir /nieuw\n"},
		"rmdir":                     {"gemeente", "rmdir /iwmo/aanleveren\n"},
		"symlink":                   {"gemeente", "put " + f + " /iwmo/aanleveren/a.xml.filepart\nln -s /iwmo/aanleveren/a.xml.filepart /iwmo/aanleveren/b.xml\n"},
		"hardlink":                  {"gemeente", "put " + f + " /iwmo/aanleveren/c.xml.filepart\nln /iwmo/aanleveren/c.xml.filepart /iwmo/aanleveren/d.xml\n"},
		"../ escape on put":         {"gemeente", "cd /iwmo/aanleveren\nput " + f + " ../../../../etc/x.xml\n"},
		"../ escape on get":         {"gemeente", "cd /iwmo/aanleveren\nget ../../../../etc/passwd " + t.TempDir() + "/p\n"},
		"absolute host path":        {"gemeente", "get /etc/passwd " + t.TempDir() + "/p\n"},
		"ls a host directory":       {"gemeente", "ls /etc\n"},
		"another org's folder":      {"ameland", "ls /9999\n"},
		"a product the org lacks":   {"ameland", "ls /ieb\n"},
		"get from a lacked product": {"cak", "get /iwmo/ophalen/x.zip " + t.TempDir() + "/x\n"},
		"subfolder in aanleveren":   {"gemeente", "put " + f + " /iwmo/aanleveren/sub/x.xml\n"},
		"get from aanleveren":       {"gemeente", "put " + f + " /iwmo/aanleveren/e.xml.filepart\nget /iwmo/aanleveren/e.xml.filepart " + t.TempDir() + "/e\n"},
		"rename out of aanleveren":  {"gemeente", "put " + f + " /iwmo/aanleveren/g.xml.filepart\nrename /iwmo/aanleveren/g.xml.filepart /iwmo/ophalen/g.xml\n"},
		"rename across products":    {"gemeente", "put " + f + " /iwmo/aanleveren/h.xml.filepart\nrename /iwmo/aanleveren/h.xml.filepart /ijw/aanleveren/h.xml\n"},
		"remove a folder":           {"gemeente", "rm /iwmo/ophalen\n"},
	}
	t.Run("each", func(t *testing.T) {
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				lines, err := th.sftp(t, c.account, c.batch)
				if err == nil {
					t.Fatalf("allowed; output %q", lines)
				}
			})
		}
	})
	for _, p := range exchange.Products {
		for _, u := range th.uploads(t, "gemeente", p) {
			// A put refused at the door is recorded as Afgekeurd (TestRefusedUploadIsRecordedWithItsReason);
			// nothing denied may become an upload the engine processes.
			if !u.AtDoor || u.Status != exchange.Afgekeurd || u.Blob != "" {
				t.Fatalf("a denied operation left an upload in %s: %+v", p, u)
			}
		}
	}
	assertAudited(t, th.hub, "gemeente", "mkdir", "/iwmo/aanleveren/map", "geen toestemming")
	assertAudited(t, th.hub, "ameland", "stat", "/9999", "buiten uw postbus")
}

func TestUnknownKeyAndWrongUserAreRefused(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	stranger := filepath.Join(t.TempDir(), "vreemd")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	if out, err := th.sftpCmd("gemeente", stranger, "ls\n").CombinedOutput(); err == nil {
		t.Fatalf("unknown key logged in: %s", out)
	}
	// ameland's key under the name gemeente, and the other way round.
	if out, err := th.sftpCmd("gemeente", th.keys["ameland"], "ls\n").CombinedOutput(); err == nil {
		t.Fatalf("ameland's key logged in as gemeente: %s", out)
	}
	if out, err := th.sftpCmd("nobody", th.keys["ameland"], "ls\n").CombinedOutput(); err == nil {
		t.Fatalf("ameland's key logged in as an unknown account: %s", out)
	}
	// Refusals are recorded when the server sees the connection end, after the client gave up.
	assertAuditedEventually(t, th.hub, "gemeente", "geweigerd")
	assertAuditedEventually(t, th.hub, "nobody", "geweigerd")
	// The right key still works, and its login is recorded.
	if _, err := th.sftp(t, "ameland", "ls\n"); err != nil {
		t.Fatal(err)
	}
	assertAudited(t, th.hub, "ameland", "login", "", "ok")
}

func TestPasswordAuthIsRefused(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	args := []string{"-F", "/dev/null", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-p", th.port, "gemeente@127.0.0.1", "true"}
	out, err := exec.Command("ssh", args...).CombinedOutput()
	if err == nil {
		t.Fatalf("logged in without a key: %s", out)
	}
	if !strings.Contains(string(out), "Permission denied (publickey)") {
		t.Fatalf("server offers more than publickey: %s", out)
	}
	// A client that insists on a password gets nowhere either.
	_, err = gossh.Dial("tcp", th.addr, &gossh.ClientConfig{User: "gemeente", Auth: []gossh.AuthMethod{gossh.Password("geheim")},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	if err == nil {
		t.Fatal("password login succeeded")
	}
}

func TestHostKeyIsTheSameAfterRestart(t *testing.T) {
	dir := t.TempDir()
	th := startHubIn(t, dir)
	first := hostKeysOffered(t, th.addr)
	th.stop()
	th = startHubIn(t, dir)
	second := hostKeysOffered(t, th.addr)
	if len(first) != 2 || !slices.Equal(first, second) {
		t.Fatalf("host keys before restart %q, after %q", first, second)
	}
	keys, err := hostkeys.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !slices.Contains(first, k.Fingerprint()) {
			t.Fatalf("server offers %q, data dir holds %s", first, k.Fingerprint())
		}
	}
}

// hostKeysOffered returns the SHA256 fingerprints of the ed25519 and RSA host keys.
func hostKeysOffered(t testing.TB, addr string) []string {
	t.Helper()
	var fps []string
	for _, alg := range []string{gossh.KeyAlgoED25519, gossh.KeyAlgoRSASHA512} {
		var fp string
		cfg := &gossh.ClientConfig{User: "niemand", HostKeyAlgorithms: []string{alg}, Timeout: 20 * time.Second,
			HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error { fp = gossh.FingerprintSHA256(k); return nil }}
		c, err := gossh.Dial("tcp", addr, cfg)
		if err == nil {
			c.Close()
		}
		if fp == "" {
			t.Fatalf("no %s host key offered: %v", alg, err)
		}
		fps = append(fps, fp)
	}
	return fps
}

func TestOnlyModernAlgorithms(t *testing.T) {
	th := startHub(t)
	signer := demoSigner(t, th, "gemeente")
	for _, tc := range []struct {
		name string
		cfg  gossh.Config
	}{
		{"sha1 kex", gossh.Config{KeyExchanges: []string{gossh.InsecureKeyExchangeDH14SHA1}}},
		{"nist kex", gossh.Config{KeyExchanges: []string{gossh.KeyExchangeECDHP256}}},
		{"cbc cipher", gossh.Config{Ciphers: []string{gossh.InsecureCipherAES128CBC}}},
		{"sha1 mac", gossh.Config{Ciphers: []string{gossh.CipherAES128CTR}, MACs: []string{gossh.HMACSHA1}}},
	} {
		cfg := &gossh.ClientConfig{Config: tc.cfg, User: "gemeente", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second}
		if c, err := gossh.Dial("tcp", th.addr, cfg); err == nil {
			c.Close()
			t.Errorf("%s accepted", tc.name)
		}
	}
	for _, kex := range KeyExchanges {
		for _, cipher := range Ciphers {
			if err := dialWith(th, signer, gossh.Config{KeyExchanges: []string{kex}, Ciphers: []string{cipher}, MACs: MACs}); err != nil {
				t.Errorf("%s with %s refused: %v", kex, cipher, err)
			}
		}
	}
	// What OpenSSH's server offers too, and libssh2 before 1.11 needs: the MAC over the
	// plaintext, with aes-ctr.
	for _, mac := range []string{gossh.HMACSHA256, gossh.HMACSHA512} {
		if err := dialWith(th, signer, gossh.Config{Ciphers: []string{gossh.CipherAES128CTR}, MACs: []string{mac}}); err != nil {
			t.Errorf("%s refused by default: %v", mac, err)
		}
	}
}

// TestStrictCryptoRefusesNonEtmMACs: with Config.StrictCrypto (serve --strict-crypto) a
// client that offers only hmac-sha2-256 or -512 without etm is refused; etm and AEAD still
// connect.
func TestStrictCryptoRefusesNonEtmMACs(t *testing.T) {
	th := startHub(t, func(s *hubSetup) { s.cfg.StrictCrypto = true })
	signer := demoSigner(t, th, "gemeente")
	for _, mac := range []string{gossh.HMACSHA256, gossh.HMACSHA512} {
		err := dialWith(th, signer, gossh.Config{Ciphers: []string{gossh.CipherAES128CTR}, MACs: []string{mac}})
		if err == nil {
			t.Errorf("%s accepted with StrictCrypto", mac)
		} else if !strings.Contains(err.Error(), "no common algorithm") {
			t.Errorf("%s refused for another reason: %v", mac, err)
		}
	}
	for _, c := range []gossh.Config{
		{Ciphers: []string{gossh.CipherAES128CTR}, MACs: []string{gossh.HMACSHA256ETM}},
		{Ciphers: []string{gossh.CipherAES256GCM}},
		{Ciphers: []string{gossh.CipherChaCha20Poly1305}},
	} {
		if err := dialWith(th, signer, c); err != nil {
			t.Errorf("%v refused with StrictCrypto: %v", c, err)
		}
	}
}

func dialWith(th *testHub, signer gossh.Signer, c gossh.Config) error {
	cfg := &gossh.ClientConfig{Config: c, User: "gemeente", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second}
	cl, err := gossh.Dial("tcp", th.addr, cfg)
	if err != nil {
		return err
	}
	return cl.Close()
}

func demoSigner(t testing.TB, th *testHub, account string) gossh.Signer {
	t.Helper()
	b, err := os.ReadFile(th.keys[account])
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
