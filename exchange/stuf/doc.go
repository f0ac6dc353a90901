// Package stuf reads and writes the StUF-GGk (ggk0210, StUF 0301) envelope that carries every
// iWmo/iJw message, and reads the Header of the iWmo/iJw 3.x message inside it. It knows bytes
// and their grammar only: no store, hub or principal. Whether a functie, organisatie or route
// is allowed is the engine's (exchange); the verdict here is the schema's alone, named with a
// code from exchange/codes.
//
// Glossary (domain word → file → type):
//
//	envelop, stuurgegevens, parameters → envelope.go → Envelope, Parse, Parser
//	XSD (ggk0210 schema check, IB001)  → schema.go   → the validator behind Parse; Clip
//	payload-header (BerichtCode, …)    → bericht.go  → BerichtHeader, Parser.BerichtHeader
//	envelop/bericht maken (fixtures)   → build.go    → Build, BuildBericht
package stuf
