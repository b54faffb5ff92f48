package ledger

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// customerRows is one customer's rows encoded for its transaction: on SQLite
// the bind values of every receivable line and subscription insert (money
// texts, detail, content hashes: the texts share buf's bytes), on PostgreSQL
// its rows in the binary COPY format, ready to be appended to the
// transaction's COPY data. CustomerWriter.Save encodes them on the caller's
// goroutine (the fetchers), so the writer goroutine only binds and steps
// (or copies bytes): the same stored bytes as encoding in the writer.
//
// An encoding error is kept (recvErr, subsErr) and returned by the writer
// where encoding in the writer would have returned it, after the same
// stages.
type customerRows struct {
	pg    bool   // encoded for PostgreSQL (COPY) rather than SQLite (bind values)
	enc   canon  // scratch: a row's canonical encoding
	buf   []byte // SQLite: the texts the values view (never written under a view)
	recv  []rowVal
	subs  []rowVal
	nRecv int // receivable lines encoded (recv has receivableCols values per line)
	nSubs int
	// SQLite: the order to insert the lines and subscriptions in (indexes
	// of the encoded rows): their tables' key order (see insertionOrder).
	recvOrder, subsOrder []int

	cov, pgRecv, pgSubs copyEncoder // PostgreSQL: rows without header or trailer

	term    commitmentTokens // scratch: a commitment term's values
	scratch []byte           // scratch: a commitment term rendered back

	recvErr, subsErr error
}

// subscriptionCols is the number of values of insert_subscription, and
// subscriptionHashCol the index of content_hash among them.
const (
	subscriptionCols    = 13
	subscriptionHashCol = 12
)

var customerRowsPool = sync.Pool{New: func() any { return new(customerRows) }}

// customerRowsKeep is the largest buffer a released customerRows keeps for
// reuse (an unusually large customer's is dropped).
const customerRowsKeep = 1 << 20

// encodeCustomer encodes d's rows for a transaction of s (see customerRows);
// nil for a customer copied inside the ledger (CopyFrom), which has none.
func (s *Store) encodeCustomer(runID int64, d *CustomerData) *customerRows {
	if d.CopyFrom != 0 {
		return nil
	}
	r := customerRowsPool.Get().(*customerRows)
	r.pg = s.d.postgres()
	r.encode(runID, d)
	return r
}

func (r *customerRows) encode(runID int64, d *CustomerData) {
	r.buf, r.recv, r.subs, r.nRecv, r.nSubs = r.buf[:0], r.recv[:0], r.subs[:0], 0, 0
	r.cov.buf, r.pgRecv.buf, r.pgSubs.buf = r.cov.buf[:0], r.pgRecv.buf[:0], r.pgSubs.buf[:0]
	r.recvErr, r.subsErr = nil, nil
	r.recvOrder, r.subsOrder = r.recvOrder[:0], r.subsOrder[:0]
	withLines := d.Coverage != billing.CoverageFetchFailed && len(d.Receivables) > 0
	if r.pg {
		r.copyCoverage(runID, d)
		if withLines {
			r.recvErr = r.copyReceivables(runID, d.CustomerID, d.Receivables)
		}
		if len(d.Subscriptions) > 0 {
			r.subsErr = r.copySubscriptions(runID, d.CustomerID, d.Subscriptions)
		}
		return
	}
	if withLines {
		r.receivables(runID, d.CustomerID, d.Receivables)
	}
	if len(d.Subscriptions) > 0 {
		r.subscriptions(runID, d.CustomerID, d.Subscriptions)
	}
	r.insertionOrder(d)
}

// insertionOrder sets the order the SQLite rows are inserted in: the order of
// their clustered tables' primary keys after run and customer (receivable
// lines: sku, charge_type, period_from, period_to, currency, charge_id,
// line_no; subscriptions: id, content_hash, line_no), compared as SQLite's
// BINARY collation does (byte order). Rows inserted in key order are appended
// to the customer's range of the table, which fills its pages; in the API's
// order they land at random places in it and split pages, leaving them about
// 80 % full (BENCHMARKS.md, "Rows appended, not inserted"). Which rows are
// stored, and their line_no, do not depend on the order.
func (r *customerRows) insertionOrder(d *CustomerData) {
	// The comparisons stop at the first field that differs (cmp.Or would
	// compare every field first).
	r.recvOrder = order(r.recvOrder, r.nRecv, func(a, b int) int {
		x, y := &d.Receivables[a], &d.Receivables[b]
		if c := strings.Compare(x.SKU, y.SKU); c != 0 {
			return c
		}
		if c := strings.Compare(x.ChargeType, y.ChargeType); c != 0 {
			return c
		}
		if c := strings.Compare(string(x.PeriodFrom), string(y.PeriodFrom)); c != 0 {
			return c
		}
		if c := strings.Compare(string(x.PeriodTo), string(y.PeriodTo)); c != 0 {
			return c
		}
		if c := strings.Compare(x.Currency, y.Currency); c != 0 {
			return c
		}
		if c := strings.Compare(x.ChargeID, y.ChargeID); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	r.subsOrder = order(r.subsOrder, r.nSubs, func(a, b int) int {
		if c := strings.Compare(d.Subscriptions[a].ID, d.Subscriptions[b].ID); c != 0 {
			return c
		}
		if c := strings.Compare(r.subscriptionRow(a)[subscriptionHashCol].s, r.subscriptionRow(b)[subscriptionHashCol].s); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
}

// order returns 0..n-1 (in dst's array) sorted by compare.
func order(dst []int, n int, compare func(a, b int) int) []int {
	dst = dst[:0]
	for i := range n {
		dst = append(dst, i)
	}
	slices.SortFunc(dst, compare)
	return dst
}

// release hands r back for another customer's rows. The writer calls it once
// the rows are written (bound, so copied by SQLite, or appended to the COPY
// data).
func (r *customerRows) release() {
	if r == nil {
		return
	}
	if cap(r.buf) > customerRowsKeep || cap(r.recv) > customerRowsKeep/64 || cap(r.subs) > customerRowsKeep/64 ||
		cap(r.pgRecv.buf) > customerRowsKeep || cap(r.pgSubs.buf) > customerRowsKeep || cap(r.scratch) > customerRowsKeep {
		return
	}
	customerRowsPool.Put(r)
}

// receivables appends the insert_receivable values of the customer's lines
// to r.recv.
func (r *customerRows) receivables(runID int64, customerID string, cs []billing.ReceivableCharge) {
	run, customer := intVal(runID), textVal(customerID)
	for i := range cs {
		r.recv = r.receivableValues(r.recv, run, customer, int64(i+1), &cs[i])
	}
	r.nRecv = len(cs)
}

// receivableValues appends the insert_receivable values of c, the lineNo-th
// receivable line of customerID in run runID, to vals. The money texts, the
// detail and the content hash are appended to r.buf; the values view them
// (bytes a later append never writes: appends go past them, or to a new
// array).
func (r *customerRows) receivableValues(vals []rowVal, runID, customerID rowVal, lineNo int64, c *billing.ReceivableCharge) []rowVal {
	b := r.buf
	qtyStart := len(b)
	if c.Quantity.Valid {
		b = appendDecimal(b, c.Quantity.Decimal)
	}
	costStart := len(b)
	if c.CostPrice.Valid {
		b = appendDecimal(b, c.CostPrice.Decimal)
	}
	proStart := len(b)
	if c.CostPriceProrated.Valid {
		b = appendDecimal(b, c.CostPriceProrated.Decimal)
	}
	detStart := len(b)
	b = appendReceivableDetail(b, c)
	hashStart := len(b)
	enc := &r.enc
	enc.reset()
	enc.receivable(customerID.s, c)
	b = appendContentHash(b, enc.buf)
	r.buf = b
	// The views are taken after the row's last append.
	return append(vals, runID, customerID, intVal(lineNo), textVal(c.SKU), textVal(c.ChargeID), textVal(c.ChargeType),
		textVal(string(c.PeriodFrom)), textVal(string(c.PeriodTo)),
		nullTextVal(view(b[qtyStart:costStart]), c.Quantity.Valid),
		nullTextVal(view(b[costStart:proStart]), c.CostPrice.Valid),
		nullTextVal(view(b[proStart:detStart]), c.CostPriceProrated.Valid),
		textVal(c.Currency), textVal(view(b[detStart:hashStart])), textVal(view(b[hashStart:])))
}

// subscriptions appends the insert_subscription values of the customer's
// subscriptions to r.subs.
func (r *customerRows) subscriptions(runID int64, customerID string, subs []billing.Subscription) {
	run, customer := intVal(runID), textVal(customerID)
	enc := &r.enc
	for i := range subs {
		sub := &subs[i]
		var fees, term rowVal
		b := r.buf
		feesStart := len(b)
		if sub.Fees != nil {
			b = appendFeesArray(b, sub.Fees)
		}
		termStart := len(b)
		if len(sub.CommitmentTerm) > 0 {
			b, r.scratch = appendCommitmentColumn(b, r.scratch, sub.CommitmentTerm, &r.term)
		}
		qtyStart := len(b)
		if sub.Quantity.Valid {
			b = appendDecimal(b, sub.Quantity.Decimal)
		}
		hashStart := len(b)
		enc.reset()
		enc.subscription(customerID, sub)
		b = appendContentHash(b, enc.buf)
		r.buf = b
		// The views are taken after the row's last append.
		if sub.Fees != nil {
			fees = textVal(view(b[feesStart:termStart]))
		}
		if len(sub.CommitmentTerm) > 0 {
			term = textVal(view(b[termStart:qtyStart]))
		}
		r.subs = append(r.subs, run, customer, intVal(int64(i+1)), textVal(sub.ID), textVal(sub.ProductName),
			textVal(sub.Description), textVal(sub.SKU), nullTextVal(view(b[qtyStart:hashStart]), sub.Quantity.Valid),
			textVal(sub.BillingCycle), textVal(string(sub.PurchaseDate)), fees, term, textVal(view(b[hashStart:])))
		r.nSubs++
	}
}

// receivableRow is the values of the i-th encoded receivable line.
func (r *customerRows) receivableRow(i int) []rowVal {
	return r.recv[i*receivableCols : (i+1)*receivableCols]
}

// subscriptionRow is the values of the i-th encoded subscription.
func (r *customerRows) subscriptionRow(i int) []rowVal {
	return r.subs[i*subscriptionCols : (i+1)*subscriptionCols]
}
