package sshserver

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// dialFrom connects to the hub from the loopback address src (all of 127/8 is the
// loopback on Linux), so that a test can be several addresses.
func dialFrom(t testing.TB, th *testHub, src string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 20 * time.Second}
	c, err := d.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// loginFrom logs in as user with the keys of signers from address src.
func loginFrom(t testing.TB, th *testHub, src, user string, signers ...gossh.Signer) (*gossh.Client, error) {
	t.Helper()
	conn := dialFrom(t, th, src)
	sc, chans, reqs, err := gossh.NewClientConn(conn, th.addr, &gossh.ClientConfig{User: user,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signers...)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return gossh.NewClient(sc, chans, reqs), nil
}

// badSignature signs with its key and then spoils the signature: the server learns the key
// is known, then fails the signature's check, which ends the handshake with an error that
// is not an authentication failure.
type badSignature struct{ gossh.Signer }

func (b badSignature) Sign(r io.Reader, data []byte) (*gossh.Signature, error) {
	sig, err := b.Signer.Sign(r, data)
	if err != nil {
		return nil, err
	}
	sig.Blob[0] ^= 0xff
	return sig, nil
}

// resetAtSignature offers its key and, when asked to sign, resets the TCP connection.
type resetAtSignature struct {
	gossh.Signer
	conn *net.TCPConn
}

func (r resetAtSignature) Sign(io.Reader, []byte) (*gossh.Signature, error) {
	r.conn.SetLinger(0)
	r.conn.Close()
	return nil, errors.New("verbinding verbroken door de test")
}

// failWithBadSignature and failWithReset end one connection from src, logging in as user
// with user's own key, in the two ways that escaped the count.
func failWithBadSignature(t testing.TB, th *testHub, src, user string) {
	t.Helper()
	if c, err := loginFrom(t, th, src, user, badSignature{demoSigner(t, th, user)}); err == nil {
		c.Close()
		t.Fatal("a bad signature logged in")
	}
}

func failWithReset(t testing.TB, th *testHub, src, user string) {
	t.Helper()
	conn := dialFrom(t, th, src)
	_, _, _, err := gossh.NewClientConn(conn, th.addr, &gossh.ClientConfig{User: user,
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(resetAtSignature{demoSigner(t, th, user), conn})},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	if err == nil {
		t.Fatal("a reset connection logged in")
	}
}

// TestFailedLoginThatEndsBadlyCounts: a bad signature on a known key and a TCP reset in the
// middle of the login escaped both the per-address limit and the audit log, because only a
// clean ServerAuthError counted. Now they count and are audited.
func TestFailedLoginThatEndsBadlyCounts(t *testing.T) {
	th := startHub(t, withConfig(func(c *Config) { c.MaxAuthFailures = 4 }))
	failWithBadSignature(t, th, "127.0.0.2", "gemeente")
	assertAuditedEventually(t, th.hub, "gemeente", "geweigerd: ongeldige handtekening")
	failWithReset(t, th, "127.0.0.2", "gemeente")
	assertAuditedEventually(t, th.hub, "gemeente", "geweigerd: aanmelding afgebroken")
	failWithBadSignature(t, th, "127.0.0.2", "aanbieder")
	failWithReset(t, th, "127.0.0.2", "aanbieder")
	// Four failures: the address is refused, also with the right key.
	eventually(t, "the address is blocked", func() bool {
		c, err := loginFrom(t, th, "127.0.0.2", "ameland", demoSigner(t, th, "ameland"))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// Another address is not.
	c, err := loginFrom(t, th, "127.0.0.3", "ameland", demoSigner(t, th, "ameland"))
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	c.Close()
}

// assertAuditedEventually waits for a login entry of account whose result holds result:
// the failure is recorded when the server notices the connection's end.
func assertAuditedEventually(t testing.TB, h *exchange.Hub, account, result string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		found := false
		h.AuditLog(0, func(e exchange.AuditEntry) bool {
			found = e.Account == account && e.Action == "login" && strings.Contains(e.Result, result)
			return !found
		})
		if found {
			return
		}
		if time.Now().After(deadline) {
			assertAudited(t, h, account, "login", "", result) // fails, listing what is there
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// paramikoNames tries each name in turn on one connection and then ends it as mode says:
// "malformed" sends a login request cut short, anything else closes. The first name goes
// through paramiko's own login; paramiko asks for the userauth service again at each login,
// which the server refuses, so the other names are sent as signed requests of their own:
// the protocol lets a client change the name between attempts.
const paramikoNames = `
import socket, sys, time, paramiko
from paramiko.common import cMSG_USERAUTH_REQUEST
host, port, src, keyfile, mode = sys.argv[1:6]
names = sys.argv[6:]
sock = socket.create_connection((host, int(port)), source_address=(src, 0))
t = paramiko.Transport(sock)
t.start_client(timeout=20)
key = paramiko.Ed25519Key.from_private_key_file(keyfile)
try:
    t.auth_publickey(names[0], key)
    print("ingelogd", names[0])
except paramiko.AuthenticationException:
    print("geweigerd", names[0])
for n in names[1:]:
    m = paramiko.Message()
    m.add_byte(cMSG_USERAUTH_REQUEST)
    m.add_string(n)
    m.add_string("ssh-connection")
    m.add_string("publickey")
    m.add_boolean(True)
    m.add_string("ssh-ed25519")
    m.add_string(key.asbytes())
    m.add_string(key.sign_ssh_data(t.auth_handler._get_session_blob(key, "ssh-connection", n, "ssh-ed25519")))
    t._send_message(m)
    time.sleep(0.5)
    print("ingelogd" if t.is_authenticated() else "geweigerd", n)
if mode == "malformed":
    m = paramiko.Message()
    m.add_byte(cMSG_USERAUTH_REQUEST)
    m.add_string(names[0])
    m.add_string("ssh-connection")
    m.add_string("publickey")
    t._send_message(m)
    time.sleep(0.5)
t.close()
`

// TestEveryNameTriedOnAConnectionCounts: only the last name tried on a connection counted,
// and only when it ended in a clean authentication failure; ending each connection with a
// malformed packet, or with one try on a name that does not exist, kept a real account from
// ever locking. Every name counts now, also on a connection that ends in a login.
func TestEveryNameTriedOnAConnectionCounts(t *testing.T) {
	python := paramikoPython()
	if python == "" {
		t.Skip("no python3 with paramiko")
	}
	th := startHub(t, withConfig(func(c *Config) { c.MaxAccountFailures = 3 }))
	script := writeFile(t, "names.py", []byte(paramikoNames))
	py := func(mode string, names ...string) string {
		return client(t, python, append([]string{script, "127.0.0.1", th.port, "127.0.0.2", th.keys["ameland"], mode}, names...)...)
	}
	if out := py("malformed", "gemeente", "niemand"); !strings.Contains(out, "geweigerd gemeente") || !strings.Contains(out, "geweigerd niemand") {
		t.Fatalf("paramiko: %s", out)
	}
	assertAuditedEventually(t, th.hub, "gemeente", "geweigerd: aanmelding afgebroken: ongeldig bericht van de client")
	assertAuditedEventually(t, th.hub, "niemand", "geweigerd")
	py("malformed", "gemeente", "niemand")
	// A guess hidden before a login to one's own account counts too.
	if out := py("login", "gemeente", "ameland"); !strings.Contains(out, "ingelogd ameland") {
		t.Fatalf("paramiko: %s", out)
	}
	// Three failures: gemeente is locked from this address, also with the right key.
	eventually(t, "gemeente is locked from 127.0.0.2", func() bool {
		c, err := loginFrom(t, th, "127.0.0.2", "gemeente", demoSigner(t, th, "gemeente"))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	assertAuditedEventually(t, th.hub, "gemeente", "account tijdelijk geblokkeerd")
}

// TestAccountLockoutIsNotAWeapon: knowing an account's name, 21 failed connections from 3
// addresses locked its owner out for 15 minutes, also with the right key. Now the account
// is refused only from the addresses that failed on it; its owner, elsewhere, gets in.
func TestAccountLockoutIsNotAWeapon(t *testing.T) {
	th := startHub(t)
	wrong := demoSigner(t, th, "ameland")
	for i := range 21 {
		src := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}[i%3]
		if c, err := loginFrom(t, th, src, "gemeente", wrong); err == nil {
			c.Close()
			t.Fatal("a wrong key logged in")
		}
	}
	assertAuditedEventually(t, th.hub, "gemeente", "account tijdelijk geblokkeerd")
	// The owner, from an address that has not failed, gets in with the right key.
	c, err := loginFrom(t, th, "127.0.0.5", "gemeente", demoSigner(t, th, "gemeente"))
	if err != nil {
		t.Fatalf("the owner is locked out by someone else's failures: %v", err)
	}
	c.Close()
	// An address that failed on it is refused, also with the right key.
	if c, err := loginFrom(t, th, "127.0.0.3", "gemeente", demoSigner(t, th, "gemeente")); err == nil {
		c.Close()
		t.Fatal("an address that failed on the locked account logged in")
	}
	assertAuditedEventually(t, th.hub, "gemeente", "account tijdelijk geblokkeerd vanaf dit adres")
}
