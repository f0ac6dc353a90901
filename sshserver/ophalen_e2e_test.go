package sshserver

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"knooppunt/exchange"
)

func (th *testHub) inbox(t testing.TB, account string, product exchange.Product, onlyNew bool) []exchange.Delivery {
	t.Helper()
	ds, _, err := th.hub.Inbox(th.principal(t, account), product, exchange.InboxOptions{OnlyNew: onlyNew})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// deliver sends one WMO301 from gemeente 9999 to aanbieder 12345678 through the engine and
// returns the file that lands in the aanbieder's ophalen/.
func deliver(t testing.TB, th *testHub) exchange.Delivery {
	t.Helper()
	env := exchange.BuildEnvelope(exchange.Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, []byte("<toewijzing/>"))
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
