package pgwire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func frame(t byte, body string) []byte {
	b := []byte{t, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	return append(b, body...)
}

// walkAll feeds stream to a Walker in chunks of size n, compacting like the
// relay does, and returns the frames it saw start (type and length) and the
// whole inspected frames.
func walkAll(t *testing.T, stream []byte, n int, whole *TypeSet) (heads []Piece, wholes [][]byte, err error) {
	t.Helper()
	var w Walker
	buf := make([]byte, 0, 64<<10)
	for off := 0; off < len(stream) || len(buf) > 0; {
		if off < len(stream) {
			end := min(off+n, len(stream))
			buf = append(buf, stream[off:end]...)
			off = end
		}
		r := 0
		for {
			p, err := w.Next(buf[r:], whole, 1024)
			if err != nil {
				return heads, wholes, err
			}
			if p.N == 0 {
				break
			}
			if p.Head {
				heads = append(heads, p)
				if whole[p.Type] && p.Whole {
					wholes = append(wholes, append([]byte(nil), buf[r:r+p.N]...))
				}
			}
			r += p.N
		}
		buf = append(buf[:0], buf[r:]...)
		if off >= len(stream) && r == 0 {
			break // nothing more will come
		}
	}
	return heads, wholes, nil
}

func TestWalkerChunking(t *testing.T) {
	var stream []byte
	stream = append(stream, frame('T', "rowdesc")...)
	stream = append(stream, frame('D', string(bytes.Repeat([]byte("x"), 5000)))...)
	stream = append(stream, frame('S', "TimeZone\x00UTC\x00")...)
	stream = append(stream, frame('C', "SELECT 1\x00")...)
	stream = append(stream, frame('Z', "I")...)
	whole := NewTypeSet('Z', 'S')
	for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 100, 4096, len(stream)} {
		heads, wholes, err := walkAll(t, stream, n, whole)
		if err != nil {
			t.Fatalf("chunk %d: %v", n, err)
		}
		var types []byte
		for _, h := range heads {
			types = append(types, h.Type)
		}
		if string(types) != "TDSCZ" {
			t.Errorf("chunk %d: frames %q, want TDSCZ", n, types)
		}
		if len(wholes) != 2 || wholes[0][0] != 'S' || ReadyStatus(wholes[1]) != 'I' {
			t.Errorf("chunk %d: inspected frames wrong: %q", n, wholes)
		}
		name, value, ok := ParseParameterStatus(wholes[0])
		if !ok || name != "TimeZone" || value != "UTC" {
			t.Errorf("chunk %d: ParameterStatus %q=%q", n, name, value)
		}
	}
}

func TestWalkerRejectsBadLength(t *testing.T) {
	for _, l := range []uint32{0, 3, 1 << 31} {
		b := []byte{'Q', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], l)
		var w Walker
		if _, err := w.Next(b, nil, 0); err == nil {
			t.Errorf("length %d accepted", l)
		}
	}
	var w Walker
	w.Max = 100
	if _, err := w.Next(frame('Q', string(make([]byte, 200))), nil, 0); err == nil {
		t.Error("frame over Max accepted")
	}
}

// FuzzWalker checks that walking a stream in any chunking finds the same
// frames as walking it whole, and never panics or loops.
func FuzzWalker(f *testing.F) {
	f.Add(append(frame('Z', "I"), frame('S', "a\x00b\x00")...), uint8(3))
	f.Add(frame('D', "0123456789"), uint8(1))
	f.Add([]byte{'Q', 0, 0, 0, 3}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole := NewTypeSet('Z', 'S')
		ref, refWholes, refErr := walkAll(t, stream, len(stream)+1, whole)
		got, gotWholes, err := walkAll(t, stream, int(chunk)+1, whole)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("error mismatch: chunked %v, whole %v", err, refErr)
		}
		if len(got) != len(ref) {
			t.Fatalf("chunked walk saw %d frames, whole walk %d", len(got), len(ref))
		}
		for i := range got {
			if got[i].Type != ref[i].Type || got[i].Len != ref[i].Len {
				t.Fatalf("frame %d differs: %+v vs %+v", i, got[i], ref[i])
			}
		}
		if len(gotWholes) != len(refWholes) {
			t.Fatalf("inspected %d frames chunked, %d whole", len(gotWholes), len(refWholes))
		}
	})
}

func BenchmarkWalker(b *testing.B) {
	var stream []byte
	for range 20 {
		stream = append(stream, frame('D', "row data of a typical size, forty bytes")...)
	}
	stream = append(stream, frame('C', "SELECT 20\x00")...)
	stream = append(stream, frame('Z', "I")...)
	whole := NewTypeSet('Z', 'S', 'E')
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		var w Walker
		for r := 0; r < len(stream); {
			p, _ := w.Next(stream[r:], whole, 1024)
			r += p.N
		}
	}
}
