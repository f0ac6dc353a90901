package ebms

// Namespaces of the ebMS 2.0 message, the CPA and the signature.
const (
	NamespaceSOAP  = "http://schemas.xmlsoap.org/soap/envelope/"
	NamespaceEbMS  = "http://www.oasis-open.org/committees/ebxml-msg/schema/msg-header-2_0.xsd"
	NamespaceCPA   = "http://www.oasis-open.org/committees/ebxml-cppa/schema/cpp-cpa-2_0.xsd"
	NamespaceDSig  = "http://www.w3.org/2000/09/xmldsig#"
	NamespaceXLink = "http://www.w3.org/1999/xlink"
)

// Fixed values of ebMS 2.0 and Digikoppeling.
const (
	// Version is the only ebMS version this package speaks (eb:version).
	Version = "2.0"
	// PartyTypeOIN is the PartyId type of an OIN (Digikoppeling Best Practices).
	PartyTypeOIN = "urn:osb:oin"
	// ServiceTypeOSB is the Service type Digikoppeling uses.
	ServiceTypeOSB = "urn:osb:services"
	// SignalService is the Service of every MSH signal (Acknowledgment, MessageError, Ping, …).
	SignalService = "urn:oasis:names:tc:ebxml-msg:service"
	// SOAPActionHeader is the value of the HTTP SOAPAction header of every ebMS message.
	SOAPActionHeader = `"ebXML"`

	ActorToPartyMSH = "urn:oasis:names:tc:ebxml-msg:actor:toPartyMSH"
	ActorNextMSH    = "urn:oasis:names:tc:ebxml-msg:actor:nextMSH"
	ActorSOAPNext   = "http://schemas.xmlsoap.org/soap/actor/next"
)

// Actions of the signal service.
const (
	ActionAcknowledgment = "Acknowledgment"
	ActionMessageError   = "MessageError"
	ActionPing           = "Ping"
	ActionPong           = "Pong"
	ActionStatusRequest  = "StatusRequest"
	ActionStatusResponse = "StatusResponse"
)

// StUF-GGk over Digikoppeling: the web service of
// ggk0210_OntvangAsynchroon_ggkberichten.wsdl (service StUFOntvangAsynchroonGGK0210Service,
// portType OntvangAsynchroon, targetNamespace GGKNamespace). Its operations are the ebMS Actions.
// The ebMS Service is the WSDL's service name with type urn:osb:services, as Digikoppeling's best
// practice names a service after the WSDL it carries.
const (
	GGKNamespace   = "http://www.stufstandaarden.nl/koppelvlak/ggk0210"
	GGKPortType    = "OntvangAsynchroon"
	GGKService     = "StUFOntvangAsynchroonGGK0210Service"
	GGKServiceType = ServiceTypeOSB

	ActionDi01 = "ggk_Di01" // a heenbericht envelope (envelopHeenbericht-ggk_Di01)
	ActionDu01 = "ggk_Du01" // a retourbericht envelope (envelopRetourbericht-ggk_Du01)
	ActionFo01 = "Fo01"     // a StUF foutbericht (StUF:Fo01Bericht)
)

// GGKActions are the three actions of the StUF-GGk service, in WSDL order.
var GGKActions = []string{ActionDi01, ActionDu01, ActionFo01}

// Profiles of Digikoppeling ebMS2 this package supports.
const (
	ProfileBestEffort              = "osb-be"
	ProfileReliableMessaging       = "osb-rm"
	ProfileBestEffortSigned        = "osb-be-s"
	ProfileReliableMessagingSigned = "osb-rm-s"
)

// Algorithms of the signature.
const (
	AlgC14N            = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	AlgEnveloped       = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	AlgXPath           = "http://www.w3.org/TR/1999/REC-xpath-19991116"
	AlgRSASHA256       = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA1         = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	AlgSHA256          = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA1            = "http://www.w3.org/2000/09/xmldsig#sha1"
	NonRepudiationDSig = "http://www.w3.org/2000/09/xmldsig#"
)
