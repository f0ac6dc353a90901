package main

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"knooppunt/ebmsserver"
	"knooppunt/exchange"
)

const defaultDemoEbMSListen = "127.0.0.1:8443"

// ebmsFlags are the Digikoppeling options of serve.
type ebmsFlags struct {
	oin                string
	listen             string
	cert, key, ca, crl string
	tls                *ebmsserver.TLS
	demoPKI            *ebmsserver.TestPKI
	demoListen         bool // listen is the demo's default: when taken, another free port will do
}

func (e *ebmsFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&e.oin, "oin", os.Getenv("KNOOPPUNT_OIN"), "OIN van het knooppunt, zijn PartyId over Digikoppeling (KNOOPPUNT_OIN)")
	fs.StringVar(&e.listen, "ebms-listen", os.Getenv("KNOOPPUNT_EBMS_LISTEN"), "adres van het Digikoppeling-endpoint (HTTPS, POST /ebms) (KNOOPPUNT_EBMS_LISTEN); uit als leeg")
	fs.StringVar(&e.cert, "ebms-cert", os.Getenv("KNOOPPUNT_EBMS_CERT"), "PEM-certificaat van het knooppunt (met zijn OIN), voor TLS en ondertekenen")
	fs.StringVar(&e.key, "ebms-key", os.Getenv("KNOOPPUNT_EBMS_KEY"), "PEM-sleutel bij --ebms-cert")
	fs.StringVar(&e.ca, "ebms-ca", os.Getenv("KNOOPPUNT_EBMS_CA"), "PEM-bundel van de CA's voor certificaten van partners (PKIoverheid)")
	fs.StringVar(&e.crl, "ebms-crl", os.Getenv("KNOOPPUNT_EBMS_CRL"), "CRL (PEM of DER) van die CA's (optioneel)")
}

// check reads the options without touching the disk; the demo turns Digikoppeling on.
func (e *ebmsFlags) check(demo bool) error {
	if demo && e.oin == "" {
		e.oin = exchange.DemoHubOIN
	}
	if e.oin != "" {
		if err := exchange.CheckOIN(e.oin); err != nil {
			return fmt.Errorf("--oin: %w", err)
		}
	}
	if demo && e.listen == "" {
		e.listen, e.demoListen = defaultDemoEbMSListen, true
	}
	if demo && e.cert == "" {
		return nil // prepare makes a test PKI
	}
	if e.cert == "" && e.listen == "" {
		return nil // no Digikoppeling
	}
	if e.cert == "" || e.key == "" || e.ca == "" {
		return fmt.Errorf("Digikoppeling vraagt --ebms-cert, --ebms-key en --ebms-ca")
	}
	if e.oin == "" {
		return fmt.Errorf("Digikoppeling vraagt het OIN van het knooppunt: --oin")
	}
	return nil
}

// prepare loads the certificates; the demo first makes a test PKI in DIR/demo/pki.
func (e *ebmsFlags) prepare(demo bool, data string) error {
	if demo && e.cert == "" {
		pki, err := ebmsserver.LoadOrCreatePKI(filepath.Join(data, "demo", "pki"))
		if err != nil {
			return fmt.Errorf("demo-PKI: %w", err)
		}
		if e.cert, e.key, err = pki.Issue("knooppunt", "knooppunt demo", e.oin, "127.0.0.1", "localhost"); err != nil {
			return fmt.Errorf("demo-PKI: %w", err)
		}
		e.ca, e.demoPKI = pki.CAFile, pki
	}
	if e.cert == "" {
		return nil
	}
	t, err := ebmsserver.LoadTLS(e.cert, e.key, e.ca, e.crl)
	if err != nil {
		return err
	}
	if got := ebmsserver.OINOf(t.Leaf()); got != e.oin {
		return fmt.Errorf("--ebms-cert heeft OIN %q in zijn serialNumber, maar --oin is %s", got, e.oin)
	}
	e.tls = t
	return nil
}

// config is the engine's Digikoppeling configuration (nil without certificates).
func (e *ebmsFlags) config(listen string) *exchange.DigikoppelingConfig {
	if e.tls == nil {
		return nil
	}
	host, _, _ := net.SplitHostPort(listen)
	if host == "" {
		host = "knooppunt"
	}
	signer, _ := e.tls.Cert.PrivateKey.(crypto.Signer)
	return &exchange.DigikoppelingConfig{Post: ebmsserver.NewClient(e.tls).Post, Key: signer, Cert: e.tls.Leaf(), Host: host}
}

// start opens the endpoint (when --ebms-listen is given) and serves until ctx ends.
func (e *ebmsFlags) start(ctx context.Context, hub *exchange.Hub, log *slog.Logger) (net.Addr, func() error, error) {
	if e.listen == "" || e.tls == nil {
		return nil, func() error { return nil }, nil
	}
	srv, err := ebmsserver.New(ebmsserver.Config{Hub: hub, TLS: e.tls, Log: log})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", e.listen)
	if err != nil && e.demoListen {
		// A second demo (or a test) on this machine must not fail on a port it never asked for.
		log.Warn("Digikoppeling-adres van de demo bezet; een ander gekozen", "adres", e.listen, "err", err)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("Digikoppeling: luisteren op %s: %w (kies een ander adres met --ebms-listen)", e.listen, err)
	}
	log.Info("Digikoppeling-endpoint luistert", "adres", "https://"+ln.Addr().String()+ebmsserver.Path, "oin", e.oin)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return ln.Addr(), func() error { return <-done }, nil
}

// demo imports a CPA per demo organisation and prints a curl command that sends a message.
func (e *ebmsFlags) demo(w io.Writer, hub *exchange.Hub, data string, addr net.Addr) error {
	if e.demoPKI == nil || addr == nil {
		return nil
	}
	d, err := ebmsserver.SetupDemo(hub, e.demoPKI, filepath.Join(data, "demo"), addr.String())
	if err != nil {
		return fmt.Errorf("Digikoppeling-demo: %w", err)
	}
	fmt.Fprintf(w, "Digikoppeling (ebMS2) op https://%s%s, OIN knooppunt %s; CPA's en certificaten in %s.\n", addr, ebmsserver.Path, e.oin, e.demoPKI.Dir)
	fmt.Fprintf(w, "Een WMO301 van gemeente 9999 aan zorgaanbieder 12345678 via Digikoppeling:\n  %s\n\n", d.Curl)
	return nil
}
