package ledger

import (
	"bytes"
	"cmp"
	"database/sql"
	"encoding/binary"
	"slices"
	"strings"
)

// The canonical read order of the charge lines is the ORDER BY of 0001: the
// key columns up to charge_id (never NULL), then two money columns (NULL
// first, then their exact text in byte order) and the content hash. Since
// 0006 a SQLite ledger stores the lines clustered by the key columns up to
// charge_id (then line_no), so each_payable and each_receivable_* read them
// in that order without any sort, and the few lines that are equal up to
// charge_id ("ties") are put in order here, by the same rules SQLite's ORDER
// BY applied (BINARY collation: byte order, NULL before any text). On
// PostgreSQL the statements still ORDER BY every column, so the groups
// arrive sorted and stay as they are.

// tieKey is what orders the lines of one group: the two money columns as
// stored (text) and the content hash.
type tieKey struct {
	a, b sql.NullString
	hash string
}

// own gives the key strings of its own (a lending read's line kept past
// its batch: tieGroup.detach).
func (k *tieKey) own() {
	k.a.String, k.b.String, k.hash = strings.Clone(k.a.String), strings.Clone(k.b.String), strings.Clone(k.hash)
}

func compareNullText(x, y sql.NullString) int {
	switch {
	case !x.Valid && !y.Valid:
		return 0
	case !x.Valid:
		return -1
	case !y.Valid:
		return 1
	}
	return strings.Compare(x.String, y.String)
}

func compareTieKeys(x, y tieKey) int {
	return cmp.Or(compareNullText(x.a, y.a), compareNullText(x.b, y.b), strings.Compare(x.hash, y.hash))
}

// tied is one line waiting for the end of its group.
type tied[T any] struct {
	key  tieKey
	line T
}

// tieGroup collects the consecutive lines that share the key columns up to
// charge_id and hands them on in canonical order.
type tieGroup[T any] struct {
	prefix, buf []byte // the group's key columns and the current line's, encoded (see next)
	lines       []tied[T]
}

// next adds a line with its key columns; when they differ from the group's,
// the group is flushed to emit first. The key columns are compared as one
// length-prefixed encoding, so distinct column lists never compare equal.
func (g *tieGroup[T]) next(cols []string, key tieKey, line T, emit func(T) error) error {
	b := g.buf[:0]
	for _, c := range cols {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	g.buf = b
	if len(g.lines) > 0 && !bytes.Equal(b, g.prefix) {
		if err := g.flush(emit); err != nil {
			return err
		}
	}
	if len(g.lines) == 0 {
		g.prefix, g.buf = g.buf, g.prefix
	}
	g.lines = append(g.lines, tied[T]{key, line})
	return nil
}

// detach calls own on each line the group holds, for a lending read whose
// buffer the lines' texts come from is about to be reused (readMode).
func (g *tieGroup[T]) detach(own func(*tied[T])) {
	for i := range g.lines {
		own(&g.lines[i])
	}
}

// flush emits the group's lines in order and empties it.
func (g *tieGroup[T]) flush(emit func(T) error) error {
	if len(g.lines) > 1 {
		slices.SortStableFunc(g.lines, func(x, y tied[T]) int { return compareTieKeys(x.key, y.key) })
	}
	for i := range g.lines {
		if err := emit(g.lines[i].line); err != nil {
			return err
		}
	}
	clear(g.lines)
	g.lines = g.lines[:0]
	return nil
}
