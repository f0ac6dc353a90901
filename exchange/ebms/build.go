package ebms

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// UserMessage is what BuildUserMessage needs. Binding.UserMessage fills it from a CPA.
type UserMessage struct {
	CPAID          string
	ConversationID string // "" → the MessageID
	MessageID      string // "" → NewMessageID("knooppunt")
	From, To       Party
	Service        Service
	Action         string
	Timestamp      time.Time // zero → time.Now()
	TimeToLive     time.Time // zero → none
	RefToMessageID string

	AckRequested         bool
	AckSigned            bool // eb:AckRequested eb:signed="true"
	DuplicateElimination bool
	SyncReply            bool

	// Payloads go byte for byte, each as a MIME part referenced from the Manifest. A part without
	// ContentID gets one; without ContentType it is application/xml.
	Payloads []Part
}

// UserMessage fills a UserMessage for this binding: parties with their roles, CPAId, Service,
// Action, and AckRequested/DuplicateElimination/SyncReply as the receiver's channel says. The
// TimeToLive is left zero (none).
func (b *Binding) UserMessage(messageID string, payload Part, now time.Time) UserMessage {
	return UserMessage{
		CPAID:                b.CPA.ID,
		MessageID:            messageID,
		From:                 Party{PartyIDs: []PartyID{firstOIN(b.From)}, Role: b.FromRole},
		To:                   Party{PartyIDs: []PartyID{firstOIN(b.To)}, Role: b.ToRole},
		Service:              b.Service,
		Action:               b.Action,
		Timestamp:            now,
		AckRequested:         b.AckRequested(),
		AckSigned:            b.AckRequested() && b.AckSignatureRequested(),
		DuplicateElimination: b.DuplicateElimination(),
		SyncReply:            b.SyncReply(),
		Payloads:             []Part{payload},
	}
}

func firstOIN(p *PartyInfo) PartyID {
	for _, id := range p.PartyIDs {
		if id.Type == PartyTypeOIN {
			return id
		}
	}
	return p.PartyIDs[0]
}

// NewMessageID returns a fresh "uuid@host" message id.
func NewMessageID(host string) string {
	if host == "" {
		host = "knooppunt"
	}
	return newUUID() + "@" + host
}

func newUUID() string { return uuid.NewString() }

// BuildUserMessage writes a user message: the SOAP envelope (MessageHeader, AckRequested,
// SyncReply, Manifest), signed when s is not nil, packaged as multipart/related with the
// payloads byte for byte.
func BuildUserMessage(u UserMessage, s *Signer) (*Outgoing, error) {
	if u.MessageID == "" {
		u.MessageID = NewMessageID("")
	}
	if u.ConversationID == "" {
		u.ConversationID = u.MessageID
	}
	if u.Timestamp.IsZero() {
		u.Timestamp = time.Now()
	}
	if u.Action == "" || u.Service.Value == "" || u.CPAID == "" {
		return nil, errors.New("ebms: een gebruikersbericht vraagt CPAId, Service en Action")
	}
	if len(u.From.PartyIDs) == 0 || len(u.To.PartyIDs) == 0 {
		return nil, errors.New("ebms: een gebruikersbericht vraagt een afzender en een ontvanger")
	}
	parts := make([]Part, len(u.Payloads))
	for i, p := range u.Payloads {
		if p.ContentID == "" {
			p.ContentID = fmt.Sprintf("payload-%d-%s", i+1, u.MessageID)
		}
		if p.ContentType == "" {
			p.ContentType = "application/xml"
		}
		parts[i] = p
	}
	var w xw
	w.open()
	w.messageHeader(header{
		from: u.From, to: u.To, cpaID: u.CPAID, conversationID: u.ConversationID, service: u.Service,
		action: u.Action, messageID: u.MessageID, timestamp: u.Timestamp, ref: u.RefToMessageID,
		ttl: u.TimeToLive, dupElim: u.DuplicateElimination,
	})
	if u.SyncReply {
		fmt.Fprintf(&w.b, "<eb:SyncReply eb:version=\"2.0\" SOAP:actor=%q SOAP:mustUnderstand=\"1\"/>", ActorSOAPNext)
	}
	if u.AckRequested {
		fmt.Fprintf(&w.b, "<eb:AckRequested eb:version=\"2.0\" SOAP:actor=%q SOAP:mustUnderstand=\"1\" eb:signed=\"%t\"/>", ActorToPartyMSH, u.AckSigned)
	}
	w.b.WriteString("</SOAP:Header><SOAP:Body>")
	if len(parts) > 0 {
		w.b.WriteString(`<eb:Manifest eb:version="2.0">`)
		for _, p := range parts {
			w.b.WriteString(`<eb:Reference xlink:type="simple" xlink:href="cid:`)
			w.text(p.ContentID)
			w.b.WriteString(`"/>`)
		}
		w.b.WriteString(`</eb:Manifest>`)
	}
	w.b.WriteString("</SOAP:Body>")
	w.close()
	return finish(u.MessageID, w.b.Bytes(), parts, s)
}

// Reply is what a signal in answer to a received message needs beyond that message.
type Reply struct {
	MessageID string    // "" → NewMessageID("knooppunt")
	Timestamp time.Time // zero → time.Now()
	Signer    *Signer   // nil → unsigned
}

func (r *Reply) defaults() {
	if r.MessageID == "" {
		r.MessageID = NewMessageID("")
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = time.Now()
	}
}

// signalHeader is the MessageHeader of a signal answering in: parties swapped (without roles),
// same CPAId and ConversationId, RefToMessageId the received MessageId.
func signalHeader(in *MessageHeader, action string, r Reply) header {
	return header{
		from: Party{PartyIDs: in.To.PartyIDs}, to: Party{PartyIDs: in.From.PartyIDs},
		cpaID: in.CPAID, conversationID: in.ConversationID, service: Service{Value: SignalService},
		action: action, messageID: r.MessageID, timestamp: r.Timestamp, ref: in.MessageID,
	}
}

// BuildAcknowledgment writes the Acknowledgment of a received message (text/xml). When the
// message asked for a signed acknowledgment and r.Signer is set, the Acknowledgment carries the
// ds:Reference elements of the received message's signature (ebMS 2.0 §7.3.2), so pass the
// received envelope as signedEnvelope (nil otherwise).
func BuildAcknowledgment(in *MessageHeader, signedEnvelope []byte, r Reply) (*Outgoing, error) {
	r.defaults()
	var w xw
	w.open()
	w.messageHeader(signalHeader(in, ActionAcknowledgment, r))
	fmt.Fprintf(&w.b, "<eb:Acknowledgment eb:version=\"2.0\" SOAP:actor=%q SOAP:mustUnderstand=\"1\">", ActorToPartyMSH)
	w.el("eb:Timestamp", timeUTC(r.Timestamp))
	w.el("eb:RefToMessageId", in.MessageID)
	w.b.WriteString("<eb:From>")
	w.partyIDs(in.To.PartyIDs)
	w.b.WriteString("</eb:From>")
	if len(signedEnvelope) > 0 {
		refs, err := signatureReferences(signedEnvelope)
		if err != nil {
			return nil, err
		}
		w.b.Write(refs)
	}
	w.b.WriteString("</eb:Acknowledgment></SOAP:Header><SOAP:Body/>")
	w.close()
	return finish(r.MessageID, w.b.Bytes(), nil, r.Signer)
}

// BuildMessageError writes a MessageError reporting errs about the received message (text/xml).
// in may carry only what could be read; its MessageId becomes the RefToMessageId.
func BuildMessageError(in *MessageHeader, errs []*Error, r Reply) (*Outgoing, error) {
	if len(errs) == 0 {
		return nil, errors.New("ebms: een MessageError vraagt minstens één fout")
	}
	r.defaults()
	var w xw
	w.open()
	w.messageHeader(signalHeader(in, ActionMessageError, r))
	highest := SeverityWarning
	for _, e := range errs {
		if e.Severity != SeverityWarning {
			highest = SeverityError
		}
	}
	fmt.Fprintf(&w.b, "<eb:ErrorList eb:version=\"2.0\" SOAP:mustUnderstand=\"1\" eb:highestSeverity=%q>", highest)
	for _, e := range errs {
		sev := e.Severity
		if sev == "" {
			sev = SeverityError
		}
		w.b.WriteString(`<eb:Error eb:errorCode="`)
		w.text(e.Code)
		w.b.WriteString(`" eb:severity="`)
		w.text(sev)
		w.b.WriteString(`"`)
		if e.Location != "" {
			w.b.WriteString(` eb:location="`)
			w.text(e.Location)
			w.b.WriteString(`"`)
		}
		w.b.WriteString(`>`)
		if e.Description != "" {
			w.b.WriteString(`<eb:Description xml:lang="nl">`)
			w.text(e.Description)
			w.b.WriteString(`</eb:Description>`)
		}
		w.b.WriteString(`</eb:Error>`)
	}
	w.b.WriteString("</eb:ErrorList></SOAP:Header><SOAP:Body/>")
	w.close()
	return finish(r.MessageID, w.b.Bytes(), nil, r.Signer)
}

// BuildPong writes the Pong answering a Ping (text/xml).
func BuildPong(in *MessageHeader, r Reply) (*Outgoing, error) {
	r.defaults()
	var w xw
	w.open()
	w.messageHeader(signalHeader(in, ActionPong, r))
	w.b.WriteString("</SOAP:Header><SOAP:Body/>")
	w.close()
	return finish(r.MessageID, w.b.Bytes(), nil, r.Signer)
}

// BuildStatusResponse writes the StatusResponse answering a StatusRequest (text/xml): status is
// one of the Status… constants; received is when the message was received, written for
// Received, Processed and Forwarded.
func BuildStatusResponse(in *MessageHeader, refToMessageID, status string, received time.Time, r Reply) (*Outgoing, error) {
	r.defaults()
	var w xw
	w.open()
	w.messageHeader(signalHeader(in, ActionStatusResponse, r))
	w.b.WriteString("</SOAP:Header><SOAP:Body>")
	w.b.WriteString(`<eb:StatusResponse eb:version="2.0" eb:messageStatus="`)
	w.text(status)
	w.b.WriteString(`">`)
	w.el("eb:RefToMessageId", refToMessageID)
	if !received.IsZero() && (status == StatusReceived || status == StatusProcessed || status == StatusForwarded) {
		w.el("eb:Timestamp", timeUTC(received))
	}
	w.b.WriteString("</eb:StatusResponse></SOAP:Body>")
	w.closeBodyDone()
	return finish(r.MessageID, w.b.Bytes(), nil, r.Signer)
}

// Signal is what a signal that starts an exchange (Ping, StatusRequest) needs.
type Signal struct {
	CPAID          string
	ConversationID string // "" → the MessageID
	MessageID      string // "" → NewMessageID("knooppunt")
	From, To       Party
	Timestamp      time.Time // zero → time.Now()
	SyncReply      bool
	Signer         *Signer
}

// BuildPing writes a Ping (text/xml).
func BuildPing(s Signal) (*Outgoing, error) {
	return buildSignal(s, ActionPing, "")
}

// BuildStatusRequest writes a StatusRequest about refToMessageID (text/xml).
func BuildStatusRequest(s Signal, refToMessageID string) (*Outgoing, error) {
	return buildSignal(s, ActionStatusRequest, refToMessageID)
}

func buildSignal(s Signal, action, ref string) (*Outgoing, error) {
	if s.MessageID == "" {
		s.MessageID = NewMessageID("")
	}
	if s.ConversationID == "" {
		s.ConversationID = s.MessageID
	}
	if s.Timestamp.IsZero() {
		s.Timestamp = time.Now()
	}
	var w xw
	w.open()
	w.messageHeader(header{from: Party{PartyIDs: s.From.PartyIDs}, to: Party{PartyIDs: s.To.PartyIDs}, cpaID: s.CPAID,
		conversationID: s.ConversationID, service: Service{Value: SignalService}, action: action,
		messageID: s.MessageID, timestamp: s.Timestamp})
	if s.SyncReply {
		fmt.Fprintf(&w.b, "<eb:SyncReply eb:version=\"2.0\" SOAP:actor=%q SOAP:mustUnderstand=\"1\"/>", ActorSOAPNext)
	}
	w.b.WriteString("</SOAP:Header>")
	if ref != "" {
		w.b.WriteString(`<SOAP:Body><eb:StatusRequest eb:version="2.0">`)
		w.el("eb:RefToMessageId", ref)
		w.b.WriteString(`</eb:StatusRequest></SOAP:Body>`)
	} else {
		w.b.WriteString("<SOAP:Body/>")
	}
	w.closeBodyDone()
	return finish(s.MessageID, w.b.Bytes(), nil, s.Signer)
}

// BuildSOAPFault writes a SOAP 1.1 Fault (text/xml, send with HTTP 500) for a body that is not
// an ebMS message at all, so no MessageError can name its sender. faultCode is "Client" for bad
// input, "Server" for the hub's own trouble.
func BuildSOAPFault(faultCode, text string) []byte {
	var w xw
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&w.b, `<SOAP:Envelope xmlns:SOAP=%q><SOAP:Body><SOAP:Fault><faultcode>SOAP:`, NamespaceSOAP)
	w.text(faultCode)
	w.b.WriteString(`</faultcode><faultstring xml:lang="nl">`)
	w.text(text)
	w.b.WriteString(`</faultstring></SOAP:Fault></SOAP:Body></SOAP:Envelope>`)
	return w.b.Bytes()
}

// finish signs the envelope when s is set and packages it.
func finish(messageID string, envelope []byte, parts []Part, s *Signer) (*Outgoing, error) {
	if s != nil {
		signed, err := SignEnvelope(envelope, parts, s)
		if err != nil {
			return nil, err
		}
		envelope = signed
	}
	return packageMessage(messageID, envelope, parts), nil
}

// header is the content of an eb:MessageHeader.
type header struct {
	from, to       Party
	cpaID          string
	conversationID string
	service        Service
	action         string
	messageID      string
	timestamp      time.Time
	ref            string
	ttl            time.Time
	dupElim        bool
}

// xw writes an envelope; every value goes through text, so nothing a caller passes can break
// the XML.
type xw struct{ b bytes.Buffer }

func (w *xw) open() {
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&w.b, `<SOAP:Envelope xmlns:SOAP=%q xmlns:eb=%q xmlns:xlink=%q><SOAP:Header>`, NamespaceSOAP, NamespaceEbMS, NamespaceXLink)
}

func (w *xw) close() { w.b.WriteString("</SOAP:Envelope>\n") }

func (w *xw) closeBodyDone() { w.close() }

func (w *xw) text(s string) { _ = xml.EscapeText(&w.b, []byte(s)) } // a bytes.Buffer never fails

func (w *xw) el(name, value string) {
	w.b.WriteString("<" + name + ">")
	w.text(value)
	w.b.WriteString("</" + name + ">")
}

func (w *xw) partyIDs(ids []PartyID) {
	for _, id := range ids {
		w.b.WriteString("<eb:PartyId")
		if id.Type != "" {
			w.b.WriteString(` eb:type="`)
			w.text(id.Type)
			w.b.WriteString(`"`)
		}
		w.b.WriteString(">")
		w.text(id.Value)
		w.b.WriteString("</eb:PartyId>")
	}
}

func (w *xw) messageHeader(h header) {
	w.b.WriteString(`<eb:MessageHeader eb:version="2.0" SOAP:mustUnderstand="1">`)
	for _, p := range []struct {
		name  string
		party Party
	}{{"eb:From", h.from}, {"eb:To", h.to}} {
		w.b.WriteString("<" + p.name + ">")
		w.partyIDs(p.party.PartyIDs)
		if p.party.Role != "" {
			w.el("eb:Role", p.party.Role)
		}
		w.b.WriteString("</" + p.name + ">")
	}
	w.el("eb:CPAId", h.cpaID)
	w.el("eb:ConversationId", h.conversationID)
	w.b.WriteString("<eb:Service")
	if h.service.Type != "" {
		w.b.WriteString(` eb:type="`)
		w.text(h.service.Type)
		w.b.WriteString(`"`)
	}
	w.b.WriteString(">")
	w.text(h.service.Value)
	w.b.WriteString("</eb:Service>")
	w.el("eb:Action", h.action)
	w.b.WriteString("<eb:MessageData>")
	w.el("eb:MessageId", h.messageID)
	w.el("eb:Timestamp", timeUTC(h.timestamp))
	if h.ref != "" {
		w.el("eb:RefToMessageId", h.ref)
	}
	if !h.ttl.IsZero() {
		w.el("eb:TimeToLive", timeUTC(h.ttl))
	}
	w.b.WriteString("</eb:MessageData>")
	if h.dupElim {
		w.b.WriteString("<eb:DuplicateElimination/>")
	}
	w.b.WriteString("</eb:MessageHeader>")
}
