package ebmsserver

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"knooppunt/storage"
)

// TestPKI is a certificate authority for tests and the demo, made with crypto/x509: RSA 2048
// keys, certificates with the OIN in the subject's serialNumber as PKIoverheid has it.
type TestPKI struct {
	Dir    string
	CA     *x509.Certificate
	CAKey  *rsa.PrivateKey
	CAFile string
}

// LoadOrCreatePKI reuses the CA in dir (ca.pem, ca-key.pem) or makes one.
func LoadOrCreatePKI(dir string) (*TestPKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("PKI-map %s: %w", dir, err)
	}
	p := &TestPKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	cert, key, err := readPair(p.CAFile, filepath.Join(dir, "ca-key.pem"))
	if err == nil {
		p.CA, p.CAKey = cert, key
		return p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "knooppunt test-CA", Organization: []string{"knooppunt demo"}, Country: []string{"NL"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if p.CA, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	p.CAKey = key
	if err := writePair(p.CAFile, filepath.Join(dir, "ca-key.pem"), der, key); err != nil {
		return nil, err
	}
	return p, nil
}

// Issue reuses or makes name.pem and name-key.pem: a certificate for oin, usable as TLS server
// (for hosts) and client, and for signing.
func (p *TestPKI) Issue(name, commonName, oin string, hosts ...string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(p.Dir, name+".pem"), filepath.Join(p.Dir, name+"-key.pem")
	if c, _, err := readPair(certFile, keyFile); err == nil && c.Subject.SerialNumber == oin {
		return certFile, keyFile, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, SerialNumber: oin, Organization: []string{commonName}, Country: []string{"NL"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.CAKey)
	if err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePair(certFile, keyFile, der, key)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePair(certFile, keyFile string, der []byte, key *rsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := storage.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return storage.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
}

func readPair(certFile, keyFile string) (*x509.Certificate, *rsa.PrivateKey, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, nil, fmt.Errorf("%s of %s is geen PEM", certFile, keyFile)
	}
	c, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s is geen RSA-sleutel", keyFile)
	}
	return c, rk, nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("geen PEM-certificaat")
	}
	return x509.ParseCertificate(blk.Bytes)
}
