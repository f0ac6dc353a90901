package ebms

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CPASpec describes a CPA between the hub and one partner for NewCPA. Zero values take the
// defaults written after each field, which give a CPA that Check accepts.
type CPASpec struct {
	ID      string    // "" → "GGK_<hub OIN>_<partner OIN>_1" (Digikoppeling naming advice)
	Start   time.Time // zero → now minus one hour, whole seconds
	End     time.Time // zero → Start plus two years
	Hub     PartySpec // Role "" → "Knooppunt"
	Partner PartySpec // Role "" → "Deelnemer"

	Service Service  // zero → GGKService of type urn:osb:services
	Actions []string // nil → GGKActions; each party may send and receive each one

	Profile               string        // "" → osb-rm; osb-be, osb-rm-s, osb-be-s
	SyncReplyMode         string        // "" → "none"; or "mshSignalsOnly"
	AckSignatureRequested bool          // signed Acknowledgments (signed profiles only)
	Retries               int           // reliable messaging; 0 → 3
	RetryInterval         time.Duration // 0 → 1 minute
	PersistDuration       time.Duration // 0 → 1 day

	// For tests that need a CPA the hub must refuse; leave zero otherwise.
	Status             string // "" → "agreed"
	SignatureAlgorithm string // "" → rsa-sha256
	HashFunction       string // "" → sha256
	Encryption         bool   // adds a DigitalEnvelope (profile -e)
}

// PartySpec is one party of a generated CPA.
type PartySpec struct {
	OIN      string
	Name     string // "" → the OIN
	Role     string
	Endpoint string            // where the party receives, e.g. https://host:8443/ebms
	Cert     *x509.Certificate // its TLS certificate (client and server); optional
	Signing  *x509.Certificate // its signing certificate; nil → Cert
}

// NewCPA writes a CPA (OASIS CPPA 2.0, in the form of the Digikoppeling CPAs) for the hub and a
// partner, each with one CollaborationRole that may send and receive every action of the
// service on one delivery channel of the chosen profile.
func NewCPA(s CPASpec) ([]byte, error) {
	if s.Hub.OIN == "" || s.Partner.OIN == "" {
		return nil, errors.New("ebms: NewCPA vraagt het OIN van de hub en van de partner")
	}
	if s.ID == "" {
		s.ID = fmt.Sprintf("GGK_%s_%s_1", s.Hub.OIN, s.Partner.OIN)
	}
	if s.Start.IsZero() {
		s.Start = time.Now().Add(-time.Hour).Truncate(time.Second)
	}
	if s.End.IsZero() {
		s.End = s.Start.AddDate(2, 0, 0)
	}
	if s.Hub.Role == "" {
		s.Hub.Role = "Knooppunt"
	}
	if s.Partner.Role == "" {
		s.Partner.Role = "Deelnemer"
	}
	if s.Service.Value == "" {
		s.Service = Service{Type: GGKServiceType, Value: GGKService}
	}
	if s.Actions == nil {
		s.Actions = GGKActions
	}
	if s.Profile == "" {
		s.Profile = ProfileReliableMessaging
	}
	if s.SyncReplyMode == "" {
		s.SyncReplyMode = "none"
	}
	if s.Retries == 0 {
		s.Retries = 3
	}
	if s.RetryInterval == 0 {
		s.RetryInterval = time.Minute
	}
	if s.PersistDuration == 0 {
		s.PersistDuration = 24 * time.Hour
	}
	if s.Status == "" {
		s.Status = "agreed"
	}
	if s.SignatureAlgorithm == "" {
		s.SignatureAlgorithm = AlgRSASHA256
	}
	if s.HashFunction == "" {
		s.HashFunction = AlgSHA256
	}
	switch s.Profile {
	case ProfileBestEffort, ProfileReliableMessaging, ProfileBestEffortSigned, ProfileReliableMessagingSigned:
	default:
		return nil, fmt.Errorf("ebms: onbekend profiel %q", s.Profile)
	}
	rm := strings.HasPrefix(s.Profile, ProfileReliableMessaging)
	signed := strings.HasSuffix(s.Profile, "-s")

	var b bytes.Buffer
	esc := func(v string) string {
		var w bytes.Buffer
		_ = xml.EscapeText(&w, []byte(v)) // a bytes.Buffer never fails
		return strings.ReplaceAll(w.String(), `"`, "&quot;")
	}
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	p("<tns:CollaborationProtocolAgreement xmlns:tns=%q xmlns:ds=%q xmlns:xlink=%q tns:cpaid=\"%s\" tns:version=\"1\">\n",
		NamespaceCPA, NamespaceDSig, NamespaceXLink, esc(s.ID))
	p("\t<tns:Status tns:value=\"%s\"/>\n", esc(s.Status))
	p("\t<tns:Start>%s</tns:Start>\n\t<tns:End>%s</tns:End>\n", s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339))
	for i, party := range []PartySpec{s.Hub, s.Partner} {
		pre := [...]string{"HUB", "PARTNER"}[i]
		name := party.Name
		if name == "" {
			name = party.OIN
		}
		channel := pre + "_channel"
		p("\t<tns:PartyInfo tns:partyName=\"%s\" tns:defaultMshChannelId=\"%s\" tns:defaultMshPackageId=\"MshSignalPackage\">\n", esc(name), channel)
		p("\t\t<tns:PartyId tns:type=\"%s\">%s</tns:PartyId>\n", PartyTypeOIN, esc(party.OIN))
		p("\t\t<tns:PartyRef xlink:href=\"\"/>\n")
		p("\t\t<tns:CollaborationRole>\n")
		p("\t\t\t<tns:ProcessSpecification tns:name=\"%s\" tns:version=\"1.0\" xlink:href=\"%s\"/>\n", esc(s.Service.Value), GGKNamespace)
		p("\t\t\t<tns:Role tns:name=\"%s\" xlink:href=\"%s\"/>\n", esc(party.Role), GGKNamespace)
		p("\t\t\t<tns:ServiceBinding>\n")
		p("\t\t\t\t<tns:Service tns:type=\"%s\">%s</tns:Service>\n", esc(s.Service.Type), esc(s.Service.Value))
		for _, dir := range []string{"CanSend", "CanReceive"} {
			for _, a := range s.Actions {
				p("\t\t\t\t<tns:%s>\n", dir)
				p("\t\t\t\t\t<tns:ThisPartyActionBinding tns:id=\"%s_%s_%s\" tns:action=\"%s\" tns:packageId=\"XMLMessagePackage\">\n", pre, dir, esc(a), esc(a))
				p("\t\t\t\t\t\t<tns:BusinessTransactionCharacteristics tns:isNonRepudiationRequired=\"%t\" tns:isNonRepudiationReceiptRequired=\"%t\" tns:isConfidential=\"transient\" tns:isAuthenticated=\"transient\" tns:isAuthorizationRequired=\"true\" tns:isTamperProof=\"transient\" tns:isIntelligibleCheckRequired=\"false\"/>\n", signed, signed && s.AckSignatureRequested)
				p("\t\t\t\t\t\t<tns:ChannelId>%s</tns:ChannelId>\n", channel)
				p("\t\t\t\t\t</tns:ThisPartyActionBinding>\n")
				p("\t\t\t\t</tns:%s>\n", dir)
			}
		}
		p("\t\t\t</tns:ServiceBinding>\n\t\t</tns:CollaborationRole>\n")
		certID := ""
		if party.Cert != nil {
			certID = pre + "_cert"
			writeCertificate(&b, certID, party.Cert)
		}
		signID := certID
		if party.Signing != nil && (party.Cert == nil || !party.Signing.Equal(party.Cert)) {
			signID = pre + "_signing"
			writeCertificate(&b, signID, party.Signing)
		}
		if signID != "" {
			p("\t\t<tns:SecurityDetails tns:securityId=\"%s_security\">\n\t\t\t<tns:TrustAnchors>\n\t\t\t\t<tns:AnchorCertificateRef tns:certId=\"%s\"/>\n\t\t\t</tns:TrustAnchors>\n\t\t</tns:SecurityDetails>\n", pre, signID)
		}
		ack, dup := "never", "never"
		if rm {
			ack, dup = "always", "always"
		}
		ackSig := "never"
		if signed && s.AckSignatureRequested {
			ackSig = "always"
		}
		p("\t\t<tns:DeliveryChannel tns:channelId=\"%s\" tns:transportId=\"%s_transport\" tns:docExchangeId=\"%s_docexchange\">\n", channel, pre, pre)
		p("\t\t\t<tns:MessagingCharacteristics tns:syncReplyMode=\"%s\" tns:ackRequested=\"%s\" tns:ackSignatureRequested=\"%s\" tns:duplicateElimination=\"%s\" tns:actor=\"%s\"/>\n",
			esc(s.SyncReplyMode), ack, ackSig, dup, ActorToPartyMSH)
		p("\t\t</tns:DeliveryChannel>\n")
		p("\t\t<tns:Transport tns:transportId=\"%s_transport\">\n", pre)
		p("\t\t\t<tns:TransportSender>\n\t\t\t\t<tns:TransportProtocol tns:version=\"1.1\">HTTP</tns:TransportProtocol>\n")
		if certID != "" {
			p("\t\t\t\t<tns:TransportClientSecurity>\n\t\t\t\t\t<tns:TransportSecurityProtocol tns:version=\"1.2\">TLS</tns:TransportSecurityProtocol>\n\t\t\t\t\t<tns:ClientCertificateRef tns:certId=\"%s\"/>\n\t\t\t\t</tns:TransportClientSecurity>\n", certID)
		}
		p("\t\t\t</tns:TransportSender>\n")
		p("\t\t\t<tns:TransportReceiver>\n\t\t\t\t<tns:TransportProtocol tns:version=\"1.1\">HTTP</tns:TransportProtocol>\n")
		p("\t\t\t\t<tns:Endpoint tns:uri=\"%s\" tns:type=\"allPurpose\"/>\n", esc(party.Endpoint))
		if certID != "" {
			p("\t\t\t\t<tns:TransportServerSecurity>\n\t\t\t\t\t<tns:TransportSecurityProtocol tns:version=\"1.2\">TLS</tns:TransportSecurityProtocol>\n\t\t\t\t\t<tns:ServerCertificateRef tns:certId=\"%s\"/>\n\t\t\t\t</tns:TransportServerSecurity>\n", certID)
		}
		p("\t\t\t</tns:TransportReceiver>\n\t\t</tns:Transport>\n")
		p("\t\t<tns:DocExchange tns:docExchangeId=\"%s_docexchange\">\n", pre)
		for _, side := range []string{"Sender", "Receiver"} {
			p("\t\t\t<tns:ebXML%sBinding tns:version=\"2.0\">\n", side)
			if rm {
				p("\t\t\t\t<tns:ReliableMessaging>\n\t\t\t\t\t<tns:Retries>%d</tns:Retries>\n\t\t\t\t\t<tns:RetryInterval>%s</tns:RetryInterval>\n\t\t\t\t\t<tns:MessageOrderSemantics>NotGuaranteed</tns:MessageOrderSemantics>\n\t\t\t\t</tns:ReliableMessaging>\n",
					s.Retries, FormatDuration(s.RetryInterval))
				p("\t\t\t\t<tns:PersistDuration>%s</tns:PersistDuration>\n", FormatDuration(s.PersistDuration))
			}
			if signed {
				p("\t\t\t\t<tns:%sNonRepudiation>\n", side)
				p("\t\t\t\t\t<tns:NonRepudiationProtocol>%s</tns:NonRepudiationProtocol>\n", NonRepudiationDSig)
				p("\t\t\t\t\t<tns:HashFunction>%s</tns:HashFunction>\n", esc(s.HashFunction))
				p("\t\t\t\t\t<tns:SignatureAlgorithm>%s</tns:SignatureAlgorithm>\n", esc(s.SignatureAlgorithm))
				if side == "Sender" && signID != "" {
					p("\t\t\t\t\t<tns:SigningCertificateRef tns:certId=\"%s\"/>\n", signID)
				} else if side == "Receiver" && signID != "" {
					p("\t\t\t\t\t<tns:SigningSecurityDetailsRef tns:securityId=\"%s_security\"/>\n", pre)
				}
				p("\t\t\t\t</tns:%sNonRepudiation>\n", side)
			}
			if s.Encryption {
				p("\t\t\t\t<tns:%sDigitalEnvelope>\n\t\t\t\t\t<tns:DigitalEnvelopeProtocol tns:version=\"1.0\">XMLENC</tns:DigitalEnvelopeProtocol>\n\t\t\t\t\t<tns:EncryptionAlgorithm>http://www.w3.org/2001/04/xmlenc#aes256-cbc</tns:EncryptionAlgorithm>\n\t\t\t\t</tns:%sDigitalEnvelope>\n", side, side)
			}
			p("\t\t\t</tns:ebXML%sBinding>\n", side)
		}
		p("\t\t</tns:DocExchange>\n")
		p("\t</tns:PartyInfo>\n")
	}
	p("\t<tns:SimplePart tns:id=\"MsgHdr\" tns:mimetype=\"text/xml\"/>\n\t<tns:SimplePart tns:id=\"XMLMsg\" tns:mimetype=\"application/xml\"/>\n")
	p("\t<tns:Packaging tns:id=\"MshSignalPackage\">\n\t\t<tns:ProcessingCapabilities tns:parse=\"true\" tns:generate=\"true\"/>\n\t\t<tns:CompositeList>\n\t\t\t<tns:Composite tns:id=\"MshSignal\" tns:mimetype=\"multipart/related\" tns:mimeparameters=\"type=text/xml\">\n\t\t\t\t<tns:Constituent tns:idref=\"MsgHdr\"/>\n\t\t\t</tns:Composite>\n\t\t</tns:CompositeList>\n\t</tns:Packaging>\n")
	p("\t<tns:Packaging tns:id=\"XMLMessagePackage\">\n\t\t<tns:ProcessingCapabilities tns:parse=\"true\" tns:generate=\"true\"/>\n\t\t<tns:CompositeList>\n\t\t\t<tns:Composite tns:id=\"Message\" tns:mimetype=\"multipart/related\" tns:mimeparameters=\"type=text/xml\">\n\t\t\t\t<tns:Constituent tns:idref=\"MsgHdr\"/>\n\t\t\t\t<tns:Constituent tns:idref=\"XMLMsg\"/>\n\t\t\t</tns:Composite>\n\t\t</tns:CompositeList>\n\t</tns:Packaging>\n")
	p("</tns:CollaborationProtocolAgreement>\n")
	return b.Bytes(), nil
}

func writeCertificate(b *bytes.Buffer, id string, c *x509.Certificate) {
	fmt.Fprintf(b, "\t\t<tns:Certificate tns:certId=\"%s\">\n\t\t\t<ds:KeyInfo>\n\t\t\t\t<ds:X509Data>\n\t\t\t\t\t<ds:X509Certificate>%s</ds:X509Certificate>\n\t\t\t\t</ds:X509Data>\n\t\t\t</ds:KeyInfo>\n\t\t</tns:Certificate>\n",
		id, base64.StdEncoding.EncodeToString(c.Raw))
}
