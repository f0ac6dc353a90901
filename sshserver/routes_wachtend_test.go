package sshserver

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"knooppunt/exchange"
	"knooppunt/sshserver/opdrachten"
)

// TestRoutesSayWhatTheyDo (issue 13, item 8), through OpenSSH ssh and sftp: a route on
// Digikoppeling counts the messages that wait on it (routes), the verslag of the upload says
// per recipient that they wait instead of plain Afgeleverd, and a samenwerking shows on both
// sides (producten, org list).
func TestRoutesSayWhatTheyDo(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	if err := th.hub.SetRoles(exchange.System, "aanbieder", []exchange.Role{exchange.Gebruiker, exchange.Productbeheerder}); err != nil {
		t.Fatal(err)
	}
	if err := th.hub.SetSamenwerking(exchange.System, "0060", exchange.IWmo, "9999"); err != nil {
		t.Fatal(err)
	}
	th.run(t, "aanbieder", exitOK, "route", "zet", "WMO 301/302", "--via", "digikoppeling", "--status", "actief", "--cpa", th.testCPA(t, "12345678"), "--product", "iwmo")
	u, _ := th.sendWMO301(t, "wacht.zip", 3)

	var routes []opdrachten.RouteJSON
	th.runJSON(t, "aanbieder", &routes, "routes", "--product", "iwmo")
	i := slices.IndexFunc(routes, func(r opdrachten.RouteJSON) bool { return r.Uitwisseling == "WMO 301/302" })
	if i < 0 || routes[i].Wachtend != 3 {
		t.Fatalf("routes: WMO 301/302 does not count 3 waiting messages: %+v", routes)
	}
	if out := th.run(t, "aanbieder", exitOK, "routes", "--product", "iwmo"); !strings.Contains(out, "WACHTEND") {
		t.Errorf("routes text has no WACHTEND column:\n%s", out)
	}

	var v exchange.Verslag
	th.runJSON(t, "gemeente", &v, "verslag", strconv.FormatUint(u.ID, 10))
	if v.Status != "Afgeleverd" || len(v.Wachtend) != 1 || v.Wachtend[0] != (exchange.Wachtend{Organisatie: "12345678", Uitwisseling: "WMO 301/302", Berichten: 3}) {
		t.Fatalf("verslag --json wachtend = %+v", v)
	}
	txt := th.run(t, "gemeente", exitOK, "verslag", strconv.FormatUint(u.ID, 10))
	if !strings.Contains(txt, "Status: Afgeleverd, maar 3 van de 3 berichten wachten") || !strings.Contains(txt, "3 bericht(en) voor Zorgaanbieder Test (12345678), WMO 301/302") {
		t.Errorf("verslag does not say the messages wait, per recipient:\n%s", txt)
	}
	// Released: the route's count goes back to 0.
	th.run(t, "aanbieder", exitOK, "route", "zet", "WMO 301/302", "--via", "portaal", "--status", "actief", "--product", "iwmo")
	th.runJSON(t, "aanbieder", &routes, "routes", "--product", "iwmo")
	if i := slices.IndexFunc(routes, func(r opdrachten.RouteJSON) bool { return r.Uitwisseling == "WMO 301/302" }); routes[i].Wachtend != 0 {
		t.Errorf("routes after the release: %+v", routes[i])
	}
	// ... and the upload no longer waits: its verslag is plain Afgeleverd again, and
	// verslagen/ lists it with the size it now has.
	v = exchange.Verslag{}
	th.runJSON(t, "gemeente", &v, "verslag", strconv.FormatUint(u.ID, 10))
	if v.Status != "Afgeleverd" || len(v.Wachtend) != 0 {
		t.Errorf("verslag after the release: %+v", v)
	}
	reports, err := th.hub.Reports(context.Background(), th.principal(t, "gemeente"), "iwmo")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if _, body, err := th.hub.OpenReport(context.Background(), th.principal(t, "gemeente"), "iwmo", r.Name); err != nil || int64(len(body)) != r.Size {
			t.Errorf("%s: listed %d bytes, serves %d (%v)", r.Name, r.Size, len(body), err)
		}
	}

	// The samenwerking from both sides.
	var prods []opdrachten.ProductJSON
	th.runJSON(t, "gemeente", &prods, "producten")
	if i := slices.IndexFunc(prods, func(p opdrachten.ProductJSON) bool { return p.Product == "iwmo" }); i < 0 || !slices.Equal(prods[i].UitgevoerdVoor, []string{"0060"}) {
		t.Errorf("producten of 9999 does not say it runs iwmo for 0060: %+v", prods)
	}
	th.runJSON(t, "ameland", &prods, "producten")
	if i := slices.IndexFunc(prods, func(p opdrachten.ProductJSON) bool { return p.Product == "iwmo" }); i < 0 || prods[i].UitgevoerdDoor != "9999" {
		t.Errorf("producten of 0060 does not say 9999 runs iwmo: %+v", prods)
	}
	if out := th.run(t, "gemeente", exitOK, "org", "list"); !strings.Contains(out, "iwmo voor 0060") {
		t.Errorf("org list for 9999 does not show the samenwerking:\n%s", out)
	}
	if out := th.run(t, "beheer", exitOK, "org", "list"); !strings.Contains(out, "iwmo door 9999") || !strings.Contains(out, "iwmo voor 0060") {
		t.Errorf("org list for beheer does not show both sides:\n%s", out)
	}

	// A message 9999 sends for 0060 says so in 9999's berichtenlog, direction uit.
	f := writeFile(t, "ameland.xml", env("WMO301", "0060", "12345678", uuid4(), ""))
	if _, err := th.sftp(t, "gemeente", "put "+f+" /iwmo/aanleveren/ameland.xml\n"); err != nil {
		t.Fatal(err)
	}
	th.awaitUpload(t, "ameland.xml")
	var msgs []opdrachten.MessageJSON
	th.runJSON(t, "gemeente", &msgs, "berichtenlog", "--richting", "uit", "--product", "iwmo")
	if i := slices.IndexFunc(msgs, func(m opdrachten.MessageJSON) bool { return m.Zender == "0060" }); i < 0 || msgs[i].Namens != "0060" || msgs[i].Richting != "uit" {
		t.Errorf("berichtenlog --richting uit of 9999 lacks the message for 0060, or its namens: %+v", msgs)
	}
}
