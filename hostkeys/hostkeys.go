package hostkeys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/storage"
)

// RSABits is the size of the RSA host key, kept for old clients that know no ed25519.
const RSABits = 3072

const comment = "knooppunt"

// Key is one host key.
type Key struct {
	Signer gossh.Signer
	Path   string // private key file
	Type   string // as ssh-keygen names it: ED25519, RSA
	Bits   int
}

// Fingerprint is the SHA256 fingerprint as ssh-keygen prints it: SHA256:<base64>.
func (k Key) Fingerprint() string { return gossh.FingerprintSHA256(k.Signer.PublicKey()) }

// String is the line `ssh-keygen -lf` prints for the key.
func (k Key) String() string {
	return fmt.Sprintf("%d %s %s (%s)", k.Bits, k.Fingerprint(), comment, k.Type)
}

type spec struct {
	file string
	typ  string
	gen  func() (crypto.Signer, error)
}

var specs = []spec{
	{"ssh_host_ed25519_key", "ED25519", func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
	{"ssh_host_rsa_key", "RSA", func() (crypto.Signer, error) {
		return rsa.GenerateKey(rand.Reader, RSABits)
	}},
}

// Dir is where the host keys live inside a data directory.
func Dir(dataDir string) string { return filepath.Join(dataDir, "hostkeys") }

// Load reads the host keys from dataDir, generating the missing ones (ed25519 first, then
// RSA). It never replaces a key file that exists: one it cannot read is an error.
func Load(dataDir string) ([]Key, error) {
	dir := Dir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("map voor hostsleutels aanmaken: %w", err)
	}
	keys := make([]Key, 0, len(specs))
	for _, s := range specs {
		k, err := loadOrCreate(filepath.Join(dir, s.file), s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Read reads the host keys without creating any; it fails when one is missing.
func Read(dataDir string) ([]Key, error) {
	keys := make([]Key, 0, len(specs))
	for _, s := range specs {
		k, err := read(filepath.Join(Dir(dataDir), s.file), s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func loadOrCreate(path string, s spec) (Key, error) {
	k, err := read(path, s)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	b, err := s.generate()
	if err != nil {
		return Key{}, err
	}
	if err := storage.WriteFile(path, b, 0o600); err != nil {
		return Key{}, err
	}
	made, err := parse(b, path, s)
	if err != nil {
		return Key{}, err
	}
	pub := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(made.Signer.PublicKey()))) + " " + comment + "\n"
	if err := storage.WriteFile(path+".pub", []byte(pub), 0o644); err != nil {
		return Key{}, err
	}
	return read(path, s)
}

func read(path string, s spec) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("hostsleutel %s lezen: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		// ssh refuses group- or world-readable private keys; so do we, quietly fixing it.
		if err := os.Chmod(path, 0o600); err != nil {
			return Key{}, fmt.Errorf("rechten van hostsleutel %s herstellen: %w", path, err)
		}
	}
	return parse(b, path, s)
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hostsleutel %s lezen: %w", path, err)
	}
	return b, nil
}

func pemEncode(block *pem.Block) []byte { return pem.EncodeToMemory(block) }

// generate makes a new key of kind s, as OpenSSH PEM: the same for a key file and for the
// store the nodes share.
func (s spec) generate() ([]byte, error) {
	priv, err := s.gen()
	if err != nil {
		return nil, fmt.Errorf("hostsleutel %s maken: %w", s.typ, err)
	}
	block, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("hostsleutel %s opslaan: %w", s.typ, err)
	}
	return pemEncode(block), nil
}

// parse makes a Key of a private key in OpenSSH PEM; path says where it came from (a file, or
// a key in the shared store).
func parse(b []byte, path string, s spec) (Key, error) {
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return Key{}, fmt.Errorf("hostsleutel %s is onleesbaar (%w); zet een geldige sleutel terug of verwijder het bestand, dan maakt knooppunt een nieuwe (clients zien dan een andere vingerafdruk)", path, err)
	}
	bits := 256
	if pk, ok := signer.PublicKey().(gossh.CryptoPublicKey); ok {
		if r, ok := pk.CryptoPublicKey().(*rsa.PublicKey); ok {
			bits = r.N.BitLen()
		}
	}
	if s.typ == "RSA" {
		// Offer RSA only with SHA-2 signatures: ssh-rsa (SHA-1) is not a modern algorithm.
		as, ok := signer.(gossh.AlgorithmSigner)
		if !ok {
			return Key{}, fmt.Errorf("hostsleutel %s: RSA-sleutel ondersteunt geen SHA-2-handtekeningen", path)
		}
		signer, err = gossh.NewSignerWithAlgorithms(as, []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256})
		if err != nil {
			return Key{}, err
		}
	}
	return Key{Signer: signer, Path: path, Type: s.typ, Bits: bits}, nil
}
