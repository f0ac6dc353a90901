package ebms

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var durationRE = regexp.MustCompile(`^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ParseDuration reads an xsd:duration such as PT5M or P1DT2H. Years count as 365 days and months
// as 30 days, which is what a duration without an anchor date can mean.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := durationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "-P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("geen xsd:duration: %q", s)
	}
	units := []time.Duration{365 * 24 * time.Hour, 30 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute}
	var total float64
	for i, u := range units {
		if m[i+2] == "" {
			continue
		}
		n, err := strconv.ParseFloat(m[i+2], 64)
		if err != nil {
			return 0, fmt.Errorf("geen xsd:duration: %q", s)
		}
		total += n * float64(u)
	}
	if m[7] != "" {
		n, err := strconv.ParseFloat(m[7], 64)
		if err != nil {
			return 0, fmt.Errorf("geen xsd:duration: %q", s)
		}
		total += n * float64(time.Second)
	}
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("xsd:duration te groot: %q", s)
	}
	d := time.Duration(total)
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

// FormatDuration writes d as an xsd:duration (PT…H…M…S), the form CPAs use.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	var b strings.Builder
	b.WriteString(sign + "P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d == 0 {
		return b.String()
	}
	b.WriteString("T")
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}

// sortedKeys returns the keys of m in order, so checks report the same problem every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
