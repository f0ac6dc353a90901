// Package ebms is the format side of the Digikoppeling door: ebMS 2.0 messages (SOAP 1.1 with
// attachments), CPAs (OASIS CPPA 2.0), XML-DSig signatures and the StUF Fo01 answer. It knows
// bytes, XML and crypto, and nothing of the store, the hub or a principal: the door in exchange
// decides what a message means for an organisation, this package only says what it is and whether
// it is well made.
//
// Where each ebMS word lives:
//
//	CPA, PartyInfo, DeliveryChannel,     cpa.go        CPA, PartyInfo, PartyID, Role, ActionBinding,
//	CanSend/CanReceive, DocExchange                    DeliveryChannel, ReliableMessaging, NonRepudiation;
//	                                                   ParseCPA, (*CPA).Check, (*CPA).Binding → Binding
//	a generated CPA for tests and demo    cpa_build.go  CPASpec, PartySpec, NewCPA
//	xsd:duration (PT5M)                  duration.go   ParseDuration, FormatDuration
//	MessageHeader, AckRequested,         message.go    Message, MessageHeader, Party, Service,
//	SyncReply, Manifest, signals                       Acknowledgment, ErrorList, StatusRequest, StatusResponse;
//	                                                   (*Message).Kind, Check (against a CPA)
//	multipart/related, Content-ID        mime.go       ParseMessage, ReadMessage, Part, Outgoing
//	building user messages and signals   build.go      UserMessage, BuildUserMessage, Reply,
//	                                                   BuildAcknowledgment, BuildMessageError, BuildPong,
//	                                                   BuildStatusResponse, BuildPing, BuildStatusRequest,
//	                                                   BuildSOAPFault, NewMessageID
//	ebMS error codes                     errors.go     Error, the Code… constants
//	XML-DSig (ds:Signature)              sign.go       Signer, SignEnvelope, VerifyEnvelope, (*Message).Verify
//	StUF Fo01 (foutbericht)              fo01.go       Fo01, StUFParty, NewFo01, BuildFo01
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
