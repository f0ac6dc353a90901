package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/loadgen"
)

// put is one upload as its client saw it.
type put struct {
	name  string
	envs  []loadgen.Envelope
	clean bool // the server confirmed the close: the upload is accepted
}

// TestKillNineAndRestart kills the hub with SIGKILL at random moments, alternately while
// clients upload and while it processes what they uploaded, KNOOPPUNT_KILLS times (3 unless
// set; scripts/killtest.sh runs 20). After the last restart: every upload whose client saw a
// clean close is recorded once and final, no upload is recorded that no client sent, and each
// envelope of a recorded upload is delivered exactly once or rejected exactly once.
func TestKillNineAndRestart(t *testing.T) {
	needBinary(t)
	kills := 3
	if v, err := strconv.Atoi(os.Getenv("KNOOPPUNT_KILLS")); err == nil && v > 0 {
		kills = v
	}
	dir := t.TempDir()
	setup, err := loadgen.Seed(dir, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var puts []put
	for round := range kills {
		srv := start(t, dir)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for gi, g := range setup.Gemeenten {
			wg.Go(func() {
				c, err := loadgen.Dial(srv.Addr, dir, g)
				if err != nil {
					return // killed before this client got in
				}
				defer c.Close()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := 20 + rand.IntN(800)
					if rand.IntN(8) == 0 {
						n = 3000 // a big one keeps the engine busy
					}
					envs := spread(n, setup.Aanbieders)
					for j := range envs {
						envs[j].Bad = rand.IntN(30) == 0
					}
					p := put{name: fmt.Sprintf("r%02d-g%d-%03d.zip", round, gi, i), envs: envs}
					err := c.Put("iwmo", p.name, loadgen.BuildZip(g.Org, envs, loadgen.Payload(600)))
					p.clean = err == nil
					mu.Lock()
					puts = append(puts, p)
					mu.Unlock()
					if err != nil {
						return // the connection died with the server
					}
				}
			})
		}
		phase := "uploads"
		if round%2 == 0 {
			time.Sleep(time.Duration(200+rand.IntN(2500)) * time.Millisecond)
		} else {
			phase = "verwerking"
			time.Sleep(time.Duration(300+rand.IntN(1500)) * time.Millisecond)
			close(stop)
			wg.Wait()
			time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		}
		srv.Kill()
		if phase == "uploads" {
			close(stop)
		}
		wg.Wait()
		t.Logf("kill %d tijdens %s: %d uploads gestuurd; vastgelegd: %s", round+1, phase, len(puts), statusCounts(t, dir, setup))
	}

	// The last restart: every clean upload gets its report over SFTP.
	srv := start(t, dir)
	clean := 0
	for _, p := range puts {
		if p.clean {
			clean++
		}
	}
	waitReports(t, srv, dir, setup, puts)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	st := finish(t, dir, setup)

	sent := map[string]put{}
	for _, p := range puts {
		sent[p.name] = p
	}
	for name := range st.uploads {
		if _, ok := sent[name]; !ok {
			t.Errorf("aanlevering %s vastgelegd die niemand stuurde", name)
		}
	}
	maybe, recorded := 0, 0
	for _, p := range puts {
		u, ok := st.uploads[p.name]
		if !ok {
			if p.clean {
				t.Errorf("%s: schoon gesloten maar niet vastgelegd", p.name)
			}
			continue
		}
		recorded++
		if !p.clean {
			maybe++
		}
		if u.Counts.Aangeleverd != len(p.envs) {
			t.Errorf("%s: %d berichten geteld, %d gestuurd (%s)", p.name, u.Counts.Aangeleverd, len(p.envs), u.Status)
		}
		for _, e := range p.envs {
			d, r := st.delivered[e.Ref], st.rejected[e.Ref]
			switch {
			case e.Bad && (r != 1 || d != 0):
				t.Errorf("%s: fout bericht %s %d keer afgekeurd, %d keer afgeleverd", p.name, e.Ref, r, d)
			case !e.Bad && (d != 1 || r != 0):
				t.Errorf("%s: bericht %s %d keer afgeleverd, %d keer afgekeurd", p.name, e.Ref, d, r)
			}
		}
	}
	t.Logf("%d kills, %d uploads gestuurd, %d schoon gesloten, %d vastgelegd (%d daarvan zonder bevestiging aan de client), %d berichten afgeleverd",
		kills, len(puts), clean, recorded, maybe, len(st.delivered))
}

// statusCounts tells how far the uploads got when the hub was killed, to show that the
// kills hit work in progress.
func statusCounts(t *testing.T, dir string, setup *loadgen.Setup) string {
	h, err := exchange.Open(exchange.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	n := map[exchange.UploadStatus]int{}
	for _, g := range setup.Gemeenten {
		p, err := h.Authenticate(g.Name, g.Signer().PublicKey().Marshal(), "faults-test")
		if err != nil {
			t.Fatal(err)
		}
		ups, _, err := h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups {
			n[u.Status]++
		}
	}
	return fmt.Sprint(n)
}

// waitReports waits until verslagen/ of each sender holds a report for each of its clean
// uploads.
func waitReports(t *testing.T, srv *loadgen.Server, dir string, setup *loadgen.Setup, puts []put) {
	t.Helper()
	end := time.Now().Add(5 * time.Minute)
	for gi, g := range setup.Gemeenten {
		c := dial(t, srv, dir, g)
		for {
			fis, err := c.SFTP.ReadDir("/iwmo/verslagen")
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, fi := range fis {
				if name, ok := strings.CutSuffix(fi.Name(), ".json"); ok && len(name) > 16 {
					have[name[16:]] = true // after YYYYMMDD_HHMMSS_
				}
			}
			missing := 0
			for _, p := range puts {
				if p.clean && strings.Contains(p.name, fmt.Sprintf("-g%d-", gi)) && !have[p.name] {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("%s: na 5 minuten nog %d verslagen niet klaar", g.Name, missing)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
