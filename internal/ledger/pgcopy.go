package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// Bulk inserts on PostgreSQL: the ledger writes COPY data itself, in
// PostgreSQL's binary COPY format, straight from the charges into a reused
// byte buffer, and hands it to pgconn's CopyFrom. No value is boxed into an
// interface and no per-row slice is allocated (pgx's CopyFrom takes [][]any
// and encodes each value through its type map).
//
// Values are written as the server's binary input functions read them:
// BIGINT as 8 bytes big-endian, TEXT as its UTF-8 bytes (the server checks
// the encoding, as it does for any text), NUMERIC as base-10000 digits with
// the display scale of the literal, so "45.00" is stored, and read back, as
// 45.00: money stays exact and keeps its scale, as with the text it replaces.
//
// The payable batch streams one COPY for the whole batch (copyStream): its
// writer goroutine encodes while the server ingests. A customer transaction
// (a group of customers) writes one COPY per table from buffers
// (customerCopies, copyBuffer) to which each customer's rows, encoded by
// CustomerWriter.Save on the caller's goroutine (customerRows), are appended.

// copyEncoder appends rows in the binary COPY format to buf.
type copyEncoder struct {
	buf     []byte
	scratch []byte // decimal texts before they are encoded as NUMERIC
}

// copySignature is the header of binary COPY data: signature, flags, header
// extension length.
const copySignature = "PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000"

func (e *copyEncoder) header() { e.buf = append(e.buf, copySignature...) }

// trailer ends the data: a field count of -1.
func (e *copyEncoder) trailer() { e.buf = append(e.buf, 0xff, 0xff) }

// row starts a row of n fields.
func (e *copyEncoder) row(n int) { e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n)) }

func (e *copyEncoder) null() { e.buf = append(e.buf, 0xff, 0xff, 0xff, 0xff) }

func (e *copyEncoder) int8(v int64) {
	e.buf = append(e.buf, 0, 0, 0, 8)
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v))
}

func (e *copyEncoder) text(s string) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// begin reserves the length of a field whose bytes follow; end fills it in.
func (e *copyEncoder) begin() int {
	e.buf = append(e.buf, 0, 0, 0, 0)
	return len(e.buf)
}

func (e *copyEncoder) end(start int) {
	binary.BigEndian.PutUint32(e.buf[start-4:], uint32(len(e.buf)-start))
}

// numeric writes d as NUMERIC (NULL when absent), with d's own scale.
func (e *copyEncoder) numeric(d decimal.NullDecimal) error {
	if !d.Valid {
		e.null()
		return nil
	}
	e.scratch = appendDecimal(e.scratch[:0], d.Decimal)
	var err error
	e.buf, err = appendNumeric(e.buf, e.scratch)
	return err
}

// NUMERIC's binary sign words and limits (src/backend/utils/adt/numeric.c).
const (
	numericPos      = 0x0000
	numericNeg      = 0x4000
	numericMaxScale = 0x3fff
	numericMaxDigit = 0x7fff // weight and digit count are int16
)

// appendNumeric appends one NUMERIC field (length included) holding the
// plain decimal literal lit ("-"? digits ("." digits)?, as billing.Text
// writes it): base-10000 digits aligned on the decimal point, leading and
// trailing zero digits dropped, and the display scale of the literal.
func appendNumeric(b, lit []byte) ([]byte, error) {
	s := lit
	sign := uint16(numericPos)
	if len(s) > 0 && s[0] == '-' {
		sign, s = numericNeg, s[1:]
	}
	intPart, frac := s, []byte(nil)
	if i := bytes.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	if len(intPart)+len(frac) == 0 || !allDigits(intPart) || !allDigits(frac) {
		return b, fmt.Errorf("decimal %q is not a plain decimal literal", lit)
	}
	if len(frac) > numericMaxScale {
		return b, fmt.Errorf("decimal %q has more than %d decimal places", lit, numericMaxScale)
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	intGroups := (len(intPart) + 3) / 4
	if intGroups+(len(frac)+3)/4 > numericMaxDigit {
		return b, fmt.Errorf("decimal %q has too many digits", lit)
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // length, ndigits, weight, sign, dscale: filled below
	digits := start + 12
	weight := intGroups - 1
	// Integer part: the first group takes the digits left over by the others.
	for g, i := 0, 0; g < intGroups; g++ {
		n := 4
		if g == 0 {
			n = len(intPart) - 4*(intGroups-1)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(atoiDigits(intPart[i:i+n])))
		i += n
	}
	// Fraction: groups of four from the point, the last padded with zeros.
	for i := 0; i < len(frac); i += 4 {
		var v uint16
		for k := range 4 {
			v *= 10
			if i+k < len(frac) {
				v += uint16(frac[i+k] - '0')
			}
		}
		if v == 0 && len(b) == digits { // a leading zero digit: no digit, one weight less
			weight--
			continue
		}
		b = binary.BigEndian.AppendUint16(b, v)
	}
	for len(b) > digits && b[len(b)-1] == 0 && b[len(b)-2] == 0 { // trailing zero digits
		b = b[:len(b)-2]
	}
	ndigits := (len(b) - digits) / 2
	if ndigits == 0 {
		weight, sign = 0, numericPos // zero has no sign
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	binary.BigEndian.PutUint16(b[start+4:], uint16(ndigits))
	binary.BigEndian.PutUint16(b[start+6:], uint16(int16(weight)))
	binary.BigEndian.PutUint16(b[start+8:], sign)
	binary.BigEndian.PutUint16(b[start+10:], uint16(len(frac)))
	return b, nil
}

func allDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoiDigits(s []byte) int {
	v := 0
	for _, c := range s {
		v = v*10 + int(c-'0')
	}
	return v
}

// copySQL is the COPY statement of table's columns, binary format.
func copySQL(table string, columns []string) string {
	return fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)",
		pgx.Identifier{table}.Sanitize(), quoteColumns(columns))
}

func quoteColumns(columns []string) string {
	var b bytes.Buffer
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{c}.Sanitize())
	}
	return b.String()
}

// copyError wraps a COPY failure with what the server said about where it
// happened (the line of the COPY data) and its detail (a foreign key's key),
// which pgconn's message leaves out.
func copyError(what string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.Where != "" {
			what += " (" + pe.Where + ")"
		}
		if pe.Detail != "" {
			return fmt.Errorf("%s: %w: %s", what, err, pe.Detail)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ---- payable charges: one streamed COPY per batch ----

// payableColumns are the columns of insert_payable, in its order (COPY).
var payableColumns = []string{"run_id", "line_no", "customer_key", "sku", "charge_type", "period_from", "period_to",
	"currency", "charge_id", "sub_total", "quantity", "detail", "content_hash", "customer_ord"}

var copyPayableSQL = copySQL("payable_charges", payableColumns)

// payableCustomerColumns are the columns of insert_payable_customer (COPY).
var payableCustomerColumns = []string{"run_id", "customer_key", "customer_ord"}

var copyPayableCustomersSQL = copySQL("payable_customers", payableCustomerColumns)

// copyChunk is how many rows one COPY of `ledger copy` (copy.go) writes.
const copyChunk = 8192

// copyFlushSize is how much encoded data the payable COPY collects before it
// hands it to the connection.
const copyFlushSize = 64 << 10

// errCopyAborted ends a COPY whose rows are discarded (batch reset or rolled
// back): the server fails the COPY, and the transaction is rolled back.
var errCopyAborted = errors.New("payable batch discarded")

// copyStream is a COPY in progress on a connection: rows are encoded into
// enc.buf by the caller's goroutine and written, copyFlushSize at a time,
// through a pipe to pgconn's CopyFrom, which runs in a goroutine of the
// stream (holding the connection) until the stream is closed.
type copyStream struct {
	enc  copyEncoder
	pw   *io.PipeWriter
	rows int64

	done chan struct{}
	n    int64 // rows the server reports, after done
	err  error // CopyFrom's error, after done
}

// startCopy starts sql (a COPY FROM STDIN) on conn. The connection is busy
// until finish or abort returns.
func startCopy(ctx context.Context, conn *sqlx.Conn, sql string) *copyStream {
	pr, pw := io.Pipe()
	cs := &copyStream{pw: pw, done: make(chan struct{}), enc: copyEncoder{buf: make([]byte, 0, copyFlushSize+8<<10)}}
	cs.enc.header()
	go func() {
		defer close(cs.done)
		cs.err = withPgConn(conn, func(pc *pgx.Conn) error {
			tag, err := pc.PgConn().CopyFrom(ctx, pr, sql)
			cs.n = tag.RowsAffected()
			return err
		})
		// Writes after the end of the COPY fail with its error (or EOF).
		_ = pr.CloseWithError(cs.err)
	}()
	return cs
}

// flush writes the encoded rows once there are enough of them (all when
// force).
func (cs *copyStream) flush(force bool) error {
	if len(cs.enc.buf) == 0 || (!force && len(cs.enc.buf) < copyFlushSize) {
		return nil
	}
	_, err := cs.pw.Write(cs.enc.buf)
	cs.enc.buf = cs.enc.buf[:0]
	return err
}

// finish ends the COPY and returns the number of rows it wrote.
func (cs *copyStream) finish() (int64, error) {
	cs.enc.trailer()
	werr := cs.flush(true)
	_ = cs.pw.Close()
	<-cs.done
	if cs.err != nil {
		return cs.n, cs.err
	}
	if werr != nil {
		return cs.n, werr
	}
	return cs.n, nil
}

// abort fails the COPY (its rows are never visible: the caller rolls the
// transaction back) and waits until the connection is free.
func (cs *copyStream) abort() {
	_ = cs.pw.CloseWithError(errCopyAborted)
	<-cs.done
}

// copyLines encodes the lines into the batch's COPY, which starts with the
// first line of an attempt.
func (w *payableWriter) copyLines(lines []*billing.PayableCharge) error {
	if w.copy == nil {
		sql := copyPayableSQL
		if w.s.payable0009 {
			sql = copySQL("payable_charges", payableColumns[:w.cols()])
		}
		w.copy = startCopy(w.ctx, w.conn, sql)
	}
	cs := w.copy
	for _, c := range lines {
		w.lineNo++
		key := customerKey(c.Tags)
		ord := int64(0) // a 0009 ledger: no customer_ord column
		if !w.s.payable0009 {
			ord = w.customers.ord(key)
		}
		if err := w.codec.copyPayable(&cs.enc, w.runID, w.lineNo, key, ord, c); err != nil {
			return fmt.Errorf("stage payable charge %s: %w", c.Describe(), err)
		}
		cs.rows++
	}
	if err := cs.flush(false); err != nil {
		return copyError("stage payable charges (COPY)", err)
	}
	return nil
}

// endCopy ends the batch's COPY, if one is running, and checks that every
// line was written.
func (w *payableWriter) endCopy() error {
	cs := w.copy
	if cs == nil {
		return nil
	}
	w.copy = nil
	n, err := cs.finish()
	if err != nil {
		return copyError(fmt.Sprintf("stage payable charges (COPY of %d lines)", cs.rows), err)
	}
	if n != cs.rows {
		return fmt.Errorf("stage payable charges: COPY wrote %d of %d lines", n, cs.rows)
	}
	return nil
}

// copyCustomers writes the attempt's payable_customers rows with one COPY
// (PostgreSQL: after the lines, in the batch's transaction).
func (w *payableWriter) copyCustomers() error {
	keys := w.customers.keys
	if len(keys) == 0 {
		return nil
	}
	enc := copyEncoder{buf: make([]byte, 0, 64*len(keys))}
	enc.header()
	for i, k := range keys {
		enc.row(len(payableCustomerColumns))
		enc.int8(w.runID)
		enc.text(k)
		enc.int8(int64(i + 1))
	}
	err := withPgConn(w.conn, func(pc *pgx.Conn) error {
		return copyBuffer(w.ctx, pc, copyPayableCustomersSQL, &enc, len(keys))
	})
	if err != nil {
		return copyError(fmt.Sprintf("store the payable stream's %d customer keys (COPY)", len(keys)), err)
	}
	return nil
}

// abortCopy discards the batch's COPY, if one is running.
func (w *payableWriter) abortCopy() {
	if w.copy != nil {
		w.copy.abort()
		w.copy = nil
	}
}

// copyPayable encodes c, the lineNo-th line of run runID, whose customer
// key is key, numbered ord (payable_customers), as a row of payableColumns;
// ord 0 leaves customer_ord out (a 0009 ledger: payable0009_test.go).
func (r *rowCodec) copyPayable(e *copyEncoder, runID, lineNo int64, key string, ord int64, c *billing.PayableCharge) error {
	if ord == 0 {
		e.row(payableCols - 1)
	} else {
		e.row(payableCols)
	}
	e.int8(runID)
	e.int8(lineNo)
	e.text(key)
	e.text(c.SKU)
	e.text(c.ChargeType)
	e.text(string(c.PeriodFrom))
	e.text(string(c.PeriodTo))
	e.text(c.Currency)
	e.text(c.ChargeID)
	if err := e.numeric(c.SubTotal); err != nil {
		return fmt.Errorf("subTotal: %w", err)
	}
	if err := e.numeric(c.Quantity); err != nil {
		return fmt.Errorf("quantity: %w", err)
	}
	start := e.begin()
	e.buf = appendPayableDetail(e.buf, c)
	e.end(start)
	r.enc.reset()
	r.enc.payableHashed(c, &r.hbuf)
	start = e.begin()
	e.buf = appendContentHash(e.buf, r.enc.buf)
	e.end(start)
	if ord != 0 {
		e.int8(ord)
	}
	return nil
}

// ---- customers' rows: one COPY per table per transaction ----

var (
	copyCoverageSQL     = copySQL("customer_coverage", coverageColumns)
	copyReceivableSQL   = copySQL("receivable_charges", receivableColumns)
	copySubscriptionSQL = copySQL("subscriptions", subscriptionColumns)
)

// coverageColumns are the columns of insert_coverage, in its order (COPY).
var coverageColumns = []string{"run_id", "customer_id", "coverage", "error", "period_from", "period_to", "subscriptions_error"}

// customerCopies are the rows of one customer transaction on PostgreSQL (a
// group of the CustomerWriter, or one SaveCustomerData), each customer's
// encoded up front (customerRows) and appended as it is saved, written by flushCopies before the commit (or once
// they reach customerCopyFlush bytes): one COPY per table, coverage first (the receivable lines and subscriptions refer to
// it), instead of a coverage INSERT and two COPYs per customer. The
// transaction stays all or nothing; the rows are the same.
type customerCopies struct {
	coverage, receivables, subscriptions tableCopy
}

// tableCopy is the COPY data of one table.
type tableCopy struct {
	sql, what, unit string
	enc             copyEncoder
	rows            int
	owners          []copyOwner // whose rows they are, in order (errors name the customer)
}

// copyOwner: the rows before end (counted from the first row of the COPY,
// from 1) that are not an earlier owner's are customer's.
type copyOwner struct {
	customer string
	end      int
}

func newCustomerCopies() *customerCopies {
	return &customerCopies{
		coverage:      tableCopy{sql: copyCoverageSQL, what: "coverage", unit: "rows"},
		receivables:   tableCopy{sql: copyReceivableSQL, what: "receivable charges", unit: "lines"},
		subscriptions: tableCopy{sql: copySubscriptionSQL, what: "subscriptions", unit: "rows"},
	}
}

// copies returns the transaction's COPY data.
func (st *customerStmts) copies() *customerCopies {
	if st.pgCopies == nil {
		st.pgCopies = newCustomerCopies()
	}
	return st.pgCopies
}

// customerCopyFlush is how much encoded data a customer transaction
// collects before it writes it (customers with many lines): the buffers stay
// about this size whatever the group's customers hold. A variable for tests.
var customerCopyFlush = 8 << 20

// size is the encoded data held, in bytes.
func (c *customerCopies) size() int {
	return len(c.coverage.enc.buf) + len(c.receivables.enc.buf) + len(c.subscriptions.enc.buf)
}

func (c *customerCopies) tables() [3]*tableCopy {
	return [3]*tableCopy{&c.coverage, &c.receivables, &c.subscriptions}
}

// reset empties the tables (their buffers are kept for the next transaction).
func (c *customerCopies) reset() {
	for _, t := range c.tables() {
		t.enc.buf, t.rows, t.owners = t.enc.buf[:0], 0, t.owners[:0]
	}
}

// customerCopies lends the store's COPY buffers to a customer transaction
// (which holds the write lock), so that a run's groups reuse one set.
func (s *Store) customerCopies() *customerCopies {
	if s.custCopies == nil {
		s.custCopies = newCustomerCopies()
	}
	return s.custCopies
}

// releaseCopies takes the COPY buffers back from a customer transaction:
// emptied, and dropped when an unusually large group made them large.
func (s *Store) releaseCopies(st *customerStmts) {
	c := st.pgCopies
	st.pgCopies = nil
	if c == nil || c != s.custCopies {
		return
	}
	c.reset()
	if cap(c.receivables.enc.buf) > 4*customerCopyFlush { // a customer with that many lines
		s.custCopies = nil
	}
}

// addRows appends rows, the n encoded rows of customer (no header or
// trailer: customerRows), to t's data.
func (t *tableCopy) addRows(customer string, n int, rows []byte) {
	if n == 0 {
		return
	}
	if len(t.enc.buf) == 0 {
		t.enc.header()
	}
	t.enc.buf = append(t.enc.buf, rows...)
	t.rows += n
	t.owners = append(t.owners, copyOwner{customer: customer, end: t.rows})
}

// customerOfLine is the customer of the line-th row of the COPY (from 1), or "".
func (t *tableCopy) customerOfLine(line int) string {
	for _, o := range t.owners {
		if line <= o.end {
			return o.customer
		}
	}
	return ""
}

// copyLine is the line number in a COPY error's context ("COPY t, line 17,
// column x: ..."), or 0.
var copyLine = regexp.MustCompile(`^COPY [^,]+, line ([0-9]+)`)

// flushCopies writes the transaction's encoded rows, one COPY per table, and
// empties them.
func (st *customerStmts) flushCopies(ctx context.Context) error {
	c := st.pgCopies
	if c == nil {
		return nil
	}
	defer c.reset()
	for _, t := range c.tables() {
		if t.rows == 0 {
			continue
		}
		if err := copyBuffer(ctx, st.pg, t.sql, &t.enc, t.rows); err != nil {
			what := fmt.Sprintf("%s (COPY of %d %s", t.what, t.rows, t.unit)
			if len(t.owners) == 1 {
				what += " of customer " + t.owners[0].customer
			} else {
				what += fmt.Sprintf(" of %d customers", len(t.owners))
			}
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				if m := copyLine.FindStringSubmatch(pe.Where); m != nil {
					if line, _ := strconv.Atoi(m[1]); line > 0 && len(t.owners) > 1 {
						what += ", the failing row of customer " + t.customerOfLine(line)
					}
				}
			}
			return copyError(what+")", err)
		}
	}
	return nil
}

// copyBuffer runs one COPY of the rows encoded in enc on pc and checks the
// row count.
func copyBuffer(ctx context.Context, pc *pgx.Conn, sql string, enc *copyEncoder, rows int) error {
	enc.trailer()
	tag, err := pc.PgConn().CopyFrom(ctx, bytes.NewReader(enc.buf), sql)
	if err != nil {
		return err
	}
	if n := tag.RowsAffected(); n != int64(rows) {
		return fmt.Errorf("COPY wrote %d of %d rows", n, rows)
	}
	return nil
}

// copyCoverage encodes a customer's coverage row for the transaction's COPY.
func (r *customerRows) copyCoverage(runID int64, d *CustomerData) {
	e := &r.cov
	e.row(len(coverageColumns))
	e.int8(runID)
	e.text(d.CustomerID)
	e.text(string(d.Coverage))
	e.text(d.Error)
	e.text(string(d.Period.From))
	e.text(string(d.Period.To))
	e.text(d.SubscriptionsError)
}

// copyReceivables encodes a customer's receivable lines for the
// transaction's COPY.
func (r *customerRows) copyReceivables(runID int64, customerID string, cs []billing.ReceivableCharge) error {
	e := &r.pgRecv
	for i := range cs {
		c := &cs[i]
		e.row(receivableCols)
		e.int8(runID)
		e.text(customerID)
		e.int8(int64(i + 1))
		e.text(c.SKU)
		e.text(c.ChargeID)
		e.text(c.ChargeType)
		e.text(string(c.PeriodFrom))
		e.text(string(c.PeriodTo))
		for _, m := range [...]struct {
			name string
			d    decimal.NullDecimal
		}{{"quantity", c.Quantity}, {"costPrice", c.CostPrice}, {"costPriceProrated", c.CostPriceProrated}} {
			if err := e.numeric(m.d); err != nil {
				return fmt.Errorf("receivable charge %s: %s: %w", c.Describe(), m.name, err)
			}
		}
		e.text(c.Currency)
		start := e.begin()
		e.buf = appendReceivableDetail(e.buf, c)
		e.end(start)
		r.enc.reset()
		r.enc.receivable(customerID, c)
		start = e.begin()
		e.buf = appendContentHash(e.buf, r.enc.buf)
		e.end(start)
	}
	r.nRecv = len(cs)
	return nil
}

// copySubscriptions encodes a customer's subscriptions for the transaction's
// COPY.
func (r *customerRows) copySubscriptions(runID int64, customerID string, subs []billing.Subscription) error {
	e := &r.pgSubs
	for i := range subs {
		sub := &subs[i]
		e.row(len(subscriptionColumns))
		e.int8(runID)
		e.text(customerID)
		e.int8(int64(i + 1))
		e.text(sub.ID)
		e.text(sub.ProductName)
		e.text(sub.Description)
		e.text(sub.SKU)
		if err := e.numeric(sub.Quantity); err != nil {
			return fmt.Errorf("subscription %s: quantity: %w", sub.ID, err)
		}
		e.text(sub.BillingCycle)
		e.text(string(sub.PurchaseDate))
		if sub.Fees != nil {
			start := e.begin()
			e.buf = appendFeesArray(e.buf, sub.Fees)
			e.end(start)
		} else {
			e.null()
		}
		if len(sub.CommitmentTerm) > 0 {
			start := e.begin()
			e.buf, r.scratch = appendCommitmentColumn(e.buf, r.scratch, sub.CommitmentTerm, &r.term)
			e.end(start)
		} else {
			e.null()
		}
		r.enc.reset()
		r.enc.subscription(customerID, sub)
		start := e.begin()
		e.buf = appendContentHash(e.buf, r.enc.buf)
		e.end(start)
	}
	r.nSubs = len(subs)
	return nil
}
