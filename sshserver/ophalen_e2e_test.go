package sshserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/exchange/stuf"
)

func (th *testHub) inbox(t testing.TB, account string, product exchange.Product, onlyNew bool) []exchange.Delivery {
	t.Helper()
	ds, _, err := th.hub.Inbox(context.Background(), th.principal(t, account), product, exchange.InboxOptions{OnlyNew: onlyNew})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// deliver sends one WMO301 from gemeente 9999 to aanbieder 12345678 through the engine and
// returns the file that lands in the aanbieder's ophalen/.
func deliver(t testing.TB, th *testHub) exchange.Delivery {
	t.Helper()
	return deliverBody(t, th, []byte("<toewijzing/>"))
}

func deliverBody(t testing.TB, th *testHub, body []byte) exchange.Delivery {
	t.Helper()
	env := stuf.Build(stuf.Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, body)
	f := writeFile(t, "wmo301.xml", env)
	before := len(th.inbox(t, "aanbieder", exchange.IWmo, false))
	if _, err := th.sftp(t, "gemeente", "put "+f+" /iwmo/aanleveren/wmo301.xml\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delivery", func() bool { return len(th.inbox(t, "aanbieder", exchange.IWmo, false)) > before })
	return th.inbox(t, "aanbieder", exchange.IWmo, false)[0]
}

func TestOphalenDownloadMarksGelezen(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	d := deliver(t, th)

	lines, err := th.sftp(t, "aanbieder", "ls -1 /iwmo/ophalen\nls -1 /iwmo/ophalen/nieuw\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sortedCopy(base(lines)), " ") != d.Name+" "+d.Name+" nieuw" {
		t.Fatalf("listings = %q", lines)
	}
	// Nobody else sees it, by listing or by name.
	if lines, err := th.sftp(t, "ameland", "ls -1 /iwmo/ophalen\n"); err != nil || strings.Join(base(lines), " ") != "nieuw" {
		t.Fatalf("ameland's ophalen = %q, %v", lines, err)
	}
	if _, err := th.sftp(t, "gemeente", "get /iwmo/ophalen/"+d.Name+" "+t.TempDir()+"/x\n"); err == nil {
		t.Fatal("the sender read the recipient's file")
	}

	// Reading part of it leaves it new.
	c := goClient(t, th, "aanbieder")
	r, err := c.Open("/iwmo/ophalen/" + d.Name)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(r, make([]byte, 10))
	r.Close()
	if len(th.inbox(t, "aanbieder", exchange.IWmo, true)) != 1 {
		t.Fatal("a partly read file was marked gelezen")
	}

	// Reading it to the end marks it gelezen: it leaves nieuw/ and stays in ophalen/.
	local := filepath.Join(t.TempDir(), "d.zip")
	if _, err := th.sftp(t, "aanbieder", "get /iwmo/ophalen/nieuw/"+d.Name+" "+local+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(local)
	if err != nil || int64(len(got)) != d.Size || !bytes.HasPrefix(got, []byte("PK")) {
		t.Fatalf("downloaded %d bytes (%v), want the %d-byte ZIP", len(got), err, d.Size)
	}
	if n := len(th.inbox(t, "aanbieder", exchange.IWmo, true)); n != 0 {
		t.Fatalf("%d files still new after the download", n)
	}
	lines, err = th.sftp(t, "aanbieder", "ls -1 /iwmo/ophalen/nieuw\nls -1 /iwmo/ophalen\n")
	if err != nil || strings.Join(sortedCopy(base(lines)), " ") != d.Name+" nieuw" {
		t.Fatalf("after the download: %q, %v", lines, err)
	}
	assertAudited(t, th.hub, "aanbieder", "download", "/iwmo/ophalen/nieuw/"+d.Name, "ok")

	// The sender's verwerkingsverslag is in its verslagen/.
	lines, err = th.sftp(t, "gemeente", "ls -1 /iwmo/verslagen\n")
	if err != nil || len(lines) == 0 {
		t.Fatalf("verslagen = %q, %v", lines, err)
	}
	report := filepath.Join(t.TempDir(), "verslag")
	if _, err := th.sftp(t, "gemeente", "get "+lines[0]+" "+report+"\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(report); len(b) == 0 {
		t.Fatal("empty verwerkingsverslag")
	}
	if _, err := th.sftp(t, "gemeente", "rm "+lines[0]+"\n"); err == nil {
		t.Fatal("a verslag was deleted")
	}

	// Deleting in ophalen/ works; the file is gone.
	if _, err := th.sftp(t, "aanbieder", "rm /iwmo/ophalen/"+d.Name+"\n"); err != nil {
		t.Fatal(err)
	}
	if n := len(th.inbox(t, "aanbieder", exchange.IWmo, false)); n != 0 {
		t.Fatalf("%d files in ophalen after rm", n)
	}
}

// paramikoSmallWindow downloads a file twice with a 64 KB channel window, far below one
// read answer: once as paramiko's get does (32 KB reads, prefetched), once in 255 KB reads.
const paramikoSmallWindow = `
import sys, paramiko
host, port, user, keyfile, remote, local = sys.argv[1:7]
t = paramiko.Transport((host, int(port)))
t.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(keyfile))
sftp = paramiko.SFTPClient.from_transport(t, window_size=64 * 1024, max_packet_size=32 * 1024)
sftp.get(remote, local + ".get")
paramiko.SFTPFile.MAX_REQUEST_SIZE = 255 * 1024
with sftp.open(remote) as f, open(local + ".big", "wb") as out:
    while True:
        b = f.read(255 * 1024)
        if not b:
            break
        out.write(b)
t.close()
`

// TestOphalenLargeFile downloads a 4 MB delivery while the client does what stalls a
// writer inside the SSH layer: rekeying every few hundred KB (OpenSSH and x/crypto), or
// keeping a channel window smaller than one read answer (paramiko). The hub gathers a read
// answer's packets into one network write (corkConn); none of this may stall or corrupt it.
func TestOphalenLargeFile(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	noise := make([]byte, 3<<20)
	rand.Read(noise)
	d := deliverBody(t, th, []byte("<toewijzing>"+base64.StdEncoding.EncodeToString(noise)+"</toewijzing>"))
	r, _, err := th.hub.OpenDelivery(th.principal(t, "aanbieder"), exchange.IWmo, d.Name)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	r.Close()
	if err != nil || len(want) < 3<<20 {
		t.Fatalf("delivery of %d bytes (%v), want over 3 MB", len(want), err)
	}
	remote := "/iwmo/ophalen/" + d.Name
	same := func(t *testing.T, local string) {
		t.Helper()
		if got := readFile(t, local); !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, the delivery has %d and differs", filepath.Base(local), len(got), len(want))
		}
	}

	t.Run("openssh-rekey", func(t *testing.T) {
		local := filepath.Join(t.TempDir(), "d.zip")
		if _, err := th.sftp(t, "aanbieder", "get "+remote+" "+local+"\n", "-o", "RekeyLimit=256K"); err != nil {
			t.Fatal(err)
		}
		same(t, local)
	})

	t.Run("go-rekey", func(t *testing.T) {
		cfg := &gossh.ClientConfig{User: "aanbieder", Auth: []gossh.AuthMethod{gossh.PublicKeys(demoSigner(t, th, "aanbieder"))},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second}
		cfg.RekeyThreshold = 64 << 10
		client, err := gossh.Dial("tcp", th.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		c, err := sftp.NewClient(client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		local := filepath.Join(t.TempDir(), "d.zip")
		f, err := c.Open(remote)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.WriteFile(local, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		same(t, local)
	})

	t.Run("paramiko-small-window", func(t *testing.T) {
		python := paramikoPython()
		if python == "" {
			t.Skip("no python3 with paramiko")
		}
		local := filepath.Join(t.TempDir(), "d.zip")
		script := writeFile(t, "small_window.py", []byte(paramikoSmallWindow))
		client(t, python, script, "127.0.0.1", th.port, "aanbieder", th.keys["aanbieder"], remote, local)
		same(t, local+".get")
		same(t, local+".big")
	})
}
