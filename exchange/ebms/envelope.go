package ebms

import (
	"net/url"
	"strings"
	"time"
)

// parseEnvelope reads and checks the SOAP envelope and resolves its Manifest against parts.
func parseEnvelope(data []byte, parts map[string]Part) (*Message, error) {
	root, err := parseTree(data)
	if err != nil {
		return nil, newError(CodeOtherXML, "SOAP:Envelope", "de SOAP-envelop is geweigerd: %v", err)
	}
	if !root.is(NamespaceSOAP, "Envelope") {
		return nil, newError(CodeOtherXML, root.Local, "het hoofdelement is {%s}%s; verwacht een SOAP 1.1 Envelope", root.Space, root.Local)
	}
	header := root.child(NamespaceSOAP, "Header")
	body := root.child(NamespaceSOAP, "Body")
	if header == nil {
		return nil, newError(CodeInconsistent, "SOAP:Envelope", "SOAP:Header ontbreekt")
	}
	if body == nil {
		return nil, newError(CodeInconsistent, "SOAP:Envelope", "SOAP:Body ontbreekt")
	}
	m := &Message{Envelope: data, Parts: parts}
	if m.Parts == nil {
		m.Parts = map[string]Part{}
	}
	var mh *node
	for _, el := range header.Children {
		switch {
		case el.is(NamespaceEbMS, "MessageHeader"):
			if mh != nil {
				return nil, newError(CodeInconsistent, el.path(), "eb:MessageHeader komt meer dan één keer voor")
			}
			mh = el
		case el.is(NamespaceEbMS, "AckRequested"):
			if err := checkExtension(el, true, ActorToPartyMSH); err != nil {
				return nil, err
			}
			signed, _ := el.attr(NamespaceEbMS, "signed")
			m.AckRequested = &AckRequested{Signed: signed == "true" || signed == "1", Actor: actorOf(el)}
		case el.is(NamespaceEbMS, "SyncReply"):
			if err := checkExtension(el, true, ActorSOAPNext); err != nil {
				return nil, err
			}
			m.SyncReply = true
		case el.is(NamespaceEbMS, "Acknowledgment"):
			// The actor of an Acknowledgment is optional (ebMS 2.0 §6.3.2); nextMSH is refused.
			if err := checkExtension(el, false, ActorToPartyMSH); err != nil {
				return nil, err
			}
			a := &Acknowledgment{RefToMessageID: el.child(NamespaceEbMS, "RefToMessageId").text()}
			ts := el.child(NamespaceEbMS, "Timestamp").text()
			if ts == "" || a.RefToMessageID == "" {
				return nil, newError(CodeInconsistent, el.path(), "eb:Acknowledgment zonder eb:Timestamp of eb:RefToMessageId")
			}
			if a.Timestamp, err = parseDateTime(ts); err != nil {
				return nil, newError(CodeValueNotRecognized, el.path()+"/eb:Timestamp", "%q is geen geldig tijdstip", ts)
			}
			if f := el.child(NamespaceEbMS, "From"); f != nil {
				p, err := parseParty(f)
				if err != nil {
					return nil, err
				}
				a.From = &p
			}
			m.Acknowledgment = a
		case el.is(NamespaceEbMS, "ErrorList"):
			if err := checkExtension(el, false, ""); err != nil {
				return nil, err
			}
			l := &ErrorList{HighestSeverity: el.attrAny(NamespaceEbMS, "highestSeverity")}
			for _, e := range el.all(NamespaceEbMS, "Error") {
				l.Errors = append(l.Errors, Error{
					Code:        e.attrAny(NamespaceEbMS, "errorCode"),
					Severity:    e.attrAny(NamespaceEbMS, "severity"),
					Location:    e.attrAny(NamespaceEbMS, "location"),
					Description: e.child(NamespaceEbMS, "Description").text(),
				})
			}
			if len(l.Errors) == 0 {
				return nil, newError(CodeInconsistent, el.path(), "eb:ErrorList zonder eb:Error")
			}
			m.ErrorList = l
		case el.is(NamespaceEbMS, "MessageOrder"):
			return nil, newError(CodeNotSupported, el.path(), "eb:MessageOrder wordt niet ondersteund (Digikoppeling: geen gegarandeerde volgorde)")
		case el.is(NamespaceDSig, "Signature"):
			m.Signed = true
		default:
			if mu, _ := el.attr(NamespaceSOAP, "mustUnderstand"); mu == "1" || mu == "true" {
				return nil, newError(CodeNotSupported, el.path(), "onbekend header-element {%s}%s met mustUnderstand=\"1\"", el.Space, el.Local)
			}
		}
	}
	if mh == nil {
		return nil, newError(CodeInconsistent, "SOAP:Header", "eb:MessageHeader ontbreekt")
	}
	if err := parseMessageHeader(mh, &m.Header); err != nil {
		return nil, err
	}
	for _, el := range body.Children {
		switch {
		case el.is(NamespaceEbMS, "Manifest"):
			if m.Manifest != nil {
				return nil, newError(CodeInconsistent, el.path(), "eb:Manifest komt meer dan één keer voor")
			}
			if err := checkVersion(el); err != nil {
				return nil, err
			}
			refs := el.all(NamespaceEbMS, "Reference")
			if len(refs) == 0 {
				return nil, newError(CodeInconsistent, el.path(), "eb:Manifest zonder eb:Reference")
			}
			m.Manifest = []Reference{}
			for _, r := range refs {
				href, _ := r.attr(NamespaceXLink, "href")
				href = strings.TrimSpace(href)
				if href == "" {
					return nil, newError(CodeInconsistent, r.path(), "eb:Reference zonder xlink:href")
				}
				ref := Reference{Href: href}
				if strings.HasPrefix(strings.ToLower(href), "cid:") {
					cid, err := url.PathUnescape(href[4:])
					if err != nil {
						cid = href[4:]
					}
					ref.ContentID = cid
					p, ok := m.Parts[cid]
					if !ok {
						return nil, newError(CodeMimeProblem, r.path(), "de bijlage %s waarnaar eb:Manifest verwijst ontbreekt in het bericht", href)
					}
					m.Payloads = append(m.Payloads, p)
				} else {
					return nil, newError(CodeMimeProblem, r.path(), "eb:Reference %q verwijst niet naar een MIME-deel (cid:); externe payloads worden niet ondersteund", href)
				}
				m.Manifest = append(m.Manifest, ref)
			}
		case el.is(NamespaceEbMS, "StatusRequest"):
			if err := checkVersion(el); err != nil {
				return nil, err
			}
			ref := el.child(NamespaceEbMS, "RefToMessageId").text()
			if ref == "" {
				return nil, newError(CodeInconsistent, el.path(), "eb:StatusRequest zonder eb:RefToMessageId")
			}
			m.StatusRequest = &StatusRequest{RefToMessageID: ref}
		case el.is(NamespaceEbMS, "StatusResponse"):
			if err := checkVersion(el); err != nil {
				return nil, err
			}
			sr := &StatusResponse{RefToMessageID: el.child(NamespaceEbMS, "RefToMessageId").text(), MessageStatus: el.attrAny(NamespaceEbMS, "messageStatus")}
			if ts := el.child(NamespaceEbMS, "Timestamp").text(); ts != "" {
				if sr.Timestamp, err = parseDateTime(ts); err != nil {
					return nil, newError(CodeValueNotRecognized, el.path()+"/eb:Timestamp", "%q is geen geldig tijdstip", ts)
				}
			}
			if sr.RefToMessageID == "" || sr.MessageStatus == "" {
				return nil, newError(CodeInconsistent, el.path(), "eb:StatusResponse zonder eb:RefToMessageId of messageStatus")
			}
			m.StatusResponse = sr
		}
	}
	return m, checkKind(m)
}

// checkKind checks that a signal's Action and its element agree.
func checkKind(m *Message) error {
	loc := "eb:MessageHeader/eb:Action"
	switch m.Kind() {
	case KindAcknowledgment:
		if m.Acknowledgment == nil {
			return newError(CodeInconsistent, loc, "actie Acknowledgment zonder eb:Acknowledgment")
		}
	case KindMessageError:
		if m.ErrorList == nil {
			return newError(CodeInconsistent, loc, "actie MessageError zonder eb:ErrorList")
		}
	case KindStatusRequest:
		if m.StatusRequest == nil {
			return newError(CodeInconsistent, loc, "actie StatusRequest zonder eb:StatusRequest")
		}
	case KindStatusResponse:
		if m.StatusResponse == nil {
			return newError(CodeInconsistent, loc, "actie StatusResponse zonder eb:StatusResponse")
		}
	case KindUserMessage:
		if m.Header.Service.Value == SignalService {
			return newError(CodeValueNotRecognized, loc, "onbekende actie %q van service %s", m.Header.Action, SignalService)
		}
		if m.Acknowledgment != nil || m.ErrorList != nil {
			// ebMS allows piggy-backed signals, Digikoppeling does not use them.
			return newError(CodeNotSupported, "SOAP:Header", "een gebruikersbericht met een meegestuurd signaal (eb:Acknowledgment of eb:ErrorList) wordt niet ondersteund")
		}
	}
	return nil
}

// checkVersion demands eb:version="2.0".
func checkVersion(el *node) error {
	v, ok := el.attr(NamespaceEbMS, "version")
	if !ok {
		return newError(CodeInconsistent, el.path()+"/@eb:version", "eb:version ontbreekt")
	}
	if v != Version {
		return newError(CodeValueNotRecognized, el.path()+"/@eb:version", "eb:version %q wordt niet ondersteund; alleen %s", v, Version)
	}
	return nil
}

// checkExtension checks a SOAP header extension: eb:version 2.0, SOAP:mustUnderstand="1", and,
// when actor is not "", the SOAP:actor (nextMSH is multi-hop, which Digikoppeling does not use).
func checkExtension(el *node, needActor bool, actor string) error {
	if err := checkVersion(el); err != nil {
		return err
	}
	if mu, _ := el.attr(NamespaceSOAP, "mustUnderstand"); mu != "1" && mu != "true" {
		return newError(CodeInconsistent, el.path()+"/@SOAP:mustUnderstand", "SOAP:mustUnderstand moet \"1\" zijn")
	}
	if actor == "" {
		return nil
	}
	got := actorOf(el)
	switch {
	case got == actor:
		return nil
	case got == "" && !needActor:
		return nil
	case got == ActorNextMSH:
		return newError(CodeNotSupported, el.path()+"/@SOAP:actor", "SOAP:actor %s (tussenliggende MSH) wordt niet ondersteund; verwacht %s", got, actor)
	case got == "":
		return newError(CodeInconsistent, el.path()+"/@SOAP:actor", "SOAP:actor ontbreekt; verwacht %s", actor)
	}
	return newError(CodeValueNotRecognized, el.path()+"/@SOAP:actor", "SOAP:actor %q is onbekend; verwacht %s", got, actor)
}

func actorOf(el *node) string {
	v, _ := el.attr(NamespaceSOAP, "actor")
	return strings.TrimSpace(v)
}

// parseMessageHeader reads and checks eb:MessageHeader.
func parseMessageHeader(mh *node, h *MessageHeader) error {
	if err := checkVersion(mh); err != nil {
		return err
	}
	if mu, _ := mh.attr(NamespaceSOAP, "mustUnderstand"); mu != "1" && mu != "true" {
		return newError(CodeInconsistent, mh.path()+"/@SOAP:mustUnderstand", "SOAP:mustUnderstand moet \"1\" zijn")
	}
	var err error
	for _, p := range []struct {
		name string
		to   *Party
	}{{"From", &h.From}, {"To", &h.To}} {
		el := mh.child(NamespaceEbMS, p.name)
		if el == nil {
			return newError(CodeInconsistent, mh.path()+"/eb:"+p.name, "eb:%s ontbreekt", p.name)
		}
		if *p.to, err = parseParty(el); err != nil {
			return err
		}
	}
	req := func(local string) (string, error) {
		v := mh.child(NamespaceEbMS, local).text()
		if v == "" {
			return "", newError(CodeInconsistent, mh.path()+"/eb:"+local, "eb:%s ontbreekt of is leeg", local)
		}
		return v, nil
	}
	if h.CPAID, err = req("CPAId"); err != nil {
		return err
	}
	if h.ConversationID, err = req("ConversationId"); err != nil {
		return err
	}
	if h.Service.Value, err = req("Service"); err != nil {
		return err
	}
	h.Service.Type, _ = mh.child(NamespaceEbMS, "Service").attr(NamespaceEbMS, "type")
	if h.Service.Type == "" && !isURI(h.Service.Value) {
		return newError(CodeValueNotRecognized, mh.path()+"/eb:Service", "eb:Service %q zonder eb:type moet een URI zijn", h.Service.Value)
	}
	if h.Action, err = req("Action"); err != nil {
		return err
	}
	md := mh.child(NamespaceEbMS, "MessageData")
	if md == nil {
		return newError(CodeInconsistent, mh.path()+"/eb:MessageData", "eb:MessageData ontbreekt")
	}
	h.MessageID = md.child(NamespaceEbMS, "MessageId").text()
	if h.MessageID == "" {
		return newError(CodeInconsistent, md.path()+"/eb:MessageId", "eb:MessageId ontbreekt")
	}
	if !validMessageID(h.MessageID) {
		return newError(CodeValueNotRecognized, md.path()+"/eb:MessageId", "eb:MessageId %q is geen geldig bericht-id (lokaal-deel@domein)", h.MessageID)
	}
	ts := md.child(NamespaceEbMS, "Timestamp").text()
	if ts == "" {
		return newError(CodeInconsistent, md.path()+"/eb:Timestamp", "eb:Timestamp ontbreekt")
	}
	if h.Timestamp, err = parseDateTime(ts); err != nil {
		return newError(CodeValueNotRecognized, md.path()+"/eb:Timestamp", "eb:Timestamp %q is geen geldig tijdstip", ts)
	}
	if ref := md.child(NamespaceEbMS, "RefToMessageId"); ref != nil {
		h.RefToMessageID = ref.text()
		if !validMessageID(h.RefToMessageID) {
			return newError(CodeValueNotRecognized, md.path()+"/eb:RefToMessageId", "eb:RefToMessageId %q is geen geldig bericht-id (lokaal-deel@domein)", h.RefToMessageID)
		}
	}
	if ttl := md.child(NamespaceEbMS, "TimeToLive").text(); ttl != "" {
		if h.TimeToLive, err = parseDateTime(ttl); err != nil {
			return newError(CodeValueNotRecognized, md.path()+"/eb:TimeToLive", "eb:TimeToLive %q is geen geldig tijdstip", ttl)
		}
	}
	h.DuplicateElimination = mh.child(NamespaceEbMS, "DuplicateElimination") != nil
	return nil
}

// parseParty reads eb:From, eb:To or eb:Acknowledgment/eb:From.
func parseParty(el *node) (Party, error) {
	var p Party
	for _, id := range el.all(NamespaceEbMS, "PartyId") {
		typ, _ := id.attr(NamespaceEbMS, "type")
		v := id.text()
		if v == "" {
			return p, newError(CodeInconsistent, id.path(), "lege eb:PartyId")
		}
		if typ == "" && !isURI(v) {
			return p, newError(CodeValueNotRecognized, id.path(), "eb:PartyId %q zonder eb:type moet een URI zijn", v)
		}
		p.PartyIDs = append(p.PartyIDs, PartyID{Type: typ, Value: v})
	}
	if len(p.PartyIDs) == 0 {
		return p, newError(CodeInconsistent, el.path()+"/eb:PartyId", "eb:%s zonder eb:PartyId", el.Local)
	}
	p.Role = el.child(NamespaceEbMS, "Role").text()
	return p, nil
}

// validMessageID accepts an RFC 2822 msg-id without angle brackets: a non-empty left part,
// "@", a non-empty right part, no spaces or angle brackets.
func validMessageID(id string) bool {
	i := strings.LastIndexByte(id, '@')
	if i <= 0 || i == len(id)-1 || len(id) > 512 {
		return false
	}
	return !strings.ContainsAny(id, " \t\r\n<>\"")
}

// isURI says whether s looks like an absolute URI (a scheme and a colon).
func isURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != ""
}

// timeUTC formats t as ebMS timestamps are written: UTC, RFC 3339, milliseconds.
func timeUTC(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
