package sshserver

// Round trips with the clients sysadmins and cron jobs use: gemeente 9999 uploads a WMO301
// ZIP, the engine delivers it, aanbieder 12345678 fetches it from ophalen/nieuw/, and the
// verslag asked over ssh with --json says Afgeleverd. Each test skips when its client is not
// installed; .ci/run installs them all.

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/codes"
	"knooppunt/hostkeys"
	"knooppunt/sshserver/opdrachten"
)

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// client runs an external client; the deadline only guards against a hang.
func client(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// delivered checks the sender's side of a round trip: the verslag of upload name, asked over
// ssh with --json, says Afgeleverd with every message correct. It returns the file the
// aanbieder now finds new in ophalen/.
func (th *testHub) delivered(t testing.TB, name string, messages int) exchange.Delivery {
	t.Helper()
	u := th.awaitUpload(t, name)
	var v exchange.Verslag
	th.runJSON(t, "gemeente", &v, "verslag", name)
	if v.ID != u.ID || v.Status != "Afgeleverd" || v.Aangeleverd != messages || v.Correct != messages || v.Incorrect != 0 {
		t.Fatalf("verslag of %s = %+v", name, v)
	}
	var found []exchange.Delivery
	for _, d := range th.inbox(t, "aanbieder", exchange.IWmo, true) {
		if d.UploadID == u.ID {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("new deliveries of upload %d: %+v", u.ID, found)
	}
	return found[0]
}

// fetched checks the recipient's side: got is the delivery byte for byte, a ZIP of the
// messages, and reading it marked it gelezen, so it left ophalen/nieuw/.
func (th *testHub) fetched(t testing.TB, d exchange.Delivery, got []byte, messages int) {
	t.Helper()
	r, _, err := th.hub.OpenDelivery(th.principal(t, "aanbieder"), exchange.IWmo, d.Name)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fetched %d bytes of %s, the delivery has %d and differs", len(got), d.Name, len(want))
	}
	zr, err := zip.NewReader(bytes.NewReader(got), int64(len(got)))
	if err != nil || len(zr.File) != messages {
		t.Fatalf("delivery %s is not a ZIP of %d messages: %v", d.Name, messages, err)
	}
	eventually(t, d.Name+" marked gelezen", func() bool {
		return !slices.ContainsFunc(th.inbox(t, "aanbieder", exchange.IWmo, true), func(x exchange.Delivery) bool { return x.ID == d.ID })
	})
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func filesIn(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestClientOpenSSHSftpBatch(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	f, _ := wmo301Zip(t, "sftp.zip", 2)
	whole := readFile(t, f)
	half := writeFile(t, "half", whole[:len(whole)/2])
	// A put cut short under the temporary name, continued with reput, renamed when whole.
	lines, err := th.sftp(t, "gemeente", strings.Join([]string{
		"cd /iwmo/aanleveren",
		"put -p " + half + " sftp.zip.filepart",
		"reput -p " + f + " sftp.zip.filepart",
		"ls -l",
		"rename sftp.zip.filepart sftp.zip",
		"df -h /iwmo/aanleveren",
	}, "\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(lines, "\n")
	if !strings.Contains(out, fmt.Sprintf(" %d ", len(whole))) || !strings.Contains(out, "sftp.zip.filepart") || !strings.Contains(out, "Avail") {
		t.Fatalf("sftp output:\n%s", out)
	}
	d := th.delivered(t, "sftp.zip", 2)

	local := t.TempDir()
	lines, err = th.sftp(t, "aanbieder", "ls -l /iwmo/ophalen/nieuw\nget -p /iwmo/ophalen/nieuw/"+d.Name+" "+local+"/\nls -1 /iwmo/ophalen/nieuw\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], d.Name) || !strings.Contains(lines[0], fmt.Sprint(d.Size)) {
		t.Fatalf("listing before and after the get: %q", lines)
	}
	th.fetched(t, d, readFile(t, filepath.Join(local, d.Name)), 2)
}

func TestClientScp(t *testing.T) {
	needOpenSSH(t)
	scp := needTool(t, "scp")
	th := startHub(t, withEngine)
	f, _ := wmo301Zip(t, "scp.zip", 1)
	// -s: the SFTP protocol, the default since OpenSSH 9.0; the old scp protocol needs a shell.
	client(t, scp, append(th.sshOpts(th.keys["gemeente"]), "-s", "-P", th.port, f, "gemeente@127.0.0.1:/iwmo/aanleveren/scp.zip")...)
	d := th.delivered(t, "scp.zip", 1)
	local := filepath.Join(t.TempDir(), "in.zip")
	client(t, scp, append(th.sshOpts(th.keys["aanbieder"]), "-s", "-P", th.port, "aanbieder@127.0.0.1:/iwmo/ophalen/nieuw/"+d.Name, local)...)
	th.fetched(t, d, readFile(t, local), 1)
}

// rcloneRemote is an sftp remote on the command line, without a config file.
func (th *testHub) rcloneRemote(account string) string {
	// Hash checks run md5sum over ssh, a command the hub does not have.
	return ":sftp,host=127.0.0.1,port=" + th.port + ",user=" + account + ",key_file=" + th.keys[account] + ",disable_hashcheck=true:"
}

func TestClientRclone(t *testing.T) {
	rclone := needTool(t, "rclone")
	th := startHub(t, withEngine)
	rc := func(args ...string) string {
		return client(t, rclone, append([]string{"--config", "/dev/null", "-q"}, args...)...)
	}
	gemeente, aanbieder := th.rcloneRemote("gemeente"), th.rcloneRemote("aanbieder")

	// Upload a folder with copy; with move the local copies go once they are on the hub.
	out := t.TempDir()
	f, _ := wmo301Zip(t, "copy.zip", 2)
	os.Rename(f, filepath.Join(out, "copy.zip"))
	rc("copy", out, gemeente+"/iwmo/aanleveren")
	d1 := th.delivered(t, "copy.zip", 2)
	out2 := t.TempDir()
	f, _ = wmo301Zip(t, "move.zip", 1)
	os.Rename(f, filepath.Join(out2, "move.zip"))
	rc("move", out2, gemeente+"/iwmo/aanleveren")
	if left := filesIn(t, out2); len(left) != 0 {
		t.Fatalf("rclone move left %q", left)
	}
	d2 := th.delivered(t, "move.zip", 1)

	// A cron job copying ophalen/nieuw gets each file once.
	in := t.TempDir()
	rc("copy", aanbieder+"/iwmo/ophalen/nieuw", in)
	if got := filesIn(t, in); len(got) != 2 {
		t.Fatalf("first copy fetched %q", got)
	}
	th.fetched(t, d1, readFile(t, filepath.Join(in, d1.Name)), 2)
	th.fetched(t, d2, readFile(t, filepath.Join(in, d2.Name)), 1)
	again := t.TempDir()
	rc("copy", aanbieder+"/iwmo/ophalen/nieuw", again)
	if got := filesIn(t, again); len(got) != 0 {
		t.Fatalf("second copy fetched %q again", got)
	}

	// sync mirrors nieuw/: only what is new now.
	f, _ = wmo301Zip(t, "sync.zip", 1)
	rc("copyto", f, gemeente+"/iwmo/aanleveren/sync.zip")
	d3 := th.delivered(t, "sync.zip", 1)
	synced := t.TempDir()
	rc("sync", aanbieder+"/iwmo/ophalen/nieuw", synced)
	if got := filesIn(t, synced); !slices.Equal(got, []string{d3.Name}) {
		t.Fatalf("sync fetched %q, want %s", got, d3.Name)
	}
	th.fetched(t, d3, readFile(t, filepath.Join(synced, d3.Name)), 1)

	// move from nieuw/ fetches and deletes: the file leaves ophalen/, the berichtenlog keeps it.
	f, _ = wmo301Zip(t, "weg.zip", 1)
	rc("copyto", f, gemeente+"/iwmo/aanleveren/weg.zip")
	d4 := th.delivered(t, "weg.zip", 1)
	moved := t.TempDir()
	rc("move", aanbieder+"/iwmo/ophalen/nieuw", moved)
	if got := filesIn(t, moved); !slices.Equal(got, []string{d4.Name}) {
		t.Fatalf("move fetched %q, want %s", got, d4.Name)
	}
	if slices.ContainsFunc(th.inbox(t, "aanbieder", exchange.IWmo, false), func(x exchange.Delivery) bool { return x.ID == d4.ID }) {
		t.Fatal("rclone move left the file in ophalen/")
	}
	var msgs []opdrachten.MessageJSON
	th.runJSON(t, "aanbieder", &msgs, "berichtenlog", "--status", "verwijderd")
	if len(msgs) != 1 || msgs[0].Aanlevering != d4.UploadID {
		t.Fatalf("berichtenlog after rclone move = %+v", msgs)
	}
}

func TestClientLftp(t *testing.T) {
	needOpenSSH(t)
	lftp := needTool(t, "lftp")
	th := startHub(t, withEngine)
	run := func(account, script string) string {
		// lftp speaks SFTP through the ssh binary; connect-program carries the key and options.
		connect := "ssh -a -x " + strings.Join(th.sshOpts(th.keys[account]), " ")
		return client(t, lftp, "-c", fmt.Sprintf("set sftp:connect-program %q; set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; "+
			"open -u %s, -p %s sftp://127.0.0.1; %s", connect, account, th.port, script))
	}

	f, _ := wmo301Zip(t, "put.zip", 1)
	run("gemeente", "put "+f+" -o /iwmo/aanleveren/put.zip")
	d1 := th.delivered(t, "put.zip", 1)
	out := t.TempDir()
	f, _ = wmo301Zip(t, "mirror.zip", 2)
	os.Rename(f, filepath.Join(out, "mirror.zip"))
	run("gemeente", "mirror -R --no-perms "+out+" /iwmo/aanleveren")
	d2 := th.delivered(t, "mirror.zip", 2)

	in := t.TempDir()
	// lftp exits without waiting for the answer to its last close; a round trip after the
	// mirror lets that close arrive, so the last file counts as read (else it stays new and
	// comes again next time: fetched twice, never lost).
	run("aanbieder", "mirror /iwmo/ophalen/nieuw "+in+"; cls /iwmo")
	if got := filesIn(t, in); len(got) != 2 {
		t.Fatalf("mirror fetched %q", got)
	}
	th.fetched(t, d1, readFile(t, filepath.Join(in, d1.Name)), 1)
	th.fetched(t, d2, readFile(t, filepath.Join(in, d2.Name)), 2)
	again := t.TempDir()
	run("aanbieder", "mirror /iwmo/ophalen/nieuw "+again)
	if got := filesIn(t, again); len(got) != 0 {
		t.Fatalf("second mirror fetched %q again", got)
	}
}

func TestClientCurl(t *testing.T) {
	curl := needTool(t, "curl")
	if out, _ := exec.Command(curl, "-V").Output(); !strings.Contains(string(out), "sftp") {
		t.Skip("curl without sftp")
	}
	// Default options: curl on Debian 12 (libssh2 1.10) connects without any opt-in.
	th := startHub(t, withEngine)
	keys, err := hostkeys.Read(th.dir)
	if err != nil {
		t.Fatal(err)
	}
	// --hostpubsha256 pins the host key: the ed25519 fingerprint of 'knooppunt hostkeys'.
	pin := strings.TrimPrefix(keys[0].Fingerprint(), "SHA256:")
	opts := func(account string) []string {
		return []string{"-sS", "--fail", "--hostpubsha256", pin, "--key", th.keys[account], "--pubkey", th.keys[account] + ".pub"}
	}
	url := func(account, path string) string { return "sftp://" + account + "@127.0.0.1:" + th.port + path }

	f, _ := wmo301Zip(t, "curl.zip", 2)
	client(t, curl, append(opts("gemeente"), "-T", f, url("gemeente", "/iwmo/aanleveren/curl.zip"))...)
	d := th.delivered(t, "curl.zip", 2)
	if list := client(t, curl, append(opts("aanbieder"), "-l", url("aanbieder", "/iwmo/ophalen/nieuw/"))...); !strings.Contains(list, d.Name) {
		t.Fatalf("curl listing of nieuw/ = %q", list)
	}
	local := filepath.Join(t.TempDir(), "in.zip")
	client(t, curl, append(opts("aanbieder"), "-o", local, url("aanbieder", "/iwmo/ophalen/nieuw/"+d.Name))...)
	th.fetched(t, d, readFile(t, local), 2)

	// With --strict-crypto only etm and AEAD are offered, which libssh2 before 1.11 lacks.
	strict := startHub(t, func(s *hubSetup) { s.cfg.StrictCrypto = true })
	cmd := exec.Command(curl, "-sS", "-k", "--key", strict.keys["gemeente"], "--pubkey", strict.keys["gemeente"]+".pub", "sftp://gemeente@127.0.0.1:"+strict.port+"/")
	if ver, _ := exec.Command(curl, "-V").Output(); strings.Contains(string(ver), "libssh2/1.10") {
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("libssh2 1.10 connected with StrictCrypto: %s", out)
		}
	}
}

// paramikoScript is what a Python job does with paramiko: pin the host key, then put, or
// list ophalen/nieuw with listdir_attr and get each file, with stat before and after.
const paramikoScript = `
import base64, sys, stat, paramiko
host, port, user, keyfile, hostkey, mode, a, b = sys.argv[1:9]
t = paramiko.Transport((host, int(port)))
t.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(keyfile),
          hostkey=paramiko.Ed25519Key(data=base64.b64decode(hostkey.split()[1])))
sftp = paramiko.SFTPClient.from_transport(t)
if mode == "put":
    attrs = sftp.put(a, b)  # confirms with a stat of the new file
    print("put", attrs.st_size)
else:
    for e in sftp.listdir_attr(a):
        if stat.S_ISREG(e.st_mode):
            st = sftp.stat(a + "/" + e.filename)
            assert st.st_size == e.st_size, (st, e)
            sftp.get(a + "/" + e.filename, b + "/" + e.filename)
            print("get", e.filename, e.st_size)
    print("left", len([e for e in sftp.listdir_attr(a)]))
t.close()
`

// paramikoPython is a python3 that can import paramiko, or "". Debian's python3-paramiko is
// installed for /usr/bin/python3, which need not be the python3 first on PATH.
func paramikoPython() string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import paramiko").Run() == nil {
			return p
		}
	}
	return ""
}

func TestClientParamiko(t *testing.T) {
	python := paramikoPython()
	if python == "" {
		t.Skip("no python3 with paramiko")
	}
	th := startHub(t, withEngine)
	keys, err := hostkeys.Read(th.dir)
	if err != nil {
		t.Fatal(err)
	}
	// The job pins the host key 'hostkeys --json' shows, checked against the data dir here.
	var hks []opdrachten.HostkeyJSON
	th.runJSON(t, "gemeente", &hks, "hostkeys")
	if hks[0].Vingerafdruk != keys[0].Fingerprint() || hks[0].Type != "ED25519" {
		t.Fatalf("hostkeys = %+v", hks)
	}
	script := writeFile(t, "job.py", []byte(paramikoScript))
	py := func(account, mode, a, b string) string {
		return client(t, python, script, "127.0.0.1", th.port, account, th.keys[account], hks[0].Sleutel, mode, a, b)
	}

	f, _ := wmo301Zip(t, "paramiko.zip", 2)
	if out := py("gemeente", "put", f, "/iwmo/aanleveren/paramiko.zip"); !strings.Contains(out, fmt.Sprintf("put %d", len(readFile(t, f)))) {
		t.Fatalf("paramiko put: %s", out)
	}
	d := th.delivered(t, "paramiko.zip", 2)
	in := t.TempDir()
	out := py("aanbieder", "get", "/iwmo/ophalen/nieuw", in)
	if !strings.Contains(out, fmt.Sprintf("get %s %d", d.Name, d.Size)) || !strings.Contains(out, "left 0") {
		t.Fatalf("paramiko get: %s", out)
	}
	th.fetched(t, d, readFile(t, filepath.Join(in, d.Name)), 2)
}

// TestClientPsftp: PuTTY's psftp (Debian putty-tools), as a Windows user scripts it: the
// OpenSSH key converted with puttygen, the host key pinned with -hostkey in batch mode.
func TestClientPsftp(t *testing.T) {
	psftp := needTool(t, "psftp")
	puttygen := needTool(t, "puttygen")
	th := startHub(t, withEngine)
	keys, err := hostkeys.Read(th.dir)
	if err != nil {
		t.Fatal(err)
	}
	ppk := func(account string) string {
		out := filepath.Join(t.TempDir(), account+".ppk")
		client(t, puttygen, th.keys[account], "-O", "private", "-o", out)
		return out
	}
	run := func(account, script string) string {
		return client(t, psftp, "-batch", "-bc", "-P", th.port, "-i", ppk(account), "-hostkey", keys[0].Fingerprint(),
			"-b", writeFile(t, "psftp.txt", []byte(script)), account+"@127.0.0.1")
	}

	f, _ := wmo301Zip(t, "psftp.zip", 2)
	run("gemeente", "put "+f+" /iwmo/aanleveren/psftp.zip\n")
	d := th.delivered(t, "psftp.zip", 2)
	in := t.TempDir()
	local := filepath.Join(in, d.Name)
	run("aanbieder", "cd /iwmo/ophalen/nieuw\nls\nget "+d.Name+" "+local+"\n")
	th.fetched(t, d, readFile(t, local), 2)

	// psftp, like OpenSSH's sftp, shows only the status of a refusal ("permission denied"),
	// not the hub's sentence: the Afgekeurd aanlevering has it.
	cmd := exec.Command(psftp, "-batch", "-P", th.port, "-i", ppk("gemeente"), "-hostkey", keys[0].Fingerprint(),
		"-b", writeFile(t, "weiger.txt", []byte("put "+writeFile(t, "notes.txt", []byte("x"))+" /iwmo/aanleveren/notes.txt\n")), "gemeente@127.0.0.1")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("psftp put notes.txt: %v %s", err, out)
	}
	if us := th.uploads(t, "gemeente", exchange.IWmo); us[0].Name != "notes.txt" || !us[0].AtDoor || us[0].Fouten[0].Code != codes.KP009 {
		t.Fatalf("psftp's refused put not recorded: %+v", us[0])
	}
}
