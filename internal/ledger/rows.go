package ledger

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// Stored rows, read but not decoded: EachPayableRow and EachReceivableRow
// stream a run's lines in the canonical order of EachPayable and
// EachReceivable (same statements, same tie order), and leave the decoding
// (the money columns and the detail object) to DecodeForReconcile, which the
// caller may run on another goroutine. Compare reads two whole runs only to
// reconcile them: it reads the rows on one goroutine and decodes and
// reconciles them on another, and decodes only what the reconciliation
// engine reads.

// PayableRow is one stored payable line as read (EachPayableRow).
type PayableRow struct {
	sku, chargeType, from, to, currency, chargeID string
	subTotal, qty                                 sql.NullString
	detail, customerKey, hash                     string
}

// EachPayableRow calls fn for every payable line of the run, in EachPayable's
// order, without decoding it. An error from fn stops the iteration and is
// returned as is.
func (s *Store) EachPayableRow(ctx context.Context, runID int64, fn func(PayableRow) error) error {
	rows, err := s.db.QueryContext(ctx, s.q[qEachPayable], runID)
	if err != nil {
		return fmt.Errorf("read payable charges of run %d: %w", runID, err)
	}
	defer rows.Close()
	var g tieGroup[PayableRow]
	var r PayableRow // copied into fn's argument and the tie group: one for all rows
	for rows.Next() {
		if err := rows.Scan(&r.sku, &r.chargeType, &r.from, &r.to, &r.currency, &r.chargeID,
			&r.subTotal, &r.qty, &r.detail, &r.customerKey, &r.hash); err != nil {
			return fmt.Errorf("read payable charges of run %d: %w", runID, err)
		}
		cols := [...]string{r.customerKey, r.sku, r.chargeType, r.from, r.to, r.currency, r.chargeID}
		if err := g.next(cols[:], tieKey{r.subTotal, r.qty, r.hash}, r, fn); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read payable charges of run %d: %w", runID, err)
	}
	return g.flush(fn)
}

// DecodeForReconcile fills c, which should be zero, with the fields of the
// line that the reconciliation engine (report.Reconciler without a licence
// collector) reads: sku, chargeType, periodFrom, periodTo, currency,
// chargeId, subTotal, quantity, and of the detail object productName,
// netPriceProrated, tags and invoice. The detail's other keys are checked as
// JSON and skipped: c leaves productId, chargeName, billingCycleType,
// listPrice, netPrice, isBilled, isProratable, deductions, fees and taxes
// zero. An unknown key is an error, as in EachPayable. Strings of c may share
// memory with the row.
func (r *PayableRow) DecodeForReconcile(c *billing.PayableCharge) error {
	c.SKU, c.ChargeType, c.Currency, c.ChargeID = r.sku, r.chargeType, r.currency, r.chargeID
	return decodePayable(c, r.from, r.to, r.subTotal, r.qty, r.detail, true)
}

// ReceivableRow is one stored receivable line as read (EachReceivableRow).
type ReceivableRow struct {
	CustomerID                                    string
	sku, chargeID, chargeType, from, to, currency string
	qty, costPrice, costProrated                  sql.NullString
	detail, hash                                  string
}

// EachReceivableRow calls fn for every stored receivable line of the run, in
// EachReceivable's order, without decoding it. Unlike EachReceivable it does
// not join the customers' coverage (two b-tree seeks a line in SQLite): the
// lines of customers whose coverage is not "available" (period_differs, kept
// for audit) are yielded too, and the caller, who has the coverage
// (Store.Coverage), skips them. An error from fn stops the iteration and is
// returned as is.
func (s *Store) EachReceivableRow(ctx context.Context, runID int64, fn func(ReceivableRow) error) error {
	rows, err := s.db.QueryContext(ctx, s.q[qEachReceivableAll], runID)
	if err != nil {
		return fmt.Errorf("read receivable charges of run %d: %w", runID, err)
	}
	defer rows.Close()
	var g tieGroup[ReceivableRow]
	var r ReceivableRow // copied into fn's argument and the tie group: one for all rows
	for rows.Next() {
		if err := rows.Scan(&r.CustomerID, &r.sku, &r.chargeID, &r.chargeType, &r.from, &r.to,
			&r.qty, &r.costPrice, &r.costProrated, &r.currency, &r.detail, &r.hash); err != nil {
			return fmt.Errorf("read receivable charges of run %d: %w", runID, err)
		}
		cols := [...]string{r.CustomerID, r.sku, r.chargeType, r.from, r.to, r.currency, r.chargeID}
		if err := g.next(cols[:], tieKey{r.costProrated, r.qty, r.hash}, r, fn); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read receivable charges of run %d: %w", runID, err)
	}
	return g.flush(fn)
}

// DecodeForReconcile fills c, which should be zero, with the fields of the
// line that the reconciliation engine reads: sku, chargeId, chargeType,
// periodFrom, periodTo, currency, quantity, costPriceProrated and the
// detail's productName. costPrice is left null and the detail's other keys
// (chargeName, billingCycleType, isProratable) are checked as JSON and
// skipped; an unknown key is an error, as in EachReceivable.
func (r *ReceivableRow) DecodeForReconcile(c *billing.ReceivableCharge) error {
	c.SKU, c.ChargeID, c.ChargeType, c.Currency = r.sku, r.chargeID, r.chargeType, r.currency
	c.PeriodFrom, c.PeriodTo = billing.Date(r.from), billing.Date(r.to)
	var err error
	if c.Quantity, err = parseMoney(r.qty); err != nil {
		return fmt.Errorf("customer %s charge %s: quantity: %w", r.CustomerID, c.Describe(), err)
	}
	if c.CostPriceProrated, err = parseMoney(r.costProrated); err != nil {
		return fmt.Errorf("customer %s charge %s: costPriceProrated: %w", r.CustomerID, c.Describe(), err)
	}
	if err := receivableDetailForReconcile(r.detail, c); err != nil {
		return fmt.Errorf("customer %s charge %s: %w", r.CustomerID, c.Describe(), err)
	}
	return nil
}

// receivableDetailForReconcile reads the detail's productName and checks
// the rest as JSON, in either stored form (see ReceivableRow.DecodeForReconcile).
func receivableDetailForReconcile(s string, c *billing.ReceivableCharge) error {
	d := jsonscan.New(s)
	if isDetailArray(s) {
		openDetail(d)
		next(d)
		c.ProductName = d.Str()
		for range 3 { // chargeName, billingCycleType, isProratable
			next(d)
			d.Raw()
		}
		d.Expect(']')
		return detailEnd(d)
	}
	d.Object(func(key string) {
		switch key {
		case "productName":
			c.ProductName = d.Str()
		case "chargeName", "billingCycleType", "isProratable":
			d.Raw()
		default:
			unknownKey(d, key)
		}
	})
	return detailEnd(d)
}
