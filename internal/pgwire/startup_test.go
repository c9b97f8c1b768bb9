package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func packet(code uint32, rest []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(rest)))
	b = binary.BigEndian.AppendUint32(b, code)
	return append(b, rest...)
}

func TestReadStartup(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		kind    StartupKind
		wantErr bool
		check   func(t *testing.T, s *Startup)
	}{
		{name: "ssl", in: packet(80877103, nil), kind: KindSSLRequest},
		{name: "gssenc", in: packet(80877104, nil), kind: KindGSSENCRequest},
		{name: "cancel", in: packet(80877102, []byte{0, 0, 0, 7, 1, 2, 3, 4}), kind: KindCancel,
			check: func(t *testing.T, s *Startup) {
				if s.CancelPID != 7 || !bytes.Equal(s.CancelSecret, []byte{1, 2, 3, 4}) {
					t.Errorf("key %d %v", s.CancelPID, s.CancelSecret)
				}
			}},
		{name: "startup", in: AppendStartup(nil, []Param{{"user", "u"}, {"database", "d"}, {"_pq_.x", "1"}}), kind: KindStartup,
			check: func(t *testing.T, s *Startup) {
				if v, _ := s.Param("user"); v != "u" {
					t.Errorf("user %q", v)
				}
				if len(s.ProtocolOptions) != 1 || s.ProtocolOptions[0] != "_pq_.x" {
					t.Errorf("options %v", s.ProtocolOptions)
				}
			}},
		{name: "newer minor", in: packet(3<<16|2, []byte{0}), kind: KindStartup,
			check: func(t *testing.T, s *Startup) {
				if s.Minor != 2 {
					t.Errorf("minor %d", s.Minor)
				}
			}},
		{name: "version 2", in: packet(2<<16, []byte{0}), kind: KindStartup,
			check: func(t *testing.T, s *Startup) {
				if s.Major != 2 {
					t.Errorf("major %d", s.Major)
				}
			}},
		{name: "too short", in: []byte{0, 0, 0, 4}, wantErr: true},
		{name: "too long", in: []byte{0, 1, 0, 0}, wantErr: true},
		{name: "unterminated", in: packet(3<<16, []byte("user\x00u\x00")), wantErr: true},
		{name: "no value", in: packet(3<<16, []byte("user\x00")), wantErr: true},
		{name: "garbage after", in: packet(3<<16, []byte("\x00x")), wantErr: true},
		{name: "ssl with body", in: packet(80877103, []byte{1}), wantErr: true},
		{name: "short cancel", in: packet(80877102, []byte{1}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ReadStartup(bytes.NewReader(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("got %v, want a protocol error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind != tt.kind {
				t.Fatalf("kind %v, want %v", s.Kind, tt.kind)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func FuzzParseStartup(f *testing.F) {
	f.Add(packet(80877103, nil)[4:])
	f.Add(packet(80877102, []byte{0, 0, 0, 7, 1, 2, 3, 4})[4:])
	f.Add(AppendStartup(nil, []Param{{"user", "u"}, {"options", "-c a=b"}})[4:])
	f.Add([]byte{0, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseStartup(body)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("non-protocol error %v", err)
			}
			return
		}
		if s.Kind == KindStartup && s.Major == 3 {
			// What parses must encode back to the same parameters.
			again, err := ParseStartup(AppendStartup(nil, s.Params)[4:])
			if err != nil || len(again.Params) != len(s.Params) {
				t.Fatalf("round trip failed: %v", err)
			}
		}
	})
}

func TestErrorRoundTrip(t *testing.T) {
	e := &Error{Severity: SeverityFatal, Code: CodeInvalidPassword, Message: "bad", Detail: "d", Hint: "h", FromServer: true}
	got := ParseError(AppendErrorResponse(nil, e))
	if *got != *e {
		t.Fatalf("got %+v want %+v", got, e)
	}
}
