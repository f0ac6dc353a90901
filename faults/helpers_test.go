package faults

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/loadgen"
)

var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "knooppunt-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if bin, err = loadgen.Build("..", dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needBinary(t *testing.T) {
	t.Helper()
	if bin == "" {
		t.Skip("drives the real binary; not with -short")
	}
}

func start(t *testing.T, dir string, flags ...string) *loadgen.Server {
	t.Helper()
	s, err := loadgen.Start(bin, dir, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, s *loadgen.Server, dir string, a loadgen.Account) *loadgen.Client {
	t.Helper()
	c, err := loadgen.Dial(s.Addr, dir, a)
	if err != nil {
		t.Fatalf("inloggen als %s: %v", a.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// spread makes n good envelopes for the recipients in turn.
func spread(n int, to []loadgen.Account) []loadgen.Envelope {
	out := make([]loadgen.Envelope, n)
	for i := range out {
		out[i] = loadgen.Envelope{Ref: loadgen.NewRef(), Ontvanger: to[i%len(to)].Org}
	}
	return out
}

// waitInbox waits until a's ophalen/ holds n files and returns their names.
func waitInbox(t *testing.T, c *loadgen.Client, n int) []string {
	t.Helper()
	end := time.Now().Add(60 * time.Second)
	for {
		fis, err := c.SFTP.ReadDir("/iwmo/ophalen")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, fi := range fis {
			if !fi.IsDir() {
				names = append(names, fi.Name())
			}
		}
		if len(names) >= n {
			return names
		}
		if time.Now().After(end) {
			t.Fatalf("ophalen/ heeft na een minuut %d bestanden, verwacht %d", len(names), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hubState opens the stopped server's data directory, lets the engine finish every upload
// that is not final yet, and returns the uploads of the senders and the referentienummers
// found in the recipients' ophalen/.
type hubState struct {
	uploads   map[string]exchange.Upload // by file name
	delivered map[string]int             // referentienummer -> times in a delivery ZIP
	rejected  map[string]int             // referentienummer -> times in a report's fouten
}

func finish(t *testing.T, dir string, setup *loadgen.Setup) hubState {
	t.Helper()
	h, err := exchange.Open(exchange.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	login := func(a loadgen.Account) *exchange.Principal {
		p, err := h.Authenticate(a.Name, a.Signer().PublicKey().Marshal(), "faults-test")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	st := hubState{uploads: map[string]exchange.Upload{}, delivered: map[string]int{}, rejected: map[string]int{}}
	end := time.Now().Add(5 * time.Minute)
	for _, g := range setup.Gemeenten {
		p := login(g)
		for {
			ups, _, err := h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			open := 0
			for _, u := range ups {
				if !u.Status.Final() {
					open++
				}
			}
			if open == 0 {
				for _, u := range ups {
					if u.AtDoor {
						continue // refused before the engine (hub busy): the client saw the refusal and retried
					}
					if _, dup := st.uploads[u.Name]; dup {
						t.Errorf("aanlevering %s is twee keer vastgelegd", u.Name)
					}
					st.uploads[u.Name] = u
				}
				// The upload record keeps the first 100 fouten; the report has them all.
				reps, err := h.Reports(context.Background(), p, exchange.IWmo)
				if err != nil {
					t.Fatal(err)
				}
				for _, rf := range reps {
					if !strings.HasSuffix(rf.Name, ".json") {
						continue
					}
					_, js, err := h.OpenReport(context.Background(), p, exchange.IWmo, rf.Name)
					if err != nil {
						t.Fatal(err)
					}
					var r struct {
						Fouten []exchange.Fout `json:"fouten"`
					}
					if err := json.Unmarshal(js, &r); err != nil {
						t.Fatal(err)
					}
					for _, f := range r.Fouten {
						st.rejected[strings.TrimSuffix(f.Bestand, ".xml")]++
					}
				}
				break
			}
			if time.Now().After(end) {
				t.Fatalf("%d aanleveringen van %s na 5 minuten niet klaar", open, g.Org)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, a := range setup.Aanbieders {
		p := login(a)
		ds, _, err := h.Inbox(context.Background(), p, exchange.IWmo, exchange.InboxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			r, _, err := h.OpenDelivery(p, exchange.IWmo, d.Name)
			if err != nil {
				t.Fatalf("%s: %v", d.Name, err)
			}
			data := make([]byte, r.Size())
			_, err = r.ReadAt(data, 0)
			r.Close()
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			refs, err := loadgen.RefsInZip(data)
			if err != nil {
				t.Fatalf("%s: %v", d.Name, err)
			}
			for _, ref := range refs {
				st.delivered[ref]++
			}
		}
	}
	return st
}

func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := execCommand("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir); err != nil {
		t.Skipf("kan hier geen tmpfs aankoppelen (%v: %s)", err, out)
	}
	t.Cleanup(func() { execCommand("umount", "-l", dir) })
	return dir
}

func execCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
