package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is what the hub looks like at one moment, read at every scrape rather than counted
// as it changes: the numbers come from where they already live, so they cannot drift.
type State struct {
	Queued            int // uploads not final yet
	Processing        int // of those, being processed
	Workers           int
	AdmissionCapacity int
	AdmissionHeld     int
	AdmissionWaiting  int
	StoreIndexBytes   int64
	StoreValueBytes   int64
	StoreOtherBytes   int64
	Files             int64
	FileBytes         int64
	FilesMeasured     time.Time // zero: not counted yet, Files and FileBytes are left out
	FreeBytes         uint64
	FreeOK            bool // false: statfs failed, FreeBytes is left out
	ShuttingDown      bool
}

// WatchState reads state at every scrape. Call it once.
func (m *Metrics) WatchState(state func() State) {
	m.reg.MustRegister(&stateCollector{state: state})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

var (
	descQueued     = desc("queue_uploads", "Aanleveringen die nog niet klaar zijn (Ontvangen of Bezig).")
	descProcessing = desc("processing_uploads", "Aanleveringen waar nu een worker mee bezig is.")
	descWorkers    = desc("workers", "Aanleveringen die tegelijk kunnen worden verwerkt (--workers).")
	descAdmCap     = desc("admission_slots", "Plaatsen voor aanleveringen in behandeling (--max-uploads).")
	descAdmHeld    = desc("admission_slots_in_use", "Plaatsen die bezet zijn: aanleveringen die worden geschreven, wachten of worden verwerkt.")
	descAdmWaiting = desc("admission_waiting", "Clients die nu wachten op een plaats voordat hun upload begint.")
	descStore      = desc("store_bytes", "Grootte van de Badger-opslag op schijf, per deel (lsm: de index, vlog: het waardenlog, overig: memtables en manifest), zoals toegewezen op schijf.", "part")
	descFiles      = desc("files", "Bestanden in de bestandsopslag (bij de laatste telling).")
	descFileBytes  = desc("files_bytes", "Bytes in de bestandsopslag (bij de laatste telling).")
	descFilesAt    = desc("files_counted_timestamp_seconds", "Tijdstip (Unix) van de laatste telling van de bestandsopslag.")
	descFree       = desc("disk_free_bytes", "Vrije ruimte op het bestandssysteem van de gegevensmap.")
	descShutdown   = desc("shutting_down", "1 als het knooppunt stopt (niet meer gereed), anders 0.")
	stateDescs     = []*prometheus.Desc{descQueued, descProcessing, descWorkers, descAdmCap, descAdmHeld, descAdmWaiting, descStore, descFiles, descFileBytes, descFilesAt, descFree, descShutdown}
)

type stateCollector struct{ state func() State }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stateDescs {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.state()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descQueued, float64(s.Queued))
	gauge(descProcessing, float64(s.Processing))
	gauge(descWorkers, float64(s.Workers))
	gauge(descAdmCap, float64(s.AdmissionCapacity))
	gauge(descAdmHeld, float64(s.AdmissionHeld))
	gauge(descAdmWaiting, float64(s.AdmissionWaiting))
	gauge(descStore, float64(s.StoreIndexBytes), "lsm")
	gauge(descStore, float64(s.StoreValueBytes), "vlog")
	gauge(descStore, float64(s.StoreOtherBytes), "overig")
	if !s.FilesMeasured.IsZero() {
		gauge(descFiles, float64(s.Files))
		gauge(descFileBytes, float64(s.FileBytes))
		gauge(descFilesAt, float64(s.FilesMeasured.UnixNano())/1e9)
	}
	if s.FreeOK {
		gauge(descFree, float64(s.FreeBytes))
	}
	shutting := 0.0
	if s.ShuttingDown {
		shutting = 1
	}
	gauge(descShutdown, shutting)
}
