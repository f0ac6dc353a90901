package ebmsserver

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/exchange/stuf"
	"knooppunt/storage/storagetest"
)

// Test OINs: the hub, a gemeente and a zorgaanbieder.
const (
	hubOIN  = "00000099000000000000"
	gemOIN  = "00000099000000009999"
	zorgOIN = "00000099000012345678"
)

// partner is an organisation's MSH: a client with its certificate, and an HTTPS endpoint that
// records what the hub sends it and answers as told.
type partner struct {
	org, oin string
	cert     tls.Certificate
	leaf     *x509.Certificate
	client   *http.Client
	srv      *httptest.Server
	cpa      *ebms.CPA
	cpaID    string

	mu       sync.Mutex
	got      []*ebms.Message
	fail503  atomic.Int32 // answer this many posts with 503
	fail400  atomic.Int32 // answer this many posts with 400
	gotCount atomic.Int32
}

type env struct {
	t     *testing.T
	h     *exchange.Hub
	clk   *storagetest.Clock
	pki   *TestPKI
	addr  string
	gem   *partner
	zorg  *partner
	pool  *x509.CertPool
	dir   string
	stop  func()
	hubTL *TLS
}

type envOpts struct {
	syncReply string        // "" → mshSignalsOnly
	retry     time.Duration // 0 → one minute
	profile   string
	workers   int // 0 → 2
	ackSigned bool
	observer  exchange.Observer
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.syncReply == "" {
		o.syncReply = "mshSignalsOnly"
	}
	if o.retry == 0 {
		o.retry = time.Minute
	}
	dir := t.TempDir()
	pki, err := LoadOrCreatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	hc, hk, err := pki.Issue("hub", "knooppunt", hubOIN, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	hubTLS, err := LoadTLS(hc, hk, pki.CAFile, "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clk: storagetest.NewClock(time.Now()), pki: pki, dir: dir, hubTL: hubTLS}
	e.pool = x509.NewCertPool()
	e.pool.AddCert(pki.CA)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	if o.workers == 0 {
		o.workers = 2
	}
	h, err := exchange.Open(exchange.Config{DataDir: filepath.Join(dir, "data"), Clock: e.clk, Log: log, Workers: o.workers, OIN: hubOIN, Observer: o.observer,
		Digikoppeling: &exchange.DigikoppelingConfig{Post: NewClient(hubTLS).Post, Key: hubTLS.Cert.PrivateKey.(crypto.Signer), Cert: hubTLS.Leaf(), Host: "knooppunt.test"}})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.gem = e.newPartner("9999", "Test Gemeente 1", gemOIN)
	e.zorg = e.newPartner("12345678", "Zorgaanbieder Test", zorgOIN)
	for _, p := range []*partner{e.gem, e.zorg} {
		doc, err := ebms.NewCPA(ebms.CPASpec{
			Hub:           ebms.PartySpec{OIN: hubOIN, Name: "knooppunt", Endpoint: "https://" + e.addr + Path, Cert: hubTLS.Leaf()},
			Partner:       ebms.PartySpec{OIN: p.oin, Name: p.org, Endpoint: p.srv.URL + Path, Cert: p.leaf},
			SyncReplyMode: o.syncReply, RetryInterval: o.retry, Retries: 3, Profile: o.profile, AckSignatureRequested: o.ackSigned,
			Start: e.clk.Now().Add(-time.Hour).Truncate(time.Second), End: e.clk.Now().Add(24 * time.Hour).Truncate(time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.cpa, err = ebms.ParseCPA(doc); err != nil {
			t.Fatal(err)
		}
		c, err := h.ImportCPA(exchange.System, doc)
		if err != nil {
			t.Fatal(err)
		}
		p.cpaID = c.ID
	}
	for _, a := range []exchange.Account{
		{Name: "gemeente", Org: "9999", Products: []exchange.Product{exchange.IWmo}, Roles: []exchange.Role{exchange.Productbeheerder}},
		{Name: "aanbieder", Org: "12345678", Products: []exchange.Product{exchange.IWmo}, Roles: []exchange.Role{exchange.Productbeheerder}},
	} {
		if err := h.CreateAccount(exchange.System, a); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Config{Hub: h, TLS: hubTLS, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := h.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		if err := srv.Serve(ctx, ln); err != nil {
			t.Error(err)
		}
	})
	e.stop = func() {
		cancel()
		wg.Wait()
		h.Close()
	}
	t.Cleanup(func() {
		e.stop()
		e.gem.srv.Close()
		e.zorg.srv.Close()
	})
	return e
}

func (e *env) newPartner(org, name, oin string) *partner {
	e.t.Helper()
	if _, err := e.h.CreateOrgOIN(exchange.System, org, name, oin); err != nil {
		e.t.Fatal(err)
	}
	cf, kf, err := e.pki.Issue(strings.ToLower(org), name, oin, "127.0.0.1")
	if err != nil {
		e.t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		e.t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	p := &partner{org: org, oin: oin, cert: cert, leaf: leaf}
	p.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: e.pool}}, Timeout: 30 * time.Second}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.endpoint))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: e.pool, MinVersion: tls.VersionTLS12}
	p.srv.StartTLS()
	return p
}

// endpoint is the partner's MSH: it records user messages and acknowledges them in the
// response (or answers 503 while told to).
func (p *partner) endpoint(w http.ResponseWriter, r *http.Request) {
	if p.fail400.Load() > 0 {
		p.fail400.Add(-1)
		http.Error(w, "kapot", http.StatusBadRequest)
		return
	}
	if p.fail503.Load() > 0 {
		p.fail503.Add(-1)
		http.Error(w, "even niet", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	m, err := ebms.ParseMessage(r.Header.Get("Content-Type"), body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if got := OINOf(r.TLS.PeerCertificates[0]); got != hubOIN {
		http.Error(w, "not the hub", http.StatusForbidden)
		return
	}
	p.mu.Lock()
	p.got = append(p.got, m)
	p.mu.Unlock()
	p.gotCount.Add(1)
	if m.Kind() != ebms.KindUserMessage || !m.SyncReply {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ack, err := ebms.BuildAcknowledgment(&m.Header, nil, ebms.Reply{})
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", ack.ContentType)
	w.Write(ack.Body)
}

func (p *partner) received() []*ebms.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*ebms.Message(nil), p.got...)
}

// message builds a user message from p to the hub with the envelope as payload.
func (p *partner) message(t *testing.T, action string, envelope []byte, now time.Time) *ebms.Outgoing {
	t.Helper()
	b, err := p.cpa.Binding(ebms.PartyID{Type: ebms.PartyTypeOIN, Value: p.oin}, "", ebms.Service{Value: ebms.GGKService}, action)
	if err != nil {
		t.Fatal(err)
	}
	var signer *ebms.Signer
	if b.Signed() {
		signer = &ebms.Signer{Key: p.cert.PrivateKey.(crypto.Signer), Cert: p.leaf}
	}
	out, err := ebms.BuildUserMessage(b.UserMessage(ebms.NewMessageID("partner.test"), ebms.Part{ContentType: "application/xml", Data: envelope}, now), signer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// post sends a message to the hub as p and parses the answer (nil for an empty one).
func (e *env) post(p *partner, contentType string, body []byte) (int, *ebms.Message) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "https://"+e.addr+Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("SOAPAction", `"ebXML"`)
	resp, err := p.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(b) == 0 {
		return resp.StatusCode, nil
	}
	m, err := ebms.ParseMessage(resp.Header.Get("Content-Type"), b)
	if err != nil {
		e.t.Fatalf("answer %d unreadable: %v\n%s", resp.StatusCode, err, b)
	}
	return resp.StatusCode, m
}

func (e *env) principal(name string) *exchange.Principal {
	e.t.Helper()
	a, err := e.h.Account(name)
	if err != nil {
		e.t.Fatal(err)
	}
	o, err := e.h.Org(a.Org)
	if err != nil {
		e.t.Fatal(err)
	}
	return &exchange.Principal{Account: a, Org: o}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finalUpload waits for p's newest upload to be final.
func (e *env) finalUpload(p *exchange.Principal) exchange.Upload {
	e.t.Helper()
	var u exchange.Upload
	eventually(e.t, "a final upload", func() bool {
		ups, _, err := e.h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{Limit: 1})
		if err != nil || len(ups) == 0 {
			return false
		}
		u = ups[0]
		return u.Status.Final()
	})
	return u
}

// inboxEnvelopes reads every envelope in p's ophalen/.
func (e *env) inboxEnvelopes(p *exchange.Principal) [][]byte {
	e.t.Helper()
	ds, _, err := e.h.Inbox(context.Background(), p, exchange.IWmo, exchange.InboxOptions{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for _, d := range ds {
		r, _, err := e.h.OpenDelivery(p, exchange.IWmo, d.Name)
		if err != nil {
			e.t.Fatal(err)
		}
		zr, err := zip.NewReader(r, r.Size())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			out = append(out, b)
		}
		r.Close()
	}
	return out
}

// upload hands an envelope in as an SFTP upload does (StartUpload, write, close).
func (e *env) upload(p *exchange.Principal, name string, data []byte) {
	e.t.Helper()
	s, err := e.h.StartUpload(context.Background(), p, exchange.IWmo, name, false)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := s.WriteAt(data, 0); err != nil {
		e.t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func envelope(functie, zender, ontvanger, crossRef string) []byte {
	return stuf.Build(stuf.Envelope{Functie: functie, ZenderOrg: zender, OntvangerOrg: ontvanger, CrossRef: crossRef}, []byte("<bericht>"+functie+"</bericht>"))
}
