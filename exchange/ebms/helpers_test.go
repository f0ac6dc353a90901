package ebms

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const (
	hubOIN     = "00000001234567890000"
	partnerOIN = "00000009876543210000"
)

type testIdentity struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	identitiesMu sync.Mutex
	identities   = map[string]*testIdentity{}
)

// identity returns a cached RSA 2048 key with a self-signed certificate carrying oin in the
// subject's serialNumber, as PKIoverheid certificates do.
func identity(t testing.TB, oin string) *testIdentity {
	t.Helper()
	identitiesMu.Lock()
	defer identitiesMu.Unlock()
	if id := identities[oin]; id != nil {
		return id
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "test " + oin, SerialNumber: oin, Organization: []string{"Test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	id := &testIdentity{key: key, cert: cert}
	identities[oin] = id
	return id
}

func (id *testIdentity) signer() *Signer { return &Signer{Key: id.key, Cert: id.cert} }

// referenceDir returns ../shared/reference/<sub> of the repository's parent, or skips.
func referenceDir(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "reference", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("reference data absent (%s)", dir)
	}
	return dir
}

// testCPA generates and parses a CPA between hub and partner with spec's other settings.
func testCPA(t testing.TB, spec CPASpec) (*CPA, []byte) {
	t.Helper()
	if spec.Hub.OIN == "" {
		spec.Hub = PartySpec{OIN: hubOIN, Name: "Knooppunt", Endpoint: "https://hub.example:8443/ebms", Cert: identity(t, hubOIN).cert}
	}
	if spec.Partner.OIN == "" {
		spec.Partner = PartySpec{OIN: partnerOIN, Name: "Gemeente Test", Endpoint: "https://gemeente.example/ebms", Cert: identity(t, partnerOIN).cert}
	}
	data, err := NewCPA(spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCPA(data)
	if err != nil {
		t.Fatalf("ParseCPA of a generated CPA: %v\n%s", err, data)
	}
	return c, data
}
