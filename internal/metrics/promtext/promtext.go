// Package promtext reads the Prometheus text format back for tests: the
// metrics package's own and the end-to-end ones check what /metrics says
// through it, so both read the format the same strict way.
package promtext

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Flatten parses text strictly (legacy metric names, as older Prometheus
// servers require) and flattens it to one value per series, keyed
// `name{database="d",user="u",other="x"}`: database and user first, then
// other labels by name, le last; histograms become their _bucket, _sum and
// _count series, summaries their _count.
func Flatten(text string) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("text format does not parse: %w", err)
	}
	out := make(map[string]float64)
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := m.GetLabel()
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						out[Key(name+"_bucket", labels, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))] = float64(b.GetCumulativeCount())
					}
				}
				out[Key(name+"_bucket", labels, "+Inf")] = float64(h.GetSampleCount())
				out[Key(name+"_count", labels, "")] = float64(h.GetSampleCount())
				out[Key(name+"_sum", labels, "")] = h.GetSampleSum()
			case dto.MetricType_COUNTER:
				out[Key(name, labels, "")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[Key(name, labels, "")] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				out[Key(name, labels, "")] = m.GetUntyped().GetValue()
			case dto.MetricType_SUMMARY:
				out[Key(name+"_count", labels, "")] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return out, nil
}

// Key is the flattened name of one series (see Flatten); le is the bucket
// bound of a histogram series, "" for others.
func Key(name string, labels []*dto.LabelPair, le string) string {
	rank := func(n string) int {
		switch n {
		case "database":
			return 0
		case "user":
			return 1
		}
		return 2
	}
	ls := slices.Clone(labels)
	slices.SortFunc(ls, func(a, b *dto.LabelPair) int {
		if ra, rb := rank(a.GetName()), rank(b.GetName()); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	if le != "" {
		parts = append(parts, `le="`+le+`"`)
	}
	if len(parts) == 0 {
		return name
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}
