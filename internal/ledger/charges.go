package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// EachReceivable calls fn for every receivable charge of the customers whose
// coverage is "available", ordered by customer id, then sku, chargeType,
// periodFrom, periodTo, currency, chargeId, costPriceProrated, quantity and a
// hash of the whole line. Rows are streamed; fn gets a new charge each time.
func (s *Store) EachReceivable(ctx context.Context, runID int64, fn func(customerID string, c *billing.ReceivableCharge) error) error {
	if err := s.eachReceivable(ctx, qEachReceivableAvailable, runID, fn); err != nil {
		return fmt.Errorf("read receivable charges of run %d: %w", runID, err)
	}
	return nil
}

func (s *Store) eachReceivable(ctx context.Context, query string, runID int64, fn func(string, *billing.ReceivableCharge) error) error {
	rows, err := s.db.QueryContext(ctx, s.q[query], runID)
	if err != nil {
		return err
	}
	defer rows.Close()
	lines := newReceivableLines(nil, false, fn) // the caller keeps the charges
	for rows.Next() {
		var row storedReceivable
		if err := rows.Scan(&row.customerID, &row.sku, &row.chargeID, &row.chargeType, &row.from, &row.to,
			&row.qty, &row.costPrice, &row.costProrated, &row.currency, &row.detail, &row.hash); err != nil {
			return err
		}
		if err := lines.add(&row); err != nil {
			return unwrapRead(err)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return lines.flush()
}

// receivableLine is a receivable line with its customer, waiting in a tieGroup.
type receivableLine struct {
	customerID string
	c          *billing.ReceivableCharge
}

// Counts returns how many payable lines the run has and how many receivable
// lines EachReceivable yields (those of customers with coverage "available").
func (s *Store) Counts(ctx context.Context, runID int64) (payable, receivable int, err error) {
	if payable, err = s.count(ctx, s.db, qCountPayable, runID); err != nil {
		return 0, 0, fmt.Errorf("count payable charges of run %d: %w", runID, err)
	}
	if receivable, err = s.CountReceivable(ctx, runID); err != nil {
		return 0, 0, err
	}
	return payable, receivable, nil
}

// CountReceivable returns how many receivable lines EachReceivable yields
// (those of customers with coverage "available"), without counting the
// payable lines as Counts does.
func (s *Store) CountReceivable(ctx context.Context, runID int64) (int, error) {
	n, err := s.count(ctx, s.db, qCountReceivableAvailable, runID)
	if err != nil {
		return 0, fmt.Errorf("count receivable charges of run %d: %w", runID, err)
	}
	return n, nil
}

// EachPayableSubTotal calls fn with the currency and the sub_total (NULL:
// not Valid) of every payable line of the run, in no particular order: what
// a fetch's summary adds up (job.Summarize), read without the rest of each
// line. An error names the run; a sub_total that is not an exact decimal is
// one.
func (s *Store) EachPayableSubTotal(ctx context.Context, runID int64, fn func(currency string, subTotal decimal.NullDecimal) error) error {
	err := s.eachStored(ctx, qEachPayableSubTotal, runID, 3, func(v []storedCol) error {
		sub, err := parseMoney(v[1].nullText())
		if err != nil {
			return &readError{fmt.Errorf("payable line %s: subTotal: %w", v[2].text(), err)}
		}
		return fn(v[0].text(), sub)
	})
	if err := unwrapRead(err); err != nil {
		return fmt.Errorf("read payable sub-totals of run %d: %w", runID, err)
	}
	return nil
}

// customerKey is the customer a payable line names in its tags, for ordering
// only (attribution is the engine's job): the CustomerId tag value, else the
// trimmed CustomerDisplayName tag value, else "".
func customerKey(tags []billing.Tag) string {
	for _, t := range tags {
		if strings.EqualFold(t.Name, "CustomerId") {
			return t.Value
		}
	}
	for _, t := range tags {
		if strings.EqualFold(t.Name, "CustomerDisplayName") {
			return strings.TrimSpace(t.Value)
		}
	}
	return ""
}

func parseMoney(ns sql.NullString) (decimal.NullDecimal, error) {
	if !ns.Valid {
		return decimal.NullDecimal{}, nil
	}
	d, err := billing.ParseText(ns.String)
	if err != nil {
		return decimal.NullDecimal{}, err
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}, nil
}

// JSON column shapes. Decimals are JSON strings in billing.Text form (never
// json numbers through float64, never decimal's MarshalJSON, which drops
// trailing zeros); a nil pointer is null.

// jsonColumn marshals v with encoding/json, or returns NULL when isNil.
func jsonColumn(isNil bool, v any) (any, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func parseMoneyText(s *string) (decimal.NullDecimal, error) {
	if s == nil {
		return decimal.NullDecimal{}, nil
	}
	return parseMoney(sql.NullString{String: *s, Valid: true})
}

// appendDecimal appends billing.Text(d): the exact value with its own scale.
// Coefficients of up to 18 digits take a fast path (no math/big); the tests
// check it against billing.Text.
func appendDecimal(b []byte, d decimal.Decimal) []byte {
	if d.NumDigits() > 18 {
		return append(b, billing.Text(d)...)
	}
	v, exp := d.CoefficientInt64(), int(d.Exponent())
	if exp >= 0 {
		if v == 0 {
			return append(b, '0')
		}
		b = strconv.AppendInt(b, v, 10)
		for range exp {
			b = append(b, '0')
		}
		return b
	}
	if v < 0 {
		b, v = append(b, '-'), -v
	}
	var tmp [20]byte
	digits := strconv.AppendInt(tmp[:0], v, 10)
	places := -exp
	if len(digits) > places {
		b = append(b, digits[:len(digits)-places]...)
		b = append(b, '.')
		return append(b, digits[len(digits)-places:]...)
	}
	b = append(b, '0', '.')
	for range places - len(digits) {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// appendJSONDecimal appends d as JSON: its text (digits, sign and point
// only) quoted, or null when absent.
func appendJSONDecimal(b []byte, d decimal.NullDecimal) []byte {
	if !d.Valid {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = appendDecimal(b, d.Decimal)
	return append(b, '"')
}

func appendJSONBool(b []byte, v *bool) []byte {
	switch {
	case v == nil:
		return append(b, "null"...)
	case *v:
		return append(b, "true"...)
	default:
		return append(b, "false"...)
	}
}
