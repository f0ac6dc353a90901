package ebmsserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"knooppunt/exchange"
)

// Limits of the endpoint.
const (
	// MaxBody is the largest request body: a 25 MB envelope, base64-encoded in the worst case,
	// plus the SOAP header and MIME overhead.
	MaxBody = exchange.MaxXMLUpload*4/3 + 1<<20
	// ReadHeaderTimeout and ReadTimeout bound slow clients: the headers must come within 10
	// seconds, the whole body within 2 minutes (25 MB at 2 Mbit/s).
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 2 * time.Minute
	WriteTimeout      = 2 * time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
)

// Path is where partners post.
const Path = "/ebms"

// Config sets up the endpoint.
type Config struct {
	Hub *exchange.Hub
	TLS *TLS
	Log *slog.Logger
}

// Server is the Digikoppeling endpoint.
type Server struct {
	cfg  Config
	http *http.Server
}

// New makes the endpoint.
func New(cfg Config) (*Server, error) {
	if cfg.Hub == nil || cfg.TLS == nil {
		return nil, errors.New("ebmsserver: Hub en TLS zijn nodig")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, s.handle)
	s.http = &http.Server{
		Handler:           mux,
		TLSConfig:         cfg.TLS.ServerConfig(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          log.New(&handshakeAudit{hub: cfg.Hub, log: cfg.Log}, "", 0),
	}
	return s, nil
}

// Serve answers on ln until ctx ends; then it stops taking connections and lets the requests
// under way finish (at most 10 seconds).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(tls.NewListener(ln, s.http.TLSConfig)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil {
		s.http.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	hub := s.cfg.Hub
	oin := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		oin = OINOf(r.TLS.PeerCertificates[0])
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "alleen POST", http.StatusMethodNotAllowed)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "multipart/related" && mt != "text/xml") {
		hub.AuditAttempt("oin:"+oin, r.RemoteAddr, "ebms geweigerd: content-type "+r.Header.Get("Content-Type"))
		http.Error(w, "Content-Type moet multipart/related (SOAP met bijlagen) of text/xml zijn", http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > MaxBody {
		hub.AuditAttempt("oin:"+oin, r.RemoteAddr, fmt.Sprintf("ebms geweigerd: %d bytes", r.ContentLength))
		http.Error(w, "bericht te groot", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			hub.AuditAttempt("oin:"+oin, r.RemoteAddr, "ebms geweigerd: te groot")
			http.Error(w, "bericht te groot", http.StatusRequestEntityTooLarge)
			return
		}
		hub.AuditAttempt("oin:"+oin, r.RemoteAddr, "ebms afgebroken: "+err.Error())
		return
	}
	ans := hub.ReceiveEbMS(r.Context(), exchange.EbMSRequest{
		OIN: oin, Remote: r.RemoteAddr, ContentType: r.Header.Get("Content-Type"),
		SOAPAction: r.Header.Get("SOAPAction"), Body: body,
	})
	if len(ans.Body) == 0 {
		w.WriteHeader(ans.Status)
		return
	}
	w.Header().Set("Content-Type", ans.ContentType)
	w.WriteHeader(ans.Status)
	w.Write(ans.Body)
}

// OINOf reads the OIN from a certificate: PKIoverheid puts it in the subject's serialNumber.
func OINOf(c *x509.Certificate) string { return c.Subject.SerialNumber }

// handshakeAudit puts the TLS handshakes net/http refuses (no or an untrusted certificate, TLS
// 1.0/1.1) in the audit log: every TLS client is audited.
type handshakeAudit struct {
	hub *exchange.Hub
	log *slog.Logger
}

var handshakeLine = regexp.MustCompile(`^http: TLS handshake error from (\S+): (.*)$`)

func (a *handshakeAudit) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if m := handshakeLine.FindStringSubmatch(line); m != nil {
		if !strings.HasSuffix(m[2], "EOF") {
			a.hub.AuditAttempt("tls", m[1], "TLS-handshake geweigerd: "+m[2])
		}
		return len(p), nil
	}
	a.log.Warn("ebms-endpoint", "melding", line)
	return len(p), nil
}
