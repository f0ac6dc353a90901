// Package tijdzone holds the one time zone of every time a person reads in knooppunt: file
// names, verslagen, berichtenlog, the portal, the commands' JSON and StUF's tijdstipBericht.
// It is a package of its own, below every other, so that the engine, its format packages
// (ebms) and the doors (sshserver, tui) share one location instead of loading their own.
//
// Glossary: tijdzone (Europe/Amsterdam) → tijdzone.go → Amsterdam.
package tijdzone
