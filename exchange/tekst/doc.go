// Package tekst holds the one predicate that decides which characters may not reach a person's
// terminal. The engine escapes them wherever outside text is shown (exchange.Printable,
// exchange.JSONWriter); the ZIP intake replaces them in the names it reports
// (zipintake.Entry.Name). Both use Steers, so what is safe to show is decided in one place.
//
// Glossary (domain word → file → type):
//
//	tekst die een terminal stuurt → tekst.go → Steers
package tekst
