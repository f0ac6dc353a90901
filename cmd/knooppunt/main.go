package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/hostkeys"
	"knooppunt/sshserver"
	"knooppunt/storage"
	"knooppunt/tui"
)

const (
	defaultData       = "./knooppunt-data"
	defaultListen     = ":2222"
	defaultDemoListen = "127.0.0.1:2222"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "hostkeys":
		return showHostKeys(args[1:], stdout, stderr)
	case "audit":
		return audit(args[1:], stdout, stderr)
	case "status":
		return status(args[1:], stdout, stderr)
	case "nodes", "knooppunten":
		return nodesCmd(args[1:], stdout, stderr)
	case "backup":
		return backupCmd(args[1:], stdout, stderr)
	case "restore":
		return restoreCmd(args[1:], stdout, stderr)
	case "migrate":
		return migrateCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	case "versie", "version", "--version":
		fmt.Fprint(stdout, sshserver.Version())
		return 0
	}
	fmt.Fprintf(stderr, "onbekende opdracht %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `knooppunt: berichtenknooppunt voor gemeentelijke zorgberichten (SFTP en terminal over SSH)

Gebruik:
  knooppunt serve [--data DIR] [--listen ADRES] [--demo] [--admin-key BESTAND.pub] [--strict-crypto]
           [--quota GROOTTE] [--max-conns N] [--idle-timeout DUUR] [--max-session DUUR]
           [--upload-stall DUUR] [--memory-limit GROOTTE] [--workers N] [--max-uploads N]
           [--metrics-listen ADRES] [--min-free-disk GROOTTE] [--shutdown-grace DUUR]
           [--database postgres://…] [--files s3://BUCKET[/PREFIX] --s3-endpoint URL [--s3-credentials BESTAND] [--s3-cache MB]]
           [--oin OIN] [--ebms-listen ADRES --ebms-cert PEM --ebms-key PEM --ebms-ca PEM [--ebms-crl CRL]]
           [--node NAAM] [--storage-timeout DUUR]
  knooppunt status [--metrics ADRES] [--env BESTAND] [--json] [--timeout DUUR]
  knooppunt nodes --database postgres://… [--json]
           (draaiende server: ssh beheer@knooppunt nodes)
  knooppunt hostkeys [--data DIR | --database postgres://…]
  knooppunt versie
  knooppunt audit verify [--data DIR] [--anker REGEL:HASH]
  knooppunt audit export [--data DIR] [--van REGEL]
  knooppunt backup --to BESTAND [--data DIR] [--sinds VORIGE.tar]
           (draaiende server: ssh beheer@knooppunt backup > BESTAND)
  knooppunt restore --from BESTAND [--from EERDERE.tar …] --data NIEUWEMAP
  knooppunt migrate --data DIR --database postgres://… --files s3://BUCKET[/PREFIX] --s3-endpoint URL
           (kopieert een gestopte hub naar PostgreSQL en S3, en controleert de kopie)

  --data       gegevensmap (KNOOPPUNT_DATA, standaard ./knooppunt-data)
  --listen     luisteradres (KNOOPPUNT_LISTEN, standaard :2222; met --demo 127.0.0.1:2222)
  --demo       vult een lege opslag met demo-organisaties en -accounts, sleutels in DIR/demo
  --admin-key  maakt op een lege opslag de beheerder "beheer" met deze openbare sleutel
  --strict-crypto
               biedt alleen etm-MAC's en AEAD-ciphers aan (geen hmac-sha2-256/512 zonder etm);
               clients op libssh2 ouder dan 1.11 (curl op Debian 12) kunnen dan niet verbinden
  --quota      bytes per organisatie per dag in aanleveren/ (KNOOPPUNT_QUOTA, standaard 10GB;
               0: geen quotum); het quotum begint om 00:00 Nederlandse tijd opnieuw
  --max-conns  gelijktijdige verbindingen per adres (KNOOPPUNT_MAX_CONNS, standaard 64; 0: geen grens)
  --idle-timeout
               sluit een verbinding zonder activiteit na deze duur (KNOOPPUNT_IDLE_TIMEOUT,
               standaard 30m; 0: nooit); een lopende overdracht wordt nooit afgebroken
  --max-session
               sluit een verbinding na deze duur, tussen twee overdrachten in
               (KNOOPPUNT_MAX_SESSION, standaard 12h; 0: nooit)
  --upload-stall
               sluit een verbinding waarop een aanlevering open staat die zo lang geen
               gegevens kreeg (KNOOPPUNT_UPLOAD_STALL, standaard 5m; 0: nooit); zo'n
               aanlevering houdt een plaats van --max-uploads bezet; wat binnenkwam blijft
               bewaard voor reput
  --memory-limit
               zachte geheugengrens van de Go-runtime (KNOOPPUNT_MEMORY_LIMIT, anders
               GOMEMLIMIT, anders 110MiB; 0: geen grens); hoger zetten bij veel grote
               aanleveringen tegelijk
  --workers    aanleveringen die tegelijk worden verwerkt (KNOOPPUNT_WORKERS, standaard 4 per
               CPU); de verwerking wacht vooral op de schijf
  --max-uploads
               aanleveringen die het knooppunt tegelijk in behandeling neemt, van openen tot
               verwerkt (KNOOPPUNT_MAX_UPLOADS, standaard 2 per worker); wie daarna komt wacht
               voordat de upload begint, ten hoogste 2 minuten; één organisatie krijgt ten
               hoogste de helft
  --metrics-listen
               adres voor /metrics (Prometheus), /healthz en /readyz (KNOOPPUNT_METRICS_LISTEN;
               standaard uit, met --demo 127.0.0.1:9464); kies een adres op loopback of
               achter een firewall: de metrics zijn niet beveiligd
  --min-free-disk
               onder deze vrije schijfruimte zegt /readyz "niet gereed"
               (KNOOPPUNT_MIN_FREE_DISK, standaard 1GiB; 0: geen grens)
  --database   records in PostgreSQL in plaats van DIR/db (KNOOPPUNT_DATABASE_URL); het schema
               wordt bij de start bijgewerkt
  --files      bestanden in S3-compatibele opslag in plaats van DIR/files (KNOOPPUNT_FILES),
               met --s3-endpoint (KNOOPPUNT_S3_ENDPOINT); sleutels uit AWS_ACCESS_KEY_ID en
               AWS_SECRET_ACCESS_KEY of uit --s3-credentials (KNOOPPUNT_S3_CREDENTIALS);
               met --database staan ook de hostsleutels in de database, zodat elk
               knooppunt dezelfde vingerafdruk toont
  --s3-cache   MB aan bestanden die het knooppunt net naar S3 schreef en 2 minuten in
               DIR/s3-spool houdt om ze zelf van schijf terug te lezen (KNOOPPUNT_S3_CACHE,
               standaard 256; 0: geen)
  --storage-timeout
               hoe lang één aanroep naar PostgreSQL of S3 mag duren voordat hij mislukt
               (KNOOPPUNT_STORAGE_TIMEOUT, standaard 30s); een bestandsoverdracht krijgt een
               seconde per MB extra
  --shutdown-grace
               bij SIGTERM of SIGINT: zo lang mogen lopende overdrachten afronden
               (KNOOPPUNT_SHUTDOWN_GRACE, standaard 30s); verbindingen zonder overdracht
               sluiten meteen, nieuwe worden geweigerd

status vraagt een draaiende server via --metrics-listen of hij gereed is (exitcode 0) of
niet (1), en toont waarom, met de belangrijkste getallen. Het adres: --metrics, anders
KNOOPPUNT_METRICS_LISTEN, anders uit /etc/knooppunt/knooppunt.env (--env).

  --oin        OIN van het knooppunt (KNOOPPUNT_OIN); met --demo een test-OIN
  --ebms-listen
               Digikoppeling-endpoint, HTTPS met tweezijdig TLS (1.2/1.3), POST /ebms
               (KNOOPPUNT_EBMS_LISTEN; uit als leeg; met --demo 127.0.0.1:8443)
  --ebms-cert, --ebms-key, --ebms-ca, --ebms-crl
               certificaat en sleutel van het knooppunt, de CA's van partners, hun CRL
               (KNOOPPUNT_EBMS_CERT/_KEY/_CA/_CRL); met --demo een test-PKI in DIR/demo/pki

audit verify controleert de hashketen van het auditlog; audit export geeft het als JSON-regels.
Draait de server, dan via SSH: ssh -p 2222 beheer@knooppunt audit verify

Organisaties en accounts beheert u op een draaiende server via SSH, bijvoorbeeld:
  ssh -p 2222 beheer@knooppunt help
`)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type serveFlags struct {
	data, listen, adminKey string
	demo                   bool
	strictCrypto           bool
	compatLibssh2          bool // accepted and ignored: what it turned on is the default now
	payloadCheck           bool
	quota                  int64 // bytes per organisation per day; -1: none
	maxConns               int   // per address; -1: no cap
	idleTimeout            time.Duration
	maxSession             time.Duration
	uploadStall            time.Duration
	memoryLimit            memLimit
	workers                int
	maxUploads             int // 0: exchange's default for the workers
	monitor                monitorFlags
	shutdownGrace          time.Duration
	backend                backendFlags
	ebms                   ebmsFlags
	node                   string // name among the nodes sharing a database
}

func parseServe(args []string, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	// The flag package's own messages are English: errors are reported by serve, in Dutch.
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.data, "data", envOr("KNOOPPUNT_DATA", defaultData), "gegevensmap (KNOOPPUNT_DATA)")
	fs.StringVar(&f.node, "node", os.Getenv("KNOOPPUNT_NODE"), "naam van dit knooppunt naast andere op dezelfde database (KNOOPPUNT_NODE), standaard HOSTNAAM-PID")
	fs.StringVar(&f.listen, "listen", os.Getenv("KNOOPPUNT_LISTEN"), "luisteradres (KNOOPPUNT_LISTEN), standaard :2222, met --demo 127.0.0.1:2222")
	fs.BoolVar(&f.demo, "demo", false, "demo-gegevens aanmaken (in een lege opslag) en alleen op 127.0.0.1 luisteren")
	fs.StringVar(&f.adminKey, "admin-key", "", "openbare sleutel (.pub) van de eerste beheerder, account \"beheer\"")
	fs.BoolVar(&f.strictCrypto, "strict-crypto", false, "alleen etm-MAC's en AEAD-ciphers")
	fs.BoolVar(&f.compatLibssh2, "compat-libssh2", false, "vervallen: MAC's zonder etm worden standaard aangeboden")
	fs.BoolVar(&f.payloadCheck, "payload-check", true, "controleert de Header van iWmo/iJw 3.x-berichten (BerichtCode, Afzender, Ontvanger) tegen de envelop; --payload-check=false zet het uit")
	quota := fs.String("quota", envOr("KNOOPPUNT_QUOTA", "10GB"), "bytes per organisatie per dag (KNOOPPUNT_QUOTA), 0: geen quotum")
	maxConns := fs.String("max-conns", envOr("KNOOPPUNT_MAX_CONNS", "64"), "verbindingen per adres (KNOOPPUNT_MAX_CONNS), 0: geen grens")
	idle := fs.String("idle-timeout", envOr("KNOOPPUNT_IDLE_TIMEOUT", "30m"), "sluit een verbinding zonder activiteit (KNOOPPUNT_IDLE_TIMEOUT), 0: nooit")
	maxSession := fs.String("max-session", envOr("KNOOPPUNT_MAX_SESSION", "12h"), "sluit een verbinding na deze duur tussen overdrachten (KNOOPPUNT_MAX_SESSION), 0: nooit")
	uploadStall := fs.String("upload-stall", envOr("KNOOPPUNT_UPLOAD_STALL", "5m"), "sluit een verbinding met een aanlevering die zo lang geen gegevens kreeg (KNOOPPUNT_UPLOAD_STALL), 0: nooit")
	memoryLimit := fs.String("memory-limit", os.Getenv("KNOOPPUNT_MEMORY_LIMIT"), "zachte geheugengrens (KNOOPPUNT_MEMORY_LIMIT, anders GOMEMLIMIT, anders "+defaultMemoryLimit+"), 0: geen grens")
	workers := fs.String("workers", os.Getenv("KNOOPPUNT_WORKERS"), fmt.Sprintf("aanleveringen tegelijk in verwerking (KNOOPPUNT_WORKERS), standaard 4 per CPU (%d)", exchange.DefaultWorkers()))
	maxUploads := fs.String("max-uploads", os.Getenv("KNOOPPUNT_MAX_UPLOADS"), "aanleveringen tegelijk in behandeling, van openen tot verwerkt (KNOOPPUNT_MAX_UPLOADS), standaard 2 per worker")
	readMonitor := addMonitorFlags(fs)
	readBackend := addBackendFlags(fs)
	shutdownGrace := fs.String("shutdown-grace", envOr("KNOOPPUNT_SHUTDOWN_GRACE", defaultShutdownGrace), "bij stoppen: zo lang mogen lopende overdrachten afronden (KNOOPPUNT_SHUTDOWN_GRACE)")
	f.ebms.add(fs)
	if err := fs.Parse(args); err != nil {
		return f, dutchFlagError(err)
	}
	var err error
	if f.monitor, err = readMonitor(f.demo); err != nil {
		return f, err
	}
	if f.backend, err = readBackend(); err != nil {
		return f, err
	}
	if f.shutdownGrace, err = parseShutdownGrace(*shutdownGrace); err != nil {
		return f, err
	}
	if f.workers, err = parseCount("--workers", *workers, 1024); err != nil {
		return f, err
	}
	if f.maxUploads, err = parseCount("--max-uploads", *maxUploads, 65536); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("onverwacht argument %q", fs.Arg(0))
	}
	if err := parseLimits(&f, *quota, *maxConns, *idle, *maxSession, *uploadStall); err != nil {
		return f, err
	}
	if f.memoryLimit, err = parseMemoryLimit(*memoryLimit); err != nil {
		return f, err
	}
	if err := f.ebms.check(f.demo); err != nil {
		return f, err
	}
	if f.node != "" {
		if err := exchange.CheckNodeName(f.node); err != nil {
			return f, fmt.Errorf("--node: %w", err)
		}
	}
	if f.listen == "" {
		f.listen = defaultListen
		if f.demo {
			f.listen = defaultDemoListen
		}
	}
	return f, nil
}

func serve(args []string, stdout, stderr io.Writer) int {
	f, err := parseServe(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		fmt.Fprintln(stderr, "fout:", err)
		fmt.Fprintln(stderr)
		usage(stderr)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	f.memoryLimit.apply(ctx, log)
	if err := runServer(ctx, f, stdout, log); err != nil {
		fmt.Fprintln(stderr, "fout:", err)
		return 1
	}
	return 0
}

func runServer(ctx context.Context, f serveFlags, stdout io.Writer, log *slog.Logger) error {
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("gegevensmap %s aanmaken: %w", f.data, err)
	}
	if err := f.ebms.prepare(f.demo, f.data); err != nil {
		return err
	}
	mon := newMonitor(f.monitor, log)
	cfg := exchange.Config{DataDir: f.data, Log: log, UploadQuota: f.quota, Workers: f.workers, MaxUploads: f.maxUploads,
		Observer: mon.engine(), SkipPayloadCheck: !f.payloadCheck,
		OIN: f.ebms.oin, Digikoppeling: f.ebms.config(f.ebms.listen), Node: f.node}
	if err := f.backend.apply(ctx, &cfg, log); err != nil {
		return err
	}
	if db, ok := cfg.KV.(*storage.Postgres); ok {
		// Every connection the node will use, opened before it takes an SSH session: opened
		// in a burst of logins, they cost PostgreSQL its CPU when the first uploads need it.
		// A failure is not fatal: the pool opens what it can later, as it did before.
		began := time.Now()
		if n, err := db.Warm(ctx, 1<<10); err != nil {
			log.Warn("niet alle databaseverbindingen geopend; staat max_connections van PostgreSQL ruim genoeg voor alle knooppunten (32 per knooppunt, of pool_max_conns in --database)?",
				"geopend", n, "err", err)
		} else {
			log.Info("databaseverbindingen geopend", "aantal", n, "duur", time.Since(began).Round(time.Millisecond))
		}
	}
	hub, err := openHub(cfg, f.listen)
	if err != nil {
		return err
	}
	closeHub := func() {
		if err := hub.Close(); err != nil {
			log.Error("opslag sluiten", "err", err)
		}
	}
	keys, err := loadHostKeys(f.data, cfg)
	if err != nil {
		closeHub()
		return err
	}
	signers := make([]gossh.Signer, 0, len(keys))
	for _, k := range keys {
		log.Info("hostsleutel", "type", k.Type, "bits", k.Bits, "vingerafdruk", k.Fingerprint(), "bestand", k.Path)
		signers = append(signers, k.Signer)
	}
	if f.adminKey != "" {
		if err := bootstrap(hub, f.adminKey); err != nil {
			closeHub()
			return err
		}
	}
	var demo []exchange.DemoAccount
	if f.demo {
		if demo, err = hub.SeedDemo(filepath.Join(f.data, "demo")); err != nil {
			closeHub()
			return fmt.Errorf("demo-gegevens aanmaken: %w", err)
		}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		closeHub()
		return fmt.Errorf("luisteren op %s: %w (kies een ander adres met --listen)", f.listen, err)
	}
	srv, err := sshserver.New(sshserver.Config{Hub: hub, HostKeys: signers, Log: log, StrictCrypto: f.strictCrypto,
		MaxConnsPerAddr: f.maxConns, IdleTimeout: f.idleTimeout, MaxSession: f.maxSession, UploadStall: f.uploadStall,
		ShutdownGrace: f.shutdownGrace, TUI: tui.Session(hub, tuiOptions(log, f.listen, ln.Addr())), Observer: mon.server()})
	if err != nil {
		ln.Close()
		closeHub()
		return err
	}
	stopMonitor, err := mon.start(hub, stdout)
	if err != nil {
		ln.Close()
		closeHub()
		return err
	}
	log.Info("knooppunt luistert", "adres", ln.Addr().String(), "gegevens", f.data)
	if f.compatLibssh2 {
		log.Warn("--compat-libssh2 is vervallen en doet niets meer: MAC's zonder etm (hmac-sha2-256/512) worden standaard aangeboden; haal de optie weg, of start met --strict-crypto om ze juist uit te zetten")
	}
	if f.strictCrypto {
		log.Info("--strict-crypto: alleen etm-MAC's en AEAD-ciphers; clients op libssh2 ouder dan 1.11 kunnen niet verbinden")
	}
	if !f.payloadCheck {
		log.Warn("--payload-check=false: de Header van iWmo/iJw-berichten wordt niet tegen de envelop gecontroleerd")
	}
	// A signal (or a failing engine) stops the server: no new connections, transfers in
	// progress get --shutdown-grace. The engine stops after it, so that what those transfers
	// hand in is queued while it still runs; an upload it has in hand then is parked: its
	// queue key stays and the next start redoes it from its last committed step. The
	// Digikoppeling endpoint stops with the server.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(ctx, hub.SetShuttingDown) // /readyz: niet gereed while sessions drain
	ebmsAddr, ebmsDone, err := f.ebms.start(ctx, hub, log)
	if err != nil {
		ln.Close()
		stopMonitor()
		closeHub()
		return err
	}
	if f.demo {
		printDemo(stdout, demo, f.data, ln.Addr())
		if err := f.ebms.demo(stdout, hub, f.data, ebmsAddr); err != nil {
			log.Error("Digikoppeling-demo", "err", err)
		}
	}
	engineCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() {
		err := hub.Run(engineCtx)
		if err != nil {
			log.Error("verwerking gestopt", "err", err)
		}
		cancel()
		engineDone <- err
	}()
	// A signal during the demo's setup (its certificates take seconds) must not reach the
	// SSH server before it serves: a Shutdown before Serve would leave Serve running.
	var serveErr error
	if ctx.Err() == nil {
		serveErr = srv.Serve(ctx, ln)
	} else {
		ln.Close()
	}
	if serveErr != nil {
		log.Error("ssh-server gestopt", "err", serveErr)
	}
	stopEngine()
	engineErr := <-engineDone
	if err := ebmsDone(); err != nil {
		log.Error("Digikoppeling-endpoint gestopt", "err", err)
	}
	stopMonitor()
	closeHub()
	log.Info("knooppunt gestopt")
	return errors.Join(serveErr, engineErr)
}

// parseCount reads a count flag of 1 to most; "" means the default (0).
// dutchFlagError says in Dutch what the flag package found wrong; its own text is English.
func dutchFlagError(err error) error {
	msg := err.Error()
	// The flag package names an option with one dash; the usage writes two.
	opt := func(prefix string) string { return "--" + strings.TrimLeft(strings.TrimPrefix(msg, prefix), "-") }
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case strings.HasPrefix(msg, "flag provided but not defined: "):
		return fmt.Errorf("onbekende optie %s", opt("flag provided but not defined: "))
	case strings.HasPrefix(msg, "flag needs an argument: "):
		o := opt("flag needs an argument: ")
		return fmt.Errorf("optie %s heeft een waarde nodig, bijvoorbeeld %s=WAARDE", o, o)
	case strings.HasPrefix(msg, "invalid boolean value "):
		// invalid boolean value "x" for -demo: parse error
		value, rest, _ := strings.Cut(strings.TrimPrefix(msg, "invalid boolean value "), " for ")
		name, _, _ := strings.Cut(rest, ":")
		o := "--" + strings.TrimLeft(name, "-")
		return fmt.Errorf("ongeldige waarde %s voor %s; een aan/uit-optie schrijft u zonder waarde (%s) of als %s=true of %s=false", value, o, o, o, o)
	}
	return fmt.Errorf("verkeerde opties: %s", msg)
}

func parseCount(flag, v string, most int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("%s: %q is geen aantal van 1 tot %d", flag, v, most)
	}
	return n, nil
}

// openHub opens the store; when a running server holds it, it says so and names the SSH
// command to use instead.
func openHub(cfg exchange.Config, listen string) (*exchange.Hub, error) {
	data := cfg.DataDir
	hub, err := exchange.Open(cfg)
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("de gegevensmap %s is in gebruik door een draaiende knooppunt-server; "+
			"er kan er maar één tegelijk draaien. Beheer die server via SSH, bijvoorbeeld: ssh -p %s beheer@%s org list",
			data, portOf(listen), hostOf(listen))
	}
	if err != nil {
		return nil, fmt.Errorf("opslag in %s openen: %w", data, err)
	}
	return hub, nil
}

// tuiOptions tell the portal where the hub listens, for the sftp commands it shows: the
// port really bound (also for --listen :0) and the host of --listen when it names one;
// without, each session shows the address its client reached.
func tuiOptions(log *slog.Logger, listen string, bound net.Addr) tui.Options {
	o := tui.Options{Log: log}
	if a, ok := bound.(*net.TCPAddr); ok {
		o.Port = a.Port
	}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			o.Host = h
		}
	}
	return o
}

func portOf(listen string) string {
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "" {
		return port
	}
	return "2222"
}

func hostOf(listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return "localhost"
	}
	return host
}

func bootstrap(hub *exchange.Hub, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("beheerderssleutel lezen: %w", err)
	}
	if err := hub.Bootstrap(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("beheerder aanmaken met %s: %w", file, err)
	}
	return nil
}

func printDemo(w io.Writer, accts []exchange.DemoAccount, data string, addr net.Addr) {
	port, host := portOf(addr.String()), hostOf(addr.String())
	if host == "localhost" {
		host = "127.0.0.1"
	}
	dir := filepath.Join(data, "demo")
	fmt.Fprintf(w, "Demo-accounts (sleutels in %s):\n", dir)
	for _, a := range accts {
		key := a.KeyFile
		if key == "" {
			fmt.Fprintf(w, "\n%s: sleutelbestand ontbreekt in %s; gebruik uw eigen sleutel voor dit account\n", a.Name, dir)
			continue
		}
		if a.Org == "" {
			// The beheerder has no mailbox: only the terminal and the admin commands.
			fmt.Fprintf(w, "\n%s (beheerder van het knooppunt)\n", a.Name)
			fmt.Fprintf(w, "  ssh -t -i %s -p %s %s@%s\n", key, port, a.Name, host)
			fmt.Fprintf(w, "  ssh -i %s -p %s %s@%s help\n", key, port, a.Name, host)
			continue
		}
		fmt.Fprintf(w, "\n%s (organisatie %s: %s)\n", a.Name, a.Org, exchange.JoinProducts(a.Products))
		fmt.Fprintf(w, "  sftp -i %s -P %s %s@%s\n", key, port, a.Name, host)
		fmt.Fprintf(w, "  ssh -t -i %s -p %s %s@%s\n", key, port, a.Name, host)
	}
	fmt.Fprintln(w)
}

func showHostKeys(args []string, stdout, stderr io.Writer) int {
	fs := newSubFlags("hostkeys", "gebruik: knooppunt hostkeys [--data DIR | --database postgres://…]", stdout, stderr)
	data := fs.data()
	database := fs.String("database", os.Getenv("KNOOPPUNT_DATABASE_URL"), "de hostsleutels die de knooppunten in PostgreSQL delen (KNOOPPUNT_DATABASE_URL)")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	var keys []hostkeys.Key
	var err error
	if *database != "" {
		// With --database the nodes keep their keys there, not in a data directory.
		keys, err = sharedHostKeys(*database)
		if err != nil {
			fmt.Fprintf(stderr, "fout: %v\n", err)
			return 1
		}
	} else if keys, err = hostkeys.Read(*data); err != nil {
		fmt.Fprintf(stderr, "fout: %v\n(de hostsleutels ontstaan bij de eerste start van 'knooppunt serve --data %s')\n", err, *data)
		return 1
	}
	for _, k := range keys {
		fmt.Fprintln(stdout, k.String())
	}
	return 0
}

// sharedHostKeys reads, without making any, the host keys the nodes on database share.
func sharedHostKeys(database string) ([]hostkeys.Key, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.OpenPostgres(ctx, database, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return hostkeys.ReadShared(db, redactDatabase(database))
}
