// Command loadgen puts a knooppunt server under the load of issue 6: many SFTP sessions that
// upload ZIPs of envelopes while others download what is delivered. It seeds a data
// directory with organisations and accounts, starts the real binary on it, runs the load,
// and reports the time from close-of-upload to Afgeleverd (p50, p99), the client's time per
// put (open to the answered close, and of that the wait at open for admission), the server's
// memory and CPU, the machine's load average, and every error.
//
//	go build -o /tmp/knooppunt ./cmd/knooppunt
//	go run ./cmd/loadgen --bin /tmp/knooppunt --data /tmp/lg
package main
