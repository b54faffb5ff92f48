package ledger

import (
	"database/sql"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// lineCache is what a read of many stored lines reuses from one line to the
// next (EachPayableTransient, EachPayableView and their receivable
// counterparts), so that a line read does not allocate what the line before
// it already had:
//
//   - one JSON scanner for the detail columns;
//   - the decimals of the texts seen recently (a price, a tax rate or a
//     quantity repeats on many lines). A decimal is an immutable value, so
//     lines may share one, as the fetch's decoders' lines do;
//   - when lend is set (the View reads, whose caller keeps nothing), the
//     lists and the invoice of a charge that was handed out before and is
//     read into again, and shared true and false values for the flags.
//
// A nil *lineCache reads every value anew, as the reads that hand their
// lines to a caller who keeps them do.
type lineCache struct {
	sc    jsonscan.Scanner
	decs  map[string]decimal.Decimal
	lend  bool
	spare payableSpare // arrays for the next lists read, when lend
}

// payableSpare holds, per kind, one list's array and one invoice that no
// charge holds any more (a charge's, set aside as it is read into again),
// for the next detail read to fill; a read that takes one leaves nil.
type payableSpare struct {
	deductions []billing.Deduction
	fees       []billing.Fee
	taxes      []billing.Tax
	tags       []billing.Tag
	invoice    *billing.Invoice
}

// lineCacheDecimals bounds the decimals a lineCache keeps: it forgets them
// all when it holds that many (a run's prices and rates are far fewer; its
// sub-totals are mostly distinct, and would otherwise grow it by the line).
const lineCacheDecimals = 4096

func newLineCache(lend bool) *lineCache {
	return &lineCache{decs: make(map[string]decimal.Decimal, 256), lend: lend}
}

// scanner returns a scanner at the start of s.
func (lc *lineCache) scanner(s string) *jsonscan.Scanner {
	if lc == nil {
		return jsonscan.New(s)
	}
	lc.sc.Reset(s)
	return &lc.sc
}

// parse is parseMoney, the decimal taken from the cache when its text was
// seen recently.
func (lc *lineCache) parse(ns sql.NullString) (decimal.NullDecimal, error) {
	if lc == nil || !ns.Valid {
		return parseMoney(ns)
	}
	if d, ok := lc.decs[ns.String]; ok {
		return decimal.NullDecimal{Decimal: d, Valid: true}, nil
	}
	d, err := billing.ParseText(ns.String)
	if err != nil {
		return decimal.NullDecimal{}, err
	}
	if len(lc.decs) >= lineCacheDecimals {
		clear(lc.decs)
	}
	lc.decs[strings.Clone(ns.String)] = d // the text may be a view of the read's buffer
	return decimal.NullDecimal{Decimal: d, Valid: true}, nil
}

// money reads a decimal stored as a JSON string in billing.Text form, or
// null, through the cache (a nil cache parses every text: readMoney).
func (lc *lineCache) money(r *jsonscan.Scanner) decimal.NullDecimal {
	if r.Null() {
		return decimal.NullDecimal{}
	}
	s := r.Str()
	if r.Err() != nil {
		return decimal.NullDecimal{}
	}
	d, err := lc.parse(sql.NullString{String: s, Valid: true})
	if err != nil {
		r.Fail("%v", err)
		return decimal.NullDecimal{}
	}
	return d
}

// The flags a lending read points to: its caller only reads them.
var lentTrue, lentFalse = true, false

// bool is r.Bool(); a lending read's true and false are shared values.
func (lc *lineCache) bool(r *jsonscan.Scanner) *bool {
	if lc == nil || !lc.lend {
		return r.Bool()
	}
	v, null := r.BoolOrNull()
	switch {
	case null || r.Err() != nil:
		return nil
	case v:
		return &lentTrue
	}
	return &lentFalse
}

// keepSpare sets aside c's lists and invoice for the next reads, when the
// cache lends (a kind c does not hold keeps the spare it has: a line whose
// list is null leaves the array for the next line that has one); c is then
// cleared to be read into again.
func (lc *lineCache) keepSpare(c *billing.PayableCharge) {
	if lc != nil && lc.lend {
		sp := &lc.spare
		if c.Deductions != nil {
			sp.deductions = c.Deductions
		}
		if c.Fees != nil {
			sp.fees = c.Fees
		}
		if c.Taxes != nil {
			sp.taxes = c.Taxes
		}
		if c.Tags != nil {
			sp.tags = c.Tags
		}
		if c.Invoice != nil {
			sp.invoice = c.Invoice
		}
	}
	*c = billing.PayableCharge{}
}

// spares returns the cache's spares for a detail read to take from (a nil
// cache's: empty ones of the caller's).
func (lc *lineCache) spares(none *payableSpare) *payableSpare {
	if lc == nil {
		return none
	}
	return &lc.spare
}

// ownPayable makes every string c holds (its lists' and invoice's included)
// a copy of its own, for a line a lending read keeps past its batch (a tie
// group's: tieGroup.detach). TestOwnCopiesEveryString checks that no
// string field is missed.
func ownPayable(c *billing.PayableCharge) {
	for _, p := range []*string{&c.ProductID, &c.ProductName, &c.SKU, &c.ChargeID, &c.ChargeName,
		&c.ChargeType, &c.BillingCycleType, (*string)(&c.PeriodFrom), (*string)(&c.PeriodTo), &c.Currency} {
		*p = strings.Clone(*p)
	}
	for i := range c.Deductions {
		d := &c.Deductions[i]
		d.Code, d.Name, d.DeductionType = strings.Clone(d.Code), strings.Clone(d.Name), strings.Clone(d.DeductionType)
	}
	for i := range c.Fees {
		c.Fees[i].Name = strings.Clone(c.Fees[i].Name)
	}
	for i := range c.Taxes {
		c.Taxes[i].Name = strings.Clone(c.Taxes[i].Name)
	}
	for i := range c.Tags {
		c.Tags[i].Name, c.Tags[i].Value = strings.Clone(c.Tags[i].Name), strings.Clone(c.Tags[i].Value)
	}
	if inv := c.Invoice; inv != nil {
		inv.Number = strings.Clone(inv.Number)
		inv.Date, inv.PeriodFrom, inv.PeriodTo = billing.Date(strings.Clone(string(inv.Date))),
			billing.Date(strings.Clone(string(inv.PeriodFrom))), billing.Date(strings.Clone(string(inv.PeriodTo)))
	}
}

// ownReceivable is ownPayable for a receivable charge.
func ownReceivable(c *billing.ReceivableCharge) {
	for _, p := range []*string{&c.ProductName, &c.SKU, &c.ChargeID, &c.ChargeName, &c.ChargeType,
		&c.BillingCycleType, (*string)(&c.PeriodFrom), (*string)(&c.PeriodTo), &c.Currency} {
		*p = strings.Clone(*p)
	}
}
