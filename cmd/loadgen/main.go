package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/hostkeys"
	"knooppunt/loadgen"
	"knooppunt/sshserver"
)

type options struct {
	bin, data, profile      string
	uploaders, downloaders  int
	zips, messages, payload int
	recipients, workers     int
	maxUploads              int
	shared                  shared
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "knooppunt binary to run (go build -o … ./cmd/knooppunt)")
	flag.StringVar(&o.data, "data", "", "data directory (created and seeded when empty)")
	flag.StringVar(&o.profile, "cpuprofile", "", "run the server inside this process instead of --bin and write a CPU profile")
	flag.IntVar(&o.workers, "workers", 0, "the engine's workers (0: its default)")
	flag.IntVar(&o.maxUploads, "max-uploads", 0, "uploads the hub takes on at once (0: its default)")
	flag.IntVar(&o.uploaders, "uploaders", 200, "concurrent upload sessions, one gemeente each")
	flag.IntVar(&o.downloaders, "downloaders", 50, "concurrent download sessions, one aanbieder each")
	flag.IntVar(&o.zips, "zips", 10, "ZIPs per upload session")
	flag.IntVar(&o.messages, "messages", 100, "envelopes per ZIP")
	flag.IntVar(&o.payload, "payload", 1500, "bytes of message per envelope")
	flag.IntVar(&o.recipients, "recipients", 5, "aanbieders each gemeente sends to")
	flag.StringVar(&o.shared.database, "database", "", "run on PostgreSQL (postgres://…) and S3 (--files): the seeded hub is migrated there")
	flag.StringVar(&o.shared.files, "files", "", "s3://BUCKET[/PREFIX], with --database")
	flag.StringVar(&o.shared.s3Endpoint, "s3-endpoint", "", "the S3 server, with --files (keys from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	flag.IntVar(&o.shared.nodes, "nodes", 1, "with --database: nodes on the shared stores; sessions are spread over them")
	flag.Parse()
	if o.shared.on() && (o.shared.files == "" || o.shared.s3Endpoint == "" || o.bin == "") {
		fmt.Fprintln(os.Stderr, "gebruik: --database vraagt ook --files, --s3-endpoint en --bin")
		os.Exit(2)
	}
	if o.data == "" || (o.bin == "" && o.profile == "") {
		fmt.Fprintln(os.Stderr, "gebruik: loadgen --data DIR (--bin KNOOPPUNT | --cpuprofile BESTAND) [opties]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "fout:", err)
		os.Exit(1)
	}
}

// server is the hub under load: the real binary, or the same parts inside this process for
// profiling.
type server struct {
	addr string
	pid  int
	stop func() error
	// log is what a server run as a process logged (nil in process).
	log func() string
}

func startServer(o options) (*server, error) {
	if o.profile == "" {
		var flags []string
		if o.workers > 0 {
			flags = append(flags, "--workers", fmt.Sprint(o.workers))
		}
		if o.maxUploads > 0 {
			flags = append(flags, "--max-uploads", fmt.Sprint(o.maxUploads))
		}
		s, err := loadgen.Start(o.bin, o.data, flags...)
		if err != nil {
			return nil, err
		}
		return &server{addr: s.Addr, pid: s.Pid(), stop: s.Stop, log: s.Log}, nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hub, err := exchange.Open(exchange.Config{DataDir: o.data, Log: log, Workers: o.workers, MaxUploads: o.maxUploads})
	if err != nil {
		return nil, err
	}
	keys, err := hostkeys.Load(o.data)
	if err != nil {
		return nil, err
	}
	var signers []gossh.Signer
	for _, k := range keys {
		signers = append(signers, k.Signer)
	}
	srv, err := sshserver.New(sshserver.Config{Hub: hub, HostKeys: signers, Log: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f, err := os.Create(o.profile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(ctx) })
	wg.Go(func() { srv.Serve(ctx, ln) })
	return &server{addr: ln.Addr().String(), pid: os.Getpid(), stop: func() error {
		cancel()
		wg.Wait()
		pprof.StopCPUProfile()
		f.Close()
		return hub.Close()
	}}, nil
}

type job struct {
	gemeente loadgen.Account
	to       []loadgen.Account
}

func run(o options) error {
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	t0 := time.Now()
	setup, err := loadgen.Seed(o.data, o.uploaders, o.downloaders)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Printf("opzet: %d gemeenten, %d aanbieders (%.1fs)\n", len(setup.Gemeenten), len(setup.Aanbieders), time.Since(t0).Seconds())

	// Fixtures up front, so building them does not compete with the server for CPU.
	expect := map[string]map[string]bool{} // aanbieder org -> refs it must receive
	for _, a := range setup.Aanbieders {
		expect[a.Org] = map[string]bool{}
	}
	zips := make([][][]byte, len(setup.Gemeenten))
	payload := loadgen.Payload(o.payload)
	total := 0
	for gi, g := range setup.Gemeenten {
		var to []loadgen.Account
		for k := range o.recipients {
			to = append(to, setup.Aanbieders[(gi*o.recipients+k)%len(setup.Aanbieders)])
		}
		for range o.zips {
			envs := make([]loadgen.Envelope, o.messages)
			for i := range envs {
				envs[i] = loadgen.Envelope{Ref: loadgen.NewRef(), Ontvanger: to[i%len(to)].Org}
				expect[envs[i].Ontvanger][envs[i].Ref] = true
			}
			zips[gi] = append(zips[gi], loadgen.BuildZip(g.Org, envs, payload))
			total += len(envs)
		}
	}
	fmt.Printf("fixtures: %d ZIPs, %d berichten\n", o.uploaders*o.zips, total)

	var nodes []*server
	if o.shared.on() {
		if err := o.shared.migrate(o.bin, o.data); err != nil {
			return err
		}
		if nodes, err = o.shared.startNodes(o); err != nil {
			return err
		}
		fmt.Printf("%d knooppunten op PostgreSQL + S3\n", len(nodes))
	} else {
		srv, err := startServer(o)
		if err != nil {
			return err
		}
		nodes = []*server{srv}
	}
	usage := func() loadgen.Usage {
		var sum loadgen.Usage
		for _, n := range nodes {
			u, _ := loadgen.ProcUsage(n.pid)
			sum.CPU += u.CPU
			sum.RSS += u.RSS
			sum.PeakRSS += u.PeakRSS
		}
		return sum
	}
	addr := func(i int) string { return nodes[i%len(nodes)].addr }
	before := usage()
	loadBefore := loadgen.LoadAverage()
	var peakRSS atomic.Int64
	sampleDone := make(chan struct{})
	samplerStopped := make(chan struct{})
	go func() {
		defer close(samplerStopped)
		for {
			if u := usage(); u.RSS > peakRSS.Load() {
				peakRSS.Store(u.RSS)
			}
			select {
			case <-sampleDone:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	var errs errList
	start := time.Now()
	var wg sync.WaitGroup
	var uploadsDone atomic.Int64
	var uploadEnd atomic.Int64
	puts := make([][]loadgen.PutTiming, len(setup.Gemeenten)) // each session writes its own
	// Every session logs in at once: how long that took says what the cold start costs.
	logins := make([]time.Duration, len(setup.Gemeenten)+len(setup.Aanbieders))
	for gi, g := range setup.Gemeenten {
		wg.Go(func() {
			t := time.Now()
			c, err := loadgen.DialFrom(addr(gi), o.data, g, source(gi))
			logins[gi] = time.Since(t)
			if err != nil {
				errs.add("inloggen %s: %v", g.Name, err)
				return
			}
			defer c.Close()
			for zi, data := range zips[gi] {
				pt, err := c.PutTimed("iwmo", fmt.Sprintf("last-%s-%02d.zip", g.Org, zi), data)
				if err != nil {
					errs.add("upload %s %d: %v", g.Name, zi, err)
					continue
				}
				puts[gi] = append(puts[gi], pt)
			}
			if uploadsDone.Add(1) == int64(o.uploaders) && o.profile != "" {
				writeHeap(o.profile + ".heap")
			}
			uploadEnd.Store(int64(time.Since(start)))
		})
	}
	var received atomic.Int64
	var downloaded, dlBytes atomic.Int64
	for ai, a := range setup.Aanbieders {
		wg.Go(func() {
			t := time.Now()
			c, err := loadgen.DialFrom(addr(ai+1), o.data, a, source(len(setup.Gemeenten)+ai))
			logins[len(setup.Gemeenten)+ai] = time.Since(t)
			if err != nil {
				errs.add("inloggen %s: %v", a.Name, err)
				return
			}
			defer c.Close()
			want := expect[a.Org]
			got := map[string]int{}
			done := map[string]bool{}
			deadline := time.Now().Add(30 * time.Minute)
			for len(got) < len(want) && time.Now().Before(deadline) {
				fis, err := c.SFTP.ReadDir("/iwmo/ophalen")
				if err != nil {
					errs.add("lijst %s: %v", a.Name, err)
					return
				}
				fresh := 0
				for _, fi := range fis {
					if fi.IsDir() || done[fi.Name()] {
						continue
					}
					data, err := c.Get("/iwmo/ophalen/" + fi.Name())
					if err != nil {
						errs.add("download %s %s: %v", a.Name, fi.Name(), err)
						continue
					}
					done[fi.Name()] = true
					fresh++
					downloaded.Add(1)
					dlBytes.Add(int64(len(data)))
					refs, err := loadgen.RefsInZip(data)
					if err != nil {
						errs.add("zip %s %s: %v", a.Name, fi.Name(), err)
					}
					for _, r := range refs {
						got[r]++
						if !want[r] {
							errs.add("%s kreeg bericht %s dat niet voor haar is", a.Name, r)
						} else if got[r] > 1 {
							errs.add("%s kreeg bericht %s %d keer", a.Name, r, got[r])
						}
					}
					received.Add(int64(len(refs)))
				}
				if fresh == 0 {
					time.Sleep(250 * time.Millisecond)
				}
			}
			if len(got) < len(want) {
				errs.add("%s: %d van %d berichten ontvangen", a.Name, len(got), len(want))
			}
		})
	}
	progressDone := make(chan struct{})
	go func() {
		for {
			select {
			case <-progressDone:
				return
			case <-time.After(5 * time.Second):
				fmt.Printf("  %5.0fs: %d/%d uploadsessies klaar, %d/%d berichten opgehaald\n", time.Since(start).Seconds(), uploadsDone.Load(), o.uploaders, received.Load(), total)
			}
		}
	}()
	wg.Wait()
	close(progressDone)
	elapsed := time.Since(start)
	close(sampleDone)
	<-samplerStopped
	after := usage()
	loadAfter := loadgen.LoadAverage()
	for i, n := range nodes {
		if err := n.stop(); err != nil {
			errs.add("server stoppen: %v", err)
		}
		keepLog(i, n, o.data)
		printConflicts(i, n)
	}

	lat, statuses, err := latencies(o.shared, o.data, setup)
	if err != nil {
		return err
	}
	cpu := after.CPU - before.CPU
	fmt.Printf("\nresultaat (%d uploadsessies x %d ZIPs x %d berichten, %d downloadsessies)\n", o.uploaders, o.zips, o.messages, o.downloaders)
	fmt.Printf("  duur: %.1fs (uploads klaar na %.1fs); %d afleverbestanden opgehaald (%.1f MB)\n", elapsed.Seconds(), time.Duration(uploadEnd.Load()).Seconds(), downloaded.Load(), float64(dlBytes.Load())/1e6)
	fmt.Printf("  aanleveringen: %v\n", statuses)
	if len(lat) > 0 {
		fmt.Printf("  close-of-upload tot Afgeleverd: p50 %v, p99 %v, max %v\n", pct(lat, 50), pct(lat, 99), lat[len(lat)-1])
	}
	var putTotal, putOpen []time.Duration
	for _, ps := range puts {
		for _, pt := range ps {
			putTotal = append(putTotal, pt.Total)
			putOpen = append(putOpen, pt.Open)
		}
	}
	slices.Sort(putTotal)
	slices.Sort(putOpen)
	if len(putTotal) > 0 {
		fmt.Printf("  client put (openen tot close beantwoord): p50 %v, p99 %v, max %v; waarvan openen (wachten op toelating): p50 %v, p99 %v\n",
			pct(putTotal, 50), pct(putTotal, 99), putTotal[len(putTotal)-1].Round(time.Millisecond), pct(putOpen, 50), pct(putOpen, 99))
	}
	slices.Sort(logins)
	if len(logins) > 0 {
		fmt.Printf("  inloggen (alle sessies tegelijk bij de start): p50 %v, p99 %v, max %v\n", pct(logins, 50), pct(logins, 99), logins[len(logins)-1].Round(time.Millisecond))
	}
	if len(nodes) > 1 {
		fmt.Printf("  %d knooppunten; RSS en CPU hieronder opgeteld\n", len(nodes))
	}
	fmt.Printf("  server: RSS piek %d MB (VmHWM %d MB), CPU %.1fs = %.2f kernen gemiddeld\n", peakRSS.Load()>>20, after.PeakRSS>>20, cpu.Seconds(), cpu.Seconds()/elapsed.Seconds())
	fmt.Printf("  load average (1 min): %s bij de start, %s aan het eind\n", loadBefore, loadAfter)
	fmt.Printf("  fouten: %d\n", errs.n())
	for _, e := range errs.first(20) {
		fmt.Println("   ", e)
	}
	if errs.n() > 0 || statuses[exchange.Afgeleverd] != o.uploaders*o.zips {
		return errors.New("niet alles verwerkt zonder fouten")
	}
	return nil
}

// latencies reads every upload of the run from the stopped server's store: the time from its
// receipt (the client's close) to its end.
func latencies(sh shared, dir string, setup *loadgen.Setup) ([]time.Duration, map[exchange.UploadStatus]int, error) {
	h, err := sh.openHub(dir)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	var out []time.Duration
	st := map[exchange.UploadStatus]int{}
	for _, g := range setup.Gemeenten {
		p, err := h.Authenticate(g.Name, g.Signer().PublicKey().Marshal(), "loadgen")
		if err != nil {
			return nil, nil, err
		}
		ups, _, err := h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{})
		if err != nil {
			return nil, nil, err
		}
		for _, u := range ups {
			if !strings.HasPrefix(u.Name, "last-") || u.AtDoor {
				continue // a refusal at the door never reached the engine; the client counted it as an error
			}
			st[u.Status]++
			if u.Status.Final() {
				out = append(out, u.FinishedAt.Sub(u.ReceivedAt))
			}
		}
	}
	slices.Sort(out)
	return out, st, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)].Round(time.Millisecond)
}

type errList struct {
	mu  sync.Mutex
	all []string
}

func (e *errList) add(f string, a ...any) {
	e.mu.Lock()
	e.all = append(e.all, fmt.Sprintf(f, a...))
	e.mu.Unlock()
}

func (e *errList) n() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

func (e *errList) first(n int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := append([]string(nil), e.all...)
	sort.Strings(s)
	return s[:min(n, len(s))]
}

// writeHeap saves a heap profile of this process (server and clients) at the end of the
// uploads, when the server's memory peaks.
func writeHeap(name string) {
	f, err := os.Create(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "heap-profiel:", err)
		return
	}
	defer f.Close()
	pprof.Lookup("heap").WriteTo(f, 0)
}

// source is session i's own loopback address: organisations connect from their own hosts.
func source(i int) net.IP { return net.IPv4(127, 1, byte(i/200), byte(i%200+1)) }

// keepLog writes node i's whole log next to the run's data, to read what a slow upload
// waited for.
func keepLog(i int, n *server, dir string) {
	if n.log == nil {
		return
	}
	name := filepath.Join(dir, fmt.Sprintf("knooppunt-%d.log", i+1))
	if err := os.WriteFile(name, []byte(n.log()), 0o600); err != nil {
		fmt.Printf("  knooppunt %d: log bewaren: %v\n", i+1, err)
	}
}

// printConflicts shows the serialization failures a node on PostgreSQL counted per caller
// (logged when it stops): where concurrent uploads collide.
func printConflicts(i int, n *server) {
	if n.log == nil {
		return
	}
	for _, line := range strings.Split(n.log(), "\n") {
		if strings.Contains(line, "transactieconflict") {
			fmt.Printf("  knooppunt %d: %s\n", i+1, line)
		}
	}
}
