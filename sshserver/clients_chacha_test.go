package sshserver

// The clients of clients_test.go once more with chacha20-poly1305@openssh.com, whose key
// stream comes from the AVX2 code of the x/crypto fork (third_party/golang.org/x/crypto):
// the hub offers that cipher alone, so every connection that works used it, whether or not
// the client can be told which cipher to take. Each client puts an envelope of ~2.7 MB (86
// full SSH packets and more) and gets the delivery made of it back, byte for byte.

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange/stuf"
	"knooppunt/hostkeys"
)

const chacha = gossh.CipherChaCha20Poly1305

// chachaOnly makes the servers started after it offer chacha20-poly1305 alone, until the test
// ends. No top-level test of this package runs in parallel with another.
func chachaOnly(t *testing.T) {
	old := Ciphers
	Ciphers = []string{chacha}
	t.Cleanup(func() { Ciphers = old })
}

// bigEnvelope writes an envelope with 2 MB of random data as its body and returns its path.
func bigEnvelope(t *testing.T, name string) string {
	noise := make([]byte, 2<<20)
	rand.Read(noise)
	body := "<toewijzing>" + base64.StdEncoding.EncodeToString(noise) + "</toewijzing>"
	return writeFile(t, name, stuf.Build(stuf.Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, []byte(body)))
}

// roundTrip has a client put a big envelope as name and get the delivery made of it from
// ophalen/nieuw/ into a local directory, and checks both sides.
func (th *testHub) roundTrip(t *testing.T, name string, put func(local, remote string), get func(remote, localDir string)) {
	t.Helper()
	f := bigEnvelope(t, name)
	put(f, "/iwmo/aanleveren/"+name)
	d := th.delivered(t, name, 1)
	dir := t.TempDir()
	get("/iwmo/ophalen/nieuw/"+d.Name, dir)
	got := readFile(t, filepath.Join(dir, d.Name))
	th.fetched(t, d, got, 1)
	zr, err := zip.NewReader(bytes.NewReader(got), int64(len(got)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(msg, readFile(t, f)) {
		t.Fatalf("the delivered message of %s is not the envelope that was put (%v)", name, err)
	}
}

func TestClientsChaCha20(t *testing.T) {
	chachaOnly(t)
	th := startHub(t, withEngine)

	t.Run("openssh", func(t *testing.T) {
		needOpenSSH(t)
		c := []string{"-c", chacha}
		th.roundTrip(t, "openssh.xml", func(local, remote string) {
			if _, err := th.sftp(t, "gemeente", "put "+local+" "+remote+"\n", c...); err != nil {
				t.Fatal(err)
			}
		}, func(remote, dir string) {
			if _, err := th.sftp(t, "aanbieder", "get "+remote+" "+dir+"/\n", c...); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("scp", func(t *testing.T) {
		needOpenSSH(t)
		scp := needTool(t, "scp")
		opts := func(account string) []string {
			return append(th.sshOpts(th.keys[account]), "-c", chacha, "-s", "-P", th.port)
		}
		th.roundTrip(t, "scp.xml", func(local, remote string) {
			client(t, scp, append(opts("gemeente"), local, "gemeente@127.0.0.1:"+remote)...)
		}, func(remote, dir string) {
			client(t, scp, append(opts("aanbieder"), "aanbieder@127.0.0.1:"+remote, dir+"/")...)
		})
	})

	t.Run("rclone", func(t *testing.T) {
		// rclone 1.60 has no --sftp-ciphers (later ones do); the server leaves it no choice.
		rclone := needTool(t, "rclone")
		rc := func(args ...string) { client(t, rclone, append([]string{"--config", "/dev/null", "-q"}, args...)...) }
		th.roundTrip(t, "rclone.xml", func(local, remote string) {
			rc("copyto", local, th.rcloneRemote("gemeente")+remote)
		}, func(remote, dir string) {
			rc("copyto", th.rcloneRemote("aanbieder")+remote, filepath.Join(dir, filepath.Base(remote)))
		})
	})

	t.Run("lftp", func(t *testing.T) {
		needOpenSSH(t)
		lftp := needTool(t, "lftp")
		run := func(account, script string) {
			connect := "ssh -a -x -c " + chacha + " " + strings.Join(th.sshOpts(th.keys[account]), " ")
			client(t, lftp, "-c", fmt.Sprintf("set sftp:connect-program %q; set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; "+
				"open -u %s, -p %s sftp://127.0.0.1; %s", connect, account, th.port, script))
		}
		th.roundTrip(t, "lftp.xml", func(local, remote string) {
			run("gemeente", "put "+local+" -o "+remote)
		}, func(remote, dir string) {
			// The listing after the get lets the answer to lftp's close arrive (see TestClientLftp).
			run("aanbieder", "get "+remote+" -o "+dir+"/; cls /iwmo")
		})
	})

	t.Run("paramiko", func(t *testing.T) {
		python := paramikoPython()
		if python == "" {
			t.Skip("no python3 with paramiko")
		}
		if exec.Command(python, "-c", "import paramiko, sys; sys.exit('"+chacha+"' not in paramiko.Transport._preferred_ciphers)").Run() != nil {
			t.Skip("this paramiko has no " + chacha + "")
		}
		keys, err := hostkeys.Read(th.dir)
		if err != nil {
			t.Fatal(err)
		}
		hostkey := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(keys[0].Signer.PublicKey())))
		script := writeFile(t, "job.py", []byte(paramikoScript))
		py := func(account, mode, a, b string) string {
			return client(t, python, script, "127.0.0.1", th.port, account, th.keys[account], hostkey, mode, a, b)
		}
		th.roundTrip(t, "paramiko.xml", func(local, remote string) {
			py("gemeente", "put", local, remote)
		}, func(remote, dir string) {
			py("aanbieder", "get", filepath.Dir(remote), dir)
		})
	})

	t.Run("curl", func(t *testing.T) {
		curl := needTool(t, "curl")
		ver, _ := exec.Command(curl, "-V").Output()
		if !strings.Contains(string(ver), "sftp") {
			t.Skip("curl without sftp")
		}
		// curl has no option to choose an SSH cipher; libssh2 offers chacha20-poly1305 from 1.11.
		if strings.Contains(string(ver), "libssh2/1.10") || strings.Contains(string(ver), "libssh2/1.9") || strings.Contains(string(ver), "libssh2/1.8") {
			t.Skip("curl's libssh2 before 1.11 has no " + chacha)
		}
		keys, err := hostkeys.Read(th.dir)
		if err != nil {
			t.Fatal(err)
		}
		pin := strings.TrimPrefix(keys[0].Fingerprint(), "SHA256:")
		opts := func(account string) []string {
			return []string{"-sS", "--fail", "--hostpubsha256", pin, "--key", th.keys[account], "--pubkey", th.keys[account] + ".pub"}
		}
		url := func(account, path string) string { return "sftp://" + account + "@127.0.0.1:" + th.port + path }
		th.roundTrip(t, "curl.xml", func(local, remote string) {
			client(t, curl, append(opts("gemeente"), "-T", local, url("gemeente", remote))...)
		}, func(remote, dir string) {
			client(t, curl, append(opts("aanbieder"), "-o", filepath.Join(dir, filepath.Base(remote)), url("aanbieder", remote))...)
		})
	})
}
