// Command scrapebench measures how long a scrape of /metrics takes on the real binary with
// many SSH sessions open: none, then 200 idle SFTP sessions, then the same 200 each listing
// its ophalen/ folder every --every. Each phase times N scrapes one after another (as Prometheus
// does, never two at once) and reports p50, p90, p99 and the largest, the server's CPU per
// scrape, and the load average. Everything runs on loopback and stops by itself.
//
//	go build -o /tmp/knooppunt ./cmd/knooppunt && go build -o /tmp/scrapebench ./cmd/scrapebench
//	/tmp/scrapebench --bin /tmp/knooppunt --data /tmp/sb1
package main
