// Package ebms is the format side of the Digikoppeling door: ebMS 2.0 messages (SOAP 1.1 with
// attachments), CPAs (OASIS CPPA 2.0), XML-DSig signatures and the StUF Fo01 answer. It knows
// bytes, XML and crypto, and nothing of the store, the hub or a principal: the door in exchange
// decides what a message means for an organisation, this package only says what it is and whether
// it is well made.
//
// Where each ebMS word lives:
//
//	ebMS word                            file          types and functions
//	CPA, PartyInfo, PartyId, Role,       cpa.go        CPA, PartyInfo, PartyID, Role, ActionBinding,
//	CanSend/CanReceive, DeliveryChannel,               DeliveryChannel, ReliableMessaging, NonRepudiation;
//	DocExchange, Transport, Certificate                ParseCPA, (*CPA).Check, Hub, Other, OtherOIN,
//	                                                   PartyByOIN, Binding, Allowed → Binding (endpoint,
//	                                                   ack, sync reply, retries, signing, certificates)
//	a generated CPA (tests, demo)        cpa_build.go  CPASpec, PartySpec, NewCPA
//	xsd:duration (PT5M)                  duration.go   ParseDuration, FormatDuration
//	MessageHeader, AckRequested,         message.go    Message, MessageHeader, Party, Kind, AckRequested,
//	SyncReply, Manifest, signals                       Acknowledgment, ErrorList, StatusRequest,
//	                                                   StatusResponse, Reference; Check (against a CPA),
//	                                                   (*Message).Payload
//	the SOAP envelope, MSH checks        envelope.go   (parsing behind ParseMessage)
//	multipart/related, Content-ID        mime.go       ParseMessage, ReadMessage, Part, Outgoing, ErrTooLarge
//	building user messages and signals   build.go      UserMessage, (*Binding).UserMessage, BuildUserMessage,
//	                                                   Reply, BuildAcknowledgment, BuildMessageError,
//	                                                   BuildPong, BuildStatusResponse, Signal, BuildPing,
//	                                                   BuildStatusRequest, BuildSOAPFault, NewMessageID
//	ebMS error codes                     errors.go     Error, Code… and Severity… constants
//	XML-DSig (ds:Signature)              sign.go       Signer, SignEnvelope, VerifyEnvelope, (*Message).Verify
//	Canonical XML 1.0 (inclusive)        c14n.go       (used by sign.go)
//	StUF Fo01 (foutbericht)              fo01.go       Fo01, StUFParty, NewFo01, BuildFo01
//	namespaces, actors, StUF-GGk names   names.go      Namespace…, Action…, GGK…, Profile…, Alg… constants
//
// The inbound path of the door: ReadMessage (bounded body) → check that the To party is the
// hub and the client certificate's OIN the From party (the door's business) → Check against the
// stored CPA (parties, roles, action, AckRequested/DuplicateElimination/SyncReply as the CPA
// says, TimeToLive, and the signature whenever one is present or the CPA demands one) →
// Payload → BuildAcknowledgment or BuildMessageError. Outbound: CPA.Binding(hub, …) →
// Binding.UserMessage → BuildUserMessage (with a Signer when Binding.Signed) → POST to
// Binding.Endpoint with Content-Type Outgoing.ContentType and SOAPAction SOAPActionHeader.
//
// Digikoppeling names (Logius, Koppelvlakstandaard ebMS2): a party is its OIN, a PartyId of type
// urn:osb:oin; the profiles are osb-be (best effort) and osb-rm (reliable messaging), each
// optionally signed (-s, rsa-sha256 with sha256 digests). Encryption (-e) is not supported and a
// CPA that demands it is refused. StUF-GGk travels as Service GGKService with the Actions
// ActionDi01, ActionDu01 and ActionFo01, the operations of
// ggk0210_OntvangAsynchroon_ggkberichten.wsdl.
//
// Errors a user reads are Dutch. Errors about a message are *Error values carrying an ebMS error
// code (Inconsistent, NotSupported, …) so the door can answer with a MessageError; errors about a
// CPA are plain errors whose text says what is wrong.
package ebms
