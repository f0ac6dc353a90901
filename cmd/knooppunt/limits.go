package main

import (
	"fmt"
	"strconv"
	"time"

	"knooppunt/exchange"
)

// parseLimits reads the abuse limits of serve: the daily upload quota, the connections
// per address and the three time-outs. A 0 turns each off.
func parseLimits(f *serveFlags, quota, maxConns, idle, maxSession, uploadStall string) error {
	var err error
	if f.quota, err = exchange.ParseQuota(quota); err != nil {
		return fmt.Errorf("--quota: %w", err)
	}
	n, err := strconv.Atoi(maxConns)
	if err != nil || n < 0 {
		return fmt.Errorf("--max-conns %q is geen aantal; schrijf bijvoorbeeld 64, of 0 voor geen grens", maxConns)
	}
	f.maxConns = n
	if n == 0 {
		f.maxConns = -1
	}
	for _, d := range []struct {
		flag, value string
		to          *time.Duration
	}{{"--idle-timeout", idle, &f.idleTimeout}, {"--max-session", maxSession, &f.maxSession}, {"--upload-stall", uploadStall, &f.uploadStall}} {
		if d.value == "0" {
			*d.to = 0
			continue
		}
		v, err := time.ParseDuration(d.value)
		if err != nil || v < 0 {
			return fmt.Errorf("%s %q is geen duur; schrijf bijvoorbeeld 30m, 12h of 0 (nooit)", d.flag, d.value)
		}
		*d.to = v
	}
	if f.uploadStall == 0 {
		f.uploadStall = -1 // off; sshserver.Config takes 0 for its default
	}
	return nil
}
