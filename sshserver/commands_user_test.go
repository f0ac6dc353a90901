package sshserver

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"knooppunt/exchange"
	"knooppunt/exchange/stuf"
	"knooppunt/hostkeys"
	"knooppunt/sshserver/opdrachten"
)

// wmo301Zip writes a ZIP of n WMO301 envelopes from gemeente 9999 to aanbieder 12345678 and
// returns its path and the referentienummers.
func wmo301Zip(t testing.TB, name string, n int) (string, []string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var refs []string
	for i := range n {
		ref := uuid.NewString()
		refs = append(refs, ref)
		env := stuf.Build(stuf.Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678", Referentie: ref},
			[]byte(fmt.Sprintf("<toewijzing nr=%q/>", ref)))
		w, err := zw.Create(fmt.Sprintf("wmo301_%d.xml", i))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(env)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, name, buf.Bytes()), refs
}

// run runs a command over OpenSSH as a demo account, wants the exit code and returns stdout.
func (th *testHub) run(t testing.TB, account string, wantCode int, args ...string) string {
	t.Helper()
	out, errOut, code := th.ssh(account, th.keys[account], args...)
	if code != wantCode {
		t.Fatalf("%s %q: exit %d, want %d; stdout %q stderr %q", account, args, code, wantCode, out, errOut)
	}
	return out
}

// runJSON runs a command with --json, wants exit 0 and decodes stdout into v, refusing keys v
// does not know.
func (th *testHub) runJSON(t testing.TB, account string, v any, args ...string) {
	t.Helper()
	out := th.run(t, account, exitOK, append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s %q --json: %v in %q", account, args, err, out)
	}
}

// keys decodes JSON output as generic objects, to check the key names scripts rely on.
func keysOf(t testing.TB, out string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v: %q", err, out)
	}
	if a, ok := v.([]any); ok {
		if len(a) == 0 {
			return nil
		}
		v = a[0]
	}
	var keys []string
	for k := range v.(map[string]any) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func wantKeys(t testing.TB, out string, want ...string) {
	t.Helper()
	got := keysOf(t, out)
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Fatalf("JSON lacks key %q; keys %q in %s", k, got, out)
		}
	}
}

// sendWMO301 uploads a ZIP of n WMO301s as gemeente and waits until it is processed.
func (th *testHub) sendWMO301(t testing.TB, name string, n int) (exchange.Upload, []string) {
	t.Helper()
	f, refs := wmo301Zip(t, name, n)
	if _, err := th.sftp(t, "gemeente", "put "+f+" /iwmo/aanleveren/"+name+"\n"); err != nil {
		t.Fatal(err)
	}
	return th.awaitUpload(t, name), refs
}

// awaitUpload waits until gemeente's newest iWmo upload called name is final.
func (th *testHub) awaitUpload(t testing.TB, name string) exchange.Upload {
	t.Helper()
	var u exchange.Upload
	eventually(t, "processing of "+name, func() bool {
		for _, x := range th.uploads(t, "gemeente", exchange.IWmo) {
			if x.Name == name && x.Status.Final() {
				u = x
				return true
			}
		}
		return false
	})
	return u
}

func TestMailboxCommands(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	u, refs := th.sendWMO301(t, "batch.zip", 2)

	var who opdrachten.WhoamiJSON
	th.runJSON(t, "gemeente", &who, "whoami")
	if who.Account != "gemeente" || who.Organisatie != "9999" || who.Soort != "gemeente" || len(who.Producten) != 5 || !slices.Contains(who.Rollen, "productbeheerder") {
		t.Fatalf("whoami = %+v", who)
	}
	if out := th.run(t, "beheer", exitOK, "whoami"); !strings.Contains(out, "beheerder van het knooppunt") {
		t.Fatalf("whoami beheer = %q", out)
	}

	var prods []opdrachten.ProductJSON
	th.runJSON(t, "aanbieder", &prods, "producten")
	if len(prods) != 2 || prods[0].Product != "iwmo" || prods[0].Naam != "iWmo" || prods[1].Map != "/ijw" || prods[0].UitgevoerdDoor != "12345678" {
		t.Fatalf("producten = %+v", prods)
	}

	var ups []opdrachten.UploadJSON
	th.runJSON(t, "gemeente", &ups, "aanleveringen")
	if len(ups) != 1 || ups[0].ID != u.ID || ups[0].Bestandsnaam != "batch.zip" || ups[0].Status != "Afgeleverd" ||
		ups[0].Aangeleverd != 2 || ups[0].Correct != 2 || ups[0].Product != "iwmo" || ups[0].EindeVerwerking == "" {
		t.Fatalf("aanleveringen = %+v", ups)
	}
	th.runJSON(t, "gemeente", &ups, "aanleveringen", "--status", "afgekeurd")
	if len(ups) != 0 {
		t.Fatalf("aanleveringen --status afgekeurd = %+v", ups)
	}
	th.runJSON(t, "gemeente", &ups, "aanleveringen", "--product", "ijw")
	if len(ups) != 0 {
		t.Fatalf("aanleveringen --product ijw = %+v", ups)
	}
	if out := th.run(t, "gemeente", exitOK, "aanleveringen"); !strings.Contains(out, "batch.zip") || !strings.Contains(out, "Afgeleverd") {
		t.Fatalf("aanleveringen = %q", out)
	}

	// verslag by number, by upload name and by report name: the same report.
	var v exchange.Verslag
	th.runJSON(t, "gemeente", &v, "verslag", fmt.Sprint(u.ID))
	if v.ID != u.ID || v.Status != "Afgeleverd" || v.Bestandsnaam != "batch.zip" || v.Aangeleverd != 2 || v.Correct != 2 || v.Incorrect != 0 ||
		v.Fouten == nil || len(v.Fouten) != 0 || v.Verzender == "" || v.Verwerkingsduur == "" {
		t.Fatalf("verslag = %+v", v)
	}
	raw := th.run(t, "gemeente", exitOK, "verslag", "batch.zip", "--json")
	wantKeys(t, raw, "id", "product", "bestandsnaam", "verzender", "ingeleverd_op", "einde_verwerking", "verwerkingsduur", "status", "aangeleverd", "correct", "incorrect", "fouten")
	reports, err := th.hub.Reports(context.Background(), th.principal(t, "gemeente"), exchange.IWmo)
	if err != nil || len(reports) != 2 {
		t.Fatalf("reports = %+v, %v", reports, err)
	}
	txt := th.run(t, "gemeente", exitOK, "verslag", strings.TrimSuffix(reports[0].Name, ".txt"))
	if !strings.Contains(txt, "Verwerkingsverslag") || !strings.Contains(txt, "Status: Afgeleverd") {
		t.Fatalf("verslag text = %q", txt)
	}

	// ophalen, gelezen, ongelezen.
	var files []opdrachten.DeliveryJSON
	th.runJSON(t, "aanbieder", &files, "ophalen")
	if len(files) != 1 || files[0].Product != "iwmo" || files[0].Functie != "WMO301" || files[0].Van != "9999" || files[0].Gelezen ||
		files[0].Pad != "/iwmo/ophalen/"+files[0].Naam || files[0].Grootte == 0 {
		t.Fatalf("ophalen = %+v", files)
	}
	name := files[0].Naam
	th.runJSON(t, "aanbieder", &files, "ophalen", "--nieuw", "--product", "iwmo")
	if len(files) != 1 || files[0].Pad != "/iwmo/ophalen/nieuw/"+name {
		t.Fatalf("ophalen --nieuw = %+v", files)
	}
	var marks []opdrachten.MarkJSON
	th.runJSON(t, "aanbieder", &marks, "gelezen", name)
	if len(marks) != 1 || marks[0] != (opdrachten.MarkJSON{Product: "iwmo", Naam: name, Gelezen: true}) {
		t.Fatalf("gelezen = %+v", marks)
	}
	th.runJSON(t, "aanbieder", &files, "ophalen", "--nieuw")
	if len(files) != 0 {
		t.Fatalf("ophalen --nieuw after gelezen = %+v", files)
	}
	th.runJSON(t, "aanbieder", &files, "ophalen")
	if len(files) != 1 || !files[0].Gelezen || files[0].GelezenOp == "" {
		t.Fatalf("ophalen after gelezen = %+v", files)
	}
	th.runJSON(t, "aanbieder", &marks, "ongelezen", "/iwmo/ophalen/"+name)
	if len(marks) != 1 || marks[0].Gelezen {
		t.Fatalf("ongelezen = %+v", marks)
	}
	th.runJSON(t, "aanbieder", &files, "ophalen", "--nieuw")
	if len(files) != 1 {
		t.Fatalf("ophalen --nieuw after ongelezen = %+v", files)
	}

	// berichtenlog from both sides, with filters.
	var msgs []opdrachten.MessageJSON
	th.runJSON(t, "aanbieder", &msgs, "berichtenlog")
	if len(msgs) != 2 || msgs[0].Richting != "in" || msgs[0].Zender != "9999" || msgs[0].Ontvanger != "12345678" || msgs[0].Functie != "WMO301" {
		t.Fatalf("berichtenlog aanbieder = %+v", msgs)
	}
	for _, m := range msgs {
		if !slices.Contains(refs, m.Referentienummer) {
			t.Fatalf("unknown referentienummer in %+v", m)
		}
	}
	th.runJSON(t, "gemeente", &msgs, "berichtenlog", "--richting", "uit", "--functie", "wmo301", "--product", "iwmo", "--van", "2000-01-01", "--tot", "31-12-2199")
	if len(msgs) != 2 || msgs[0].Richting != "uit" || msgs[0].Aanlevering != u.ID {
		t.Fatalf("berichtenlog gemeente = %+v", msgs)
	}
	th.runJSON(t, "gemeente", &msgs, "berichtenlog", "--van", "2199-01-01")
	if len(msgs) != 0 {
		t.Fatalf("berichtenlog in the future = %+v", msgs)
	}
	th.runJSON(t, "gemeente", &msgs, "berichtenlog", "--aantal", "1")
	if len(msgs) != 1 {
		t.Fatalf("berichtenlog --aantal 1 = %+v", msgs)
	}
	th.runJSON(t, "aanbieder", &msgs, "berichtenlog", "--referentie", refs[1])
	if len(msgs) != 1 || msgs[0].Referentienummer != refs[1] {
		t.Fatalf("berichtenlog --referentie = %+v", msgs)
	}

	// verwijder and herstel.
	var removed []opdrachten.RemovedJSON
	th.runJSON(t, "aanbieder", &removed, "verwijder", "iwmo/"+name)
	if len(removed) != 1 || !removed[0].Verwijderd || removed[0].Naam != name {
		t.Fatalf("verwijder = %+v", removed)
	}
	th.runJSON(t, "aanbieder", &files, "ophalen")
	if len(files) != 0 {
		t.Fatalf("ophalen after verwijder = %+v", files)
	}
	th.runJSON(t, "aanbieder", &msgs, "berichtenlog", "--status", "verwijderd")
	if len(msgs) != 2 {
		t.Fatalf("berichtenlog --status verwijderd = %+v", msgs)
	}
	var restored opdrachten.RestoredJSON
	th.runJSON(t, "aanbieder", &restored, "herstel", refs[0])
	if restored != (opdrachten.RestoredJSON{Product: "iwmo", Referentienummer: refs[0], Hersteld: true}) {
		t.Fatalf("herstel = %+v", restored)
	}
	th.runJSON(t, "aanbieder", &files, "ophalen")
	if len(files) != 1 {
		t.Fatalf("ophalen after herstel = %+v", files)
	}

	// routes.
	var routes []opdrachten.RouteJSON
	th.runJSON(t, "gemeente", &routes, "routes", "--product", "iwmo")
	if len(routes) != len(th.hub.Catalogue().Exchanges(exchange.IWmo)) || routes[0].Uitwisseling != "WMO 301/302" || routes[0].Via != "Portaal" || routes[0].Status != "Actief" {
		t.Fatalf("routes = %+v", routes)
	}
	th.runJSON(t, "gemeente", &routes, "route", "zet", "WMO 301/302", "--via", "digikoppeling", "--status", "actief", "--cpa", th.testCPA(t, "9999"), "--product", "iwmo")
	if len(routes) != 1 || routes[0].Via != "Digikoppeling" || routes[0].CPA == "" || routes[0].Door != "gemeente" {
		t.Fatalf("route zet = %+v", routes)
	}
	// One word works too, and the product follows from the exchange where only one has it.
	th.runJSON(t, "gemeente", &routes, "route", "zet", "wmo301/302", "--via", "portaal", "--status", "inactief")
	if len(routes) != 1 || routes[0].Via != "Portaal" || routes[0].Status != "Inactief" || routes[0].Product != "iwmo" {
		t.Fatalf("route zet = %+v", routes)
	}

	// hostkeys, versie, help.
	var hks []opdrachten.HostkeyJSON
	th.runJSON(t, "aanbieder", &hks, "hostkeys")
	stored, err := hostkeys.Read(th.dir)
	if err != nil || len(hks) != len(stored) {
		t.Fatalf("hostkeys = %+v, stored %v %v", hks, stored, err)
	}
	for i, k := range stored {
		if hks[i].Vingerafdruk != k.Fingerprint() || hks[i].Type != k.Type || hks[i].Bits != k.Bits {
			t.Fatalf("hostkeys[%d] = %+v, want %s", i, hks[i], k)
		}
		if line := th.run(t, "aanbieder", exitOK, "hostkeys"); !strings.Contains(line, k.String()) {
			t.Fatalf("hostkeys text %q lacks %q (the line of 'knooppunt hostkeys')", line, k.String())
		}
	}
	var ver opdrachten.VersieJSON
	th.runJSON(t, "cak", &ver, "versie")
	if ver.Versie == "" || !strings.HasPrefix(ver.Go, "go") {
		t.Fatalf("versie = %+v", ver)
	}
	var help []opdrachten.HelpJSON
	th.runJSON(t, "cak", &help, "help")
	var names []string
	for _, h := range help {
		names = append(names, h.Opdracht)
	}
	// cak has no roles: help lists its mailbox commands, not the administration
	// (TestHelpListsOnlyWhatTheAccountMayDo covers the roles).
	for _, want := range []string{"whoami", "producten", "aanleveringen", "verslag", "ophalen", "gelezen", "ongelezen", "verwijder", "berichtenlog",
		"herstel", "routes", "hostkeys", "versie"} {
		if !slices.Contains(names, want) {
			t.Fatalf("help --json lacks %q: %q", want, names)
		}
	}
	for _, not := range []string{"route zet", "gebruiker add", "org add", "org samenwerking"} {
		if slices.Contains(names, not) {
			t.Fatalf("help --json of cak lists %q", not)
		}
	}
	if slices.Contains(names, "account add") {
		t.Fatalf("help --json lists the old name: %q", names)
	}
}

func TestGebruikerAndOrgCommands(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	_, pub, fp := newKey(t)
	_, pub2, fp2 := newKey(t)

	var done opdrachten.DoneJSON
	th.runJSON(t, "gemeente", &done, "gebruiker", "add", "piet", "--key", pub, "--product", "iwmo")
	if done.Resultaat != "ok" || !strings.Contains(done.Melding, "piet") {
		t.Fatalf("gebruiker add = %+v", done)
	}
	th.runJSON(t, "gemeente", &done, "gebruiker", "grant", "piet", "ijw")
	th.runJSON(t, "gemeente", &done, "gebruiker", "revoke", "piet", "iwmo")
	th.runJSON(t, "gemeente", &done, "gebruiker", "key", "add", "piet", pub2)
	th.runJSON(t, "gemeente", &done, "gebruiker", "key", "remove", "piet", fp)
	th.runJSON(t, "gemeente", &done, "gebruiker", "disable", "piet")
	var accts []opdrachten.AccountJSON
	th.runJSON(t, "gemeente", &accts, "gebruiker", "list")
	i := slices.IndexFunc(accts, func(a opdrachten.AccountJSON) bool { return a.Naam == "piet" })
	if i < 0 || accts[i].Organisatie != "9999" || !slices.Equal(accts[i].Producten, []string{"ijw"}) || !accts[i].Geblokkeerd ||
		len(accts[i].Sleutels) != 1 || accts[i].Sleutels[0].Vingerafdruk != fp2 || accts[i].Sleutels[0].Commentaar != "jan@werkplek" {
		t.Fatalf("gebruiker list = %+v", accts)
	}
	for _, a := range accts {
		if a.Organisatie != "9999" {
			t.Fatalf("a gebruikersbeheerder sees %+v", a)
		}
	}
	// The old name runs the same command.
	old := th.run(t, "gemeente", exitOK, "account", "list", "--json")
	if now := th.run(t, "gemeente", exitOK, "gebruiker", "list", "--json"); old != now {
		t.Fatalf("account list %q, gebruiker list %q", old, now)
	}
	wantKeys(t, old, "naam", "organisatie", "producten", "rollen", "geblokkeerd", "sleutels")
	th.runJSON(t, "gemeente", &done, "gebruiker", "enable", "piet")

	var org opdrachten.OrgJSON
	th.runJSON(t, "beheer", &org, "org", "add", "0363", "Gemeente", "Amsterdam")
	if org.Code != "0363" || org.Naam != "Gemeente Amsterdam" || org.Soort != "gemeente" || org.Samenwerking == nil {
		t.Fatalf("org add = %+v", org)
	}
	var sw opdrachten.SamenwerkingJSON
	th.runJSON(t, "beheer", &sw, "org", "samenwerking", "0060", "iwmo", "9999")
	if sw != (opdrachten.SamenwerkingJSON{Organisatie: "0060", Product: "iwmo", UitgevoerdDoor: "9999"}) {
		t.Fatalf("org samenwerking = %+v", sw)
	}
	var orgs []opdrachten.OrgJSON
	th.runJSON(t, "beheer", &orgs, "org", "list")
	i = slices.IndexFunc(orgs, func(o opdrachten.OrgJSON) bool { return o.Code == "0060" })
	if i < 0 || orgs[i].Samenwerking["iwmo"] != "9999" || len(orgs) != 6 {
		t.Fatalf("org list = %+v", orgs)
	}
	var prods []opdrachten.ProductJSON
	th.runJSON(t, "ameland", &prods, "producten")
	if prods[0].Product != "iwmo" || prods[0].UitgevoerdDoor != "9999" {
		t.Fatalf("ameland's producten under samenwerking = %+v", prods)
	}
	var routes []opdrachten.RouteJSON
	th.runJSON(t, "ameland", &routes, "routes", "--product", "iwmo")
	if !routes[0].Vergrendeld || !strings.Contains(routes[0].Reden, "samenwerking") {
		t.Fatalf("ameland's routes under samenwerking = %+v", routes)
	}
	th.runJSON(t, "beheer", &sw, "org", "samenwerking", "0060", "iwmo")
	if sw.UitgevoerdDoor != "0060" {
		t.Fatalf("org samenwerking ended = %+v", sw)
	}
	// A gebruikersbeheerder sees only its own organisation.
	th.runJSON(t, "gemeente", &orgs, "org", "list")
	if len(orgs) != 1 || orgs[0].Code != "9999" {
		t.Fatalf("org list as gebruikersbeheerder = %+v", orgs)
	}
}

// Every refusal exits 3 and every wrong command line 2, with a Dutch sentence on stderr and
// nothing on stdout; nothing changes.
func TestCommandDenialsAndUsageErrors(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	u, _ := th.sendWMO301(t, "x.zip", 1)
	d := th.inbox(t, "aanbieder", exchange.IWmo, false)[0]
	_, pub, _ := newKey(t)
	for _, tc := range []struct {
		account string
		args    []string
		code    int
		words   []string
	}{
		{"ameland", []string{"route", "zet", "WMO 301/302", "--via", "digikoppeling", "--status", "actief"}, exitDenied, []string{"productbeheerder"}},
		{"cak", []string{"aanleveringen", "--product", "iwmo"}, exitDenied, []string{"geen toegang tot iwmo"}},
		{"cak", []string{"ophalen", "--product", "iwmo", "--json"}, exitDenied, []string{"gebruikersbeheerder"}},
		{"cak", []string{"berichtenlog", "--product", "iwmo"}, exitDenied, []string{"geen toegang"}},
		{"cak", []string{"routes", "--product", "ijw"}, exitDenied, []string{"geen toegang"}},
		{"cak", []string{"gelezen", "iwmo/" + d.Name}, exitDenied, []string{"geen toegang"}},
		{"beheer", []string{"ophalen"}, exitDenied, []string{"geen producten"}},
		{"ameland", []string{"gebruiker", "add", "piet", "--key", pub}, exitDenied, []string{"gebruikersbeheerder"}},
		{"ameland", []string{"org", "samenwerking", "0060", "iwmo", "9999"}, exitDenied, []string{"beheerder"}},
		{"gemeente", []string{"gebruiker", "disable", "ameland"}, exitDenied, []string{"eigen organisatie"}},
		{"gemeente", []string{"gebruiker", "grant", "aanbieder", "iwmo"}, exitDenied, []string{"eigen organisatie"}},
		// Another organisation's upload or file is not found rather than refused: its
		// existence is no one else's business.
		{"aanbieder", []string{"verslag", fmt.Sprint(u.ID)}, exitError, []string{"bestaat niet"}},
		{"ameland", []string{"gelezen", "iwmo/" + d.Name}, exitError, []string{"staat niet in ophalen/"}},
		{"ameland", []string{"verwijder", d.Name}, exitError, []string{"staat niet in ophalen/"}},
		{"aanbieder", []string{"herstel", "00000000-0000-4000-8000-000000000000"}, exitError, []string{"berichtenlog"}},
		{"gemeente", []string{"verslag", "bestaat-niet.zip"}, exitError, []string{"aanleveringen"}},

		{"gemeente", []string{"aanleveringen", "--status", "klaar"}, exitUsage, []string{"Afgeleverd", "gebruik: aanleveringen"}},
		{"gemeente", []string{"aanleveringen", "--aantal", "veel"}, exitUsage, []string{"--aantal"}},
		{"gemeente", []string{"berichtenlog", "--van", "gisteren"}, exitUsage, []string{"2025-01-31"}},
		{"gemeente", []string{"berichtenlog", "--tot", "31-12-2999"}, exitUsage, []string{"tussen 1970 en 2200"}},
		{"gemeente", []string{"berichtenlog", "--van", "2025-02-01", "--tot", "2025-01-01"}, exitUsage, []string{"--tot ligt voor --van"}},
		{"gemeente", []string{"berichtenlog", "--status", "weg"}, exitUsage, []string{"verwijderd"}},
		{"gemeente", []string{"berichtenlog", "--richting", "op"}, exitUsage, []string{"in", "uit"}},
		{"gemeente", []string{"route", "zet", "WMO 301/302", "--via", "fax", "--status", "actief"}, exitUsage, []string{"portaal of digikoppeling"}},
		{"gemeente", []string{"route", "zet", "WMO 301/302", "--via", "portaal", "--status", "aan"}, exitUsage, []string{"actief of inactief"}},
		{"gemeente", []string{"route", "zet", "WMO 301/302", "--via", "portaal"}, exitUsage, []string{"--status ontbreekt"}},
		{"gemeente", []string{"route", "zet", "WMO 999", "--via", "portaal", "--status", "actief"}, exitUsage, []string{"bestaat niet", "'WMO 301/302'"}},
		{"gemeente", []string{"route", "zet", "TKB/BAB", "--via", "portaal", "--status", "actief"}, exitUsage, []string{"pgb-wmo", "--product"}},
		{"gemeente", []string{"ophalen", "--nieuw=ja"}, exitUsage, []string{"--nieuw neemt geen waarde"}},
		{"gemeente", []string{"ophalen", "--product", "wmo"}, exitUsage, []string{"wmo"}},
		{"gemeente", []string{"verslag"}, exitUsage, []string{"gebruik: verslag ID|BESTANDSNAAM"}},
		{"gemeente", []string{"gelezen"}, exitUsage, []string{"gebruik: gelezen BESTAND…"}},
		{"aanbieder", []string{"gelezen", "iwmo/verslagen/" + d.Name}, exitUsage, []string{"alleen bestanden in ophalen/"}},
		{"gemeente", []string{"herstel", "a", "b"}, exitUsage, []string{"verkeerd aantal argumenten"}},
		{"gemeente", []string{"whoami", "--bogus"}, exitUsage, []string{"onbekende optie --bogus"}},
		{"gemeente", []string{"gebruiker"}, exitUsage, []string{"gebruiker add", "gebruiker key remove"}},
		{"gemeente", []string{"ophaal"}, exitUsage, []string{"onbekende opdracht", "help"}},
	} {
		out, errOut, code := th.ssh(tc.account, th.keys[tc.account], tc.args...)
		if code != tc.code {
			t.Errorf("%s %q: exit %d, want %d; stdout %q stderr %q", tc.account, tc.args, code, tc.code, out, errOut)
			continue
		}
		if out != "" {
			t.Errorf("%s %q: stdout %q on an error", tc.account, tc.args, out)
		}
		if !strings.HasPrefix(errOut, "fout: ") {
			t.Errorf("%s %q: stderr %q", tc.account, tc.args, errOut)
		}
		for _, w := range tc.words {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s %q: stderr %q does not mention %q", tc.account, tc.args, errOut, w)
			}
		}
	}
	// Nothing changed: the file is still new, the routes as they were, no account added.
	if n := len(th.inbox(t, "aanbieder", exchange.IWmo, true)); n != 1 {
		t.Fatalf("%d new files after the refusals", n)
	}
	rs, err := th.hub.Routes(th.principal(t, "ameland"), exchange.IWmo)
	if err != nil || rs[0].Via != exchange.Portaal {
		t.Fatalf("ameland's route = %+v, %v", rs, err)
	}
	if _, err := th.hub.Account("piet"); err == nil {
		t.Fatal("a refused gebruiker add made the account")
	}
	assertAudited(t, th.hub, "ameland", "route", "iwmo/routes/WMO 301/302", "productbeheerder")
}
