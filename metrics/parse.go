package metrics

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples are the values of a scrape by series: the name, then each label as |name=value in
// the order of the exposition (sorted by name); a histogram gives its |count and |sum.
type Samples map[string]float64

// Parse reads a scrape in Prometheus's text format.
func Parse(r io.Reader) (Samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics lezen: %w", err)
	}
	out := Samples{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "|" + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Untyped != nil:
				out[key] = m.Untyped.GetValue()
			case m.Histogram != nil:
				out[key+"|count"] = float64(m.Histogram.GetSampleCount())
				out[key+"|sum"] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out, nil
}

// Sum adds the values of every series of the named metric (all its label values).
func (s Samples) Sum(name string) float64 {
	total := 0.0
	for k, v := range s {
		if k == name || strings.HasPrefix(k, name+"|") && !strings.HasSuffix(k, "|count") && !strings.HasSuffix(k, "|sum") {
			total += v
		}
	}
	return total
}

// Keys lists the series, sorted.
func (s Samples) Keys() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
