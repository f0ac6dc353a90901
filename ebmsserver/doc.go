// Package ebmsserver is the Digikoppeling door: an HTTPS endpoint (POST /ebms) that takes ebMS
// 2.0 messages from partners over two-sided TLS, and the TLS client the hub sends with. It
// only moves bytes and says who the client is (the OIN in its certificate); every rule lives
// in exchange (Hub.ReceiveEbMS, the send queue), the message format in exchange/ebms.
//
// Where each word lives:
//
//	word                                     file        types and functions
//	the endpoint (POST /ebms), who is        server.go   Server, Config, New, (*Server).Serve, OINOf
//	calling (the OIN in the certificate)
//	two-sided TLS, the client that sends     tls.go      TLS, LoadTLS, Client, NewClient, (*Client).Post
//	the demo's test PKI (CA, certificates)   pki.go      TestPKI, LoadOrCreatePKI, (*TestPKI).Issue
//	the demo: CPAs and a voorbeeldbericht    demo.go     Demo, SetupDemo
package ebmsserver
