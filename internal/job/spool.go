package job

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// commitmentSpool keeps a run's Commitments rows, as the licence check
// computes them (report.LicenceCollector.AddCustomer), for the Commitments
// sheet, so that the sheet neither reads the subscriptions again nor
// recomputes them: the rows are encoded compactly, customer by customer, in
// an unlinked temporary file, not in memory (a run can have a commitment
// per subscription, hundreds of thousands). Only the index (one entry per
// customer) and the table of the repeated strings (SKUs, products, dates,
// currencies) are in memory.
//
// The file is removed from its directory as soon as it is created: it goes
// away when it is closed (close, or the garbage collector's os.File
// finalizer once the rows are unreachable). A spool that cannot be created
// or written is not used (spooledRows returns nil): the sheet then reads
// the subscriptions again (commitmentRows).
type commitmentSpool struct {
	f     *os.File
	w     *bufio.Writer
	off   int64
	index map[string]spoolChunk
	strs  []string
	ids   map[string]uint32
	limit int // of strs
	buf   []byte
	err   error
}

type spoolChunk struct {
	off  int64
	size int
}

// spoolStrings bounds the table of repeated strings; beyond it a string is
// written out in each row.
const spoolStrings = 1 << 16

// spoolDir is where spools are created ("" for os.TempDir); tests set it.
var spoolDir = ""

// spoolWriter is what a spool writes its file through (tests make it fail).
var spoolWriter = func(f *os.File) io.Writer { return f }

func newCommitmentSpool() *commitmentSpool {
	s := &commitmentSpool{index: map[string]spoolChunk{}, ids: map[string]uint32{}, limit: spoolStrings}
	f, err := os.CreateTemp(spoolDir, "reconcile-commitments-*")
	if err != nil {
		s.err = err
		return s
	}
	if err := os.Remove(f.Name()); err != nil { // a system that cannot unlink an open file: no spool
		s.err = errors.Join(err, f.Close(), os.Remove(f.Name()))
		return s
	}
	s.f, s.w = f, bufio.NewWriterSize(spoolWriter(f), 64<<10)
	return s
}

// add spools one customer's rows (each customer once).
func (s *commitmentSpool) add(customerID string, rows []report.CommitmentRow) {
	if s == nil || s.err != nil || len(rows) == 0 {
		return
	}
	b := binary.AppendUvarint(s.buf[:0], uint64(len(rows)))
	for i := range rows {
		b = s.appendRow(b, &rows[i])
	}
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		s.err = err
		return
	}
	s.index[customerID] = spoolChunk{off: s.off, size: len(b)}
	s.off += int64(len(b))
}

// Row flags.
const (
	spSched uint8 = 1 << iota
	spUnitCost
	spRemaining
	spRenews30
	spRenews60
	spRenews90
	spStranded
	spUnreadable
)

func (s *commitmentSpool) appendRow(b []byte, r *report.CommitmentRow) []byte {
	var fl uint8
	set := func(ok bool, f uint8) {
		if ok {
			fl |= f
		}
	}
	set(r.ScheduledQuantity != nil, spSched)
	set(r.UnitCost.Valid, spUnitCost)
	set(r.Remaining.Valid, spRemaining)
	set(r.Renews30, spRenews30)
	set(r.Renews60, spRenews60)
	set(r.Renews90, spRenews90)
	set(r.Stranded, spStranded)
	set(r.Unreadable != "", spUnreadable)
	b = append(b, fl)
	b = appendString(b, r.SubscriptionID)
	for _, v := range [...]string{r.SKU, r.Product, r.TermType, string(r.TermEnd), string(r.RenewalDate), r.Currency, r.UnitCostNote} {
		b = s.appendShared(b, v)
	}
	b = binary.AppendVarint(b, r.Quantity)
	b = binary.AppendVarint(b, r.MinimumInForce)
	b = binary.AppendVarint(b, int64(r.DaysToTermEnd))
	b = binary.AppendVarint(b, int64(r.Months))
	if r.ScheduledQuantity != nil {
		b = binary.AppendVarint(b, *r.ScheduledQuantity)
	}
	if r.UnitCost.Valid {
		b = appendSpoolDecimal(b, r.UnitCost.Decimal)
	}
	if r.Remaining.Valid {
		b = appendSpoolDecimal(b, r.Remaining.Decimal)
	}
	if r.Unreadable != "" {
		b = appendString(b, r.Unreadable)
	}
	return b
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendShared writes a repeated string as its number in the table + 1, or
// 0 and the string when the table is full.
func (s *commitmentSpool) appendShared(b []byte, v string) []byte {
	n, ok := s.ids[v]
	if !ok && len(s.strs) < s.limit {
		n, ok = uint32(len(s.strs)), true
		s.ids[v] = n
		s.strs = append(s.strs, v)
	}
	if !ok {
		return appendString(append(b, 0), v)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

// appendSpoolDecimal writes the exact decimal: its exponent, then its
// coefficient (a varint when it fits 18 digits, else its sign and bytes).
func appendSpoolDecimal(b []byte, d decimal.Decimal) []byte {
	b = binary.AppendVarint(b, int64(d.Exponent()))
	if d.NumDigits() <= 18 {
		return binary.AppendVarint(append(b, 0), d.CoefficientInt64())
	}
	c := d.Coefficient()
	sign := byte(1)
	if c.Sign() < 0 {
		sign = 2
	}
	return appendString(append(b, sign), string(c.Bytes()))
}

// spooledRows returns the rows of customers (sorted) in the report order,
// read from the spool; nil when the spool is not usable.
func (s *commitmentSpool) spooledRows(customers []string) report.CommitmentRows {
	if !s.usable() {
		return nil
	}
	return &spooledRows{s: s, customers: customers}
}

// usable writes out what is buffered and reports whether the rows can be
// read.
func (s *commitmentSpool) usable() bool {
	if s == nil || s.err != nil {
		return false
	}
	if err := s.w.Flush(); err != nil {
		s.err = err
		return false
	}
	return true
}

// close releases the file (the rows cannot be read afterwards).
func (s *commitmentSpool) close() {
	if s != nil && s.f != nil {
		_ = s.f.Close() // unlinked, read only from here: nothing to lose
		s.f, s.err = nil, errors.New("commitments spool closed")
	}
}

// spooledRows is report.CommitmentRows from a spool.
type spooledRows struct {
	s         *commitmentSpool
	customers []string
}

// EachCommitment implements report.CommitmentRows.
func (r *spooledRows) EachCommitment(ctx context.Context, fn func(*report.CommitmentRow) error) error {
	s := r.s
	if s.f == nil {
		return errors.New("read the commitments: the spool is closed")
	}
	var buf []byte
	for _, id := range r.customers {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, ok := s.index[id]
		if !ok {
			continue
		}
		if cap(buf) < c.size {
			buf = make([]byte, c.size)
		}
		buf = buf[:c.size]
		if n, err := s.f.ReadAt(buf, c.off); n < c.size {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read the commitments of customer %s from the spool: %w", id, err)
		}
		d := spoolDecoder{b: buf, strs: s.strs}
		n := d.uvarint()
		for range n {
			row := d.row(id)
			if d.err != nil {
				return fmt.Errorf("read the commitments of customer %s from the spool: %w", id, d.err)
			}
			if err := fn(&row); err != nil {
				return err
			}
		}
	}
	return nil
}

type spoolDecoder struct {
	b    []byte
	strs []string
	err  error
}

var errSpoolShort = errors.New("spooled row cut short")

func (d *spoolDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errSpoolShort, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spoolDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = errSpoolShort, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spoolDecoder) byte1() byte {
	if len(d.b) == 0 {
		d.err = errSpoolShort
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *spoolDecoder) bytes() []byte {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.err, d.b = errSpoolShort, nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *spoolDecoder) shared() string {
	n := d.uvarint()
	switch {
	case n == 0:
		return string(d.bytes())
	case n-1 < uint64(len(d.strs)):
		return d.strs[n-1]
	}
	d.err = errors.New("spooled string out of the table")
	return ""
}

func (d *spoolDecoder) decimal() decimal.Decimal {
	exp := int32(d.varint())
	sign := d.byte1()
	if sign == 0 {
		return decimal.New(d.varint(), exp)
	}
	c := new(big.Int).SetBytes(d.bytes())
	if sign == 2 {
		c.Neg(c)
	}
	return decimal.NewFromBigInt(c, exp)
}

func (d *spoolDecoder) row(customerID string) report.CommitmentRow {
	fl := d.byte1()
	r := report.CommitmentRow{CustomerID: customerID, SubscriptionID: string(d.bytes())}
	r.SKU, r.Product, r.TermType = d.shared(), d.shared(), d.shared()
	r.TermEnd, r.RenewalDate = billing.Date(d.shared()), billing.Date(d.shared())
	r.Currency, r.UnitCostNote = d.shared(), d.shared()
	r.Quantity, r.MinimumInForce = d.varint(), d.varint()
	r.DaysToTermEnd, r.Months = int(d.varint()), int(d.varint())
	if fl&spSched != 0 {
		q := d.varint()
		r.ScheduledQuantity = &q
	}
	if fl&spUnitCost != 0 {
		r.UnitCost = decimal.NullDecimal{Decimal: d.decimal(), Valid: true}
	}
	if fl&spRemaining != 0 {
		r.Remaining = decimal.NullDecimal{Decimal: d.decimal(), Valid: true}
	}
	if fl&spUnreadable != 0 {
		r.Unreadable = string(d.bytes())
	}
	r.Renews30, r.Renews60, r.Renews90 = fl&spRenews30 != 0, fl&spRenews60 != 0, fl&spRenews90 != 0
	r.Stranded = fl&spStranded != 0
	return r
}
