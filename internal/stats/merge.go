package stats

import "time"

// MergedQuantile returns the q-quantile of several sketches taken
// together, each over the interval Quantile would use (the console's
// "aggregated" row of SHOW POOLS_EXTENDED); 0 without data.
func MergedQuantile(q float64, sketches ...*Sketch) time.Duration {
	var counts [numBuckets]uint64
	var n uint64
	for _, s := range sketches {
		w := s.lastWindow()
		if w == nil {
			continue
		}
		for i := range counts {
			c := w.counts[i].Load()
			counts[i] += c
			n += c
		}
	}
	return quantile(counts[:], n, q)
}

// lastWindow is the window Quantile reads: the last complete interval, or
// the current one if that is empty.
func (s *Sketch) lastWindow() *window {
	s.mu.Lock()
	w := s.prev
	s.mu.Unlock()
	if w == nil || w.n.Load() == 0 {
		w = s.cur.Load()
	}
	return w
}
