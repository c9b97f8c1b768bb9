package pool_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/odyssey-go/odyssey/internal/pool"
)

// srv is a fake server: the pool only needs a comparable type.
type srv struct{ id int }

// result is what one Acquire returned, for goroutines that report back.
type result struct {
	s    *srv
	dial bool
	err  error
}

func acquireAsync(p *pool.Pool[*srv], ctx context.Context, timeout time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		s, dial, err := p.Acquire(ctx, timeout)
		ch <- result{s, dial, err}
	}()
	return ch
}

func wantStats(t *testing.T, p *pool.Pool[*srv], want pool.Stats) {
	t.Helper()
	if got := p.Stats(); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

// mustDial acquires a dial grant from a pool that has room.
func mustDial(t *testing.T, p *pool.Pool[*srv]) {
	t.Helper()
	s, dial, err := p.Acquire(context.Background(), 0)
	if err != nil || !dial || s != nil {
		t.Fatalf("Acquire = %v, %v, %v; want a dial grant", s, dial, err)
	}
}

// fill takes n dial grants and returns n fresh servers standing for them.
func fill(t *testing.T, p *pool.Pool[*srv], n int) []*srv {
	t.Helper()
	out := make([]*srv, n)
	for i := range out {
		mustDial(t, p)
		out[i] = &srv{id: i + 1}
	}
	return out
}

func TestAcquireGrantsUpToSize(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		grants int // dial grants to take (all must succeed)
	}{
		{"size 1", 1, 1},
		{"size 3", 3, 3},
		{"unlimited", 0, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New[*srv](tt.size)
			fill(t, p, tt.grants)
			wantStats(t, p, pool.Stats{Size: tt.size, Total: tt.grants})
			if tt.size == 0 {
				return
			}
			// Full: a zero-wait attempt times out instead of dialing.
			_, _, err := p.Acquire(context.Background(), time.Nanosecond)
			if !errors.Is(err, pool.ErrTimeout) {
				t.Fatalf("Acquire on a full pool: %v, want ErrTimeout", err)
			}
			wantStats(t, p, pool.Stats{Size: tt.size, Total: tt.grants})
		})
	}
}

func TestIdleIsLIFO(t *testing.T) {
	p := pool.New[*srv](3)
	s := fill(t, p, 3)
	for _, x := range s {
		if !p.Release(x) {
			t.Fatal("Release refused")
		}
	}
	wantStats(t, p, pool.Stats{Size: 3, Total: 3, Idle: 3})
	for i := 2; i >= 0; i-- {
		got, dial, err := p.Acquire(context.Background(), 0)
		if err != nil || dial || got != s[i] {
			t.Fatalf("Acquire = %v, %v, %v; want server %d (most recently released)", got, dial, err, s[i].id)
		}
	}
	wantStats(t, p, pool.Stats{Size: 3, Total: 3})
	// An idle server is preferred over a free slot.
	p2 := pool.New[*srv](0)
	a := fill(t, p2, 1)[0]
	p2.Release(a)
	if got, dial, _ := p2.Acquire(context.Background(), 0); got != a || dial {
		t.Fatalf("unlimited pool dialed (%v) instead of reusing idle server", dial)
	}
}

func TestWaitersAreFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		s := fill(t, p, 1)[0]
		const n = 5
		chs := make([]<-chan result, n)
		for i := range chs {
			chs[i] = acquireAsync(p, context.Background(), 0)
			synctest.Wait() // waiter i is queued before waiter i+1 arrives
		}
		wantStats(t, p, pool.Stats{Size: 1, Total: 1, Waiting: n})
		for i := range chs {
			p.Release(s)
			synctest.Wait()
			for j := i + 1; j < n; j++ {
				select {
				case r := <-chs[j]:
					t.Fatalf("waiter %d served before waiter %d: %+v", j, i, r)
				default:
				}
			}
			r := <-chs[i]
			if r.err != nil || r.dial || r.s != s {
				t.Fatalf("waiter %d got %+v, want the released server", i, r)
			}
		}
		wantStats(t, p, pool.Stats{Size: 1, Total: 1})
	})
}

func TestDiscardGivesWaiterADialGrant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		fill(t, p, 1)
		ch := acquireAsync(p, context.Background(), 0)
		synctest.Wait()
		p.Discard() // the server died
		r := <-ch
		if r.err != nil || !r.dial {
			t.Fatalf("waiter got %+v, want a dial grant", r)
		}
		wantStats(t, p, pool.Stats{Size: 1, Total: 1})
	})
}

func TestAcquireTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		fill(t, p, 1)
		start := time.Now()
		_, _, err := p.Acquire(context.Background(), 5*time.Second)
		if !errors.Is(err, pool.ErrTimeout) {
			t.Fatalf("err %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("waited %v, want exactly 5s of fake time", d)
		}
		wantStats(t, p, pool.Stats{Size: 1, Total: 1})
	})
}

// TestRepeatedWaitsTimeOutAfresh checks waits one after another, which
// reuse the pool's spare waiter and its timer: each gets its own full
// timeout, and a wait that ends with a server leaves no tick behind.
func TestRepeatedWaitsTimeOutAfresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		s := fill(t, p, 1)[0]
		for _, timeout := range []time.Duration{5 * time.Second, 10 * time.Second, time.Second} {
			start := time.Now()
			_, _, err := p.Acquire(context.Background(), timeout)
			if !errors.Is(err, pool.ErrTimeout) {
				t.Fatalf("err %v, want ErrTimeout", err)
			}
			if d := time.Since(start); d != timeout {
				t.Fatalf("waited %v, want %v", d, timeout)
			}
		}
		ch := acquireAsync(p, context.Background(), 5*time.Second)
		time.Sleep(2 * time.Second)
		p.Release(s)
		r := <-ch
		if r.err != nil || r.s != s {
			t.Fatalf("got %+v, want the released server", r)
		}
		p.Release(r.s)
		// The next wait runs its whole timeout: the last one's timer was stopped.
		held, _, _ := p.Acquire(context.Background(), time.Second)
		start := time.Now()
		if _, _, err := p.Acquire(context.Background(), 3*time.Second); !errors.Is(err, pool.ErrTimeout) || time.Since(start) != 3*time.Second {
			t.Fatalf("err %v after %v, want ErrTimeout after 3s", err, time.Since(start))
		}
		p.Release(held)
	})
}

// TestWaitersWithDifferentTimeouts: the queue's one timer serves waiters
// whose timeouts differ (a reload changed pool_timeout): each times out at
// its own deadline, out of queue order, and one that waits forever stays.
func TestWaitersWithDifferentTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		s := fill(t, p, 1)[0]
		start := time.Now()
		type ended struct {
			name string
			err  error
			at   time.Duration
		}
		results := make(chan ended, 4)
		queue := func(name string, timeout time.Duration) {
			go func() {
				_, _, err := p.Acquire(context.Background(), timeout)
				results <- ended{name, err, time.Since(start)}
			}()
			synctest.Wait() // queued in this order
		}
		queue("10s", 10*time.Second)
		queue("forever", 0)
		queue("2s", 2*time.Second)
		queue("5s", 5*time.Second)
		for _, want := range []ended{{"2s", pool.ErrTimeout, 2 * time.Second}, {"5s", pool.ErrTimeout, 5 * time.Second}, {"10s", pool.ErrTimeout, 10 * time.Second}} {
			got := <-results
			if got.name != want.name || !errors.Is(got.err, want.err) || got.at != want.at {
				t.Fatalf("got %s: %v after %v, want %s: %v after %v", got.name, got.err, got.at, want.name, want.err, want.at)
			}
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		wantStats(t, p, pool.Stats{Size: 1, Total: 1, Waiting: 1, MaxWait: time.Hour + 10*time.Second})
		p.Release(s)
		if got := <-results; got.name != "forever" || got.err != nil {
			t.Fatalf("the waiter without a timeout: %+v", got)
		}
	})
}

func TestAcquireZeroTimeoutWaitsForever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		s := fill(t, p, 1)[0]
		ch := acquireAsync(p, context.Background(), 0)
		time.Sleep(24 * time.Hour) // fake time
		synctest.Wait()
		select {
		case r := <-ch:
			t.Fatalf("timeout 0 gave up: %+v", r)
		default:
		}
		p.Release(s)
		if r := <-ch; r.s != s {
			t.Fatalf("got %+v", r)
		}
	})
}

func TestAcquireContextCancelWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		s := fill(t, p, 1)[0]
		ctx, cancel := context.WithCancelCause(context.Background())
		first := acquireAsync(p, ctx, time.Minute)
		synctest.Wait()
		second := acquireAsync(p, context.Background(), 0)
		synctest.Wait()
		wantStats(t, p, pool.Stats{Size: 1, Total: 1, Waiting: 2})
		cancel(errors.New("client went away"))
		r := <-first
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled waiter got %+v, want context.Canceled", r)
		}
		wantStats(t, p, pool.Stats{Size: 1, Total: 1, Waiting: 1})
		// The cancelled waiter left the queue: the server goes to the next.
		p.Release(s)
		if r := <-second; r.s != s || r.err != nil {
			t.Fatalf("second waiter got %+v", r)
		}
		// Already-cancelled context with an idle server: the idle server wins.
		p.Release(s)
		if got, _, err := p.Acquire(ctx, 0); err != nil || got != s {
			t.Fatalf("Acquire with done ctx and idle server = %v, %v", got, err)
		}
		// Already-cancelled context on a full pool: fails at once.
		if _, _, err := p.Acquire(ctx, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		wantStats(t, p, pool.Stats{Size: 1, Total: 1})
	})
}

// TestTimeoutRacesRelease makes a waiter's timer fire at the very instant a
// server is released to it (same fake time), many times, so that both the
// "timer won, still queued" and the "timer won but a grant was already
// sent" paths of wait run. Either way no server and no slot may be lost.
func TestTimeoutRacesRelease(t *testing.T) {
	var got, timedOut int
	for range 300 {
		synctest.Test(t, func(t *testing.T) {
			p := pool.New[*srv](1)
			s := fill(t, p, 1)[0]
			ch := acquireAsync(p, context.Background(), time.Second)
			synctest.Wait()
			time.Sleep(time.Second) // wakes with the waiter's timer
			p.Release(s)
			r := <-ch
			switch {
			case r.err == nil:
				if r.s != s {
					t.Fatalf("waiter got %+v", r)
				}
				got++
				wantStats(t, p, pool.Stats{Size: 1, Total: 1})
				p.Release(r.s)
			case errors.Is(r.err, pool.ErrTimeout):
				timedOut++
			default:
				t.Fatalf("waiter got %+v", r)
			}
			// Whoever won, the server is idle in the pool now.
			wantStats(t, p, pool.Stats{Size: 1, Total: 1, Idle: 1})
		})
	}
	t.Logf("waiter got the server %d times, timed out %d times", got, timedOut)
}

// TestTimeoutRacesReleaseRealTime is the same race with real goroutines and
// tiny timeouts, under the race detector.
func TestTimeoutRacesReleaseRealTime(t *testing.T) {
	const size = 2
	p := pool.New[*srv](size)
	servers := fill(t, p, size)
	var wg sync.WaitGroup
	var held atomic.Int32
	held.Store(size)
	var done atomic.Bool
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; i < 2000 && !done.Load(); i++ {
				s, dial, err := p.Acquire(context.Background(), time.Duration(rng.IntN(20))*time.Microsecond)
				if errors.Is(err, pool.ErrTimeout) {
					continue
				}
				if err != nil || dial {
					t.Errorf("Acquire = %v, %v, %v", s, dial, err)
					done.Store(true)
					return
				}
				if n := held.Add(1); n > size {
					t.Errorf("%d servers held at once, pool size %d", n, size)
				}
				runtime.Gosched()
				held.Add(-1)
				p.Release(s)
			}
		})
	}
	// The initial holders give their servers back while waiters time out.
	for _, s := range servers {
		held.Add(-1)
		p.Release(s)
	}
	wg.Wait()
	wantStats(t, p, pool.Stats{Size: size, Total: size, Idle: size})
}

func TestCancelRacesRelease(t *testing.T) {
	for range 300 {
		synctest.Test(t, func(t *testing.T) {
			p := pool.New[*srv](1)
			s := fill(t, p, 1)[0]
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			ch := acquireAsync(p, ctx, 0)
			synctest.Wait()
			time.Sleep(time.Second)
			p.Release(s)
			if r := <-ch; r.err == nil {
				p.Release(r.s)
			} else if !errors.Is(r.err, context.DeadlineExceeded) {
				t.Fatalf("got %+v", r)
			}
			wantStats(t, p, pool.Stats{Size: 1, Total: 1, Idle: 1})
		})
	}
}

func TestRemove(t *testing.T) {
	p := pool.New[*srv](2)
	s := fill(t, p, 2)
	p.Release(s[0])
	if p.Remove(s[1]) {
		t.Fatal("Remove of a busy server = true (its owner will Discard it)")
	}
	wantStats(t, p, pool.Stats{Size: 2, Total: 2, Idle: 1})
	if !p.Remove(s[0]) {
		t.Fatal("Remove of an idle server = false")
	}
	wantStats(t, p, pool.Stats{Size: 2, Total: 1})
	if p.Remove(s[0]) {
		t.Fatal("second Remove = true")
	}
	// The freed slot is a dial grant for the next acquirer.
	mustDial(t, p)
	wantStats(t, p, pool.Stats{Size: 2, Total: 2})

	// Remove from the middle keeps the others, in order.
	q := pool.New[*srv](0)
	xs := fill(t, q, 4)
	for _, x := range xs {
		q.Release(x)
	}
	q.Remove(xs[1])
	idle := q.Idle()
	if len(idle) != 3 || idle[0] != xs[0] || idle[1] != xs[2] || idle[2] != xs[3] {
		t.Fatalf("idle after Remove(s2): %v", idle)
	}
	wantStats(t, q, pool.Stats{Total: 3, Idle: 3})
}

// TestFreedSlotsGoToWaiters checks every way a slot is freed while a waiter
// is queued: the waiter gets a dial grant and the total stays at the size.
func TestFreedSlotsGoToWaiters(t *testing.T) {
	tests := []struct {
		name string
		free func(t *testing.T, p *pool.Pool[*srv], busy *srv)
	}{
		{"Discard", func(_ *testing.T, p *pool.Pool[*srv], _ *srv) { p.Discard() }},
		{"Release above a shrunk size", func(t *testing.T, p *pool.Pool[*srv], busy *srv) {
			p.SetSize(1) // total 2 > 1: refused...
			if p.Release(busy) {
				t.Fatal("Release above the size accepted")
			}
			p.SetSize(2) // ...and growing back hands the slot on
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := pool.New[*srv](2)
				s := fill(t, p, 2)
				ch := acquireAsync(p, context.Background(), 0)
				synctest.Wait()
				tt.free(t, p, s[0])
				r := <-ch
				if r.err != nil || !r.dial {
					t.Fatalf("waiter got %+v, want a dial grant", r)
				}
				wantStats(t, p, pool.Stats{Size: 2, Total: 2})
			})
		})
	}
}

func TestCloseWithBusyServers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](3)
		s := fill(t, p, 3)
		ch := acquireAsync(p, context.Background(), time.Hour)
		synctest.Wait()
		if idle := p.Close(); len(idle) != 0 {
			t.Fatalf("Close returned %v", idle)
		}
		if r := <-ch; !errors.Is(r.err, pool.ErrClosed) {
			t.Fatalf("waiter got %+v, want ErrClosed", r)
		}
		if _, _, err := p.Acquire(context.Background(), 0); !errors.Is(err, pool.ErrClosed) {
			t.Fatalf("Acquire after Close: %v", err)
		}
		if p.Release(s[0]) {
			t.Fatal("Release after Close accepted")
		}
		p.Discard()
		if p.Remove(s[2]) {
			t.Fatal("Remove of a busy server after Close = true")
		}
		p.Release(s[2])
		wantStats(t, p, pool.Stats{Size: 3, Total: 0})
		if got := p.Close(); len(got) != 0 {
			t.Fatalf("second Close returned %v", got)
		}
	})
}

func TestTakeIdle(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		expired func(*srv) bool
		want    []int // ids taken
	}{
		{"none expired", 0, func(*srv) bool { return false }, nil},
		{"all", 0, func(*srv) bool { return true }, []int{1, 2, 3, 4}},
		{"odd", 0, func(s *srv) bool { return s.id%2 == 1 }, []int{1, 3}},
		{"max 2 of all", 2, func(*srv) bool { return true }, []int{1, 2}},
		{"max 1 of even", 1, func(s *srv) bool { return s.id%2 == 0 }, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New[*srv](4)
			s := fill(t, p, 4)
			for _, x := range s {
				p.Release(x)
			}
			got := p.TakeIdle(tt.max, tt.expired)
			if len(got) != len(tt.want) {
				t.Fatalf("took %d servers, want %d", len(got), len(tt.want))
			}
			for i, x := range got {
				if x.id != tt.want[i] {
					t.Fatalf("took %d at %d, want %d", x.id, i, tt.want[i])
				}
			}
			left := 4 - len(tt.want)
			wantStats(t, p, pool.Stats{Size: 4, Total: left, Idle: left})
			// The remaining idle servers are intact and still LIFO.
			idle := p.Idle()
			taken := map[*srv]bool{}
			for _, x := range got {
				taken[x] = true
			}
			for _, x := range idle {
				if taken[x] || x == nil {
					t.Fatalf("idle set %v holds a taken or nil server", idle)
				}
			}
			for i := 1; i < len(idle); i++ {
				if idle[i-1].id > idle[i].id {
					t.Fatalf("idle order changed: %v", idle)
				}
			}
		})
	}
}

func TestReserveSlot(t *testing.T) {
	p := pool.New[*srv](2)
	if !p.ReserveSlot() {
		t.Fatal("ReserveSlot on an empty pool = false")
	}
	mustDial(t, p)
	if p.ReserveSlot() {
		t.Fatal("ReserveSlot on a full pool = true")
	}
	wantStats(t, p, pool.Stats{Size: 2, Total: 2})
	p.Discard()
	if !p.ReserveSlot() {
		t.Fatal("ReserveSlot after Discard = false")
	}
	p.Close()
	p.Discard()
	if p.ReserveSlot() {
		t.Fatal("ReserveSlot on a closed pool = true")
	}
	u := pool.New[*srv](0)
	for range 10 {
		if !u.ReserveSlot() {
			t.Fatal("ReserveSlot on an unlimited pool = false")
		}
	}
	wantStats(t, u, pool.Stats{Total: 10})
}

func TestSetSizeGrowWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](1)
		fill(t, p, 1)
		chs := []<-chan result{
			acquireAsync(p, context.Background(), 0),
		}
		synctest.Wait()
		chs = append(chs, acquireAsync(p, context.Background(), 0))
		synctest.Wait()
		chs = append(chs, acquireAsync(p, context.Background(), 0))
		synctest.Wait()
		p.SetSize(3) // two more slots: the first two waiters dial
		synctest.Wait()
		for i, ch := range chs[:2] {
			select {
			case r := <-ch:
				if !r.dial || r.err != nil {
					t.Fatalf("waiter %d got %+v", i, r)
				}
			default:
				t.Fatalf("waiter %d not woken by SetSize", i)
			}
		}
		wantStats(t, p, pool.Stats{Size: 3, Total: 3, Waiting: 1})
		p.SetSize(0) // unlimited: the last one too
		if r := <-chs[2]; !r.dial {
			t.Fatalf("got %+v", r)
		}
		wantStats(t, p, pool.Stats{Size: 0, Total: 4})
	})
}

func TestSetSizeShrinkRefusesRelease(t *testing.T) {
	p := pool.New[*srv](3)
	s := fill(t, p, 3)
	p.SetSize(1)
	wantStats(t, p, pool.Stats{Size: 1, Total: 3})
	if p.Release(s[0]) {
		t.Fatal("Release above the new size accepted")
	}
	if p.Release(s[1]) {
		t.Fatal("Release above the new size accepted")
	}
	wantStats(t, p, pool.Stats{Size: 1, Total: 1})
	if !p.Release(s[2]) {
		t.Fatal("Release at the new size refused")
	}
	wantStats(t, p, pool.Stats{Size: 1, Total: 1, Idle: 1})
	if p.ReserveSlot() {
		t.Fatal("ReserveSlot on shrunk, full pool = true")
	}
}

func TestSetSizeShrinkWithWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](2)
		s := fill(t, p, 2)
		ch := acquireAsync(p, context.Background(), 0)
		synctest.Wait()
		p.SetSize(1)
		if p.Release(s[0]) { // total 2 > 1: refused, and no slot for the waiter
			t.Fatal("Release above size accepted")
		}
		synctest.Wait()
		select {
		case r := <-ch:
			t.Fatalf("waiter served while the pool is at its size: %+v", r)
		default:
		}
		p.Release(s[1]) // at size now: goes to the waiter
		if r := <-ch; r.s != s[1] {
			t.Fatalf("got %+v", r)
		}
		wantStats(t, p, pool.Stats{Size: 1, Total: 1})
	})
}

func TestCloseReturnsIdleAndFailsWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New[*srv](2)
		s := fill(t, p, 2)
		p.Release(s[0])
		// One idle, one busy: a waiter is impossible, so make both busy.
		idle := p.Close()
		if len(idle) != 1 || idle[0] != s[0] {
			t.Fatalf("Close returned %v, want [s0]", idle)
		}
		wantStats(t, p, pool.Stats{Size: 2, Total: 1})

		q := pool.New[*srv](1)
		fill(t, q, 1)
		ws := []<-chan result{
			acquireAsync(q, context.Background(), 0),
			acquireAsync(q, context.Background(), time.Hour),
			acquireAsync(q, context.Background(), time.Hour),
		}
		synctest.Wait()
		wantStats(t, q, pool.Stats{Size: 1, Total: 1, Waiting: 3})
		if idle := q.Close(); len(idle) != 0 {
			t.Fatalf("Close returned %v", idle)
		}
		for i, ch := range ws {
			if r := <-ch; !errors.Is(r.err, pool.ErrClosed) {
				t.Fatalf("waiter %d got %+v, want ErrClosed", i, r)
			}
		}
		wantStats(t, q, pool.Stats{Size: 1, Total: 1})
		if q.Release(s[1]) {
			t.Fatal("Release after Close accepted")
		}
		wantStats(t, q, pool.Stats{Size: 1, Total: 0})
	})
}

// TestStress runs acquirers that release, discard (and redial) or give up,
// with a limit checker, and verifies the accounting at the end.
func TestStress(t *testing.T) {
	const size = 3
	p := pool.New[*srv](size)
	var held atomic.Int32
	var nextID atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range 1000 {
				ctx := context.Background()
				var cancel context.CancelFunc = func() {}
				if rng.IntN(4) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(50))*time.Microsecond)
				}
				s, dial, err := p.Acquire(ctx, time.Duration(rng.IntN(100))*time.Microsecond)
				cancel()
				if err != nil {
					if !errors.Is(err, pool.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Acquire: %v", err)
						return
					}
					continue
				}
				if n := held.Add(1); n > size {
					t.Errorf("%d servers held at once, size %d", n, size)
				}
				if dial {
					if rng.IntN(5) == 0 { // dial failed
						held.Add(-1)
						p.Discard()
						continue
					}
					s = &srv{id: int(nextID.Add(1))}
				}
				runtime.Gosched()
				held.Add(-1)
				switch rng.IntN(10) {
				case 0:
					p.Discard() // died while busy
				default:
					if !p.Release(s) {
						t.Errorf("Release refused")
					}
				}
				if rng.IntN(20) == 0 {
					for _, x := range p.TakeIdle(1, func(*srv) bool { return true }) {
						_ = x // expired and closed
					}
				}
			}
		})
	}
	wg.Wait()
	st := p.Stats()
	if st.Total != st.Idle || st.Waiting != 0 || st.Total > size {
		t.Fatalf("after stress: %+v (want Total == Idle <= %d, no waiters)", st, size)
	}
	seen := map[*srv]bool{}
	for _, x := range p.Idle() {
		if seen[x] {
			t.Fatalf("server %d idle twice", x.id)
		}
		seen[x] = true
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	p := pool.New[*srv](4)
	s := &srv{}
	p.ReserveSlot()
	p.Release(s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x, _, err := p.Acquire(ctx, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		p.Release(x)
	}
}

// BenchmarkAcquireReleaseParallel has more goroutines than servers, so
// part of the acquires queue as waiters.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	size := max(1, runtime.GOMAXPROCS(0)*4/2) // < GOMAXPROCS*4
	b.SetParallelism(4)                       // 4*GOMAXPROCS goroutines
	p := pool.New[*srv](size)
	for i := range size {
		p.ReserveSlot()
		p.Release(&srv{id: i})
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ReportMetric(float64(size), "servers")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			x, dial, err := p.Acquire(ctx, 10*time.Second)
			if err != nil || dial {
				b.Errorf("Acquire = %v, %v", dial, err)
				return
			}
			p.Release(x)
		}
	})
}

// TestRemovedServerNotRetained checks that the pool keeps no reference to a
// server it no longer holds, so that a closed server (with its buffers) can
// be collected.
func TestRemovedServerNotRetained(t *testing.T) {
	for _, remove := range []bool{false, true} {
		// bigSrv is not a tiny allocation, so the GC frees it alone.
		type bigSrv struct {
			id  int
			buf []byte
		}
		p := pool.New[*bigSrv](0)
		xs := make([]*bigSrv, 4)
		for i := range xs {
			p.ReserveSlot()
			xs[i] = &bigSrv{id: i + 1, buf: make([]byte, 1024)}
		}
		for _, x := range xs {
			p.Release(x)
		}
		if remove {
			p.Remove(xs[1]) // idle [x1 x3 x4]
		}
		// The last one is taken, closed and its slot discarded.
		last, _, _ := p.Acquire(context.Background(), 0)
		if last != xs[3] {
			t.Fatalf("took %v", last)
		}
		p.Discard()
		w := weak.Make(last)
		xs[3], last = nil, nil
		runtime.GC()
		if w.Value() != nil {
			t.Fatalf("pool still references a server after it was taken and discarded (after Remove: %v)", remove)
		}
		runtime.KeepAlive(p)
	}
}

// TestAcquireMatch: a caller that can use only some servers gets, in
// order, a matching idle server (the most recent), a slot when there is
// room (an unlimited pool first reuses an idle server that does not match),
// then the oldest idle server that does not match.
func TestAcquireMatch(t *testing.T) {
	even := func(s *srv) bool { return s.id%2 == 0 }
	tests := []struct {
		name     string
		size     int
		idle     []int // ids released, oldest first
		extra    int   // busy slots besides them
		wantID   int   // 0: a dial grant
		wantDial bool
	}{
		{"matching idle, most recent", 4, []int{2, 1, 4, 3}, 0, 4, false},
		{"room before one that does not match", 4, []int{1, 3}, 0, 0, true},
		{"full: the oldest that does not match", 3, []int{1, 3, 5}, 0, 1, false},
		{"full with busy slots", 4, []int{5, 3}, 2, 5, false},
		{"unlimited: reuse before growing", 0, []int{3, 1}, 0, 3, false},
		{"unlimited and nothing idle", 0, nil, 2, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New[*srv](tt.size)
			for range len(tt.idle) + tt.extra {
				mustDial(t, p)
			}
			for _, id := range tt.idle {
				if !p.Release(&srv{id: id}) {
					t.Fatal("release refused")
				}
			}
			s, dial, _, err := p.AcquireMatch(context.Background(), 0, nil, even)
			if err != nil || dial != tt.wantDial || (s == nil) != (tt.wantID == 0) || (s != nil && s.id != tt.wantID) {
				t.Fatalf("AcquireMatch = %v, %v, %v; want id %d, dial %v", s, dial, err, tt.wantID, tt.wantDial)
			}
		})
	}
}

// TestTryAcquire: an idle server or a slot now, or nothing, never a wait.
func TestTryAcquire(t *testing.T) {
	p := pool.New[*srv](2)
	if _, dial, ok := p.TryAcquire(); !ok || !dial {
		t.Fatalf("empty pool: dial %v ok %v, want a slot", dial, ok)
	}
	mustDial(t, p)
	if _, _, ok := p.TryAcquire(); ok {
		t.Fatal("full pool gave something")
	}
	s := &srv{id: 7}
	p.Release(s)
	if got, dial, ok := p.TryAcquire(); !ok || dial || got != s {
		t.Fatalf("TryAcquire = %v, %v, %v; want the idle server", got, dial, ok)
	}
	p.Close()
	if _, _, ok := p.TryAcquire(); ok {
		t.Fatal("closed pool gave something")
	}
}
