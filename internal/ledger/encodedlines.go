package ledger

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// EncodedLines are one customer's receivable lines as CustomerWriter.Save
// encoded them for SQLite: the very values its insert binds, which SQLite
// stores as they are (TEXT columns). Each reads them back as the ledger
// would once they are committed: in the canonical order of
// EachReceivableView (the clustered key, then the ties), decoded by the same
// code from the same texts, so a writer of the receivable detail can format
// a customer's lines while the fan-out goes on instead of reading the whole
// run back after it (the detail CSV written ahead, xlsx.EarlyReceivable).
type EncodedLines struct {
	customerID string
	rows       *customerRows
}

// EncodesLines reports whether the store's customer writer hands OnSave
// lines that Each can read: on SQLite (PostgreSQL's rows are COPY data).
func (s *Store) EncodesLines() bool { return !s.d.postgres() }

// Encoded reports whether Each can read the lines: false for a customer
// copied inside the ledger (nothing was encoded) and on PostgreSQL (its rows
// are COPY data).
func (l *EncodedLines) Encoded() bool {
	return l != nil && l.rows != nil && !l.rows.pg
}

// encodedCaches keeps the lending line caches of Each between customers
// (and fetchers): a customer's hundred lines would otherwise make a cache
// each, and the prices repeat from one customer to the next. What a cache
// holds (decimals, immutable) is nobody's once Each returns.
var encodedCaches = sync.Pool{New: func() any { return newLineCache(true) }}

// nullText is the bound value as a column read back: NULL or its text.
func (v rowVal) nullText() sql.NullString {
	return sql.NullString{String: v.s, Valid: v.kind == valText}
}

// Each calls fn for each of the customer's encoded lines, in the order and
// decoded as EachReceivableView would hand them out once they are stored.
// The charge and its texts are lent: fn must not keep them once it returns.
// It fails when the lines are not Encoded.
func (l *EncodedLines) Each(fn func(customerID string, c *billing.ReceivableCharge) error) error {
	if !l.Encoded() {
		return fmt.Errorf("receivable lines of customer %s: not encoded for SQLite", l.customerID)
	}
	r := l.rows
	lc := encodedCaches.Get().(*lineCache)
	defer encodedCaches.Put(lc)
	lines := newReceivableLines(lc, true, fn)
	// The lines in their table's key order (insertionOrder), as the read
	// meets them in the customer's range; the values are those of
	// insert_receivable (receivableValues) that each_receivable_available
	// selects.
	for _, i := range r.recvOrder {
		v := r.receivableRow(i)
		row := storedReceivable{customerID: v[1].s, sku: v[3].s, chargeID: v[4].s, chargeType: v[5].s,
			from: v[6].s, to: v[7].s, qty: v[8].nullText(), costPrice: v[9].nullText(), costProrated: v[10].nullText(),
			currency: v[11].s, detail: v[12].s, hash: v[13].s}
		if err := lines.add(&row); err != nil {
			var re *readError
			if errors.As(err, &re) {
				return fmt.Errorf("read encoded receivable lines: %w", re.err)
			}
			return err
		}
	}
	return lines.flush()
}
