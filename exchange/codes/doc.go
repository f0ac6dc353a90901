// Package codes is the one table of rejection codes (the national IB list and the hub's own KP
// codes) and the Rejection that carries one with a Dutch detail. It knows no store, hub or
// principal: the format packages (stuf, zipintake) and the engine (exchange) all name their
// verdicts with it.
//
// Glossary (domain word → file → type):
//
//	code, omschrijving      → codes.go     → Code, Code.Omschrijving, Codes
//	afgekeurd (rejection)   → rejection.go → Rejection
package codes
