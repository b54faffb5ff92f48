package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// canon is the canonical binary encoding of a row's business data, used for
// the content_hash column and for Digest. Every value is written in a fixed
// field order as 0x00 (null/absent) or 0x01, a uvarint length and the bytes,
// so distinct rows never encode alike; decimals are written as billing.Text.
type canon struct{ buf []byte }

func (e *canon) reset() { e.buf = e.buf[:0] }

func (e *canon) str(s string) {
	e.buf = append(e.buf, 1)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *canon) null() { e.buf = append(e.buf, 0) }

func (e *canon) dec(d decimal.NullDecimal) {
	if !d.Valid {
		e.null()
		return
	}
	e.buf = append(e.buf, 1)
	start := len(e.buf)
	e.buf = append(e.buf, 0) // room for a one-byte length; fixed below
	e.buf = appendDecimal(e.buf, d.Decimal)
	if n := len(e.buf) - start - 1; n < 0x80 {
		e.buf[start] = byte(n)
	} else {
		text := string(e.buf[start+1:])
		e.buf = e.buf[:start-1]
		e.str(text)
	}
}

func (e *canon) boolean(b *bool) {
	switch {
	case b == nil:
		e.null()
	case *b:
		e.str("1")
	default:
		e.str("0")
	}
}

// list writes the length of a list, or null for a nil list.
func (e *canon) list(isNil bool, n int) {
	if isNil {
		e.null()
		return
	}
	e.buf = append(e.buf, 1)
	e.buf = binary.AppendUvarint(e.buf, uint64(n))
}

// hash is the content_hash column value: the first 128 bits of SHA-256 of the
// encoding, in hex. It only breaks ties in ORDER BY.
func (e *canon) hash() string {
	var b [32]byte
	return string(appendContentHash(b[:0], e.buf))
}

// appendContentHash appends the content_hash of an encoding: the first 128
// bits of its SHA-256, in hex. (The value decides the order of lines that are
// equal in every other ORDER BY column, so changing it changes outputs.)
func appendContentHash(dst, encoding []byte) []byte {
	sum := sha256.Sum256(encoding)
	return hex.AppendEncode(dst, sum[:16])
}

// payable encodes every field of a payable line: the key columns, the
// amounts and the detail object (written into *scratch). The detail is
// always hashed as the object of the first layouts (appendPayableObject),
// whichever form the line is stored in, so digests did not change with
// migration 0008.
func (e *canon) payable(c *billing.PayableCharge, scratch *[]byte) {
	e.str(customerKey(c.Tags))
	e.payableKey(c)
	e.dec(c.SubTotal)
	e.dec(c.Quantity)
	*scratch = appendPayableObject((*scratch)[:0], c)
	e.str(view(*scratch))
}

func (e *canon) receivable(customerID string, c *billing.ReceivableCharge) {
	for _, s := range []string{customerID, c.ProductName, c.SKU, c.ChargeID, c.ChargeName, c.ChargeType,
		c.BillingCycleType, string(c.PeriodFrom), string(c.PeriodTo)} {
		e.str(s)
	}
	e.dec(c.Quantity)
	e.dec(c.CostPrice)
	e.dec(c.CostPriceProrated)
	e.str(c.Currency)
	e.boolean(c.IsProratable)
}

func (e *canon) subscription(customerID string, s *billing.Subscription) {
	for _, v := range []string{customerID, s.ID, s.ProductName, s.Description, s.SKU} {
		e.str(v)
	}
	e.dec(s.Quantity)
	e.str(s.BillingCycle)
	e.str(string(s.PurchaseDate))
	if s.Fees == nil {
		e.null()
	} else {
		e.list(false, 3)
		e.dec(s.Fees.RecurringFee)
		e.dec(s.Fees.SetupFee)
		e.str(s.Fees.Currency)
	}
	if len(s.CommitmentTerm) == 0 {
		e.null()
	} else {
		e.str(view(s.CommitmentTerm)) // read, not kept
	}
}

func (e *canon) customer(c *billing.Customer) {
	e.str(c.ID)
	e.str(c.DisplayName)
	e.list(c.Path == nil, len(c.Path))
	for _, p := range c.Path {
		e.str(p)
	}
	e.str(string(c.SuspendedOn))
}

// digester feeds records into a SHA-256: each record as 0x01, a uvarint
// length and its encoding; each section ends with 0x00.
type digester struct {
	h   hash.Hash
	enc canon
	n   [binary.MaxVarintLen64 + 1]byte
}

func (d *digester) record() {
	b := d.n[:0]
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(len(d.enc.buf)))
	d.h.Write(b)
	d.h.Write(d.enc.buf)
	d.enc.reset()
}

func (d *digester) endSection() { d.h.Write([]byte{0}) }

// digestVersion names the digest format; change it when the encoding changes.
const digestVersion = "reconcile ledger digest v2\n"

// Digest is a SHA-256 (hex) over the run's business data in canonical order:
// the period; the customers (by id); each customer's coverage (status, the
// receivables period and whether subscriptions were unavailable — not the
// error texts, which carry request ids and timings); the payable lines and every
// stored receivable line in the EachPayable/EachReceivable order (receivables
// of "period_differs" customers included); the subscriptions. It excludes the
// run id, the requested date, timestamps, status and call counters, so the
// same data fetched twice, in any order, has the same digest.
func (s *Store) Digest(ctx context.Context, runID int64) (string, error) {
	sum, err := s.digest(ctx, runID)
	if err != nil {
		return "", fmt.Errorf("digest run %d: %w", runID, err)
	}
	return sum, nil
}

func (s *Store) digest(ctx context.Context, runID int64) (string, error) {
	run, err := s.getRun(ctx, s.db, runID)
	if err != nil {
		return "", err
	}
	d := &digester{h: sha256.New()}
	d.h.Write([]byte(digestVersion))

	d.enc.str(string(run.Period.From))
	d.enc.str(string(run.Period.To))
	d.record()
	d.endSection()

	customers, err := s.Customers(ctx, runID)
	if err != nil {
		return "", err
	}
	for i := range customers {
		d.enc.customer(&customers[i])
		d.record()
	}
	d.endSection()

	// Coverage, read directly to include whether subscriptions failed.
	rows, err := s.db.QueryContext(ctx, s.q[qListCoverage], runID)
	if err != nil {
		return "", err
	}
	for rows.Next() {
		var id, cov, errText, from, to, subsErr string
		if err := rows.Scan(&id, &cov, &errText, &from, &to, &subsErr); err != nil {
			rows.Close()
			return "", err
		}
		for _, v := range []string{id, cov, from, to} {
			d.enc.str(v)
		}
		if subsErr != "" {
			d.enc.str("subscriptions unavailable")
		} else {
			d.enc.null()
		}
		d.record()
	}
	if err := rows.Close(); err != nil {
		return "", err
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	d.endSection()

	var detail []byte
	if err := s.EachPayable(ctx, runID, func(c *billing.PayableCharge) error {
		d.enc.payable(c, &detail)
		d.record()
		return nil
	}); err != nil {
		return "", err
	}
	d.endSection()

	if err := s.eachReceivable(ctx, qEachReceivableAll, runID, func(customerID string, c *billing.ReceivableCharge) error {
		d.enc.receivable(customerID, c)
		d.record()
		return nil
	}); err != nil {
		return "", fmt.Errorf("read receivable charges: %w", err)
	}
	d.endSection()

	if err := s.EachCustomerSubscriptions(ctx, runID, func(customerID string, subs []billing.Subscription) error {
		for i := range subs {
			d.enc.subscription(customerID, &subs[i])
			d.record()
		}
		return nil
	}); err != nil {
		return "", err
	}
	d.endSection()
	return hex.EncodeToString(d.h.Sum(nil)), nil
}
