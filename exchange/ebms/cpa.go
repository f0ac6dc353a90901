package ebms

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CPA is a parsed Collaboration Protocol Agreement (OASIS CPPA 2.0) between two parties.
type CPA struct {
	ID      string // tns:cpaid
	Version string // tns:version
	Status  string // tns:Status/@value: "agreed", "signed", "proposed"
	Start   time.Time
	End     time.Time
	Parties []*PartyInfo // as in the document; Check demands exactly two
}

// PartyInfo is one party of a CPA.
type PartyInfo struct {
	Name           string    // tns:partyName
	PartyIDs       []PartyID // at least one; Digikoppeling: type urn:osb:oin
	Roles          []*Role   // one per CollaborationRole
	DefaultChannel *DeliveryChannel
	Channels       map[string]*DeliveryChannel    // by channelId
	Certificates   map[string]*x509.Certificate   // by certId; a Certificate without X509Certificate is absent
	certErrors     map[string]error               // certId → why its X509Certificate did not parse
	transports     map[string]*transport          // by transportId
	docExchanges   map[string]*docExchange        // by docExchangeId
	securityCerts  map[string][]*x509.Certificate // SecurityDetails securityId → anchors
}

// PartyID is an eb:PartyId or tns:PartyId: a value and its type.
type PartyID struct {
	Type  string
	Value string
}

func (p PartyID) String() string {
	if p.Type == "" {
		return p.Value
	}
	return p.Type + ":" + p.Value
}

// Service is an ebMS Service with its type.
type Service struct {
	Type  string
	Value string
}

// Role is one CollaborationRole: the party's role name and the actions of one service it may
// send and receive.
type Role struct {
	Name       string // tns:Role/@name, what eb:From/eb:Role and eb:To/eb:Role carry
	Service    Service
	CanSend    []*ActionBinding
	CanReceive []*ActionBinding
}

// ActionBinding is a ThisPartyActionBinding: an action and the delivery channel it uses.
type ActionBinding struct {
	ID      string
	Action  string
	Channel *DeliveryChannel // nil when the ChannelId names no channel of this party
}

// DeliveryChannel is a party's DeliveryChannel with its Transport and DocExchange resolved.
type DeliveryChannel struct {
	ID string

	// MessagingCharacteristics.
	SyncReplyMode         string // "none", "mshSignalsOnly", "signalsOnly", "responseOnly", "signalsAndResponse"
	AckRequested          string // "always", "never", "perMessage"
	AckSignatureRequested string
	DuplicateElimination  string
	Actor                 string

	// Transport: where this party receives (TransportReceiver Endpoint), and the certificates of
	// its TLS client and server sides.
	Endpoint   string
	ClientCert *x509.Certificate // TransportSender/TransportClientSecurity/ClientCertificateRef
	ServerCert *x509.Certificate // TransportReceiver/TransportServerSecurity/ServerCertificateRef

	// DocExchange (ebXMLSenderBinding; the receiver binding only for encryption).
	ReliableMessaging *ReliableMessaging // nil: best effort
	PersistDuration   time.Duration
	NonRepudiation    *NonRepudiation   // nil: unsigned
	SigningCert       *x509.Certificate // SenderNonRepudiation/SigningCertificateRef
	Encryption        bool              // a Sender- or ReceiverDigitalEnvelope is present
	EncryptionAlg     string
}

// ReliableMessaging is the DocExchange's ReliableMessaging.
type ReliableMessaging struct {
	Retries       int
	RetryInterval time.Duration
	MessageOrder  string // "NotGuaranteed" or "Guaranteed"
}

// NonRepudiation is the DocExchange's SenderNonRepudiation: the signing the channel demands.
type NonRepudiation struct {
	Protocol           string // http://www.w3.org/2000/09/xmldsig#
	HashFunction       string // AlgSHA256 …
	SignatureAlgorithm string // AlgRSASHA256 …
}

type transport struct {
	endpoint   string
	clientCert string
	serverCert string
}

type docExchange struct {
	rm            *ReliableMessaging
	persist       time.Duration
	nonRep        *NonRepudiation
	signingCert   string
	encryption    bool
	encryptionAlg string
	rmErr         error
}

// ParseCPA reads a CPA. It refuses a DTD or entity declaration and anything that is not a
// CollaborationProtocolAgreement; it does not judge whether the hub can serve the CPA: that is
// Check. Error texts are Dutch.
func ParseCPA(data []byte) (*CPA, error) {
	root, err := parseTree(data)
	if err != nil {
		return nil, fmt.Errorf("CPA onleesbaar: %w", err)
	}
	if !root.is(NamespaceCPA, "CollaborationProtocolAgreement") {
		return nil, fmt.Errorf("geen CPA: het hoofdelement is %s, verwacht CollaborationProtocolAgreement in namespace %s", root.Local, NamespaceCPA)
	}
	c := &CPA{
		ID:      strings.TrimSpace(root.attrAny(NamespaceCPA, "cpaid")),
		Version: root.attrAny(NamespaceCPA, "version"),
		Status:  root.child(NamespaceCPA, "Status").attrAny(NamespaceCPA, "value"),
	}
	if c.ID == "" {
		return nil, errors.New("CPA zonder cpaid")
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"Start", &c.Start}, {"End", &c.End}} {
		s := root.child(NamespaceCPA, f.name).text()
		if s == "" {
			return nil, fmt.Errorf("CPA %s: %s ontbreekt", c.ID, f.name)
		}
		t, err := parseDateTime(s)
		if err != nil {
			return nil, fmt.Errorf("CPA %s: %s %q is geen geldig tijdstip", c.ID, f.name, s)
		}
		*f.to = t
	}
	for _, pi := range root.all(NamespaceCPA, "PartyInfo") {
		p, err := parsePartyInfo(pi)
		if err != nil {
			return nil, fmt.Errorf("CPA %s: %w", c.ID, err)
		}
		c.Parties = append(c.Parties, p)
	}
	return c, nil
}

func parsePartyInfo(pi *node) (*PartyInfo, error) {
	p := &PartyInfo{
		Name:          pi.attrAny(NamespaceCPA, "partyName"),
		Channels:      map[string]*DeliveryChannel{},
		Certificates:  map[string]*x509.Certificate{},
		certErrors:    map[string]error{},
		transports:    map[string]*transport{},
		docExchanges:  map[string]*docExchange{},
		securityCerts: map[string][]*x509.Certificate{},
	}
	for _, id := range pi.all(NamespaceCPA, "PartyId") {
		p.PartyIDs = append(p.PartyIDs, PartyID{Type: id.attrAny(NamespaceCPA, "type"), Value: id.text()})
	}
	if len(p.PartyIDs) == 0 {
		return nil, fmt.Errorf("partij %q heeft geen PartyId", p.Name)
	}
	for _, cert := range pi.all(NamespaceCPA, "Certificate") {
		id := cert.attrAny(NamespaceCPA, "certId")
		b64 := cert.child(NamespaceDSig, "KeyInfo").child(NamespaceDSig, "X509Data").child(NamespaceDSig, "X509Certificate").text()
		if b64 == "" {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
		if err == nil {
			var x *x509.Certificate
			x, err = x509.ParseCertificate(der)
			if err == nil {
				p.Certificates[id] = x
				continue
			}
		}
		p.certErrors[id] = err
	}
	for _, sd := range pi.all(NamespaceCPA, "SecurityDetails") {
		id := sd.attrAny(NamespaceCPA, "securityId")
		for _, ref := range sd.child(NamespaceCPA, "TrustAnchors").all(NamespaceCPA, "AnchorCertificateRef") {
			if x := p.Certificates[ref.attrAny(NamespaceCPA, "certId")]; x != nil {
				p.securityCerts[id] = append(p.securityCerts[id], x)
			}
		}
	}
	for _, t := range pi.all(NamespaceCPA, "Transport") {
		tr := &transport{
			endpoint:   strings.TrimSpace(t.child(NamespaceCPA, "TransportReceiver").child(NamespaceCPA, "Endpoint").attrAny(NamespaceCPA, "uri")),
			clientCert: t.child(NamespaceCPA, "TransportSender").child(NamespaceCPA, "TransportClientSecurity").child(NamespaceCPA, "ClientCertificateRef").attrAny(NamespaceCPA, "certId"),
			serverCert: t.child(NamespaceCPA, "TransportReceiver").child(NamespaceCPA, "TransportServerSecurity").child(NamespaceCPA, "ServerCertificateRef").attrAny(NamespaceCPA, "certId"),
		}
		p.transports[t.attrAny(NamespaceCPA, "transportId")] = tr
	}
	for _, d := range pi.all(NamespaceCPA, "DocExchange") {
		p.docExchanges[d.attrAny(NamespaceCPA, "docExchangeId")] = parseDocExchange(d)
	}
	for _, dc := range pi.all(NamespaceCPA, "DeliveryChannel") {
		ch := &DeliveryChannel{ID: dc.attrAny(NamespaceCPA, "channelId")}
		mc := dc.child(NamespaceCPA, "MessagingCharacteristics")
		ch.SyncReplyMode = mc.attrAny(NamespaceCPA, "syncReplyMode")
		ch.AckRequested = mc.attrAny(NamespaceCPA, "ackRequested")
		ch.AckSignatureRequested = mc.attrAny(NamespaceCPA, "ackSignatureRequested")
		ch.DuplicateElimination = mc.attrAny(NamespaceCPA, "duplicateElimination")
		ch.Actor = mc.attrAny(NamespaceCPA, "actor")
		if tr := p.transports[dc.attrAny(NamespaceCPA, "transportId")]; tr != nil {
			ch.Endpoint = tr.endpoint
			ch.ClientCert = p.Certificates[tr.clientCert]
			ch.ServerCert = p.Certificates[tr.serverCert]
		}
		if de := p.docExchanges[dc.attrAny(NamespaceCPA, "docExchangeId")]; de != nil {
			if de.rmErr != nil {
				return nil, fmt.Errorf("partij %q, kanaal %s: %w", p.Name, ch.ID, de.rmErr)
			}
			ch.ReliableMessaging = de.rm
			ch.PersistDuration = de.persist
			ch.NonRepudiation = de.nonRep
			ch.SigningCert = p.Certificates[de.signingCert]
			ch.Encryption = de.encryption
			ch.EncryptionAlg = de.encryptionAlg
		}
		p.Channels[ch.ID] = ch
	}
	p.DefaultChannel = p.Channels[pi.attrAny(NamespaceCPA, "defaultMshChannelId")]
	for _, cr := range pi.all(NamespaceCPA, "CollaborationRole") {
		r := &Role{Name: cr.child(NamespaceCPA, "Role").attrAny(NamespaceCPA, "name")}
		sb := cr.child(NamespaceCPA, "ServiceBinding")
		svc := sb.child(NamespaceCPA, "Service")
		r.Service = Service{Type: svc.attrAny(NamespaceCPA, "type"), Value: svc.text()}
		for _, dir := range []struct {
			name string
			to   *[]*ActionBinding
		}{{"CanSend", &r.CanSend}, {"CanReceive", &r.CanReceive}} {
			for _, cs := range sb.all(NamespaceCPA, dir.name) {
				tb := cs.child(NamespaceCPA, "ThisPartyActionBinding")
				if tb == nil {
					continue
				}
				ab := &ActionBinding{ID: tb.attrAny(NamespaceCPA, "id"), Action: tb.attrAny(NamespaceCPA, "action")}
				if ids := tb.all(NamespaceCPA, "ChannelId"); len(ids) > 0 {
					ab.Channel = p.Channels[ids[0].text()]
				}
				*dir.to = append(*dir.to, ab)
			}
		}
		p.Roles = append(p.Roles, r)
	}
	return p, nil
}

func parseDocExchange(d *node) *docExchange {
	de := &docExchange{}
	sb := d.child(NamespaceCPA, "ebXMLSenderBinding")
	rb := d.child(NamespaceCPA, "ebXMLReceiverBinding")
	if rm := sb.child(NamespaceCPA, "ReliableMessaging"); rm != nil {
		de.rm = &ReliableMessaging{MessageOrder: rm.child(NamespaceCPA, "MessageOrderSemantics").text()}
		if s := rm.child(NamespaceCPA, "Retries").text(); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				de.rmErr = fmt.Errorf("Retries %q is geen aantal", s)
			}
			de.rm.Retries = n
		}
		if s := rm.child(NamespaceCPA, "RetryInterval").text(); s != "" {
			dur, err := ParseDuration(s)
			if err != nil {
				de.rmErr = fmt.Errorf("RetryInterval %q is geen xsd:duration", s)
			}
			de.rm.RetryInterval = dur
		}
	}
	if s := sb.child(NamespaceCPA, "PersistDuration").text(); s != "" {
		dur, err := ParseDuration(s)
		if err != nil {
			de.rmErr = fmt.Errorf("PersistDuration %q is geen xsd:duration", s)
		}
		de.persist = dur
	}
	if nr := sb.child(NamespaceCPA, "SenderNonRepudiation"); nr != nil {
		de.nonRep = &NonRepudiation{
			Protocol:           nr.child(NamespaceCPA, "NonRepudiationProtocol").text(),
			HashFunction:       nr.child(NamespaceCPA, "HashFunction").text(),
			SignatureAlgorithm: nr.child(NamespaceCPA, "SignatureAlgorithm").text(),
		}
		de.signingCert = nr.child(NamespaceCPA, "SigningCertificateRef").attrAny(NamespaceCPA, "certId")
	}
	for _, env := range []*node{sb.child(NamespaceCPA, "SenderDigitalEnvelope"), rb.child(NamespaceCPA, "ReceiverDigitalEnvelope")} {
		if env != nil {
			de.encryption = true
			if de.encryptionAlg == "" {
				de.encryptionAlg = env.child(NamespaceCPA, "EncryptionAlgorithm").text()
			}
		}
	}
	return de
}

// parseDateTime reads an xsd:dateTime; without a zone it is taken as UTC.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("geen xsd:dateTime: %q", s)
}

// OIN returns the party's PartyId of type urn:osb:oin ("" when it has none).
func (p *PartyInfo) OIN() string {
	for _, id := range p.PartyIDs {
		if id.Type == PartyTypeOIN {
			return id.Value
		}
	}
	return ""
}

// HasPartyID says whether one of the party's PartyIds is id (type and value).
func (p *PartyInfo) HasPartyID(id PartyID) bool {
	for _, x := range p.PartyIDs {
		if x.Value == id.Value && x.Type == id.Type {
			return true
		}
	}
	return false
}

// Role returns the party's role with that name for that service (nil when absent).
func (p *PartyInfo) Role(name string, service Service) *Role {
	for _, r := range p.Roles {
		if r.Name == name && r.Service.Value == service.Value && (service.Type == "" || r.Service.Type == service.Type) {
			return r
		}
	}
	return nil
}

// Endpoint is the URI where the party receives messages: its default channel's endpoint, or the
// first channel's that has one.
func (p *PartyInfo) Endpoint() string {
	if p.DefaultChannel != nil && p.DefaultChannel.Endpoint != "" {
		return p.DefaultChannel.Endpoint
	}
	for _, r := range p.Roles {
		for _, ab := range append(append([]*ActionBinding(nil), r.CanReceive...), r.CanSend...) {
			if ab.Channel != nil && ab.Channel.Endpoint != "" {
				return ab.Channel.Endpoint
			}
		}
	}
	if eps := p.endpoints(); len(eps) > 0 {
		return eps[0]
	}
	return ""
}

// TLSCertificates are the certificates the party presents in TLS (client and server side of its
// transports), without duplicates.
func (p *PartyInfo) TLSCertificates() []*x509.Certificate {
	var out []*x509.Certificate
	add := func(x *x509.Certificate) {
		if x == nil {
			return
		}
		for _, y := range out {
			if y.Equal(x) {
				return
			}
		}
		out = append(out, x)
	}
	for _, id := range sortedKeys(p.transports) {
		tr := p.transports[id]
		add(p.Certificates[tr.clientCert])
		add(p.Certificates[tr.serverCert])
	}
	return out
}

// SigningCertificates are the certificates the party signs messages with (the channels'
// SigningCertificateRef), without duplicates.
func (p *PartyInfo) SigningCertificates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, id := range sortedKeys(p.Channels) {
		x := p.Channels[id].SigningCert
		if x == nil {
			continue
		}
		dup := false
		for _, y := range out {
			dup = dup || y.Equal(x)
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}

// allCertificates are every certificate of the party, in certId order.
func (p *PartyInfo) allCertificates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, id := range sortedKeys(p.Certificates) {
		out = append(out, p.Certificates[id])
	}
	return out
}

// PartyByOIN returns the party whose PartyId of type urn:osb:oin is oin (nil when none).
func (c *CPA) PartyByOIN(oin string) *PartyInfo {
	for _, p := range c.Parties {
		if p.HasPartyID(PartyID{Type: PartyTypeOIN, Value: oin}) {
			return p
		}
	}
	return nil
}

// Party returns the party with that PartyId (nil when none).
func (c *CPA) Party(id PartyID) *PartyInfo {
	for _, p := range c.Parties {
		if p.HasPartyID(id) {
			return p
		}
	}
	return nil
}

// Hub returns the hub's party: the one whose OIN is hubOIN.
func (c *CPA) Hub(hubOIN string) (*PartyInfo, error) {
	var found *PartyInfo
	for _, p := range c.Parties {
		if p.HasPartyID(PartyID{Type: PartyTypeOIN, Value: hubOIN}) {
			if found != nil {
				return nil, fmt.Errorf("CPA %s: beide partijen hebben het OIN van de hub (%s); precies één partij moet de hub zijn", c.ID, hubOIN)
			}
			found = p
		}
	}
	if found == nil {
		return nil, fmt.Errorf("CPA %s: geen van de partijen is de hub: geen PartyId van type %s met OIN %s", c.ID, PartyTypeOIN, hubOIN)
	}
	return found, nil
}

// Other returns the party that is not the hub.
func (c *CPA) Other(hubOIN string) (*PartyInfo, error) {
	hub, err := c.Hub(hubOIN)
	if err != nil {
		return nil, err
	}
	if len(c.Parties) != 2 {
		return nil, fmt.Errorf("CPA %s heeft %d partijen, verwacht 2", c.ID, len(c.Parties))
	}
	if c.Parties[0] == hub {
		return c.Parties[1], nil
	}
	return c.Parties[0], nil
}

// OtherOIN returns the OIN of the party that is not the hub.
func (c *CPA) OtherOIN(hubOIN string) (string, error) {
	o, err := c.Other(hubOIN)
	if err != nil {
		return "", err
	}
	if o.OIN() == "" {
		return "", fmt.Errorf("CPA %s: de andere partij %q heeft geen PartyId van type %s", c.ID, o.Name, PartyTypeOIN)
	}
	return o.OIN(), nil
}

// Binding is what a CPA says about one Service/Action sent by one party to the other: the roles,
// the sender's channel (signing, reliable messaging as sender) and the receiver's channel
// (endpoint, ackRequested, syncReplyMode, duplicateElimination, its certificates).
type Binding struct {
	CPA            *CPA
	From, To       *PartyInfo
	FromRole       string
	ToRole         string
	Service        Service
	Action         string
	SendChannel    *DeliveryChannel // the sender's ThisPartyActionBinding channel in CanSend
	ReceiveChannel *DeliveryChannel // the receiver's ThisPartyActionBinding channel in CanReceive
}

// Binding finds how from may send service/action to the other party. fromRole "" accepts any
// role of from; service.Type "" accepts any type. The error is an *Error (code Inconsistent for
// an unknown party, ValueNotRecognized for a role, service or action the CPA does not allow) with
// a Dutch description, fit for a MessageError.
func (c *CPA) Binding(from PartyID, fromRole string, service Service, action string) (*Binding, error) {
	sender := c.Party(from)
	if sender == nil {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:From/eb:PartyId", "afzender %s is geen partij in CPA %s", from, c.ID)
	}
	if len(c.Parties) != 2 {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:CPAId", "CPA %s heeft %d partijen, verwacht 2", c.ID, len(c.Parties))
	}
	receiver := c.Parties[0]
	if receiver == sender {
		receiver = c.Parties[1]
	}
	for _, r := range sender.Roles {
		if fromRole != "" && r.Name != fromRole {
			continue
		}
		if r.Service.Value != service.Value || (service.Type != "" && r.Service.Type != service.Type) {
			continue
		}
		for _, ab := range r.CanSend {
			if ab.Action != action {
				continue
			}
			for _, rr := range receiver.Roles {
				if rr.Service.Value != r.Service.Value || rr.Service.Type != r.Service.Type {
					continue
				}
				for _, rb := range rr.CanReceive {
					if rb.Action == action {
						return &Binding{CPA: c, From: sender, To: receiver, FromRole: r.Name, ToRole: rr.Name,
							Service: r.Service, Action: action, SendChannel: ab.Channel, ReceiveChannel: rb.Channel}, nil
					}
				}
			}
			return nil, newError(CodeValueNotRecognized, "eb:MessageHeader/eb:Action", "CPA %s: partij %s mag actie %s van service %s niet ontvangen", c.ID, receiver.Name, action, service.Value)
		}
	}
	if fromRole != "" && sender.roleNamed(fromRole) == nil {
		return nil, newError(CodeValueNotRecognized, "eb:MessageHeader/eb:From/eb:Role", "CPA %s: partij %s heeft geen rol %q", c.ID, sender.Name, fromRole)
	}
	return nil, newError(CodeValueNotRecognized, "eb:MessageHeader/eb:Action", "CPA %s: partij %s mag actie %s van service %s niet versturen", c.ID, sender.Name, action, service.Value)
}

func (p *PartyInfo) roleNamed(name string) *Role {
	for _, r := range p.Roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Allowed says whether from, in role fromRole ("" for any), may send service/action.
func (c *CPA) Allowed(from PartyID, fromRole string, service Service, action string) bool {
	_, err := c.Binding(from, fromRole, service, action)
	return err == nil
}

// Endpoint is the receiver's endpoint for this action.
func (b *Binding) Endpoint() string {
	if b.ReceiveChannel != nil && b.ReceiveChannel.Endpoint != "" {
		return b.ReceiveChannel.Endpoint
	}
	return b.To.Endpoint()
}

// AckRequested says whether the message must ask for an Acknowledgment.
func (b *Binding) AckRequested() bool { return b.channel().AckRequested == "always" }

// AckSignatureRequested says whether the Acknowledgment must be signed.
func (b *Binding) AckSignatureRequested() bool { return b.channel().AckSignatureRequested == "always" }

// DuplicateElimination says whether the message carries eb:DuplicateElimination.
func (b *Binding) DuplicateElimination() bool { return b.channel().DuplicateElimination == "always" }

// SyncReply says whether the signals come back in the HTTP response (syncReplyMode
// mshSignalsOnly), so the message carries eb:SyncReply.
func (b *Binding) SyncReply() bool {
	m := b.channel().SyncReplyMode
	return m != "" && m != "none"
}

// Signed says whether the sender must sign (the sender's channel has SenderNonRepudiation).
func (b *Binding) Signed() bool { return b.SendChannel != nil && b.SendChannel.NonRepudiation != nil }

// Retries and RetryInterval of reliable messaging (0, 0 for best effort).
func (b *Binding) Retries() (int, time.Duration) {
	for _, ch := range []*DeliveryChannel{b.SendChannel, b.ReceiveChannel} {
		if ch != nil && ch.ReliableMessaging != nil {
			return ch.ReliableMessaging.Retries, ch.ReliableMessaging.RetryInterval
		}
	}
	return 0, 0
}

// PersistDuration is how long the receiver keeps the message for duplicate elimination.
func (b *Binding) PersistDuration() time.Duration {
	for _, ch := range []*DeliveryChannel{b.ReceiveChannel, b.SendChannel} {
		if ch != nil && ch.PersistDuration > 0 {
			return ch.PersistDuration
		}
	}
	return 0
}

// SenderSigningCert is the certificate the sender signs with according to the CPA (nil when none).
func (b *Binding) SenderSigningCert() *x509.Certificate {
	if b.SendChannel != nil && b.SendChannel.SigningCert != nil {
		return b.SendChannel.SigningCert
	}
	if certs := b.From.SigningCertificates(); len(certs) > 0 {
		return certs[0]
	}
	return nil
}

// channel is the channel whose MessagingCharacteristics rule the message: the receiver's, as the
// receiving MSH checks against it; the sender's when the receiver has none.
func (b *Binding) channel() *DeliveryChannel {
	if b.ReceiveChannel != nil {
		return b.ReceiveChannel
	}
	if b.SendChannel != nil {
		return b.SendChannel
	}
	return &DeliveryChannel{}
}

// Check says whether the hub can serve this CPA now: status agreed; Start before End; valid at
// now; exactly two parties of which exactly one is the hub (PartyId of type urn:osb:oin equal
// to hubOIN) and the other has an OIN; the other party's endpoints are https; every delivery
// channel has a profile the hub supports (osb-be, osb-rm, signed with rsa-sha256 and sha256;
// no encryption; syncReplyMode none or mshSignalsOnly). The first problem found is returned, in
// Dutch.
func (c *CPA) Check(hubOIN string, now time.Time) error {
	if c.Status != "agreed" {
		return fmt.Errorf("CPA %s heeft status %q; alleen een CPA met status \"agreed\" kan worden gebruikt", c.ID, c.Status)
	}
	if !c.Start.Before(c.End) {
		return fmt.Errorf("CPA %s: Start (%s) ligt niet vóór End (%s)", c.ID, c.Start.Format(time.RFC3339), c.End.Format(time.RFC3339))
	}
	if !now.Before(c.End) {
		return fmt.Errorf("CPA %s is verlopen: geldig tot %s", c.ID, c.End.Format(time.RFC3339))
	}
	if now.Before(c.Start) {
		return fmt.Errorf("CPA %s is nog niet geldig: geldig vanaf %s", c.ID, c.Start.Format(time.RFC3339))
	}
	if len(c.Parties) != 2 {
		return fmt.Errorf("CPA %s heeft %d partijen (PartyInfo); verwacht precies 2: de hub en één partner", c.ID, len(c.Parties))
	}
	other, err := c.Other(hubOIN)
	if err != nil {
		return err
	}
	if _, err := c.OtherOIN(hubOIN); err != nil {
		return err
	}
	for _, p := range c.Parties {
		for id, err := range p.certErrors {
			return fmt.Errorf("CPA %s: certificaat %s van partij %q is onleesbaar: %v", c.ID, id, p.Name, err)
		}
	}
	// Encryption first: a CPA that demands it is refused for that, whatever else it says.
	for _, p := range c.Parties {
		for _, id := range sortedKeys(p.Channels) {
			if ch := p.Channels[id]; ch.Encryption {
				return fmt.Errorf("CPA %s vraagt versleuteling (profiel -e, %s) in kanaal %s van partij %q; de hub ondersteunt geen versleuteling van berichten, alleen TLS", c.ID, orDash(ch.EncryptionAlg), ch.ID, p.Name)
			}
		}
	}
	for _, p := range c.Parties {
		for _, id := range sortedKeys(p.Channels) {
			if err := checkChannel(p.Channels[id]); err != nil {
				return fmt.Errorf("CPA %s, partij %q: %w", c.ID, p.Name, err)
			}
		}
	}
	for _, id := range sortedKeys(other.Channels) {
		if ch := other.Channels[id]; ch.NonRepudiation != nil && len(other.SigningCertificates()) == 0 && len(other.Certificates) == 0 {
			return fmt.Errorf("CPA %s: kanaal %s van partij %q eist ondertekening, maar de CPA bevat geen certificaat van die partij om de handtekening mee te controleren", c.ID, ch.ID, other.Name)
		}
	}
	eps := other.endpoints()
	if len(eps) == 0 {
		return fmt.Errorf("CPA %s: partij %q heeft geen transport-endpoint", c.ID, other.Name)
	}
	for _, ep := range eps {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("CPA %s: het endpoint %q van partij %q is geen https-adres; Digikoppeling eist https met tweezijdig TLS", c.ID, ep, other.Name)
		}
	}
	return nil
}

// checkChannel refuses the delivery channel settings the hub does not support.
func checkChannel(ch *DeliveryChannel) error {
	// Signing first: rsa-sha1, which Digikoppeling no longer allows, is the clearest reason to give.
	if nr := ch.NonRepudiation; nr != nil {
		if nr.Protocol != "" && nr.Protocol != NonRepudiationDSig {
			return fmt.Errorf("kanaal %s: ondertekenprotocol %q wordt niet ondersteund; alleen XML-DSig (%s)", ch.ID, nr.Protocol, NonRepudiationDSig)
		}
		switch nr.SignatureAlgorithm {
		case AlgRSASHA256:
		case AlgRSASHA1, "rsa-sha1":
			return fmt.Errorf("kanaal %s: ondertekening met rsa-sha1 wordt geweigerd; Digikoppeling eist rsa-sha256 (%s) of sterker", ch.ID, AlgRSASHA256)
		default:
			return fmt.Errorf("kanaal %s: ondertekenalgoritme %q wordt niet ondersteund; alleen rsa-sha256 (%s)", ch.ID, nr.SignatureAlgorithm, AlgRSASHA256)
		}
		switch nr.HashFunction {
		case AlgSHA256, "http://www.w3.org/2001/04/xmldsig-more#sha256":
		case AlgSHA1:
			return fmt.Errorf("kanaal %s: hashfunctie sha1 wordt geweigerd; Digikoppeling eist sha256 (%s)", ch.ID, AlgSHA256)
		default:
			return fmt.Errorf("kanaal %s: hashfunctie %q wordt niet ondersteund; alleen sha256 (%s)", ch.ID, nr.HashFunction, AlgSHA256)
		}
	}
	switch ch.SyncReplyMode {
	case "", "none", "mshSignalsOnly":
	default:
		return fmt.Errorf("kanaal %s: syncReplyMode %q wordt niet ondersteund; alleen \"none\" en \"mshSignalsOnly\" (Digikoppeling)", ch.ID, ch.SyncReplyMode)
	}
	for _, v := range []struct{ name, value string }{
		{"ackRequested", ch.AckRequested}, {"ackSignatureRequested", ch.AckSignatureRequested}, {"duplicateElimination", ch.DuplicateElimination},
	} {
		switch v.value {
		case "", "always", "never":
		default:
			return fmt.Errorf("kanaal %s: %s %q wordt niet ondersteund; alleen \"always\" of \"never\"", ch.ID, v.name, v.value)
		}
	}
	if ch.Actor != "" && ch.Actor != ActorToPartyMSH {
		return fmt.Errorf("kanaal %s: actor %q wordt niet ondersteund; alleen %s (geen tussenliggende MSH's)", ch.ID, ch.Actor, ActorToPartyMSH)
	}
	if rm := ch.ReliableMessaging; rm != nil {
		if rm.MessageOrder == "Guaranteed" {
			return fmt.Errorf("kanaal %s: MessageOrderSemantics Guaranteed wordt niet ondersteund (Digikoppeling: NotGuaranteed)", ch.ID)
		}
		if rm.Retries > 100 {
			return fmt.Errorf("kanaal %s: Retries %d is meer dan de hub ondersteunt (100)", ch.ID, rm.Retries)
		}
		if rm.Retries > 0 && rm.RetryInterval <= 0 {
			return fmt.Errorf("kanaal %s: Retries %d zonder RetryInterval", ch.ID, rm.Retries)
		}
	}
	if ch.AckRequested == "always" && ch.ReliableMessaging == nil {
		// osb-rm without ReliableMessaging: the hub could not know how often to retry.
		return fmt.Errorf("kanaal %s: ackRequested \"always\" zonder ReliableMessaging (Retries, RetryInterval) in de DocExchange", ch.ID)
	}
	return nil
}

// endpoints lists the party's distinct transport endpoints.
func (p *PartyInfo) endpoints() []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range sortedKeys(p.transports) {
		if ep := p.transports[id].endpoint; ep != "" && !seen[ep] {
			seen[ep] = true
			out = append(out, ep)
		}
	}
	return out
}

// Profile names the Digikoppeling profile of a channel: osb-be, osb-rm, with -s when signed
// and -e when encrypted.
func (ch *DeliveryChannel) Profile() string {
	p := ProfileBestEffort
	if ch.AckRequested == "always" || ch.ReliableMessaging != nil && ch.ReliableMessaging.Retries > 0 {
		p = ProfileReliableMessaging
	}
	if ch.NonRepudiation != nil {
		p += "-s"
	}
	if ch.Encryption {
		p += "-e"
	}
	return p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
