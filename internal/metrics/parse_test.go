package metrics

import (
	"testing"

	"github.com/odyssey-go/odyssey/internal/metrics/promtext"
)

// parseText parses the Prometheus text format strictly and flattens it
// (promtext.Flatten), failing the test when it does not parse.
func parseText(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out, err := promtext.Flatten(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return out
}
