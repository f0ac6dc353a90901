// Package tijdzone holds the one time zone of every time a person reads in knooppunt: file
// names, verslagen, berichtenlog, the portal, the commands' JSON and StUF's tijdstipBericht.
// It is a package of its own, below every other, so that the engine, its format packages
// (ebms) and the doors (sshserver, tui) share one location instead of loading their own.
package tijdzone

import (
	"sync"
	"time"
)

// Amsterdam is Europe/Amsterdam, or UTC where the machine has no zone database (the hub
// then still works, showing UTC). It is loaded once: the location never changes while the
// process runs, and loading reads the zone file from disk.
var Amsterdam = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		return time.UTC
	}
	return loc
})
