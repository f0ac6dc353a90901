package loadgen

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/exchange/stuf"
	"knooppunt/hostkeys"
)

// Account is a mailbox account the load uses, with its private key.
type Account struct {
	Name string `json:"naam"`
	Org  string `json:"organisatie"`
	Seed []byte `json:"sleutel"` // ed25519 seed
}

// Signer is the account's key.
func (a Account) Signer() ssh.Signer {
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(a.Seed))
	if err != nil {
		panic(err) // an ed25519 key from a 32-byte seed is always valid
	}
	return s
}

// Setup is what Seed created: senders (gemeenten) and recipients (aanbieders), one account
// each, with product iWmo.
type Setup struct {
	Gemeenten  []Account `json:"gemeenten"`
	Aanbieders []Account `json:"aanbieders"`
}

const setupFile = "loadgen.json"

// Seed creates gemeenten and aanbieders with one account each in the data directory, which
// no server may hold open, and writes their keys to dir/loadgen.json. It is idempotent for
// the same counts.
func Seed(dir string, gemeenten, aanbieders int) (*Setup, error) {
	if s, err := LoadSetup(dir); err == nil && len(s.Gemeenten) == gemeenten && len(s.Aanbieders) == aanbieders {
		return s, nil
	}
	h, err := exchange.Open(exchange.Config{DataDir: dir})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	s := &Setup{}
	add := func(code, name string) (Account, error) {
		if _, err := h.CreateOrg(exchange.System, code, name); err != nil && !errors.Is(err, exchange.ErrExists) {
			return Account{}, err
		}
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		a := Account{Name: "lg" + code, Org: code, Seed: seed}
		line := string(ssh.MarshalAuthorizedKey(a.Signer().PublicKey()))
		err := h.CreateAccount(exchange.System, exchange.Account{Name: a.Name, Org: code, Keys: []string{line},
			Products: []exchange.Product{exchange.IWmo}, Roles: []exchange.Role{exchange.Gebruiker}})
		if errors.Is(err, exchange.ErrExists) {
			if err = h.AddKey(exchange.System, a.Name, line); err != nil {
				return Account{}, err
			}
		} else if err != nil {
			return Account{}, err
		}
		return a, nil
	}
	for i := range gemeenten {
		a, err := add(fmt.Sprintf("%04d", 1000+i), fmt.Sprintf("Gemeente Last %d", i))
		if err != nil {
			return nil, err
		}
		s.Gemeenten = append(s.Gemeenten, a)
	}
	for i := range aanbieders {
		a, err := add(fmt.Sprintf("%08d", 50000000+i), fmt.Sprintf("Zorgaanbieder Last %d", i))
		if err != nil {
			return nil, err
		}
		s.Aanbieders = append(s.Aanbieders, a)
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(dir, setupFile), b, 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadSetup reads what Seed wrote.
func LoadSetup(dir string) (*Setup, error) {
	b, err := os.ReadFile(filepath.Join(dir, setupFile))
	if err != nil {
		return nil, err
	}
	var s Setup
	return &s, json.Unmarshal(b, &s)
}

// Envelope is one message of a fixture ZIP.
type Envelope struct {
	Ref, Ontvanger string
	Bad            bool // an unknown functie: the hub rejects it
}

// EntryName names an envelope's ZIP entry after its referentienummer, so reports (which name
// rejected entries) and deliveries can both be traced back to it.
func EntryName(ref string) string { return ref + ".xml" }

// Payload is a message body of n bytes, as compressible as a real one.
func Payload(n int) []byte {
	return bytes.Repeat([]byte("<regel>zorg in natura</regel>\n"), n/30+1)[:n]
}

// BuildZip writes a ZIP with one envelope per item from zender, each around payload.
func BuildZip(zender string, envs []Envelope, payload []byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range envs {
		env := stuf.Envelope{ZenderOrg: zender, OntvangerOrg: e.Ontvanger, Referentie: e.Ref}
		if e.Bad {
			env.Functie = "WMO399"
		}
		w, _ := zw.Create(EntryName(e.Ref))
		w.Write(stuf.Build(env, payload))
	}
	zw.Close()
	return b.Bytes()
}

// NewRef returns a fresh referentienummer (a UUID v4).
func NewRef() string { return uuid.NewString() }

var refPattern = regexp.MustCompile(`<StUF:referentienummer>([^<]+)<`)

// RefsInZip returns the referentienummer of every envelope in a delivery ZIP.
func RefsInZip(data []byte) ([]string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		m := refPattern.FindSubmatch(b)
		if m == nil {
			return nil, fmt.Errorf("%s: geen referentienummer", f.Name)
		}
		out = append(out, string(m[1]))
	}
	return out, nil
}

// Client is one SSH connection with its SFTP session.
type Client struct {
	SSH  *ssh.Client
	SFTP *sftp.Client
}

// Dial logs in as a over SSH, checking the server's host key against the data directory's,
// and starts SFTP.
func Dial(addr, dataDir string, a Account) (*Client, error) {
	return DialFrom(addr, dataDir, a, nil)
}

// DialFrom is Dial from a given local address: each of many sessions can come from its own
// loopback address (all of 127.0.0.0/8 is local on Linux), as organisations come from their
// own hosts, so the server's cap on connections per address does not apply to them all.
func DialFrom(addr, dataDir string, a Account, from net.IP) (*Client, error) {
	keys, err := hostkeys.Read(dataDir)
	if err != nil {
		return nil, err
	}
	return DialKeys(addr, keys, a, from)
}

// DialKeys is DialFrom with the host keys in hand: nodes that share a database keep theirs
// there (hostkeys.LoadShared), not in a data directory.
func DialKeys(addr string, keys []hostkeys.Key, a Account, from net.IP) (*Client, error) {
	known := map[string]bool{}
	for _, k := range keys {
		known[string(k.Signer.PublicKey().Marshal())] = true
	}
	cfg := &ssh.ClientConfig{
		User: a.Name,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(a.Signer())},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if !known[string(key.Marshal())] {
				return errors.New("onbekende hostsleutel")
			}
			return nil
		},
		// OpenSSH's order (ssh_config HostKeyAlgorithms, without certificates), as PuTTY's and
		// paramiko's: ed25519 first. The sessions stand for those clients; Go's default
		// order puts RSA first, which cost the nodes an RSA signature per login, 14 % of
		// their CPU in the first ten seconds of the load test (BENCHMARKS.md, "Branch cold").
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
			ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256},
		Timeout: 30 * time.Second,
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := ssh.NewClient(cc, chans, reqs)
	s, err := sftp.NewClient(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Client{SSH: c, SFTP: s}, nil
}

func (c *Client) Close() error {
	c.SFTP.Close()
	return c.SSH.Close()
}

// Put uploads data as name in product's aanleveren/. It returns nil only when the server
// confirmed the close, which is when it accepted the upload.
func (c *Client) Put(product, name string, data []byte) error {
	_, err := c.PutTimed(product, name, data)
	return err
}

// PutTiming is how long a put took as its client sees it.
type PutTiming struct {
	Open  time.Duration // until the server answered the open: the wait for admission
	Total time.Duration // until the server answered the close: the upload is accepted
}

// PutTimed is Put, timed.
func (c *Client) PutTimed(product, name string, data []byte) (PutTiming, error) {
	var pt PutTiming
	start := time.Now()
	f, err := c.SFTP.Create("/" + product + "/aanleveren/" + name)
	if err != nil {
		return pt, err
	}
	pt.Open = time.Since(start)
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		f.Close()
		return pt, err
	}
	err = f.Close()
	pt.Total = time.Since(start)
	return pt, err
}

// Get downloads a file.
func (c *Client) Get(p string) ([]byte, error) {
	f, err := c.SFTP.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
