package tijdzone

import (
	"sync"
	"time"
	// The zone database in the binary: a slim container without /usr/share/zoneinfo would
	// otherwise show every time in UTC, and file names and verslagen would be an hour off.
	_ "time/tzdata"
)

// Amsterdam is Europe/Amsterdam: from the machine's zone database when it has one (kept up to
// date by the system), else from the copy in the binary. It is loaded once: the location
// never changes while the process runs, and loading reads the zone file from disk. UTC only
// if both fail, which the embedded copy rules out.
var Amsterdam = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		return time.UTC
	}
	return loc
})
