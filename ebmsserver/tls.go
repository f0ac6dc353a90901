package ebmsserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"knooppunt/exchange"
)

// TLS is the hub's side of two-sided TLS: its certificate and key (with the hub's OIN in the
// subject's serialNumber), the CAs it trusts for partners (PKIoverheid in production) and an
// optional CRL of those CAs.
type TLS struct {
	Cert tls.Certificate
	CAs  *x509.CertPool
	CRL  *x509.RevocationList
}

// LoadTLS reads the PEM files of --ebms-cert, --ebms-key, --ebms-ca and (optional) --ebms-crl.
func LoadTLS(certFile, keyFile, caFile, crlFile string) (*TLS, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("certificaat %s met sleutel %s laden: %w", certFile, keyFile, err)
	}
	pemCAs, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA-bundel lezen: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCAs) {
		return nil, fmt.Errorf("CA-bundel %s bevat geen PEM-certificaat", caFile)
	}
	t := &TLS{Cert: cert, CAs: pool}
	if crlFile != "" {
		b, err := os.ReadFile(crlFile)
		if err != nil {
			return nil, fmt.Errorf("CRL lezen: %w", err)
		}
		if blk, _ := pem.Decode(b); blk != nil {
			b = blk.Bytes
		}
		if t.CRL, err = x509.ParseRevocationList(b); err != nil {
			return nil, fmt.Errorf("CRL %s: %w", crlFile, err)
		}
	}
	return t, nil
}

// Leaf is the hub's own certificate.
func (t *TLS) Leaf() *x509.Certificate {
	if t.Cert.Leaf != nil {
		return t.Cert.Leaf
	}
	c, _ := x509.ParseCertificate(t.Cert.Certificate[0])
	return c
}

// ServerConfig: TLS 1.2 and 1.3 only, a client certificate required and verified against the
// CAs (and the CRL). Without a trusted certificate a client does not get past the handshake.
func (t *TLS) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		MaxVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{t.Cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        t.CAs,
		NextProtos:       []string{"http/1.1"},
		VerifyConnection: t.checkRevoked,
	}
}

func (t *TLS) checkRevoked(cs tls.ConnectionState) error {
	if t.CRL == nil {
		return nil
	}
	for _, c := range cs.PeerCertificates {
		for _, rc := range t.CRL.RevokedCertificateEntries {
			if rc.SerialNumber.Cmp(c.SerialNumber) == 0 && bytes.Equal(c.RawIssuer, t.CRL.RawIssuer) {
				return fmt.Errorf("certificaat %s is ingetrokken", c.Subject)
			}
		}
	}
	return nil
}

// Client is how the hub posts to partners: its own certificate, the partner's server
// certificate verified against the CAs and, when the CPA names the partner's TLS certificates,
// required to be one of those — in the handshake, before a byte of the message is sent.
type Client struct {
	tls *TLS
	mu  sync.Mutex
	hcs map[string]*http.Client // by the CPA's TLS certificates: keep-alive per partner
}

// NewClient makes the hub's sending side.
func NewClient(t *TLS) *Client { return &Client{tls: t, hcs: map[string]*http.Client{}} }

func (c *Client) client(certs [][]byte) *http.Client {
	h := sha256.New()
	for _, der := range certs {
		h.Write(der)
	}
	k := string(h.Sum(nil))
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc, ok := c.hcs[k]; ok {
		return hc
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.tls.Cert},
		RootCAs:      c.tls.CAs,
	}
	if len(certs) > 0 {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("de partner toont geen servercertificaat")
			}
			for _, der := range certs {
				if bytes.Equal(der, cs.PeerCertificates[0].Raw) {
					return nil
				}
			}
			return errors.New("het servercertificaat van de partner is niet het certificaat uit de CPA")
		}
	}
	tr := &http.Transport{
		TLSClientConfig:       cfg,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		MaxIdleConnsPerHost:   64, // exchange's sendWorkers: a send never waits for a new handshake
		IdleConnTimeout:       90 * time.Second,
	}
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	c.hcs[k] = hc
	return hc
}

// Post sends one ebMS message to the CPA's endpoint.
func (c *Client) Post(ctx context.Context, cpa exchange.CPA, contentType string, body []byte) (exchange.PostResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cpa.Endpoint, bytes.NewReader(body))
	if err != nil {
		return exchange.PostResult{}, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("SOAPAction", `"ebXML"`)
	resp, err := c.client(cpa.TLSCerts).Do(req)
	if err != nil {
		return exchange.PostResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return exchange.PostResult{}, err
	}
	return exchange.PostResult{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}, nil
}
