package sshserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/exchange/codes"
	"knooppunt/storage/backendtest"
)

func randomFile(t testing.TB, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	return writeFile(t, name, data), data
}

func sparseFile(t testing.TB, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// eventually polls cond until it holds; the deadline only guards against a hang.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTooLargeXMLIsRefused(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	f := sparseFile(t, "groot.xml", 30<<20)
	if lines, err := th.sftp(t, "gemeente", "put "+f+" /iwmo/aanleveren/groot.xml\n"); err == nil {
		t.Fatalf("30 MB .xml accepted: %q", lines)
	}
	if us := th.uploads(t, "gemeente", exchange.IWmo); len(us) != 1 || !us[0].AtDoor || us[0].Blob != "" || us[0].Fouten[0].Code != codes.IB003 {
		t.Fatalf("want only the refusal, recorded as Afgekeurd with IB003: %+v", us)
	}
	if ps := th.pending(t, "gemeente", exchange.IWmo); len(ps) != 0 {
		t.Fatalf("kept: %+v", ps)
	}
	assertAudited(t, th.hub, "gemeente", "aanleveren", "iwmo/aanleveren/groot.xml", "25 MB")
	// The same bytes as a .zip are within its limit; the refusal lost nothing else.
	if _, err := th.sftp(t, "gemeente", "put "+f+" /iwmo/aanleveren/groot.zip\n"); err != nil {
		t.Fatal(err)
	}
	if us := th.uploads(t, "gemeente", exchange.IWmo); len(us) != 2 || us[0].Name != "groot.zip" || us[0].Size != 30<<20 {
		t.Fatalf("uploads = %+v", us)
	}
	// A Go client (pkg/sftp, as in rclone) gets permission denied, which it shows without the
	// hub's sentence; the verslag of the refusal has it.
	c := goClient(t, th, "gemeente")
	w, err := c.Create("/iwmo/aanleveren/ook-groot.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.WriteAt([]byte("x"), 26<<20)
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("write past 25 MB: %v", err)
	}
	w.Close()
	eventually(t, "the refusal of ook-groot.xml recorded", func() bool {
		us := th.uploads(t, "gemeente", exchange.IWmo)
		return len(us) == 3 && us[0].Name == "ook-groot.xml" && strings.Contains(us[0].Fouten[0].Detail, "25 MB")
	})
}

func TestCutOffUploadIsNotRecordedAndResumes(t *testing.T) {
	backendtest.BadgerOnly(t, "it watches the spool in DIR/files/tmp")
	needOpenSSH(t)
	th := startHub(t)
	f, data := randomFile(t, "groot.zip", 8<<20)
	// -l limits the client to 8 Mbit/s, so the put is still running when it is killed.
	cmd := th.sftpCmd("gemeente", th.keys["gemeente"], "put "+f+" /iwmo/aanleveren/groot.zip\n", "-l", "8000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(th.dir, "files", "tmp", "aanleveren")
	eventually(t, "the upload to start", func() bool { return dirBytes(spool) > 256<<10 })
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()

	eventually(t, "the server to notice the cut", func() bool { return len(th.pending(t, "gemeente", exchange.IWmo)) == 1 })
	ps := th.pending(t, "gemeente", exchange.IWmo)
	if !ps[0].Partial || ps[0].Size >= int64(len(data)) {
		t.Fatalf("pending = %+v", ps)
	}
	if us := th.uploads(t, "gemeente", exchange.IWmo); len(us) != 0 {
		t.Fatalf("a cut-off upload was recorded: %+v", us)
	}
	// The audit entry follows the pending record (exchange's Spool.close stages, then audits):
	// wait for it as for the record, or a loaded machine sees the record first.
	eventually(t, "the cut-off in the audit log", func() bool {
		return audited(th.hub, "gemeente", "aanleveren", "iwmo/aanleveren/groot.zip", "onderbroken")
	})

	// reput continues where it stopped; then it is one whole upload.
	if _, err := th.sftp(t, "gemeente", "reput "+f+" /iwmo/aanleveren/groot.zip\n"); err != nil {
		t.Fatal(err)
	}
	us := th.uploads(t, "gemeente", exchange.IWmo)
	if len(us) != 1 || us[0].Size != int64(len(data)) {
		t.Fatalf("after reput: %+v", us)
	}
	if ps := th.pending(t, "gemeente", exchange.IWmo); len(ps) != 0 {
		t.Fatalf("pending after reput: %+v", ps)
	}
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func TestConnectionDroppedMidWriteIsNotRecorded(t *testing.T) {
	th := startHub(t)
	conn, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := goClientOn(t, th, "aanbieder", conn)
	w, err := c.Create("/ijw/aanleveren/half.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("<a/>"), 100_000)); err != nil {
		t.Fatal(err)
	}
	conn.Close() // no close of the file: the client vanished
	eventually(t, "the server to notice the cut", func() bool { return len(th.pending(t, "aanbieder", exchange.IJw)) == 1 })
	if us := th.uploads(t, "aanbieder", exchange.IJw); len(us) != 0 {
		t.Fatalf("recorded: %+v", us)
	}
}

func TestRenameFromFilepartAndSetstat(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	f, data := randomFile(t, "b.zip", 300<<10)
	lines, err := th.sftp(t, "aanbieder", strings.Join([]string{
		"cd /iwmo/aanleveren",
		"put -p " + f + " b.zip.filepart", // -p: setstat of times and mode after the put
		"chmod 600 b.zip.filepart",
		"ls -1",
		"rename b.zip.filepart b.zip",
		"ls -1",
	}, "\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lines, " ") != "b.zip.filepart" {
		t.Fatalf("listings = %q, want the .filepart before the rename and nothing after", lines)
	}
	us := th.uploads(t, "aanbieder", exchange.IWmo)
	if len(us) != 1 || us[0].Name != "b.zip" || us[0].Size != int64(len(data)) || us[0].Status != exchange.Ontvangen {
		t.Fatalf("uploads = %+v", us)
	}
	// put -p straight to a final name: the setstat after the close is ignored too.
	if _, err := th.sftp(t, "aanbieder", "put -p "+f+" /iwmo/aanleveren/c.zip\nchmod 644 /iwmo/aanleveren/c.zip\n"); err != nil {
		t.Fatal(err)
	}
	if us := th.uploads(t, "aanbieder", exchange.IWmo); len(us) != 2 {
		t.Fatalf("uploads = %+v", us)
	}
}

func TestDeletePendingAndDf(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	f, _ := randomFile(t, "x", 1000)
	lines, err := th.sftp(t, "cak", strings.Join([]string{
		"put " + f + " /ieb/aanleveren/.tijdelijk",
		"rm /ieb/aanleveren/.tijdelijk",
		"ls -1a /ieb/aanleveren",
		"df /ieb/aanleveren",
	}, "\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "Size") {
		t.Fatalf("output = %q", lines)
	}
	if ps := th.pending(t, "cak", exchange.IEb); len(ps) != 0 {
		t.Fatalf("pending = %+v", ps)
	}
}

func TestScpAndRcloneUpload(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	f, data := randomFile(t, "s.zip", 200<<10)
	args := append(th.sshOpts(th.keys["svb"]), "-P", th.port, f, "svb@127.0.0.1:/pgb-wmo/aanleveren/s.zip")
	if out, err := exec.Command("scp", args...).CombinedOutput(); err != nil {
		t.Fatalf("scp %q: %v %s", args, err, out)
	}
	if us := th.uploads(t, "svb", exchange.PGBWmo); len(us) != 1 || us[0].Size != int64(len(data)) {
		t.Fatalf("uploads after scp = %+v", us)
	}
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		t.Skip("rclone not installed")
	}
	remote := ":sftp,host=127.0.0.1,port=" + th.port + ",user=svb,key_file=" + th.keys["svb"] + ",disable_hashcheck=true:"
	out, err := exec.Command(rclone, "--config", "/dev/null", "copyto", f, remote+"/pgb-jw/aanleveren/r.zip").CombinedOutput()
	if err != nil {
		t.Fatalf("rclone: %v %s", err, out)
	}
	us := th.uploads(t, "svb", exchange.PGBJw)
	if len(us) != 1 || us[0].Name != "r.zip" || us[0].Size != int64(len(data)) {
		t.Fatalf("uploads after rclone = %+v", us)
	}
	if ps := th.pending(t, "svb", exchange.PGBJw); len(ps) != 0 {
		t.Fatalf("rclone left %+v", ps)
	}
	out, err = exec.Command(rclone, "--config", "/dev/null", "lsf", remote+"/").CombinedOutput()
	if err != nil || strings.Join(strings.Fields(string(out)), " ") != "pgb-jw/ pgb-wmo/" {
		t.Fatalf("rclone lsf: %v %q", err, out)
	}
}

func goClient(t testing.TB, th *testHub, account string) *sftp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	return goClientOn(t, th, account, conn)
}

func goClientOn(t testing.TB, th *testHub, account string, conn net.Conn) *sftp.Client {
	t.Helper()
	cfg := &gossh.ClientConfig{User: account, Auth: []gossh.AuthMethod{gossh.PublicKeys(demoSigner(t, th, account))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second}
	sc, chans, reqs, err := gossh.NewClientConn(conn, th.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := gossh.NewClient(sc, chans, reqs)
	c, err := sftp.NewClient(client, sftp.UseConcurrentWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); client.Close() })
	return c
}

func TestGoClient(t *testing.T) {
	th := startHub(t)
	c := goClient(t, th, "gemeente")
	if wd, err := c.Getwd(); err != nil || wd != "/" {
		t.Fatalf("Getwd = %q, %v", wd, err)
	}
	if rp, err := c.RealPath("iwmo/aanleveren/../ophalen"); err != nil || rp != "/iwmo/ophalen" {
		t.Fatalf("RealPath = %q, %v", rp, err)
	}
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	w, err := c.Create("/ijw/aanleveren/g.zip.part")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(data)); err != nil { // concurrent, out-of-order writes
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := c.Stat("/ijw/aanleveren/g.zip.part")
	if err != nil || fi.Size() != int64(len(data)) || !fi.Mode().IsRegular() {
		t.Fatalf("Stat staged = %v, %v", fi, err)
	}
	if err := c.PosixRename("/ijw/aanleveren/g.zip.part", "/ijw/aanleveren/g.zip"); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat("/ijw/aanleveren/g.zip"); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("Stat after the rename = %v, %v", fi, err)
	}
	if _, err := c.Stat("/ijw/aanleveren/bestaat-niet.zip"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat of a missing file = %v, want not-exist", err)
	}
	if err := c.Remove("/ijw/aanleveren/g.zip"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Remove of an accepted upload = %v, want permission denied", err)
	}
	for _, p := range []string{"/", "/iwmo", "/iwmo/aanleveren", "/iwmo/ophalen", "/iwmo/ophalen/nieuw", "/iwmo/verslagen"} {
		fi, err := c.Stat(p)
		if err != nil || !fi.IsDir() {
			t.Fatalf("Stat %s = %v, %v", p, fi, err)
		}
		if _, err := c.ReadDir(p); err != nil {
			t.Fatalf("ReadDir %s: %v", p, err)
		}
	}
	if _, err := c.Stat("/iwmo/ophalen/nieuw/x/y"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Stat deep = %v", err)
	}
	if err := c.Symlink("/iwmo/aanleveren", "/iwmo/aanleveren/link"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Symlink = %v", err)
	}
	if err := c.Link("/iwmo/aanleveren/a", "/iwmo/aanleveren/b"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Link = %v", err)
	}
	if err := c.Mkdir("/iwmo/aanleveren/map"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Mkdir = %v", err)
	}
	if err := c.Chtimes("/iwmo/aanleveren/x.zip", time.Now(), time.Now()); err != nil {
		t.Fatalf("Chtimes (ignored) = %v", err)
	}
	if err := c.Chmod("/etc/passwd", 0o777); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Chmod outside the tree = %v", err)
	}
	vfs, err := c.StatVFS("/iwmo/aanleveren")
	if err != nil || vfs.FreeSpace() == 0 {
		t.Fatalf("StatVFS = %+v, %v", vfs, err)
	}
	if _, err := c.Open("/iwmo/ophalen/niets.zip"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing delivery = %v", err)
	}
	if _, err := c.ReadDir("/pgb-wmo/aanleveren/../../../"); err != nil {
		t.Fatalf("ReadDir of an escape that cleans to / = %v", err)
	}
	if w, err := c.OpenFile("/iwmo/aanleveren/rw.xml", os.O_RDWR|os.O_CREATE|os.O_TRUNC); err != nil {
		t.Fatalf("open read-write (pkg/sftp's Create) = %v", err)
	} else {
		io.WriteString(w, "<x/>")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShutdownCutsOffUploadsCleanly(t *testing.T) {
	backendtest.BadgerOnly(t, "it reopens DIR with exchange.Open")
	th := startHub(t, func(s *hubSetup) { s.cfg.ShutdownGrace = 50 * time.Millisecond })
	c := goClient(t, th, "gemeente")
	w, err := c.Create("/iwmo/aanleveren/laat.zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// The server stops while the file is open: the session ends, the upload is kept as a
	// partial and never processed, and the store closes after the session has let go.
	th.stop()
	h, err := exchange.Open(exchange.Config{DataDir: th.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a, _ := h.Account("gemeente")
	o, _ := h.Org("9999")
	p := &exchange.Principal{Account: a, Org: o}
	ps, err := h.Pending(p, exchange.IWmo)
	if err != nil || len(ps) != 1 || !ps[0].Partial || ps[0].Size != 1<<20 {
		t.Fatalf("pending after shutdown = %+v, %v", ps, err)
	}
	if us, _, _ := h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{}); len(us) != 0 {
		t.Fatalf("recorded: %+v", us)
	}
}
