package pgwire

import "encoding/binary"

// HeaderLen is the size of a regular message header: type byte + length word.
const HeaderLen = 5

// TypeSet is a set of message type bytes, indexed by the byte.
type TypeSet [256]bool

// NewTypeSet returns the set of the given types.
func NewTypeSet(types ...byte) *TypeSet {
	var s TypeSet
	for _, t := range types {
		s[t] = true
	}
	return &s
}

// Piece is the next run of bytes Walker found in a buffer.
type Piece struct {
	N     int  // bytes this piece covers (0: need more data)
	Head  bool // the piece starts with a frame header
	Type  byte // the frame's type, when Head
	Len   int  // the frame's total length (type byte + length word + body), when Head
	Whole bool // the whole frame is in this piece, when Head
}

// Walker finds frame boundaries in a stream that arrives in chunks of any
// size, without copying or decoding. The relay uses it to forward runs of
// frames from a reused buffer while looking only at the frames that change
// state. It is the "frame reader" of the hot path: O(1) per frame, no
// allocation.
type Walker struct {
	rest int // bytes of the current frame not yet walked
	// Max is the largest frame length accepted; 0 means MaxMessageLen.
	Max int
}

// Continuing reports whether the walker is inside a frame body.
func (w *Walker) Continuing() bool { return w.rest > 0 }

// Reset forgets any partial frame (used when a stream is restarted).
func (w *Walker) Reset() { w.rest = 0 }

// Next returns the next piece of b:
//   - inside a frame body, the continuation (up to the frame end);
//   - at a frame start with a full header, the frame or as much of it as b
//     holds; for a type in whole whose frame fits in wholeMax bytes, nothing
//     (N == 0) until b holds the whole frame, so the caller can inspect it;
//   - N == 0 when b holds less than a header.
//
// The returned piece is consumed: the caller must act on it before the next
// call. A length word below 4 or above Max is a protocol error.
func (w *Walker) Next(b []byte, whole *TypeSet, wholeMax int) (Piece, error) {
	if w.rest > 0 {
		n := min(w.rest, len(b))
		w.rest -= n
		return Piece{N: n}, nil
	}
	if len(b) < HeaderLen {
		return Piece{}, nil
	}
	t := b[0]
	length := int(binary.BigEndian.Uint32(b[1:5]))
	limit := w.Max
	if limit == 0 {
		limit = MaxMessageLen
	}
	if length < 4 || length > limit {
		return Piece{}, ProtocolError("invalid message length %d for message type %q", length, t)
	}
	total := length + 1
	if whole != nil && whole[t] && total <= wholeMax && len(b) < total {
		return Piece{}, nil
	}
	n := min(total, len(b))
	w.rest = total - n
	return Piece{N: n, Head: true, Type: t, Len: total, Whole: n == total}, nil
}
