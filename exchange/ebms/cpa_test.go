package ebms

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var refNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// TestReferenceCPAs imports every CPA of the reference set with the hub set to the first party
// (00000000000000000000): what the hub can serve is accepted, the rest refused with its reason.
func TestReferenceCPAs(t *testing.T) {
	dir := referenceDir(t, "ebms/cpas")
	want := map[string]string{ // file → "" (accepted) or a fragment of the refusal
		"cpa-cv-http.xml":                          "geen van de partijen is de hub", // PartyId type urn:cv:oin
		"cpa-cv-https.xml":                         "geen van de partijen is de hub",
		"cpaStubEBF.be.http.signed.xml":            "rsa-sha1 wordt geweigerd",
		"cpaStubEBF.be.http.unsigned.sync.xml":     `syncReplyMode "signalsAndResponse" wordt niet ondersteund`,
		"cpaStubEBF.be.http.unsigned.xml":          "is geen https-adres",
		"cpaStubEBF.be.https.signed.sync.xml":      "rsa-sha1 wordt geweigerd",
		"cpaStubEBF.be.https.signed.xml":           "rsa-sha1 wordt geweigerd",
		"cpaStubEBF.rm.http.signed-sha256.xml":     "is geen https-adres",
		"cpaStubEBF.rm.http.signed.xml":            "rsa-sha1 wordt geweigerd",
		"cpaStubEBF.rm.http.unsigned.sync.xml":     `syncReplyMode "signalsAndResponse" wordt niet ondersteund`,
		"cpaStubEBF.rm.http.unsigned.xml":          "is geen https-adres",
		"cpaStubEBF.rm.https.signed-sha256.xml":    "",
		"cpaStubEBF.rm.https.signed.ackSigned.xml": "rsa-sha1 wordt geweigerd",
		"cpaStubEBF.rm.https.signed.encrypted.xml": "vraagt versleuteling",
		"cpaStubEBF.rm.https.signed.sync.xml":      "rsa-sha1 wordt geweigerd",
		"cpaStubEBF.rm.https.signed.xml":           "rsa-sha1 wordt geweigerd",
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CPAs in %s: %v", dir, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseCPA(data)
			if err != nil {
				t.Fatalf("ParseCPA: %v", err)
			}
			if len(c.Parties) != 2 {
				t.Fatalf("%d parties", len(c.Parties))
			}
			frag, known := want[name]
			if !known {
				t.Fatalf("no expectation for %s", name)
			}
			err = c.Check("00000000000000000000", refNow)
			switch {
			case frag == "" && err != nil:
				t.Errorf("refused, want accepted: %v", err)
			case frag != "" && err == nil:
				t.Errorf("accepted, want refused with %q", frag)
			case frag != "" && !strings.Contains(err.Error(), frag):
				t.Errorf("refused with %q, want %q", err, frag)
			default:
				t.Logf("%s: %v", name, err)
			}
		})
	}
}

// TestReferenceCPAContent reads the fields of the one reference CPA the hub accepts.
func TestReferenceCPAContent(t *testing.T) {
	dir := referenceDir(t, "ebms/cpas")
	data, err := os.ReadFile(filepath.Join(dir, "cpaStubEBF.rm.https.signed-sha256.xml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCPA(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "cpaStubEBF.rm.https.signed-sha256" || c.Status != "agreed" || c.Start.Year() != 2011 || c.End.Year() != 2031 {
		t.Errorf("header: %+v", c)
	}
	hub, err := c.Hub("00000000000000000000")
	if err != nil || hub.Name != "Logius" {
		t.Fatalf("Hub: %v %v", hub, err)
	}
	other, err := c.OtherOIN("00000000000000000000")
	if err != nil || other != "00000000000000000001" {
		t.Errorf("OtherOIN = %q, %v", other, err)
	}
	b, err := c.Binding(PartyID{Type: PartyTypeOIN, Value: "00000000000000000000"}, "DIGIPOORT", Service{Type: "urn:osb:services", Value: "osb:afleveren:1.1$1.0"}, "afleveren")
	if err != nil {
		t.Fatal(err)
	}
	if b.ToRole != "OVERHEID" || b.Endpoint() != "https://localhost:8088/ebms" {
		t.Errorf("binding to %s at %s", b.ToRole, b.Endpoint())
	}
	if !b.AckRequested() || !b.DuplicateElimination() || b.SyncReply() || !b.Signed() || b.AckSignatureRequested() {
		t.Errorf("channel: ack %v dup %v sync %v signed %v", b.AckRequested(), b.DuplicateElimination(), b.SyncReply(), b.Signed())
	}
	if n, d := b.Retries(); n != 5 || d != 5*time.Minute {
		t.Errorf("Retries = %d, %v", n, d)
	}
	if b.PersistDuration() != 30*time.Minute {
		t.Errorf("PersistDuration = %v", b.PersistDuration())
	}
	nr := b.SendChannel.NonRepudiation
	if nr.SignatureAlgorithm != AlgRSASHA256 || nr.HashFunction != AlgSHA256 || b.SenderSigningCert() == nil {
		t.Errorf("non-repudiation %+v, cert %v", nr, b.SenderSigningCert())
	}
	if got := b.SendChannel.Profile(); got != ProfileReliableMessagingSigned {
		t.Errorf("profile %s", got)
	}
	if len(hub.TLSCertificates()) != 1 || hub.TLSCertificates()[0].Subject.CommonName != "localhost" {
		t.Errorf("TLS certificates %v", hub.TLSCertificates())
	}
	// The receiving side may not send what it only receives.
	if c.Allowed(PartyID{Type: PartyTypeOIN, Value: "00000000000000000001"}, "OVERHEID", Service{Value: "osb:afleveren:1.1$1.0"}, "afleveren") {
		t.Error("OVERHEID may send afleveren")
	}
	if !c.Allowed(PartyID{Type: PartyTypeOIN, Value: "00000000000000000001"}, "OVERHEID", Service{Value: "osb:aanleveren:1.1$1.0"}, "aanleveren") {
		t.Error("OVERHEID may not send aanleveren")
	}
}

func TestGeneratedCPA(t *testing.T) {
	for _, profile := range []string{ProfileBestEffort, ProfileReliableMessaging, ProfileBestEffortSigned, ProfileReliableMessagingSigned} {
		for _, sync := range []string{"none", "mshSignalsOnly"} {
			c, _ := testCPA(t, CPASpec{Profile: profile, SyncReplyMode: sync, Retries: 4, RetryInterval: 90 * time.Second})
			if err := c.Check(hubOIN, time.Now()); err != nil {
				t.Errorf("%s/%s: %v", profile, sync, err)
				continue
			}
			if o, _ := c.OtherOIN(hubOIN); o != partnerOIN {
				t.Errorf("OtherOIN %q", o)
			}
			for _, from := range []string{hubOIN, partnerOIN} {
				for _, a := range GGKActions {
					b, err := c.Binding(PartyID{Type: PartyTypeOIN, Value: from}, "", Service{Type: GGKServiceType, Value: GGKService}, a)
					if err != nil {
						t.Fatalf("%s %s: %v", from, a, err)
					}
					if got := b.ReceiveChannel.Profile(); got != profile {
						t.Errorf("profile %s, want %s", got, profile)
					}
					if b.SyncReply() != (sync == "mshSignalsOnly") {
						t.Errorf("SyncReply %v for %s", b.SyncReply(), sync)
					}
					rm := strings.HasPrefix(profile, "osb-rm")
					if n, d := b.Retries(); rm && (n != 4 || d != 90*time.Second) {
						t.Errorf("Retries %d %v", n, d)
					}
					if b.Signed() != strings.HasSuffix(profile, "-s") {
						t.Errorf("Signed %v for %s", b.Signed(), profile)
					}
					if b.Signed() && !b.SenderSigningCert().Equal(identity(t, from).cert) {
						t.Errorf("signing certificate of %s is not its own", from)
					}
					wantEP := map[string]string{hubOIN: "https://gemeente.example/ebms", partnerOIN: "https://hub.example:8443/ebms"}[from]
					if b.Endpoint() != wantEP {
						t.Errorf("endpoint %s, want %s", b.Endpoint(), wantEP)
					}
				}
			}
			if c.Allowed(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, "ggk_Xx01") {
				t.Error("unknown action allowed")
			}
		}
	}
}

func TestCPARefusals(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	start := now.Add(-24 * time.Hour)
	hub := PartySpec{OIN: hubOIN, Endpoint: "https://hub.example/ebms"}
	partner := PartySpec{OIN: partnerOIN, Endpoint: "https://partner.example/ebms"}
	cases := []struct {
		name   string
		spec   CPASpec
		hubOIN string
		want   string
	}{
		{"proposed", CPASpec{Status: "proposed"}, hubOIN, `status "proposed"`},
		{"start after end", CPASpec{Start: now, End: now.Add(-time.Hour)}, hubOIN, "ligt niet vóór End"},
		{"expired", CPASpec{Start: start.AddDate(-2, 0, 0), End: start}, hubOIN, "is verlopen"},
		{"not yet valid", CPASpec{Start: now.Add(time.Hour), End: now.AddDate(1, 0, 0)}, hubOIN, "nog niet geldig"},
		{"hub absent", CPASpec{}, "00000000000000000099", "geen van de partijen is de hub"},
		{"both hub", CPASpec{Partner: PartySpec{OIN: hubOIN, Endpoint: "https://x/ebms"}}, hubOIN, "beide partijen"},
		{"http partner", CPASpec{Partner: PartySpec{OIN: partnerOIN, Endpoint: "http://partner.example/ebms"}}, hubOIN, "geen https-adres"},
		{"no endpoint", CPASpec{Partner: PartySpec{OIN: partnerOIN}}, hubOIN, "geen transport-endpoint"},
		{"rsa-sha1", CPASpec{Profile: ProfileReliableMessagingSigned, SignatureAlgorithm: AlgRSASHA1}, hubOIN, "rsa-sha1 wordt geweigerd"},
		{"sha1 digest", CPASpec{Profile: ProfileReliableMessagingSigned, HashFunction: AlgSHA1}, hubOIN, "sha1 wordt geweigerd"},
		{"encryption", CPASpec{Profile: ProfileReliableMessagingSigned, Encryption: true}, hubOIN, "vraagt versleuteling"},
		{"sync response", CPASpec{SyncReplyMode: "signalsAndResponse"}, hubOIN, "syncReplyMode"},
		{"signed without certificate", CPASpec{Profile: ProfileReliableMessagingSigned}, hubOIN, "geen certificaat van die partij"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			if spec.Start.IsZero() {
				spec.Start, spec.End = start, now.AddDate(1, 0, 0)
			}
			if spec.Hub.OIN == "" {
				spec.Hub = hub
			}
			if spec.Partner.OIN == "" {
				spec.Partner = partner
			}
			c, _ := testCPA(t, spec)
			err := c.Check(tc.hubOIN, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
			t.Log(err)
		})
	}
	// The http endpoint of the hub itself is the hub's own business; only the partner's counts.
	c, _ := testCPA(t, CPASpec{Start: start, End: now.AddDate(1, 0, 0), Hub: PartySpec{OIN: hubOIN, Endpoint: "http://127.0.0.1:8080/ebms"}, Partner: partner})
	if err := c.Check(hubOIN, now); err != nil {
		t.Errorf("hub's own http endpoint refused: %v", err)
	}
}

func TestParseCPARefusesBadInput(t *testing.T) {
	_, data := testCPA(t, CPASpec{})
	xxe := strings.Replace(string(data), "<tns:CollaborationProtocolAgreement", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><tns:CollaborationProtocolAgreement`, 1)
	xxe = strings.Replace(xxe, "<tns:Start>", "<tns:Start>&e;", 1)
	for name, in := range map[string]string{
		"dtd":       xxe,
		"entity":    strings.Replace(string(data), "<tns:Start>", "<tns:Start>&e;", 1),
		"not a cpa": `<a/>`,
		"truncated": string(data[:len(data)/2]),
		"empty":     "",
		"no cpaid":  strings.Replace(string(data), "tns:cpaid=", "tns:cpa=", 1),
		"bad start": strings.Replace(string(data), "<tns:Start>", "<tns:Start>gisteren", 1),
	} {
		if _, err := ParseCPA([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT5M": 5 * time.Minute, "PT30M": 30 * time.Minute, "P1D": 24 * time.Hour, "P1DT2H3M4.5S": 26*time.Hour + 3*time.Minute + 4500*time.Millisecond,
		"PT0S": 0, "-PT1H": -time.Hour, "P1Y": 365 * 24 * time.Hour,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
		if want >= 0 && want < 365*24*time.Hour {
			if back, _ := ParseDuration(FormatDuration(want)); back != want {
				t.Errorf("FormatDuration(%v) = %q does not read back", want, FormatDuration(want))
			}
		}
	}
	for _, in := range []string{"", "P", "PT", "5M", "PT5", "P1H", "PTM"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}
