package ebms

import (
	"strings"
	"time"
)

// Kind is what an ebMS message is: a user message or one of the MSH signals.
type Kind int

const (
	KindUserMessage Kind = iota
	KindAcknowledgment
	KindMessageError
	KindPing
	KindPong
	KindStatusRequest
	KindStatusResponse
)

func (k Kind) String() string {
	return [...]string{"UserMessage", ActionAcknowledgment, ActionMessageError, ActionPing, ActionPong, ActionStatusRequest, ActionStatusResponse}[k]
}

// Message is a received ebMS message: the SOAP envelope's ebMS elements and the MIME parts.
type Message struct {
	Header MessageHeader

	AckRequested   *AckRequested // nil when absent
	SyncReply      bool          // eb:SyncReply present
	Acknowledgment *Acknowledgment
	ErrorList      *ErrorList
	StatusRequest  *StatusRequest
	StatusResponse *StatusResponse
	Manifest       []Reference // eb:Manifest/eb:Reference, in order; nil when absent
	Signed         bool        // the SOAP Header holds a ds:Signature

	// Payloads are the parts the Manifest references, in Manifest order.
	Payloads []Part
	// Envelope is the SOAP envelope exactly as received (for the signature check and the log).
	Envelope []byte
	// Parts are all MIME parts after the envelope, by Content-ID without angle brackets.
	Parts map[string]Part
}

// MessageHeader is eb:MessageHeader.
type MessageHeader struct {
	From, To             Party
	CPAID                string
	ConversationID       string
	Service              Service
	Action               string
	MessageID            string
	Timestamp            time.Time
	RefToMessageID       string
	TimeToLive           time.Time // zero when absent
	DuplicateElimination bool
}

// Party is eb:From or eb:To.
type Party struct {
	PartyIDs []PartyID
	Role     string
}

// OIN returns the PartyId of type urn:osb:oin ("" when none).
func (p Party) OIN() string {
	for _, id := range p.PartyIDs {
		if id.Type == PartyTypeOIN {
			return id.Value
		}
	}
	return ""
}

// PartyID returns the first PartyId (zero when none).
func (p Party) PartyID() PartyID {
	if len(p.PartyIDs) == 0 {
		return PartyID{}
	}
	return p.PartyIDs[0]
}

// AckRequested is eb:AckRequested.
type AckRequested struct {
	Signed bool
	Actor  string
}

// Acknowledgment is eb:Acknowledgment.
type Acknowledgment struct {
	Timestamp      time.Time
	RefToMessageID string
	From           *Party // optional
}

// ErrorList is eb:ErrorList.
type ErrorList struct {
	HighestSeverity string
	Errors          []Error
}

// StatusRequest is eb:StatusRequest.
type StatusRequest struct {
	RefToMessageID string
}

// Message statuses of a StatusResponse (ebMS 2.0 §7.1.2).
const (
	StatusUnAuthorized  = "UnAuthorized"
	StatusNotRecognized = "NotRecognized"
	StatusReceived      = "Received"
	StatusProcessed     = "Processed"
	StatusForwarded     = "Forwarded"
)

// StatusResponse is eb:StatusResponse.
type StatusResponse struct {
	RefToMessageID string
	MessageStatus  string    // Status… constant
	Timestamp      time.Time // zero unless Received/Processed/Forwarded
}

// Reference is one eb:Manifest/eb:Reference.
type Reference struct {
	Href      string // "cid:…" for a MIME part
	ContentID string // Href without "cid:" ("" for a non-cid reference)
}

// Part is one MIME part: a payload or an attachment.
type Part struct {
	ContentID   string // without angle brackets
	ContentType string
	Data        []byte
}

// Kind says which message this is, from Service and Action.
func (m *Message) Kind() Kind {
	if m.Header.Service.Value != SignalService {
		return KindUserMessage
	}
	switch m.Header.Action {
	case ActionAcknowledgment:
		return KindAcknowledgment
	case ActionMessageError:
		return KindMessageError
	case ActionPing:
		return KindPing
	case ActionPong:
		return KindPong
	case ActionStatusRequest:
		return KindStatusRequest
	case ActionStatusResponse:
		return KindStatusResponse
	}
	return KindUserMessage
}

// Payload returns the single payload of a user message; a message with no payload or more than
// one is refused (the StUF-GGk actions carry exactly one envelope).
func (m *Message) Payload() (Part, error) {
	switch len(m.Payloads) {
	case 1:
		return m.Payloads[0], nil
	case 0:
		return Part{}, newError(CodeInconsistent, "eb:Manifest", "het bericht heeft geen payload; actie %s vraagt precies één bijlage, verwezen vanuit eb:Manifest", m.Header.Action)
	}
	return Part{}, newError(CodeInconsistent, "eb:Manifest", "het bericht heeft %d payloads; actie %s vraagt er precies één", len(m.Payloads), m.Header.Action)
}

// Check validates a parsed message against its CPA as a receiving MSH: both parties belong to
// the CPA and the receiver is to; From and To are the CPA's two parties with the roles the CPA
// gives them; the Service/Action is allowed from the sender's role; AckRequested,
// DuplicateElimination and SyncReply are as the receiving channel says; the TimeToLive has not
// passed at now; a signed message's signature verifies with the sender's signing certificates
// from the CPA, and a CPA that demands signing gets a signed message. Signals (Service
// urn:oasis:names:tc:ebxml-msg:service) only need the parties and, when signed, the signature.
// It returns the Binding of a user message (nil for a signal) or an *Error.
func Check(m *Message, c *CPA, now time.Time) (*Binding, error) {
	h := &m.Header
	if h.CPAID != c.ID {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:CPAId", "CPAId %q hoort niet bij CPA %s", h.CPAID, c.ID)
	}
	if !h.TimeToLive.IsZero() && now.After(h.TimeToLive) {
		return nil, newError(CodeTimeToLiveExpired, "eb:MessageHeader/eb:MessageData/eb:TimeToLive", "de TimeToLive (%s) is verstreken", h.TimeToLive.UTC().Format(time.RFC3339))
	}
	if now.Before(c.Start) || !now.Before(c.End) {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:CPAId", "CPA %s is nu niet geldig (geldig van %s tot %s)", c.ID, c.Start.Format(time.RFC3339), c.End.Format(time.RFC3339))
	}
	from := partyIn(c, h.From)
	if from == nil {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:From/eb:PartyId", "afzender %s is geen partij in CPA %s", partyString(h.From), c.ID)
	}
	to := partyIn(c, h.To)
	if to == nil {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:To/eb:PartyId", "ontvanger %s is geen partij in CPA %s", partyString(h.To), c.ID)
	}
	if from == to {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:To/eb:PartyId", "afzender en ontvanger zijn dezelfde partij in CPA %s", c.ID)
	}
	verified := false
	if m.Signed {
		// A signature present is checked whatever the CPA demands, with the sender's signing
		// certificates, else any certificate the CPA gives the sender. Only when the CPA has none
		// and does not demand signing (checked below for user messages) is there nothing to check
		// against; the message then counts as unsigned, which that CPA allows.
		certs := from.SigningCertificates()
		if len(certs) == 0 {
			certs = from.allCertificates()
		}
		if len(certs) > 0 {
			if err := m.Verify(certs...); err != nil {
				return nil, err
			}
			verified = true
		}
	}
	if m.Kind() != KindUserMessage {
		return nil, nil
	}
	if h.From.Role == "" {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:From/eb:Role", "eb:From heeft geen eb:Role; de CPA bepaalt per rol welke acties zijn toegestaan")
	}
	if h.To.Role == "" {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:To/eb:Role", "eb:To heeft geen eb:Role; de CPA bepaalt per rol welke acties zijn toegestaan")
	}
	var id PartyID
	for _, x := range h.From.PartyIDs {
		if from.HasPartyID(x) {
			id = x
		}
	}
	b, err := c.Binding(id, h.From.Role, h.Service, h.Action)
	if err != nil {
		return nil, err
	}
	if b.ToRole != h.To.Role {
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:To/eb:Role", "rol %q van de ontvanger past niet bij CPA %s (verwacht %q)", h.To.Role, c.ID, b.ToRole)
	}
	switch {
	case b.AckRequested() && m.AckRequested == nil:
		return nil, newError(CodeInconsistent, "SOAP:Header/eb:AckRequested", "eb:AckRequested ontbreekt; CPA %s vraagt een bevestiging (ackRequested always)", c.ID)
	case !b.AckRequested() && m.AckRequested != nil:
		return nil, newError(CodeInconsistent, "SOAP:Header/eb:AckRequested", "eb:AckRequested is aanwezig; CPA %s vraagt geen bevestiging (ackRequested never)", c.ID)
	case m.AckRequested != nil && m.AckRequested.Signed != b.AckSignatureRequested():
		return nil, newError(CodeInconsistent, "SOAP:Header/eb:AckRequested/@eb:signed", "eb:AckRequested signed=%t past niet bij CPA %s (ackSignatureRequested %s)", m.AckRequested.Signed, c.ID, orDash(b.channel().AckSignatureRequested))
	case b.DuplicateElimination() != h.DuplicateElimination:
		if h.DuplicateElimination {
			return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:DuplicateElimination", "eb:DuplicateElimination is aanwezig; CPA %s vraagt dat niet (duplicateElimination never)", c.ID)
		}
		return nil, newError(CodeInconsistent, "eb:MessageHeader/eb:DuplicateElimination", "eb:DuplicateElimination ontbreekt; CPA %s vraagt het (duplicateElimination always)", c.ID)
	case b.SyncReply() != m.SyncReply:
		if m.SyncReply {
			return nil, newError(CodeInconsistent, "SOAP:Header/eb:SyncReply", "eb:SyncReply is aanwezig; CPA %s vraagt asynchrone antwoorden (syncReplyMode none)", c.ID)
		}
		return nil, newError(CodeInconsistent, "SOAP:Header/eb:SyncReply", "eb:SyncReply ontbreekt; CPA %s vraagt synchrone signalen (syncReplyMode %s)", c.ID, b.channel().SyncReplyMode)
	}
	if b.Signed() && !m.Signed {
		return nil, newError(CodeSecurityFailure, "SOAP:Header/ds:Signature", "het bericht is niet ondertekend; CPA %s eist ondertekening (profiel %s)", c.ID, b.SendChannel.Profile())
	}
	if b.Signed() && !verified {
		return nil, newError(CodeSecurityFailure, "SOAP:Header/ds:Signature", "CPA %s eist ondertekening maar noemt geen certificaat van %s om de handtekening mee te controleren", c.ID, from.Name)
	}
	return b, nil
}

func partyIn(c *CPA, p Party) *PartyInfo {
	var found *PartyInfo
	for _, id := range p.PartyIDs {
		x := c.Party(id)
		if x == nil || (found != nil && x != found) {
			return nil
		}
		found = x
	}
	return found
}

func partyString(p Party) string {
	var s []string
	for _, id := range p.PartyIDs {
		s = append(s, id.String())
	}
	if len(s) == 0 {
		return "(geen PartyId)"
	}
	return strings.Join(s, ", ")
}
