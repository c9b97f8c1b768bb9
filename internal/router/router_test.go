package router

import (
	"io"
	"log/slog"
	"math"
	"testing"

	"github.com/odyssey-go/odyssey/internal/config"
)

// TestMadePID: process ids the pooler makes are positive int4 values that
// no Linux process can have.
func TestMadePID(t *testing.T) {
	for _, r := range []uint64{0, 1, 1<<22 - 1, 1 << 31, math.MaxUint32, math.MaxUint64, 0x9d6393a3} {
		pid := madePID(r)
		if pid < 1<<22 || pid > math.MaxInt32 {
			t.Errorf("madePID(%#x) = %d, want in [2^22, 2^31)", r, pid)
		}
	}
}

// TestRegisterKeys: a client registered with a server's pid has it in its
// key; others get a made one; keys are unique and cancel requests find
// their client.
func TestRegisterKeys(t *testing.T) {
	r := New(config.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	seen := map[uint64]bool{}
	for range 1000 {
		c := r.register(nil, nil, 0)
		if c.PID() < 1<<22 || c.PID() > math.MaxInt32 || seen[c.Key] {
			t.Fatalf("key %#x", c.Key)
		}
		seen[c.Key] = true
	}
	for range 100 {
		c := r.RegisterPID(nil, nil, 4242)
		if c.PID() != 4242 || seen[c.Key] {
			t.Fatalf("key %#x, want pid 4242 and a new secret", c.Key)
		}
		seen[c.Key] = true
	}
}
