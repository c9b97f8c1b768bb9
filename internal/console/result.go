package console

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// colType is the PostgreSQL type a column is declared with. Values always
// travel as text; the type tells drivers how to decode them. Odyssey and
// PgBouncer declare counters as integers (int8/int4), and exporters that
// scan rows into typed values (Odyssey's own, on lib/pq) depend on it.
type colType struct {
	oid  uint32
	size int16
}

var (
	typeText = colType{oid: 25, size: -1}
	typeInt8 = colType{oid: 20, size: 8}
	typeInt4 = colType{oid: 23, size: 4}
	typeBool = colType{oid: 16, size: 1}
)

type column struct {
	name string
	typ  colType
}

func textCol(name string) column { return column{name, typeText} }
func int8Col(name string) column { return column{name, typeInt8} }
func int4Col(name string) column { return column{name, typeInt4} }
func boolCol(name string) column { return column{name, typeBool} }

// cell is one value of a row; null is SQL NULL.
type cell struct {
	v    string
	null bool
}

func str(s string) cell { return cell{v: s} }
func num[T ~int | ~int32 | ~int64 | ~uint32 | ~uint64](n T) cell {
	return cell{v: strconv.FormatInt(int64(n), 10)}
}
func flag(b bool) cell {
	if b {
		return cell{v: "t"}
	}
	return cell{v: "f"}
}

var null = cell{null: true}

// table is one result set: the columns, then the rows.
type table struct {
	cols []column
	rows [][]cell
}

func newTable(cols ...column) *table { return &table{cols: cols} }

// add appends a row. A row of the wrong width is a bug in the command that
// built it, so it panics (the tests run every command).
func (t *table) add(cells ...cell) {
	if len(cells) != len(t.cols) {
		panic(fmt.Sprintf("console: row of %d cells for %d columns", len(cells), len(t.cols)))
	}
	t.rows = append(t.rows, cells)
}

// appendTo encodes RowDescription, the DataRows and CommandComplete with
// tag.
func (t *table) appendTo(dst []byte, tag string) []byte {
	dst, start := pgwire.BeginMessage(dst, pgwire.MsgRowDescription)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.cols)))
	for _, c := range t.cols {
		dst = append(dst, c.name...)
		dst = append(dst, 0)
		dst = binary.BigEndian.AppendUint32(dst, 0) // table oid
		dst = binary.BigEndian.AppendUint16(dst, 0) // attribute number
		dst = binary.BigEndian.AppendUint32(dst, c.typ.oid)
		dst = binary.BigEndian.AppendUint16(dst, uint16(c.typ.size))
		dst = binary.BigEndian.AppendUint32(dst, 0xFFFFFFFF) // type modifier -1
		dst = binary.BigEndian.AppendUint16(dst, 0)          // text format
	}
	dst = pgwire.FinishMessage(dst, start)
	for _, row := range t.rows {
		dst, start = pgwire.BeginMessage(dst, pgwire.MsgDataRow)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(row)))
		for _, c := range row {
			if c.null {
				dst = binary.BigEndian.AppendUint32(dst, 0xFFFFFFFF)
				continue
			}
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.v)))
			dst = append(dst, c.v...)
		}
		dst = pgwire.FinishMessage(dst, start)
	}
	return appendCommandComplete(dst, tag)
}

func appendCommandComplete(dst []byte, tag string) []byte {
	dst, start := pgwire.BeginMessage(dst, pgwire.MsgCommandComplete)
	dst = append(dst, tag...)
	dst = append(dst, 0)
	return pgwire.FinishMessage(dst, start)
}

func appendEmptyQuery(dst []byte) []byte {
	dst, start := pgwire.BeginMessage(dst, pgwire.MsgEmptyQueryResponse)
	return pgwire.FinishMessage(dst, start)
}
