//go:build race

package logging

// raceEnabled: the race detector makes sync.Pool drop buffers at random,
// so allocations are not counted under it.
const raceEnabled = true
