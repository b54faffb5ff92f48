package ledger

import (
	"context"
	"database/sql"
	"errors"
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
// engine reads. The rows are read as the detail readers read them
// (eachStored: on SQLite a read-only connection of their own, stepped in C
// batches; the strings are the row's, never reused).

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
	var g tieGroup[PayableRow]
	err := s.eachStored(ctx, qEachPayable, runID, 11, func(v []storedCol) error {
		r := PayableRow{sku: v[0].text(), chargeType: v[1].text(), from: v[2].text(), to: v[3].text(),
			currency: v[4].text(), chargeID: v[5].text(), subTotal: v[6].nullText(), qty: v[7].nullText(),
			detail: v[8].text(), customerKey: v[9].text(), hash: v[10].text()}
		cols := [...]string{r.customerKey, r.sku, r.chargeType, r.from, r.to, r.currency, r.chargeID}
		return g.next(cols[:], tieKey{r.subTotal, r.qty, r.hash}, r, fn)
	})
	if err == nil {
		return g.flush(fn)
	}
	var re *readError
	if errors.As(err, &re) {
		return fmt.Errorf("read payable charges of run %d: %w", runID, re.err)
	}
	return err
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
	return decodePayable(c, r.from, r.to, r.subTotal, r.qty, r.detail, true, nil)
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
	var g tieGroup[ReceivableRow]
	err := s.eachStored(ctx, qEachReceivableAll, runID, 12, func(v []storedCol) error {
		r := ReceivableRow{CustomerID: v[0].text(), sku: v[1].text(), chargeID: v[2].text(), chargeType: v[3].text(),
			from: v[4].text(), to: v[5].text(), qty: v[6].nullText(), costPrice: v[7].nullText(),
			costProrated: v[8].nullText(), currency: v[9].text(), detail: v[10].text(), hash: v[11].text()}
		cols := [...]string{r.CustomerID, r.sku, r.chargeType, r.from, r.to, r.currency, r.chargeID}
		return g.next(cols[:], tieKey{r.costProrated, r.qty, r.hash}, r, fn)
	})
	if err == nil {
		return g.flush(fn)
	}
	var re *readError
	if errors.As(err, &re) {
		return fmt.Errorf("read receivable charges of run %d: %w", runID, re.err)
	}
	return err
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
