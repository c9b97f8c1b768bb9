package pool

import "time"

// waiter is one caller blocked in Acquire. ch has room for one grant so
// that a releaser never blocks on a waiter.
type waiter[S comparable] struct {
	ch         chan grant[S]
	prev, next *waiter[S]
	queued     bool
	since      time.Time // when it started waiting
	deadline   time.Time // when it times out (zero: never); see Pool.expire
}

// waitList is an intrusive FIFO so that a waiter that gives up leaves the
// queue in O(1).
type waitList[S comparable] struct {
	head, tail *waiter[S]
	len        int
}

func (l *waitList[S]) pushBack(w *waiter[S]) {
	w.queued = true
	w.prev = l.tail
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	l.len++
}

func (l *waitList[S]) popFront() *waiter[S] {
	w := l.head
	if w != nil {
		l.remove(w)
	}
	return w
}

func (l *waitList[S]) remove(w *waiter[S]) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	l.len--
}
