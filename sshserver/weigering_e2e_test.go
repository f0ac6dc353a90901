package sshserver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/codes"
	"knooppunt/sshserver/opdrachten"
)

// refusedUpload finds account's Afgekeurd aanlevering named name through the `aanleveringen
// --json` command, and checks its verslag through `verslag ID --json` (text too): the code and
// a detail that contains each of want.
func (th *testHub) refusedUpload(t testing.TB, account, name string, code codes.Code, want ...string) exchange.Verslag {
	t.Helper()
	var list []opdrachten.UploadJSON
	th.runJSON(t, account, &list, "aanleveringen", "--status", "afgekeurd")
	id := uint64(0)
	for _, u := range list {
		if u.Bestandsnaam == name {
			id = u.ID
			if u.Status != "Afgekeurd" || u.Incorrect != 1 {
				t.Fatalf("aanlevering %s: %+v", name, u)
			}
			break
		}
	}
	if id == 0 {
		t.Fatalf("%s: no Afgekeurd aanlevering %q in %+v", account, name, list)
	}
	var v exchange.Verslag
	th.runJSON(t, account, &v, "verslag", strconv.FormatUint(id, 10))
	if v.Status != "Afgekeurd" || len(v.Fouten) != 1 || v.Fouten[0].Code != code || v.Fouten[0].Bestand != name {
		t.Fatalf("verslag of %s: %+v", name, v)
	}
	for _, w := range want {
		if !strings.Contains(v.Fouten[0].Detail, w) {
			t.Fatalf("verslag of %s: detail %q lacks %q", name, v.Fouten[0].Detail, w)
		}
	}
	txt := th.run(t, account, exitOK, "verslag", strconv.FormatUint(id, 10))
	if !strings.Contains(txt, string(code)) || !strings.Contains(txt, "bij het aanleveren geweigerd") {
		t.Fatalf("verslag %d as text:\n%s", id, txt)
	}
	return v
}

// TestRefusedUploadIsRecordedWithItsReason: every upload refused at the door, tried with
// OpenSSH's sftp in batch mode (which shows only the status code), shows the status that says
// most and becomes an Afgekeurd aanlevering whose verslag gives the reason and what to do, in
// `aanleveringen`, `verslag` and verslagen/. The refusals lose nothing else: a good upload
// after them is delivered.
func TestRefusedUploadIsRecordedWithItsReason(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine, withHub(func(c *exchange.Config) { c.UploadQuota = 40 << 20 }))
	dir := t.TempDir()
	local := func(name string, size int64) string {
		p := filepath.Join(dir, name)
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
	put := func(account, from, to, status string) {
		t.Helper()
		out, err := th.sftp(t, account, "put "+from+" "+to+"\n")
		if err == nil || !strings.Contains(strings.Join(out, "\n"), status) {
			t.Fatalf("put %s %s as %s: want %q, got %v %q", from, to, account, status, err, out)
		}
		t.Logf("sftp put %s %s: %q", filepath.Base(from), to, out)
	}

	// A name that can never be an upload: permission denied at the open.
	put("gemeente", local("notes.txt", 10), "/iwmo/aanleveren/", "Permission denied")
	th.refusedUpload(t, "gemeente", "notes.txt", codes.KP009, "lever een .xml- of .zip-bestand aan")

	// Past the size limit: refused during the write, permission denied.
	put("gemeente", local("groot.xml", exchange.MaxXMLUpload+1<<20), "/iwmo/aanleveren/groot.xml", "Permission denied")
	th.refusedUpload(t, "gemeente", "groot.xml", codes.IB003, "25 MB", "splits de aanlevering")

	// Outside aanleveren/: permission denied, and the verslag says where to upload.
	put("gemeente", local("verkeerd.xml", 10), "/iwmo/ophalen/verkeerd.xml", "Permission denied")
	th.refusedUpload(t, "gemeente", "verkeerd.xml", codes.KP013, "lever aan in /iwmo/aanleveren/")
	put("gemeente", local("verslag.xml", 10), "/iwmo/verslagen/verslag.xml", "Permission denied")
	th.refusedUpload(t, "gemeente", "verslag.xml", codes.KP013, "/iwmo/verslagen")

	// A product without access (ameland has iwmo and ijw): permission denied; its own
	// aanleveringen list it, the verslag says whom to ask.
	put("ameland", local("eigen-bijdrage.xml", 10), "/ieb/aanleveren/eigen-bijdrage.xml", "Permission denied")
	th.refusedUpload(t, "ameland", "eigen-bijdrage.xml", codes.IB002, "geen toegang tot /ieb", "gebruikersbeheerder")

	// The day's quota (40 MB here; the 26 MB above counted): failure, try again tomorrow.
	put("gemeente", local("vol.zip", 20<<20), "/iwmo/aanleveren/vol.zip", "Failure")
	th.refusedUpload(t, "gemeente", "vol.zip", codes.KP011, "per dag", "00:00")

	// The verslagen are in verslagen/ too, as .txt and .json with the verslag's keys.
	lines, err := th.sftp(t, "gemeente", "ls -1 /iwmo/verslagen\n")
	if err != nil {
		t.Fatal(err)
	}
	var jsonName string
	for _, l := range lines {
		if strings.HasSuffix(l, "_notes.txt.json") {
			jsonName = l
		}
	}
	if jsonName == "" {
		t.Fatalf("no verslag of notes.txt in verslagen/: %q", lines)
	}
	for _, name := range []string{"notes.txt", "groot.xml", "verkeerd.xml", "verslag.xml", "vol.zip"} {
		for _, ext := range []string{".txt", ".json"} {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, "_"+name+ext) }) {
				t.Errorf("verslagen/ lacks the verslag of %s (%s): %q", name, ext, lines)
			}
		}
	}
	got := filepath.Join(t.TempDir(), "v.json")
	if _, err := th.sftp(t, "gemeente", "get "+jsonName+" "+got+"\n"); err != nil {
		t.Fatal(err)
	}
	var v exchange.Verslag
	if err := json.Unmarshal(readFile(t, got), &v); err != nil || v.Status != "Afgekeurd" || len(v.Fouten) != 1 || v.Fouten[0].Code != codes.KP009 {
		t.Fatalf("verslagen/%s: %v %+v", jsonName, err, v)
	}

	// Nothing else was lost: no file stays behind, and a good upload goes through.
	if ps := th.pending(t, "gemeente", exchange.IWmo); len(ps) != 0 {
		t.Fatalf("pending after refusals: %+v", ps)
	}
	th.sendWMO301(t, "goed.zip", 1)
	if u := th.awaitUpload(t, "goed.zip"); u.Status != exchange.Afgeleverd {
		t.Fatalf("goed.zip after the refusals: %s %+v", u.Status, u.Fouten)
	}
}

// TestBusyHubRefusalIsRecorded: OpenSSH's sftp put into a hub whose upload slots are all
// taken shows "Failure" (try again later), and the aanlevering says why.
func TestBusyHubRefusalIsRecorded(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine, withHub(func(c *exchange.Config) {
		c.MaxUploads = 1
		c.UploadWait = time.Millisecond
	}))
	first, err := goClient(t, th, "gemeente").Create("/iwmo/aanleveren/eerste.zip")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := wmo301Zip(t, "druk.zip", 1)
	out, err := th.sftp(t, "ameland", "put "+f+" /iwmo/aanleveren/druk.zip\n")
	if err == nil || !strings.Contains(strings.Join(out, "\n"), "Failure") {
		t.Fatalf("put into a busy hub: %v %q", err, out)
	}
	th.refusedUpload(t, "ameland", "druk.zip", codes.KP012, "probeer het over enkele minuten opnieuw")
	handIn(t, th, first, "gemeente", "9999", "eerste.zip")
}
