package ebmsserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
)

// TestOpenSSLRefusals: openssl s_client with TLS 1.0 or 1.1, or without a client certificate,
// does not get past the handshake; with TLS 1.2 and 1.3 and a certificate it does.
func TestOpenSSLRefusals(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl ontbreekt (Debian: openssl)")
	}
	e := newEnv(t, envOpts{})
	cert, key := filepath.Join(e.pki.Dir, "9999.pem"), filepath.Join(e.pki.Dir, "9999-key.pem")
	run := func(args ...string) (string, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		base := []string{"s_client", "-connect", e.addr, "-CAfile", e.pki.CAFile, "-verify_return_error", "-ign_eof"}
		cmd := exec.CommandContext(ctx, "openssl", append(base, args...)...)
		// A request, so that a TLS 1.3 server's refusal of the certificate (sent after the
		// client's Finished) shows before s_client ends.
		cmd.Stdin = strings.NewReader("POST /ebms HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		out, err := cmd.CombinedOutput()
		return string(out), err == nil && strings.Contains(string(out), "HTTP/1.1 415")
	}
	for _, c := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"TLS 1.0", []string{"-tls1", "-cert", cert, "-key", key, "-cipher", "DEFAULT:@SECLEVEL=0"}, false},
		{"TLS 1.1", []string{"-tls1_1", "-cert", cert, "-key", key, "-cipher", "DEFAULT:@SECLEVEL=0"}, false},
		{"TLS 1.2 zonder certificaat", []string{"-tls1_2"}, false},
		{"TLS 1.3 zonder certificaat", []string{"-tls1_3"}, false},
		{"TLS 1.2", []string{"-tls1_2", "-cert", cert, "-key", key}, true},
		{"TLS 1.3", []string{"-tls1_3", "-cert", cert, "-key", key}, true},
	} {
		out, ok := run(c.args...)
		if ok != c.ok {
			t.Errorf("%s: through=%v, want %v\n%s", c.name, ok, c.ok, out)
		}
	}
}

// TestCurlPartner: curl with the gemeente's client certificate posts a message as the demo
// prints it, and gets the Acknowledgment.
func TestCurlPartner(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl ontbreekt")
	}
	e := newEnv(t, envOpts{})
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	file := filepath.Join(t.TempDir(), "bericht.mime")
	if err := os.WriteFile(file, out.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("curl", "-sS", "--fail", "--cert", filepath.Join(e.pki.Dir, "9999.pem"), "--key", filepath.Join(e.pki.Dir, "9999-key.pem"),
		"--cacert", e.pki.CAFile, "-H", "Content-Type: "+out.ContentType, "-H", `SOAPAction: "ebXML"`, "--data-binary", "@"+file, "https://"+e.addr+Path)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, b)
	}
	m, err := ebms.ParseMessage("text/xml", b)
	if err != nil || m.Kind() != ebms.KindAcknowledgment || m.Acknowledgment.RefToMessageID != out.MessageID {
		t.Fatalf("curl answer: %v\n%s", err, b)
	}
	if u := e.finalUpload(e.principal("gemeente")); u.Status != exchange.Afgeleverd {
		t.Fatalf("upload %+v", u)
	}
}

// TestBadRequests: a wrong content type, a GET, a body past the limit and an XXE body are
// refused, and nothing is processed.
func TestBadRequests(t *testing.T) {
	e := newEnv(t, envOpts{})
	do := func(method, ct string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(method, "https://"+e.addr+Path, bytes.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := e.gem.client.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if s, _ := do(http.MethodPost, "application/json", []byte("{}")); s != http.StatusUnsupportedMediaType {
		t.Errorf("json: %d", s)
	}
	if s, _ := do(http.MethodGet, "", nil); s != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", s)
	}
	if s, _ := do(http.MethodPost, "text/xml", bytes.Repeat([]byte("x"), int(MaxBody)+10)); s != http.StatusRequestEntityTooLarge && s != 0 {
		t.Errorf("huge: %d", s)
	}
	xxe := []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><SOAP:Envelope xmlns:SOAP="http://schemas.xmlsoap.org/soap/envelope/"><SOAP:Body>&e;</SOAP:Body></SOAP:Envelope>`)
	if s, b := do(http.MethodPost, "text/xml", xxe); s != http.StatusInternalServerError || !bytes.Contains(b, []byte("Fault")) || bytes.Contains(b, []byte("root:")) {
		t.Errorf("XXE: %d %s", s, b)
	}
	// Without a client certificate: no handshake.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pool}}}
	if _, err := plain.Post("https://"+e.addr+Path, "text/xml", strings.NewReader("<x/>")); err == nil {
		t.Error("a client without certificate got an answer")
	}
	if _, n, _ := e.h.Uploads(context.Background(), e.principal("gemeente"), exchange.IWmo, exchange.ListOptions{Limit: 1}); n != 0 {
		t.Fatalf("%d uploads", n)
	}
}
