// Package zipintake reads one upload, a plain .xml or a .zip of them, as hostile input: straight
// from an io.ReaderAt, never loaded whole, within limits on files, size, ratio and total
// (zip bombs, overlapping entries, lying headers, nested archives), and hands each file to the
// caller as an Entry with a cleaned name. It knows bytes and the ZIP format only: no store, hub
// or principal; what an entry's envelope says is for exchange/stuf and the engine.
//
// Glossary (domain word → file → type):
//
//	aanlevering (upload), ZIP-bestand → zipintake.go → ReadUpload
//	bestand in het ZIP-bestand        → zipintake.go → Entry (Entry.Rejection: IB9xx, KP002–KP004)
//	grenzen (25 MB, zip-bom, aantal)  → zipintake.go → Limits
package zipintake
