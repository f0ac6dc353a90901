// Package metrics serves the hub's Prometheus metrics and its health endpoints (/metrics,
// /healthz, /readyz). It knows nothing of the hub: the engine and the SSH server report their
// events through the methods of Metrics (they declare the interfaces they call, see
// exchange.Observer and sshserver.Observer), and the state read at scrape time comes from a
// function that returns a State. Every Metrics has a registry of its own.
//
// Where each word lives:
//
//	word                                     file        types and functions
//	the counters and histograms (metrics)    metrics.go  Metrics, New, UploadReceived, UploadFinished,
//	                                                     MessageRejected, AdmissionWaited, RetentionRun,
//	                                                     ConnOpened, LoginFailed, …
//	the state read at scrape time            state.go    State, (*Metrics).WatchState
//	/metrics, /healthz, /readyz (gereed)     http.go     Handler, Serve, Check, Readiness, NewReadiness
//	reading a scrape (knooppunt status)      parse.go    Samples, Parse
package metrics
