package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the hub's counters and histograms and the registry they are in.
type Metrics struct {
	reg *prometheus.Registry

	uploadsReceived  *prometheus.CounterVec
	uploadsProcessed *prometheus.CounterVec
	processing       *prometheus.HistogramVec
	latency          *prometheus.HistogramVec
	delivered        *prometheus.CounterVec
	rejected         *prometheus.CounterVec
	admissionWaits   *prometheus.CounterVec
	admissionWait    prometheus.Histogram
	retentionRuns    *prometheus.CounterVec
	retentionLast    prometheus.Gauge

	connections     prometheus.Counter
	connectionsOpen prometheus.Gauge
	refused         *prometheus.CounterVec
	failedLogins    prometheus.Counter
	sessions        *prometheus.CounterVec
	sessionsOpen    *prometheus.GaugeVec
	sftpIn, sftpOut prometheus.Counter

	ebmsReceived prometheus.Counter
	ebmsAcked    prometheus.Counter
	ebmsRefused  *prometheus.CounterVec
	ebmsSent     prometheus.Counter
	ebmsRetries  prometheus.Counter
	ebmsEnded    *prometheus.CounterVec
}

// Label values the hub uses, so that each series exists from the first scrape (at 0) rather
// than from its first event: a rate over a series that appears late misses its first step.
var (
	Products       = []string{"iwmo", "ijw", "ieb", "pgb-wmo", "pgb-jw"}
	UploadStatuses = []string{"afgeleverd", "afgekeurd"}
	SessionKinds   = []string{"sftp", "tui", "command", "other"}
	WaitOutcomes   = []string{"toegelaten", "bezet", "afgebroken"}
	RefuseReasons  = []string{"max_verbindingen", "adres_geblokkeerd"}
	// EbMSErrorCodes are the ebMS 2.0 error codes a MessageError of the hub carries.
	EbMSErrorCodes = []string{"ValueNotRecognized", "NotSupported", "Inconsistent", "OtherXml", "DeliveryFailure",
		"TimeToLiveExpired", "SecurityFailure", "MimeProblem", "Unknown"}
	SendEndStates = []string{"bevestigd", "mislukt", "afgegeven"}
)

// durationBuckets span a small upload's tens of milliseconds to a 1 GB ZIP's minutes.
var durationBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}

// New makes the metrics, in a registry of their own with Go's runtime and the process's
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := factory{m.reg}
	m.uploadsReceived = f.counterVec("uploads_received_total", "Aanleveringen aangenomen (Ontvangen), per product.", "product")
	m.uploadsProcessed = f.counterVec("uploads_processed_total", "Aanleveringen verwerkt, per product en eindstatus (afgeleverd, afgekeurd).", "product", "status")
	m.processing = f.histogramVec("upload_processing_seconds", "Verwerkingsduur van een aanlevering: van Bezig tot Afgeleverd of Afgekeurd.", "product")
	m.latency = f.histogramVec("upload_latency_seconds", "Doorlooptijd van een aanlevering: van Ontvangen (de close van de upload) tot Afgeleverd of Afgekeurd.", "product")
	m.delivered = f.counterVec("messages_delivered_total", "Berichten die correct waren en naar de postbus van de ontvanger gingen (of op een route wachten), per product.", "product")
	m.rejected = f.counterVec("messages_rejected_total", "Afgekeurde bestanden (en aanleveringen als geheel), per product en foutcode.", "product", "code")
	m.admissionWaits = f.counterVec("admission_waits_total", "Aanleveringen die op een plaats moesten wachten, per afloop (toegelaten, bezet, afgebroken).", "outcome")
	m.admissionWait = f.histogram("admission_wait_seconds", "Wachttijd op een plaats voor een aanlevering, als er gewacht moest worden.")
	m.retentionRuns = f.counterVec("retention_runs_total", "Rondes van de bewaartermijnen, per uitkomst (ok, fout).", "result")
	m.retentionLast = f.gauge("retention_last_success_timestamp_seconds", "Tijdstip (Unix) van de laatste geslaagde ronde van de bewaartermijnen.")

	m.connections = f.counter("ssh_connections_total", "SSH-verbindingen aangenomen (voorbij de grenzen per adres).")
	m.connectionsOpen = f.gauge("ssh_connections_open", "SSH-verbindingen die nu open zijn.")
	m.refused = f.counterVec("ssh_connections_refused_total", "SSH-verbindingen geweigerd vóór de handshake, per reden.", "reason")
	m.failedLogins = f.counter("ssh_failed_logins_total", "Mislukte aanmeldingen (verkeerde sleutel, wachtwoord geprobeerd, geblokkeerd account).")
	m.sessions = f.counterVec("ssh_sessions_total", "SSH-sessies na een geslaagde aanmelding, per soort (sftp, tui, command, other).", "kind")
	m.sessionsOpen = f.gaugeVec("ssh_sessions_open", "SSH-sessies die nu open zijn, per soort.", "kind")
	m.sftpIn = f.counter("sftp_received_bytes_total", "Bytes van bestanden die over SFTP binnenkwamen (aanleveren).")
	m.sftpOut = f.counter("sftp_sent_bytes_total", "Bytes van bestanden die over SFTP zijn verstuurd (ophalen, verslagen).")

	m.ebmsReceived = f.counter("ebms_received_total", "Digikoppeling: ontvangen berichten (met een envelop) die vastgelegd en aangenomen zijn; een dubbel bericht telt niet opnieuw.")
	m.ebmsAcked = f.counter("ebms_acknowledged_total", "Digikoppeling: ontvangen berichten die hun bevestiging (Acknowledgment) kregen, ook opnieuw voor een dubbel bericht.")
	m.ebmsRefused = f.counterVec("ebms_refused_total", "Digikoppeling: berichten geweigerd met een MessageError, per ebMS-foutcode.", "reason")
	m.ebmsSent = f.counter("ebms_sent_total", "Digikoppeling: berichten die het knooppunt voor het eerst verstuurde (berichten, Fo01's, losse bevestigingen).")
	m.ebmsRetries = f.counter("ebms_retries_total", "Digikoppeling: herhaalde verzendpogingen (met hetzelfde MessageId).")
	m.ebmsEnded = f.counterVec("ebms_sends_ended_total", "Digikoppeling: verzonden berichten die afliepen, per afloop (bevestigd, mislukt, afgegeven).", "status")
	for _, c := range EbMSErrorCodes {
		m.ebmsRefused.WithLabelValues(c)
	}
	for _, st := range SendEndStates {
		m.ebmsEnded.WithLabelValues(st)
	}
	for _, p := range Products {
		m.uploadsReceived.WithLabelValues(p)
		m.delivered.WithLabelValues(p)
		m.processing.WithLabelValues(p)
		m.latency.WithLabelValues(p)
		for _, s := range UploadStatuses {
			m.uploadsProcessed.WithLabelValues(p, s)
		}
	}
	for _, o := range WaitOutcomes {
		m.admissionWaits.WithLabelValues(o)
	}
	for _, r := range []string{"ok", "fout"} {
		m.retentionRuns.WithLabelValues(r)
	}
	for _, k := range SessionKinds {
		m.sessions.WithLabelValues(k)
		m.sessionsOpen.WithLabelValues(k)
	}
	for _, r := range RefuseReasons {
		m.refused.WithLabelValues(r)
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics are registered; Handler serves it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// --- the engine's events (exchange.Observer) ---

func (m *Metrics) UploadReceived(product string) { m.uploadsReceived.WithLabelValues(product).Inc() }

func (m *Metrics) UploadFinished(product, status string, processing, total time.Duration, delivered int) {
	m.uploadsProcessed.WithLabelValues(product, status).Inc()
	m.processing.WithLabelValues(product).Observe(processing.Seconds())
	m.latency.WithLabelValues(product).Observe(total.Seconds())
	m.delivered.WithLabelValues(product).Add(float64(delivered))
}

func (m *Metrics) MessageRejected(product, code string) {
	m.rejected.WithLabelValues(product, code).Inc()
}

func (m *Metrics) AdmissionWaited(wait time.Duration, outcome string) {
	m.admissionWaits.WithLabelValues(outcome).Inc()
	m.admissionWait.Observe(wait.Seconds())
}

func (m *Metrics) RetentionRun(_ time.Duration, err error) {
	if err != nil {
		m.retentionRuns.WithLabelValues("fout").Inc()
		return
	}
	m.retentionRuns.WithLabelValues("ok").Inc()
	m.retentionLast.SetToCurrentTime()
}

// --- the Digikoppeling door's events (exchange.DigikoppelingObserver) ---

func (m *Metrics) EbMSReceived()              { m.ebmsReceived.Inc() }
func (m *Metrics) EbMSAcknowledged()          { m.ebmsAcked.Inc() }
func (m *Metrics) EbMSRefused(reason string)  { m.ebmsRefused.WithLabelValues(reason).Inc() }
func (m *Metrics) EbMSSendEnded(state string) { m.ebmsEnded.WithLabelValues(state).Inc() }
func (m *Metrics) EbMSSent(retry bool) {
	if retry {
		m.ebmsRetries.Inc()
		return
	}
	m.ebmsSent.Inc()
}

// --- the SSH server's events (sshserver.Observer) ---

func (m *Metrics) ConnOpened() {
	m.connections.Inc()
	m.connectionsOpen.Inc()
}

func (m *Metrics) ConnClosed()               { m.connectionsOpen.Dec() }
func (m *Metrics) ConnRefused(reason string) { m.refused.WithLabelValues(reason).Inc() }
func (m *Metrics) LoginFailed()              { m.failedLogins.Inc() }
func (m *Metrics) SFTPReceived(n int)        { m.sftpIn.Add(float64(n)) }
func (m *Metrics) SFTPSent(n int)            { m.sftpOut.Add(float64(n)) }
func (m *Metrics) SessionClosed(kind string) { m.sessionsOpen.WithLabelValues(kind).Dec() }
func (m *Metrics) SessionOpened(kind string) {
	m.sessions.WithLabelValues(kind).Inc()
	m.sessionsOpen.WithLabelValues(kind).Inc()
}

// factory registers metrics named knooppunt_<name>.
type factory struct{ reg *prometheus.Registry }

const namespace = "knooppunt"

// register adds a metric to the registry and hands it back, so that each kind below only
// says how its metric is built.
func register[M prometheus.Collector](f factory, m M) M {
	f.reg.MustRegister(m)
	return m
}

func (f factory) counter(name, help string) prometheus.Counter {
	return register(f, prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}))
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return register(f, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels))
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	return register(f, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}))
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return register(f, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels))
}

func (f factory) histogram(name, help string) prometheus.Histogram {
	return register(f, prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: durationBuckets}))
}

func (f factory) histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	return register(f, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: durationBuckets}, labels))
}
