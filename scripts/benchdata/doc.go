// Command benchdata writes the upload for scripts/bench-sftp.sh: a ZIP of WMO301 envelopes
// from gemeente 9999 to aanbieder 12345678 with random payloads, stored uncompressed, so that
// the hub turns it into one delivery of about the same size to download again. With -n it
// writes that many envelopes of -kb KiB of payload each instead (scripts/bench-rss-1gb.sh:
// -n 40000 -kb 17 is the 0.98 GB ZIP of BenchmarkPeakRSS1GBZip's shape).
//
// Glossary: bench-ZIP (WMO301-enveloppen) → main.go → addEnvelope.
package main
