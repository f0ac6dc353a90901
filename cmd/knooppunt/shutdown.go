package main

import (
	"fmt"
	"time"
)

// defaultShutdownGrace is how long a stop (SIGTERM, SIGINT) lets transfers in progress
// finish: a 100 MB upload over a slow line of 4 MB/s fits.
const defaultShutdownGrace = "30s"

// parseShutdownGrace reads --shutdown-grace: a duration of at least 1s ("0" is refused: the
// answer to a client's last close must have a moment to leave).
func parseShutdownGrace(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("--shutdown-grace %q is geen duur van ten minste 1s; schrijf bijvoorbeeld 30s of 2m", v)
	}
	return d, nil
}
