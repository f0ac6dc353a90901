package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/loadgen"
)

// shown is what the doors show of one upload and what came of it: the aanlevering, its
// verslag, its berichtenlog entries and the bytes of its files in ophalen/.
type shown struct {
	upload  exchange.Upload
	verslag map[string][]byte // verslag file name -> content
	log     []string          // per berichtenlog entry: org, referentie, functie, zender→ontvanger, status
	ophalen map[string][]byte // "org/name" -> bytes
}

// showAll reads a stopped store as its organisations see it, per upload id.
func showAll(t *testing.T, dir string, setup *loadgen.Setup) map[uint64]*shown {
	t.Helper()
	h, err := exchange.Open(exchange.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	out := map[uint64]*shown{}
	get := func(id uint64) *shown {
		if out[id] == nil {
			out[id] = &shown{verslag: map[string][]byte{}, ophalen: map[string][]byte{}}
		}
		return out[id]
	}
	all := append(slices.Clone(setup.Gemeenten), setup.Aanbieders...)
	for _, a := range all {
		p, err := h.Authenticate(a.Name, a.Signer().PublicKey().Marshal(), "test")
		if err != nil {
			t.Fatal(err)
		}
		ups, _, err := h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups {
			full, err := h.Upload(p, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			get(u.ID).upload = full
		}
		reps, err := h.Reports(context.Background(), p, exchange.IWmo)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			_, b, err := h.OpenReport(context.Background(), p, exchange.IWmo, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			get(r.UploadID).verslag[r.Name] = b
		}
		ms, _, err := h.Messages(context.Background(), p, exchange.IWmo, exchange.MessageFilter{Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			s := get(m.UploadID)
			s.log = append(s.log, fmt.Sprintf("%s %s %s %s→%s %s", a.Org, m.Referentie, m.Functie, m.Zender, m.Ontvanger, m.Status))
		}
		ds, _, err := h.Inbox(context.Background(), p, exchange.IWmo, exchange.InboxOptions{Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			r, _, err := h.OpenDelivery(p, exchange.IWmo, d.Name)
			if err != nil {
				t.Fatalf("%s: %v", d.Name, err)
			}
			b := make([]byte, r.Size())
			if _, err := r.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			r.Close()
			get(d.UploadID).ophalen[a.Org+"/"+d.Name] = b
		}
	}
	for _, s := range out {
		slices.Sort(s.log)
	}
	return out
}

// TestBackupDuringUploadsRestoresTheMoment backs up a running hub over SSH while OpenSSH
// sftp clients upload, restores the backup into a fresh directory with the real binary,
// starts a hub on it and compares what it shows with what the original showed for the
// uploads in the backup: the aanleveringen, their verslagen, the berichtenlog and the bytes
// in ophalen/. An upload that was final at the backup's moment must be identical in every
// byte; one still in the queue must come out the same once the restored hub has processed it
// (only the times of its processing differ). Then a damaged and a cut-off backup are refused
// with the name of the part.
func TestBackupDuringUploadsRestoresTheMoment(t *testing.T) {
	needBinary(t)
	needOpenSSH(t)
	dir, keys := t.TempDir(), t.TempDir()
	setup, beheerKey := seedWithBeheerder(t, dir, keys, 2, 3)
	srv := start(t, dir)
	defer srv.Kill()

	// Uploads in the background: each gemeente puts ZIPs with OpenSSH sftp, batch after batch.
	files := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var puts atomic.Int64
	for gi, g := range setup.Gemeenten {
		key := keyFile(t, keys, g)
		wg.Go(func() {
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				var batch strings.Builder
				for i := range 3 {
					name := fmt.Sprintf("g%d-b%03d-%d.zip", gi, b, i)
					p := filepath.Join(files, name)
					os.WriteFile(p, loadgen.BuildZip(g.Org, spread(50+i*100, setup.Aanbieders), loadgen.Payload(800)), 0o600)
					fmt.Fprintf(&batch, "put %s /iwmo/aanleveren/%s\n", p, name)
				}
				if out, err := sftpBatch(t, srv.Addr, key, g.Name, batch.String()).CombinedOutput(); err != nil {
					t.Errorf("sftp %s: %v\n%s", g.Name, err, out)
					return
				}
				puts.Add(3)
			}
		})
	}
	for puts.Load() < 6 {
		time.Sleep(50 * time.Millisecond)
	}
	tarFile := filepath.Join(t.TempDir(), "hub.tar")
	f, err := os.Create(tarFile)
	if err != nil {
		t.Fatal(err)
	}
	ssh := exec.Command("ssh", append(opensshArgs(beheerKey), "-p", portOf(t, srv.Addr), "beheer@127.0.0.1", "backup")...)
	ssh.Stdout = f
	var sshErr bytes.Buffer
	ssh.Stderr = &sshErr
	began := time.Now()
	err = ssh.Run()
	f.Close()
	if err != nil {
		t.Fatalf("ssh beheer@hub backup: %v\n%s", err, sshErr.String())
	}
	t.Logf("backup over ssh in %s tijdens %d uploads: %s", time.Since(began).Round(time.Millisecond), puts.Load(), strings.TrimSpace(sshErr.String()))
	time.Sleep(500 * time.Millisecond) // some uploads after the moment too
	close(stop)
	wg.Wait()
	waitAllFinal(t, srv, dir, setup)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	orig := showAll(t, dir, setup)

	// Restore with the binary: it checks every part and prints audit verify and the
	// integrity check.
	newDir := filepath.Join(t.TempDir(), "terug")
	out, err := exec.Command(bin, "restore", "--from", tarFile, "--data", newDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "auditkop gelijk aan die van de backup") ||
		!strings.Contains(string(out), " 0 beschadigd of ontbrekend") || !strings.Contains(string(out), "auditlog intact") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("restore:\n%s", out)
	// The moment: what the restored records hold before a hub runs on them.
	atBackup := showAll(t, newDir, setup)
	if len(atBackup) == 0 {
		t.Fatal("the backup holds no uploads")
	}
	// A hub on the restored directory finishes what was in the queue at the moment.
	srv2 := start(t, newDir)
	defer srv2.Kill()
	waitAllFinal(t, srv2, newDir, setup)
	if err := srv2.Stop(); err != nil {
		t.Fatal(err)
	}
	restored := showAll(t, newDir, setup)

	final, queued := 0, 0
	for id, then := range atBackup {
		o, r := orig[id], restored[id]
		if o == nil || r == nil {
			t.Fatalf("upload %d: in the original %v, in the restore %v", id, o != nil, r != nil)
		}
		if then.upload.Status.Final() {
			final++
			// Final at the moment: every byte the doors show is the same.
			if fmt.Sprint(o.upload) != fmt.Sprint(r.upload) {
				t.Errorf("upload %d:\noriginal %+v\nrestored %+v", id, o.upload, r.upload)
			}
			if !equalBytes(o.verslag, r.verslag) || !equalBytes(o.ophalen, r.ophalen) {
				t.Errorf("upload %d (%s): verslag or ophalen differ", id, o.upload.Name)
			}
		} else {
			queued++
			ou, ru := o.upload, r.upload
			if ou.Name != ru.Name || ou.Status != ru.Status || ou.Counts != ru.Counts || fmt.Sprint(ou.Fouten) != fmt.Sprint(ru.Fouten) || ou.ReceivedAt != ru.ReceivedAt {
				t.Errorf("queued upload %d:\noriginal %+v\nrestored %+v", id, ou, ru)
			}
			if len(o.verslag) != len(r.verslag) || len(o.ophalen) != len(r.ophalen) || !sameContent(o.ophalen, r.ophalen) {
				t.Errorf("queued upload %d (%s): %d/%d verslagen, %d/%d files in ophalen, same bytes %v", id, ou.Name,
					len(o.verslag), len(r.verslag), len(o.ophalen), len(r.ophalen), sameContent(o.ophalen, r.ophalen))
			}
		}
		if !slices.Equal(o.log, r.log) {
			t.Errorf("upload %d: berichtenlog differs: %d entries original, %d restored", id, len(o.log), len(r.log))
		}
	}
	after := len(orig) - len(atBackup)
	t.Logf("%d uploads in total; in the backup %d final and %d still in the queue; %d came after the moment", len(orig), final, queued, after)

	// Damage: a flipped byte in a delivery file, and the file cut off, are refused by name.
	good, err := os.ReadFile(tarFile)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(good, []byte("files/dlv/"))
	if i < 0 {
		t.Fatal("no delivery file in the backup")
	}
	part := string(good[i : i+bytes.IndexByte(good[i:], 0)])
	bad := bytes.Clone(good)
	bad[i-i%512+512+100] ^= 0x01 // inside the part's content
	for _, c := range []struct {
		what string
		data []byte
		want []string
	}{
		{"flipped byte", bad, []string{part, "beschadigd"}},
		{"cut off", good[:len(good)*2/3], []string{"afgekapt"}},
	} {
		p := filepath.Join(t.TempDir(), "x.tar")
		os.WriteFile(p, c.data, 0o600)
		target := filepath.Join(t.TempDir(), "x")
		out, err := exec.Command(bin, "restore", "--from", p, "--data", target).CombinedOutput()
		if err == nil {
			t.Errorf("%s: restore accepted it:\n%s", c.what, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: %q missing in:\n%s", c.what, w, out)
			}
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("%s: a refused restore left %s", c.what, target)
		}
	}
	// Never over a directory with something in it.
	if out, err := exec.Command(bin, "restore", "--from", tarFile, "--data", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "niet leeg") {
		t.Errorf("restore into the original directory: %v\n%s", err, out)
	}
}

func equalBytes(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// sameContent compares the files of two maps by content, whatever their names.
func sameContent(a, b map[string][]byte) bool {
	var x, y []string
	for _, v := range a {
		x = append(x, string(v))
	}
	for _, v := range b {
		y = append(y, string(v))
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// waitAllFinal waits until every upload of every gemeente is Afgeleverd or Afgekeurd, asking
// the running server over SFTP: each final upload has its verslag.
func waitAllFinal(t *testing.T, srv *loadgen.Server, dir string, setup *loadgen.Setup) {
	t.Helper()
	end := time.Now().Add(3 * time.Minute)
	for _, g := range setup.Gemeenten {
		c := dial(t, srv, dir, g)
		for {
			ups, err := c.SFTP.ReadDir("/iwmo/verslagen")
			if err != nil {
				t.Fatal(err)
			}
			reports := 0
			for _, fi := range ups {
				if strings.HasSuffix(fi.Name(), ".json") {
					reports++
				}
			}
			// The server's own count of uploads, through the command door.
			sess, err := c.SSH.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			o, _ := sess.Output("aanleveringen --json --aantal 100000")
			sess.Close()
			n := strings.Count(string(o), `"bestandsnaam"`)
			if reports == n {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("%s: %d aanleveringen, %d verslagen na 3 minuten", g.Name, n, reports)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
