package sshserver

// The engine's rules end to end: uploads go in over SFTP (pkg/sftp, and OpenSSH `sftp -b`),
// the real engine processes them on a real Badger store, and everything is checked where a
// user finds it: the verwerkingsverslag in verslagen/ (.txt and .json, downloaded over SFTP)
// and the delivery files in the recipient's ophalen/, compared byte for byte.

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/pkg/sftp"

	"knooppunt/exchange"
	"knooppunt/exchange/codes"
	"knooppunt/exchange/stuf"
	"knooppunt/exchange/zipintake/ziptest"
)

func uuid4() string { return uuid.NewString() }

// env builds an envelope; crossRef makes it a Du01.
func env(functie, zender, ontvanger, ref, crossRef string) []byte {
	return stuf.Build(stuf.Envelope{Functie: functie, ZenderOrg: zender, OntvangerOrg: ontvanger, Referentie: ref, CrossRef: crossRef},
		[]byte("<bericht ref=\""+ref+"\"/>"))
}

// putGo uploads data over pkg/sftp (concurrent, out-of-order writes) under a temporary name
// and renames it, as careful clients do.
func putGo(t testing.TB, c *sftp.Client, path string, data []byte) {
	t.Helper()
	w, err := c.Create(path + ".filepart")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.PosixRename(path+".filepart", path); err != nil {
		t.Fatal(err)
	}
}

func getGo(t testing.TB, c *sftp.Client, path string) []byte {
	t.Helper()
	f, err := c.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// final waits until account's upload called name in product is final and returns it.
func (th *testHub) final(t testing.TB, account string, product exchange.Product, name string) exchange.Upload {
	t.Helper()
	var u exchange.Upload
	eventually(t, "processing of "+name, func() bool {
		for _, x := range th.uploads(t, account, product) {
			if x.Name == name && x.Status.Final() {
				u = x
				return true
			}
		}
		return false
	})
	return u
}

// verslagFile is the .json verwerkingsverslag with exactly the keys the issue names, written
// out here rather than borrowed from exchange so that a renamed key fails the test.
type verslagFile struct {
	ID              uint64 `json:"id"`
	Product         string `json:"product"`
	Bestandsnaam    string `json:"bestandsnaam"`
	Verzender       string `json:"verzender"`
	IngeleverdOp    string `json:"ingeleverd_op"`
	EindeVerwerking string `json:"einde_verwerking"`
	Verwerkingsduur string `json:"verwerkingsduur"`
	Status          string `json:"status"`
	Aangeleverd     int    `json:"aangeleverd"`
	Correct         int    `json:"correct"`
	Incorrect       int    `json:"incorrect"`
	Fouten          []struct {
		Bestand      string `json:"bestand"`
		Code         string `json:"code"`
		Omschrijving string `json:"omschrijving"`
		Detail       string `json:"detail"`
	} `json:"fouten"`
}

// verslagen downloads the .txt and .json verslag of upload name from dir over SFTP.
func verslagen(t testing.TB, c *sftp.Client, dir, name string) (string, verslagFile) {
	t.Helper()
	fis, err := c.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var txt, js []byte
	for _, fi := range fis {
		switch {
		case strings.HasSuffix(fi.Name(), "_"+name+".txt"):
			txt = getGo(t, c, dir+"/"+fi.Name())
		case strings.HasSuffix(fi.Name(), "_"+name+".json"):
			js = getGo(t, c, dir+"/"+fi.Name())
		}
	}
	if txt == nil || js == nil {
		var names []string
		for _, fi := range fis {
			names = append(names, fi.Name())
		}
		t.Fatalf("no .txt and .json verslag of %s in %s: %q", name, dir, names)
	}
	var v verslagFile
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("verslag %s.json: %v\n%s", name, err, js)
	}
	return string(txt), v
}

// codesOf maps each refused file of a verslag to its code and detail.
func codesOf(v verslagFile) (map[string]string, map[string]string) {
	codes, details := map[string]string{}, map[string]string{}
	for _, f := range v.Fouten {
		codes[f.Bestand], details[f.Bestand] = f.Code, f.Detail
	}
	return codes, details
}

// unzipAll reads every entry of a delivery ZIP by name.
func unzipAll(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("delivery is no ZIP: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = data
	}
	return out
}

// ophalenFiles lists the files (not nieuw/) of an ophalen/ folder over SFTP.
func ophalenFiles(t testing.TB, c *sftp.Client, dir string) []string {
	t.Helper()
	fis, err := c.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fi := range fis {
		if !fi.IsDir() {
			out = append(out, fi.Name())
		}
	}
	return out
}

// orgPrincipal acts as a productbeheerder of an organisation the demo data has no account
// for, to set up its routes; the account is stored, since exchange decides on the stored one.
func orgPrincipal(t testing.TB, th *testHub, code string) *exchange.Principal {
	t.Helper()
	o, err := th.hub.Org(code)
	if err != nil {
		t.Fatal(err)
	}
	a := exchange.Account{Name: "test-" + code, Org: code, Products: []exchange.Product{exchange.IWmo, exchange.IJw},
		Roles: []exchange.Role{exchange.Gebruiker, exchange.Productbeheerder}}
	if err := th.hub.CreateAccount(exchange.System, a); err != nil && !errors.Is(err, exchange.ErrExists) {
		t.Fatal(err)
	}
	return &exchange.Principal{Account: a, Org: o}
}

// TestEngineRulesOverSFTP uploads one mixed ZIP that breaks every per-file rule next to three
// correct envelopes. The verslag names each refused file with its code; the correct envelopes
// of the same ZIP reach the recipient's ophalen/ byte for byte, and reading that file to its
// end marks it gelezen.
func TestEngineRulesOverSFTP(t *testing.T) {
	th := startHub(t, withEngine)
	// A second aanbieder whose route for WMO 301/302 is Inactief: IB023.
	if _, err := th.hub.CreateOrg(exchange.System, "87654321", "Zorg Beta"); err != nil {
		t.Fatal(err)
	}
	if err := th.hub.SetRoute(orgPrincipal(t, th, "87654321"), exchange.IWmo, "WMO 301/302", exchange.Portaal, exchange.Inactief, ""); err != nil {
		t.Fatal(err)
	}

	dup := uuid4()
	good := map[string][]byte{
		"goed1.xml":   env("WMO301", "9999", "12345678", uuid4(), ""),
		"goed2.xml":   env("WMO301", "9999", "12345678", uuid4(), ""),
		"dubbel1.xml": env("WMO301", "9999", "12345678", dup, ""),
	}
	// An envelope that is valid for its first 26 MB: only the bytes actually decompressed
	// can tell it is too large, as its header claims 4 KB.
	huge := stuf.Build(stuf.Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, make([]byte, 20<<20))
	bad := stuf.Build(stuf.Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678", Tijdstip: "gisteren"}, []byte("<x/>"))
	entries := []ziptest.File{
		{Name: "goed1.xml", Data: good["goed1.xml"]},
		{Name: "map/goed2.xml", Data: good["goed2.xml"], Method: zip.Store}, // folders are dropped from the name
		{Name: "IMG_0463.PNG", Data: []byte("\x89PNG\r\n")},
		{Name: "genest.zip", Data: ziptest.Build(t, ziptest.File{Name: "a.xml", Data: good["goed1.xml"]})},
		{Name: "versleuteld.xml", Data: good["goed1.xml"], Flags: 0x1},
		{Raw: &zip.FileHeader{Name: "te-groot.xml", Method: zip.Store, CompressedSize64: uint64(len(huge)), UncompressedSize64: 4096}, Data: huge},
		{Name: "bom.xml", Data: make([]byte, 10<<20)},
		{Name: "ib001.xml", Data: bad},
		{Name: "ib002.xml", Data: env("WMO301", "0060", "12345678", uuid4(), "")},
		{Name: "ib004.xml", Data: env("WMO399", "9999", "12345678", uuid4(), "")},
		{Name: "ib005.xml", Data: env("WMO301", "9999", "0001", uuid4(), "")},
		{Name: "ib007.xml", Data: env("WMO305", "9999", "12345678", uuid4(), "")},
		{Name: "dubbel1.xml", Data: good["dubbel1.xml"]},
		{Name: "ib016.xml", Data: env("WMO301", "9999", "12345678", dup, "")},
		{Name: "ib023.xml", Data: env("WMO301", "9999", "87654321", uuid4(), "")},
		{Name: "kp001.xml", Data: env("WMO301", "9999", "11112222", uuid4(), "")},
		{Name: "kp006.xml", Data: env("JW301", "9999", "12345678", uuid4(), "")},
		{Name: "malformed.xml", Data: []byte("<a><b></a>")},
	}
	want := map[string]codes.Code{
		"IMG_0463.PNG": codes.KP002, "genest.zip": codes.KP003, "versleuteld.xml": codes.IB903, "te-groot.xml": codes.IB904,
		"bom.xml": codes.KP004, "ib001.xml": codes.IB001, "ib002.xml": codes.IB002, "ib004.xml": codes.IB004,
		"ib005.xml": codes.IB005, "ib007.xml": codes.IB007, "ib016.xml": codes.IB016, "ib023.xml": codes.IB023,
		"kp001.xml": codes.KP001, "kp006.xml": codes.KP006, "malformed.xml": codes.IB001,
	}

	gem := goClient(t, th, "gemeente")
	putGo(t, gem, "/iwmo/aanleveren/gemengd.zip", ziptest.Build(t, entries...))
	if u := th.final(t, "gemeente", exchange.IWmo, "gemengd.zip"); u.Status != exchange.Afgekeurd {
		t.Fatalf("gemengd.zip: %s %+v", u.Status, u.Counts)
	}

	// The verslag, both forms, downloaded from verslagen/.
	txt, v := verslagen(t, gem, "/iwmo/verslagen", "gemengd.zip")
	if v.Bestandsnaam != "gemengd.zip" || v.Verzender != "Test Gemeente 1" || v.Status != "Afgekeurd" ||
		v.Aangeleverd != len(entries) || v.Correct != 3 || v.Incorrect != len(want) || v.IngeleverdOp == "" || v.EindeVerwerking == "" || len(v.Verwerkingsduur) != 8 {
		t.Fatalf("verslag: %+v", v)
	}
	gotCodes, details := codesOf(v)
	for name, code := range want {
		if gotCodes[name] != string(code) {
			t.Errorf("%s: code %q, want %s (%s)", name, gotCodes[name], code, details[name])
		}
	}
	for _, f := range v.Fouten {
		if f.Omschrijving != codes.Code(f.Code).Omschrijving() || f.Detail == "" {
			t.Errorf("fout %+v lacks its Dutch text or detail", f)
		}
	}
	if d := details["ib002.xml"]; d != "Organisatie is niet geautoriseerd. Organisatie 9999" {
		t.Errorf("IB002 detail %q", d)
	}
	if d := details["IMG_0463.PNG"]; !strings.Contains(d, "IMG_0463.PNG") {
		t.Errorf("KP002 detail %q does not name the file", d)
	}
	if d := details["ib001.xml"]; !strings.Contains(d, "tijdstipBericht") {
		t.Errorf("IB001 detail %q does not name the field", d)
	}
	for _, s := range []string{"Verwerkingsverslag", "Test Gemeente 1", "Afgekeurd", "Aantal bestanden aangeleverd",
		"IB002: Organisatie is niet geautoriseerd", "Organisatie is niet geautoriseerd. Organisatie 9999", "IMG_0463.PNG", "IB904"} {
		if !strings.Contains(txt, s) {
			t.Errorf("verslag .txt lacks %q:\n%s", s, txt)
		}
	}

	// The three correct envelopes of the same ZIP, in one file in the aanbieder's ophalen/.
	aan := goClient(t, th, "aanbieder")
	files := ophalenFiles(t, aan, "/iwmo/ophalen")
	if len(files) != 1 || !strings.HasSuffix(files[0], "_12345678_WMO301.ZIP") {
		t.Fatalf("aanbieder's ophalen: %q", files)
	}
	got := unzipAll(t, getGo(t, aan, "/iwmo/ophalen/"+files[0]))
	if len(got) != len(good) {
		t.Fatalf("delivered %d envelopes, want %d", len(got), len(good))
	}
	for name, data := range good {
		if !bytes.Equal(got[name], data) {
			t.Errorf("%s not delivered byte for byte (%d bytes, want %d)", name, len(got[name]), len(data))
		}
	}
	// Read to its end: gelezen, so it left nieuw/ and stayed in ophalen/.
	if nieuw := ophalenFiles(t, aan, "/iwmo/ophalen/nieuw"); len(nieuw) != 0 {
		t.Fatalf("still new after reading it whole: %q", nieuw)
	}
	if files := ophalenFiles(t, aan, "/iwmo/ophalen"); len(files) != 1 {
		t.Fatalf("ophalen after reading: %q", files)
	}
	// Nothing reached the aanbieder whose route is Inactief, nor the sender.
	if ds, _, err := th.hub.Inbox(context.Background(), orgPrincipal(t, th, "87654321"), exchange.IWmo, exchange.InboxOptions{}); err != nil || len(ds) != 0 {
		t.Fatalf("87654321's ophalen: %v %+v", err, ds)
	}
	if files := ophalenFiles(t, gem, "/iwmo/ophalen"); len(files) != 0 {
		t.Fatalf("the sender's ophalen: %q", files)
	}
	// The sender's berichtenlog shows the refused message with its code.
	ms, _, err := th.hub.Messages(context.Background(), th.principal(t, "gemeente"), exchange.IWmo, exchange.MessageFilter{Status: string(exchange.MsgAfgekeurd)})
	if err != nil || len(ms) == 0 {
		t.Fatalf("afgekeurd in the berichtenlog: %v %d", err, len(ms))
	}

	// IB016 across uploads too.
	putGo(t, gem, "/iwmo/aanleveren/opnieuw.xml", env("WMO301", "9999", "12345678", dup, ""))
	th.final(t, "gemeente", exchange.IWmo, "opnieuw.xml")
	if _, v := verslagen(t, gem, "/iwmo/verslagen", "opnieuw.xml"); v.Status != "Afgekeurd" || len(v.Fouten) != 1 || v.Fouten[0].Code != "IB016" {
		t.Fatalf("IB016 across uploads: %+v", v)
	}
}

// TestEngineWholeUploadRefusalsOverOpenSSH puts, in one OpenSSH `sftp -b` batch, uploads
// that are refused as a whole (IB901, IB902 at the default limit of 100,000 files, IB905) and
// the seed's three bad ZIPs. Each ends Afgekeurd with a clear reason in its verslag; evil.zip's
// envelope is still delivered and nothing is written outside the store. An .xml over 25 MB is
// refused while it is written (IB003) and never recorded.
func TestEngineWholeUploadRefusalsOverOpenSSH(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)

	many := make([]ziptest.File, 100_001)
	for i := range many {
		many[i] = ziptest.File{Name: fmt.Sprintf("%d.xml", i), Method: zip.Store}
	}
	ones := make([]ziptest.File, 1000)
	for i := range ones {
		ones[i] = ziptest.File{Name: fmt.Sprintf("%d", i), Data: []byte{0}}
	}
	evil := env("WMO301", "9999", "12345678", uuid4(), "")
	uploads := []struct {
		name string
		data []byte
		code codes.Code
	}{
		{"kapot.zip", []byte("dit is geen zip"), codes.IB901},
		{"afgekapt.zip", ziptest.Build(t, ziptest.File{Name: "a.xml", Data: evil})[:200], codes.IB901},
		{"leeg.zip", ziptest.Build(t), codes.IB905},
		{"teveel.zip", ziptest.Build(t, many...), codes.IB902},
		{"zero_files_1000_x_1.zip", ziptest.Build(t, ones...), codes.KP002},
		{"zero_files_1_x_10000000.zip", ziptest.Build(t, ziptest.File{Name: "0.xml", Data: make([]byte, 10_000_000)}), codes.KP004},
		{"evil.zip", ziptest.Build(t, ziptest.File{Name: "../../../../tmp/evil.txt", Data: []byte("x")}, ziptest.File{Name: "../../evil.xml", Data: evil}), codes.KP002},
	}
	dir := t.TempDir()
	var batch strings.Builder
	for _, u := range uploads {
		local := filepath.Join(dir, u.name)
		if err := os.WriteFile(local, u.data, 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&batch, "put %s /iwmo/aanleveren/%s\n", local, u.name)
	}
	if _, err := th.sftp(t, "gemeente", batch.String()); err != nil {
		t.Fatal(err)
	}
	gem := goClient(t, th, "gemeente")
	for _, u := range uploads {
		if up := th.final(t, "gemeente", exchange.IWmo, u.name); up.Status != exchange.Afgekeurd {
			t.Errorf("%s: %s", u.name, up.Status)
		}
		_, v := verslagen(t, gem, "/iwmo/verslagen", u.name)
		if v.Status != "Afgekeurd" || len(v.Fouten) == 0 || v.Fouten[0].Code != string(u.code) || v.Fouten[0].Detail == "" {
			t.Errorf("%s: verslag %s %d fouten, first %+v; want %s", u.name, v.Status, len(v.Fouten), v.Fouten[:min(1, len(v.Fouten))], u.code)
		}
		switch u.name {
		case "zero_files_1000_x_1.zip":
			if v.Aangeleverd != 1000 || v.Incorrect != 1000 {
				t.Errorf("%s: %d/%d", u.name, v.Aangeleverd, v.Incorrect)
			}
		case "evil.zip":
			codes, _ := codesOf(v)
			if v.Correct != 1 || codes["evil.txt"] != "KP002" {
				t.Errorf("evil.zip verslag %+v", v)
			}
		}
	}
	// evil.zip's envelope arrived under its base name, and nothing escaped the store.
	aan := goClient(t, th, "aanbieder")
	files := ophalenFiles(t, aan, "/iwmo/ophalen")
	if len(files) != 1 {
		t.Fatalf("aanbieder's ophalen: %q", files)
	}
	if got := unzipAll(t, getGo(t, aan, "/iwmo/ophalen/"+files[0])); len(got) != 1 || !bytes.Equal(got["evil.xml"], evil) {
		t.Fatalf("evil.zip delivery: %d entries", len(got))
	}
	for _, p := range []string{"/tmp/evil.txt", filepath.Join(th.dir, "..", "evil.txt"), filepath.Join(th.dir, "..", "evil.xml")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}

	// IB003: an .xml over 25 MB is refused during the transfer, never processed, and recorded
	// as Afgekeurd with IB003.
	before := len(th.uploads(t, "gemeente", exchange.IWmo))
	f := sparseFile(t, "groot.xml", 26<<20)
	if lines, err := th.sftp(t, "gemeente", "put "+f+" /iwmo/aanleveren/groot.xml\n"); err == nil {
		t.Fatalf("26 MB .xml accepted: %q", lines)
	}
	if us := th.uploads(t, "gemeente", exchange.IWmo); len(us) != before+1 || !us[0].AtDoor || us[0].Fouten[0].Code != codes.IB003 {
		t.Fatalf("the refused .xml: %d uploads, had %d; newest %+v", len(us), before, us[0])
	}
}

// TestEngineRetourAndSamenwerkingOverSFTP: gemeente 9999 runs iWmo for Ameland (0060). A WMO301
// for each goes to the aanbieder; the aanbieder's WMO302 retours (put with OpenSSH sftp -b)
// come back to the original sender, Ameland's to 9999 that acts for it; retours whose
// crossRefnummer names no heen message between the same parties are KP005.
func TestEngineRetourAndSamenwerkingOverSFTP(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	if err := th.hub.SetSamenwerking(exchange.System, "0060", exchange.IWmo, "9999"); err != nil {
		t.Fatal(err)
	}
	gem := goClient(t, th, "gemeente")
	h1, h2 := uuid4(), uuid4()
	heen := ziptest.Build(t, ziptest.File{Name: "eigen.xml", Data: env("WMO301", "9999", "12345678", h1, "")},
		ziptest.File{Name: "namens-ameland.xml", Data: env("WMO301", "0060", "12345678", h2, "")})
	putGo(t, gem, "/iwmo/aanleveren/heen.zip", heen)
	if u := th.final(t, "gemeente", exchange.IWmo, "heen.zip"); u.Status != exchange.Afgeleverd || u.Counts.Correct != 2 {
		t.Fatalf("heen.zip: %s %+v %+v", u.Status, u.Counts, u.Fouten)
	}

	retours := map[string][]byte{
		"r1.xml": env("WMO302", "12345678", "9999", uuid4(), h1),
		"r2.xml": env("WMO302", "12345678", "0060", uuid4(), h2),
	}
	local := writeFile(t, "retour.zip", ziptest.Build(t,
		ziptest.File{Name: "r1.xml", Data: retours["r1.xml"]},
		ziptest.File{Name: "r2.xml", Data: retours["r2.xml"]},
		ziptest.File{Name: "onbekend.xml", Data: env("WMO302", "12345678", "9999", uuid4(), uuid4())},
		ziptest.File{Name: "verkeerd.xml", Data: env("WMO302", "12345678", "0060", uuid4(), h1)}))
	if _, err := th.sftp(t, "aanbieder", "put "+local+" /iwmo/aanleveren/retour.zip\n"); err != nil {
		t.Fatal(err)
	}
	aan := goClient(t, th, "aanbieder")
	if u := th.final(t, "aanbieder", exchange.IWmo, "retour.zip"); u.Status != exchange.Afgekeurd {
		t.Fatalf("retour.zip: %s %+v", u.Status, u.Fouten)
	}
	_, v := verslagen(t, aan, "/iwmo/verslagen", "retour.zip")
	codes, _ := codesOf(v)
	if v.Verzender != "Zorgaanbieder Test" || v.Correct != 2 || v.Incorrect != 2 || codes["onbekend.xml"] != "KP005" || codes["verkeerd.xml"] != "KP005" {
		t.Fatalf("retour verslag: %+v", v)
	}

	// Both retours are in 9999's ophalen/: its own, and Ameland's that 9999 handles.
	files := ophalenFiles(t, gem, "/iwmo/ophalen")
	if len(files) != 1 || !strings.HasSuffix(files[0], "_9999_WMO302.ZIP") {
		t.Fatalf("gemeente's ophalen: %q", files)
	}
	got := unzipAll(t, getGo(t, gem, "/iwmo/ophalen/"+files[0]))
	if len(got) != 2 || !bytes.Equal(got["r1.xml"], retours["r1.xml"]) || !bytes.Equal(got["r2.xml"], retours["r2.xml"]) {
		t.Fatalf("retours delivered: %d entries", len(got))
	}
	if files := ophalenFiles(t, goClient(t, th, "ameland"), "/iwmo/ophalen"); len(files) != 0 {
		t.Fatalf("Ameland's own ophalen: %q", files)
	}
	// Ameland itself may no longer send iWmo: IB002 names the uploading organisation.
	am := goClient(t, th, "ameland")
	putGo(t, am, "/iwmo/aanleveren/zelf.xml", env("WMO301", "0060", "12345678", uuid4(), ""))
	th.final(t, "ameland", exchange.IWmo, "zelf.xml")
	if _, v := verslagen(t, am, "/iwmo/verslagen", "zelf.xml"); len(v.Fouten) != 1 || v.Fouten[0].Code != "IB002" ||
		v.Fouten[0].Detail != "Organisatie is niet geautoriseerd. Organisatie 0060" {
		t.Fatalf("member sending for itself: %+v", v)
	}
}

// TestEngineDigikoppelingHoldOverSFTP: with the aanbieder's route on Digikoppeling a message
// is held (wacht op route in the berichtenlog, nothing in ophalen/); switching the route back
// to Portaal over ssh delivers it, and an OpenSSH download to the end marks it gelezen.
func TestEngineDigikoppelingHoldOverSFTP(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	if err := th.hub.SetRoles(exchange.System, "aanbieder", []exchange.Role{exchange.Gebruiker, exchange.Productbeheerder}); err != nil {
		t.Fatal(err)
	}
	th.run(t, "aanbieder", exitOK, "route", "zet", "WMO 301/302", "--via", "digikoppeling", "--status", "actief", "--cpa", th.testCPA(t, "12345678"), "--product", "iwmo")

	held := env("WMO301", "9999", "12345678", uuid4(), "")
	putGo(t, goClient(t, th, "gemeente"), "/iwmo/aanleveren/wacht.xml", held)
	if u := th.final(t, "gemeente", exchange.IWmo, "wacht.xml"); u.Status != exchange.Afgeleverd {
		t.Fatalf("held upload: %s %+v", u.Status, u.Fouten)
	}
	aan := goClient(t, th, "aanbieder")
	if files := ophalenFiles(t, aan, "/iwmo/ophalen"); len(files) != 0 {
		t.Fatalf("held message in ophalen: %q", files)
	}
	ms, _, err := th.hub.Messages(context.Background(), th.principal(t, "aanbieder"), exchange.IWmo, exchange.MessageFilter{Status: string(exchange.MsgWachtRoute)})
	if err != nil || len(ms) != 1 {
		t.Fatalf("waiting messages: %v %+v", err, ms)
	}

	th.run(t, "aanbieder", exitOK, "route", "zet", "WMO 301/302", "--via", "portaal", "--status", "actief", "--product", "iwmo")
	var files []string
	eventually(t, "the released file", func() bool {
		files = ophalenFiles(t, aan, "/iwmo/ophalen/nieuw")
		return len(files) == 1
	})
	local := filepath.Join(t.TempDir(), "d.zip")
	if _, err := th.sftp(t, "aanbieder", "get /iwmo/ophalen/nieuw/"+files[0]+" "+local+"\n"); err != nil {
		t.Fatal(err)
	}
	if got := unzipAll(t, readFile(t, local)); !bytes.Equal(got["wacht.xml"], held) {
		t.Fatalf("released delivery: %d entries", len(got))
	}
	if nieuw := ophalenFiles(t, aan, "/iwmo/ophalen/nieuw"); len(nieuw) != 0 {
		t.Fatalf("not gelezen after the download: %q", nieuw)
	}
	ms, _, _ = th.hub.Messages(context.Background(), th.principal(t, "aanbieder"), exchange.IWmo, exchange.MessageFilter{Referentie: ms[0].Referentie})
	var steps []exchange.MessageStatus
	for _, e := range ms[0].History {
		steps = append(steps, e.Status)
	}
	for _, s := range []exchange.MessageStatus{exchange.MsgWachtRoute, exchange.MsgAfgeleverd, exchange.MsgGelezen} {
		if !slices.Contains(steps, s) {
			t.Fatalf("history %q lacks %q", steps, s)
		}
	}
}
