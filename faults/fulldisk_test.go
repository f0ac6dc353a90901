package faults

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"knooppunt/loadgen"
)

// TestFullDisk runs the hub on a 64 MB tmpfs and fills it. Uploads are refused with a clear
// error (at the start and in the middle of a transfer) and leave nothing behind; an upload
// accepted just before the disk filled waits for space instead of being lost; once space
// returns, it is delivered and new uploads work again.
func TestFullDisk(t *testing.T) {
	needBinary(t)
	mnt := mountTmpfs(t, "64m")
	dir := filepath.Join(mnt, "data")
	setup, err := loadgen.Seed(dir, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	const reserve = 8 << 20 // an eighth of 64 MB, see storage.OpenDisk
	free := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	filler := filepath.Join(mnt, "filler")
	fill := func(leave int64) {
		t.Helper()
		cur := int64(0)
		if st, err := os.Stat(filler); err == nil {
			cur = st.Size()
		}
		size := max(cur+free()-leave, 0)
		f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		// tmpfs allocates on write, not on truncate.
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			t.Fatal(err)
		}
	}
	gem := setup.Gemeenten[0]
	srv := start(t, dir)
	defer srv.Stop()
	c := dial(t, srv, dir, gem)
	aanb := []*loadgen.Client{dial(t, srv, dir, setup.Aanbieders[0]), dial(t, srv, dir, setup.Aanbieders[1])}
	sent := map[string][]loadgen.Envelope{}
	upload := func(name string, envs []loadgen.Envelope, payload []byte) error {
		err := c.Put("iwmo", name, loadgen.BuildZip(gem.Org, envs, payload))
		if err == nil {
			sent[name] = envs
		}
		return err
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: aangenomen op een volle schijf", what)
		}
		if !strings.Contains(err.Error(), "vol") {
			t.Fatalf("%s: fout zegt niet dat de opslag vol is: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
		fis, err := c.SFTP.ReadDir("/iwmo/aanleveren")
		if err != nil {
			t.Fatal(err)
		}
		if len(fis) != 0 {
			t.Fatalf("%s: %d bestanden blijven achter in aanleveren/", what, len(fis))
		}
	}

	if err := upload("voor.zip", spread(20, setup.Aanbieders), loadgen.Payload(1000)); err != nil {
		t.Fatal(err)
	}
	waitInbox(t, aanb[0], 1)
	waitInbox(t, aanb[1], 1)

	// Full: refused at the open.
	fill(reserve - 1<<20)
	refused("upload op een volle schijf", upload("vol.zip", spread(20, setup.Aanbieders), loadgen.Payload(1000)))

	// Room for 2 MB: a 6 MB upload is refused in the middle of the transfer.
	fill(reserve + 2<<20)
	noise := make([]byte, 60<<10)
	rand.Read(noise)
	refused("upload die de schijf vult", upload("groot.zip", spread(100, setup.Aanbieders), noise))

	// Room for a small upload but not for its delivery files: accepted, then it waits.
	fill(reserve + 40<<10)
	if err := upload("net.zip", spread(40, setup.Aanbieders), loadgen.Payload(1000)); err != nil {
		t.Fatalf("kleine upload vlak voor vol: %v", err)
	}
	if !srv.WaitLog("later opnieuw", 30*time.Second) {
		t.Fatalf("verwerking liep niet tegen de volle schijf aan:\n%s", srv.Log())
	}
	if _, err := aanb[0].Get("/iwmo/ophalen/" + waitInbox(t, aanb[0], 1)[0]); err != nil {
		t.Fatalf("eerder afgeleverd bestand niet meer op te halen: %v", err)
	}

	// Space returns: the waiting upload is delivered and new ones are taken again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := upload("na.zip", spread(20, setup.Aanbieders), loadgen.Payload(1000)); err != nil {
		t.Fatalf("upload nadat er weer ruimte is: %v", err)
	}
	waitInbox(t, aanb[0], 3)
	waitInbox(t, aanb[1], 3)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	st := finish(t, dir, setup)
	if len(st.uploads) != len(sent) {
		t.Errorf("%d aanleveringen vastgelegd, %d aangenomen", len(st.uploads), len(sent))
	}
	for name, envs := range sent {
		if u := st.uploads[name]; u.Counts.Correct != len(envs) {
			t.Errorf("%s: %+v (%s)", name, u.Counts, u.Status)
		}
		for _, e := range envs {
			if st.delivered[e.Ref] != 1 {
				t.Errorf("%s: bericht %s %d keer afgeleverd", name, e.Ref, st.delivered[e.Ref])
			}
		}
	}
}
