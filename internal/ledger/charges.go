package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// PayableBatch stages the payable charges of one run in one write
// transaction. Reset discards what was staged (a retried stream); Commit stores
// the lines together with the run's period, atomically; nothing of an
// uncommitted batch is visible to readers. The batch holds the store's write
// lock until Commit or Rollback: always end it with one of them
// (`defer b.Rollback()` is safe after Commit).
//
// The batch keeps the context it was created with for Add, Reset and Commit
// (Add has no context parameter: it is called once per line from a decoder).
// Its methods are safe for concurrent use.
type PayableBatch struct {
	s     *Store
	ctx   context.Context
	runID int64

	mu     sync.Mutex
	tx     *sqlx.Tx
	insert *sql.Stmt
	lineNo int64
	done   bool
	codec  rowCodec
	args   []any
}

// NewPayableBatch opens the payable batch of a running run that has no
// payable charges yet.
func (s *Store) NewPayableBatch(ctx context.Context, runID int64) (*PayableBatch, error) {
	if err := s.lockWrite(ctx); err != nil {
		return nil, fmt.Errorf("stage payable charges of run %d: %w", runID, err)
	}
	b := &PayableBatch{s: s, ctx: ctx, runID: runID, args: make([]any, 0, 26)}
	if err := b.begin(); err != nil {
		s.unlockWrite()
		return nil, fmt.Errorf("stage payable charges of run %d: %w", runID, err)
	}
	if err := b.checkRun(); err != nil {
		b.closeTx()
		s.unlockWrite()
		return nil, fmt.Errorf("stage payable charges of run %d: %w", runID, err)
	}
	return b, nil
}

func (b *PayableBatch) begin() error {
	tx, err := b.s.db.BeginTxx(b.ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	stmt, err := tx.PrepareContext(b.ctx, b.s.q[qInsertPayable])
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("prepare insert: %w", err)
	}
	b.tx, b.insert, b.lineNo = tx, stmt, 0
	return nil
}

func (b *PayableBatch) checkRun() error {
	r, err := b.s.getRun(b.ctx, b.tx, b.runID)
	if err != nil {
		return err
	}
	if r.Status != RunRunning {
		return fmt.Errorf("run is %s, not running", r.Status)
	}
	n, err := b.s.count(b.ctx, b.tx, qCountPayable, b.runID)
	if err != nil {
		return err
	}
	if n > 0 || r.Period.From != "" {
		return errors.New("run already has its payable charges")
	}
	return nil
}

// closeTx rolls the transaction back (if any) and releases its statement.
func (b *PayableBatch) closeTx() error {
	if b.tx == nil {
		return nil
	}
	_ = b.insert.Close()
	err := b.tx.Rollback()
	b.tx, b.insert = nil, nil
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// finish ends the batch and releases the write lock.
func (b *PayableBatch) finish() error {
	err := b.closeTx()
	b.done = true
	b.s.unlockWrite()
	return err
}

func (b *PayableBatch) closedErr() error {
	return fmt.Errorf("payable batch of run %d is already committed or rolled back", b.runID)
}

// Reset discards every line staged so far (the stream is being fetched
// again). The batch stays open.
func (b *PayableBatch) Reset() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedErr()
	}
	if err := b.closeTx(); err != nil {
		_ = b.finish()
		return fmt.Errorf("reset payable batch of run %d: %w", b.runID, err)
	}
	if err := b.begin(); err != nil {
		_ = b.finish()
		return fmt.Errorf("reset payable batch of run %d: %w", b.runID, err)
	}
	return nil
}

// Add stages one payable charge.
func (b *PayableBatch) Add(c *billing.PayableCharge) error {
	if c == nil {
		return fmt.Errorf("stage payable charge for run %d: nil charge", b.runID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedErr()
	}
	args, err := b.payableArgs(c)
	if err != nil {
		return fmt.Errorf("stage payable charge %s: %w", c.Describe(), err)
	}
	if _, err := b.insert.ExecContext(b.ctx, args...); err != nil {
		return fmt.Errorf("stage payable charge %s: %w", c.Describe(), err)
	}
	b.lineNo++
	return nil
}

func (b *PayableBatch) payableArgs(c *billing.PayableCharge) ([]any, error) {
	a := append(b.args[:0], b.runID, b.lineNo+1, customerKey(c.Tags))
	a = b.codec.payableColumns(a, c)
	a = append(a, b.codec.hash(a[3:]))
	b.args = a
	return a, nil
}

// Commit stores the staged lines together with the run's period, in one
// transaction, and ends the batch.
func (b *PayableBatch) Commit(period billing.Period) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedErr()
	}
	if err := b.commit(period); err != nil {
		_ = b.finish()
		return fmt.Errorf("commit payable charges of run %d: %w", b.runID, err)
	}
	b.done = true
	b.s.unlockWrite()
	return nil
}

func (b *PayableBatch) commit(period billing.Period) error {
	if !validDate(period.From) || !validDate(period.To) || period.From > period.To {
		return fmt.Errorf("invalid period %s", period)
	}
	res, err := b.tx.ExecContext(b.ctx, b.s.q[qSetRunPeriod], string(period.From), string(period.To), b.runID)
	if err != nil {
		return fmt.Errorf("set period: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("set period: run is no longer running (%d rows, %v)", n, err)
	}
	_ = b.insert.Close()
	tx := b.tx
	b.tx, b.insert = nil, nil
	return tx.Commit()
}

// Rollback discards the batch and ends it. It is a no-op after Commit or a
// previous Rollback.
func (b *PayableBatch) Rollback() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return nil
	}
	if err := b.finish(); err != nil {
		return fmt.Errorf("roll back payable charges of run %d: %w", b.runID, err)
	}
	return nil
}

// EachPayable calls fn for every payable charge of the run, in a
// deterministic order that does not depend on the order the API sent them:
// customer tag value, sku, chargeType, periodFrom, periodTo, currency,
// chargeId, subTotal, quantity, then a hash of the whole line. Rows are
// streamed; fn gets a new charge each time and may keep it. An error from fn
// stops the iteration and is returned as is.
func (s *Store) EachPayable(ctx context.Context, runID int64, fn func(*billing.PayableCharge) error) error {
	rows, err := s.db.QueryContext(ctx, s.q[qEachPayable], runID)
	if err != nil {
		return fmt.Errorf("read payable charges of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanPayable(rows)
		if err != nil {
			return fmt.Errorf("read payable charges of run %d: %w", runID, err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read payable charges of run %d: %w", runID, err)
	}
	return nil
}

func scanPayable(rows *sql.Rows) (*billing.PayableCharge, error) {
	var (
		c                                      billing.PayableCharge
		from, to                               string
		qty, list, net, netProrated, subTotal  sql.NullString
		isBilled, isProratable                 sql.NullInt64
		deductions, fees, taxes, tags, invoice sql.NullString
	)
	if err := rows.Scan(&c.ProductID, &c.ProductName, &c.SKU, &c.ChargeID, &c.ChargeName, &c.ChargeType,
		&c.BillingCycleType, &from, &to, &qty, &list, &net, &netProrated, &subTotal, &c.Currency,
		&isBilled, &isProratable, &deductions, &fees, &taxes, &tags, &invoice); err != nil {
		return nil, err
	}
	c.PeriodFrom, c.PeriodTo = billing.Date(from), billing.Date(to)
	var err error
	for _, m := range []struct {
		dst  *decimal.NullDecimal
		src  sql.NullString
		name string
	}{
		{&c.Quantity, qty, "quantity"}, {&c.ListPrice, list, "listPrice"}, {&c.NetPrice, net, "netPrice"},
		{&c.NetPriceProrated, netProrated, "netPriceProrated"}, {&c.SubTotal, subTotal, "subTotal"},
	} {
		if *m.dst, err = parseMoney(m.src); err != nil {
			return nil, fmt.Errorf("charge %s: %s: %w", c.Describe(), m.name, err)
		}
	}
	c.IsBilled, c.IsProratable = scanBool(isBilled), scanBool(isProratable)
	if c.Deductions, err = parseDeductions(deductions); err != nil {
		return nil, fmt.Errorf("charge %s: deductions: %w", c.Describe(), err)
	}
	if c.Fees, err = parseFees(fees); err != nil {
		return nil, fmt.Errorf("charge %s: fees: %w", c.Describe(), err)
	}
	if c.Taxes, err = parseTaxes(taxes); err != nil {
		return nil, fmt.Errorf("charge %s: taxes: %w", c.Describe(), err)
	}
	if tags.Valid && tags.String == "[]" {
		c.Tags = []billing.Tag{}
	} else if tags.Valid {
		if err := json.Unmarshal([]byte(tags.String), &c.Tags); err != nil {
			return nil, fmt.Errorf("charge %s: tags: %w", c.Describe(), err)
		}
		if c.Tags == nil {
			c.Tags = []billing.Tag{}
		}
	}
	if c.Invoice, err = parseInvoice(invoice); err != nil {
		return nil, fmt.Errorf("charge %s: invoice: %w", c.Describe(), err)
	}
	return &c, nil
}

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
	for rows.Next() {
		var (
			customerID, from, to         string
			c                            billing.ReceivableCharge
			qty, costPrice, costProrated sql.NullString
			isProratable                 sql.NullInt64
		)
		if err := rows.Scan(&customerID, &c.ProductName, &c.SKU, &c.ChargeID, &c.ChargeName, &c.ChargeType,
			&c.BillingCycleType, &from, &to, &qty, &costPrice, &costProrated, &c.Currency, &isProratable); err != nil {
			return err
		}
		c.PeriodFrom, c.PeriodTo = billing.Date(from), billing.Date(to)
		if c.Quantity, err = parseMoney(qty); err != nil {
			return fmt.Errorf("customer %s charge %s: quantity: %w", customerID, c.Describe(), err)
		}
		if c.CostPrice, err = parseMoney(costPrice); err != nil {
			return fmt.Errorf("customer %s charge %s: costPrice: %w", customerID, c.Describe(), err)
		}
		if c.CostPriceProrated, err = parseMoney(costProrated); err != nil {
			return fmt.Errorf("customer %s charge %s: costPriceProrated: %w", customerID, c.Describe(), err)
		}
		c.IsProratable = scanBool(isProratable)
		if err := fn(customerID, &c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Counts returns how many payable lines the run has and how many receivable
// lines EachReceivable yields (those of customers with coverage "available").
func (s *Store) Counts(ctx context.Context, runID int64) (payable, receivable int, err error) {
	if payable, err = s.count(ctx, s.db, qCountPayable, runID); err != nil {
		return 0, 0, fmt.Errorf("count payable charges of run %d: %w", runID, err)
	}
	if receivable, err = s.count(ctx, s.db, qCountReceivableAvailable, runID); err != nil {
		return 0, 0, fmt.Errorf("count receivable charges of run %d: %w", runID, err)
	}
	return payable, receivable, nil
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

// money is the column value of a decimal: its exact text (billing.Text), or
// NULL when absent.
func money(d decimal.NullDecimal) any {
	if !d.Valid {
		return nil
	}
	return string(appendDecimal(nil, d.Decimal))
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

func boolean(b *bool) any {
	switch {
	case b == nil:
		return nil
	case *b:
		return int64(1)
	default:
		return int64(0)
	}
}

func scanBool(n sql.NullInt64) *bool {
	if !n.Valid {
		return nil
	}
	v := n.Int64 != 0
	return &v
}

// JSON column shapes. Decimals are JSON strings in billing.Text form (never
// json numbers through float64, never decimal's MarshalJSON, which drops
// trailing zeros); a nil pointer is null.

type jsonDeduction struct {
	Code          string  `json:"code"`
	Name          string  `json:"name"`
	DeductionType string  `json:"deductionType"`
	Value         *string `json:"value"`
	UnitValue     *string `json:"unitValue"`
	TotalValue    *string `json:"totalValue"`
}

type jsonFee struct {
	Name       string  `json:"name"`
	UnitValue  *string `json:"unitValue"`
	TotalValue *string `json:"totalValue"`
	IsTaxable  *bool   `json:"isTaxable"`
}

type jsonTax struct {
	Name        string  `json:"name"`
	AppliedRate *string `json:"appliedRate"`
}

type jsonInvoice struct {
	Number     string `json:"number"`
	Date       string `json:"date"`
	PeriodFrom string `json:"periodFrom"`
	PeriodTo   string `json:"periodTo"`
}

func moneyText(d decimal.NullDecimal) *string {
	if !d.Valid {
		return nil
	}
	s := string(appendDecimal(nil, d.Decimal))
	return &s
}

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

func parseDeductions(ns sql.NullString) ([]billing.Deduction, error) {
	if !ns.Valid {
		return nil, nil
	}
	if ns.String == "[]" {
		return []billing.Deduction{}, nil
	}
	var in []jsonDeduction
	if err := json.Unmarshal([]byte(ns.String), &in); err != nil {
		return nil, err
	}
	out := make([]billing.Deduction, len(in))
	for i, d := range in {
		out[i] = billing.Deduction{Code: d.Code, Name: d.Name, DeductionType: d.DeductionType}
		var err error
		if out[i].Value, err = parseMoneyText(d.Value); err != nil {
			return nil, err
		}
		if out[i].UnitValue, err = parseMoneyText(d.UnitValue); err != nil {
			return nil, err
		}
		if out[i].TotalValue, err = parseMoneyText(d.TotalValue); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseFees(ns sql.NullString) ([]billing.Fee, error) {
	if !ns.Valid {
		return nil, nil
	}
	if ns.String == "[]" {
		return []billing.Fee{}, nil
	}
	var in []jsonFee
	if err := json.Unmarshal([]byte(ns.String), &in); err != nil {
		return nil, err
	}
	out := make([]billing.Fee, len(in))
	for i, f := range in {
		out[i] = billing.Fee{Name: f.Name, IsTaxable: f.IsTaxable}
		var err error
		if out[i].UnitValue, err = parseMoneyText(f.UnitValue); err != nil {
			return nil, err
		}
		if out[i].TotalValue, err = parseMoneyText(f.TotalValue); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseTaxes(ns sql.NullString) ([]billing.Tax, error) {
	if !ns.Valid {
		return nil, nil
	}
	if ns.String == "[]" {
		return []billing.Tax{}, nil
	}
	var in []jsonTax
	if err := json.Unmarshal([]byte(ns.String), &in); err != nil {
		return nil, err
	}
	out := make([]billing.Tax, len(in))
	for i, t := range in {
		out[i] = billing.Tax{Name: t.Name}
		var err error
		if out[i].AppliedRate, err = parseMoneyText(t.AppliedRate); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseInvoice(ns sql.NullString) (*billing.Invoice, error) {
	if !ns.Valid {
		return nil, nil
	}
	var in jsonInvoice
	if err := json.Unmarshal([]byte(ns.String), &in); err != nil {
		return nil, err
	}
	return &billing.Invoice{Number: in.Number, Date: billing.Date(in.Date),
		PeriodFrom: billing.Date(in.PeriodFrom), PeriodTo: billing.Date(in.PeriodTo)}, nil
}

// rowCodec turns a payable charge into its column values. It reuses its
// buffers, so one codec serves one goroutine.
type rowCodec struct {
	buf []byte
	enc canon
}

// payableColumns appends the 22 business column values of c (product_id ..
// invoice, in insert_payable order) to dst: strings, int64 (booleans) or nil
// (NULL). Decimals are billing.Text; nested lists are JSON built by hand (no
// reflection; decimals as JSON strings), NULL for a nil list.
func (r *rowCodec) payableColumns(dst []any, c *billing.PayableCharge) []any {
	dst = append(dst,
		c.ProductID, c.ProductName, c.SKU, c.ChargeID, c.ChargeName, c.ChargeType, c.BillingCycleType,
		string(c.PeriodFrom), string(c.PeriodTo),
		money(c.Quantity), money(c.ListPrice), money(c.NetPrice), money(c.NetPriceProrated), money(c.SubTotal),
		c.Currency, boolean(c.IsBilled), boolean(c.IsProratable))
	dst = append(dst, r.deductions(c.Deductions), r.fees(c.Fees), r.taxes(c.Taxes), r.tags(c.Tags), r.invoice(c.Invoice))
	return dst
}

// hash is the content_hash of a row's business column values.
func (r *rowCodec) hash(cols []any) string {
	r.enc.reset()
	r.enc.values(cols)
	return r.enc.hash()
}

func (r *rowCodec) deductions(ds []billing.Deduction) any {
	if ds == nil {
		return nil
	}
	b := append(r.buf[:0], '[')
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = appendJSONString(b, d.Code)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, d.Name)
		b = append(b, `,"deductionType":`...)
		b = appendJSONString(b, d.DeductionType)
		b = append(b, `,"value":`...)
		b = appendJSONDecimal(b, d.Value)
		b = append(b, `,"unitValue":`...)
		b = appendJSONDecimal(b, d.UnitValue)
		b = append(b, `,"totalValue":`...)
		b = appendJSONDecimal(b, d.TotalValue)
		b = append(b, '}')
	}
	r.buf = append(b, ']')
	return string(r.buf)
}

func (r *rowCodec) fees(fs []billing.Fee) any {
	if fs == nil {
		return nil
	}
	b := append(r.buf[:0], '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, f.Name)
		b = append(b, `,"unitValue":`...)
		b = appendJSONDecimal(b, f.UnitValue)
		b = append(b, `,"totalValue":`...)
		b = appendJSONDecimal(b, f.TotalValue)
		b = append(b, `,"isTaxable":`...)
		b = appendJSONBool(b, f.IsTaxable)
		b = append(b, '}')
	}
	r.buf = append(b, ']')
	return string(r.buf)
}

func (r *rowCodec) taxes(ts []billing.Tax) any {
	if ts == nil {
		return nil
	}
	b := append(r.buf[:0], '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, t.Name)
		b = append(b, `,"appliedRate":`...)
		b = appendJSONDecimal(b, t.AppliedRate)
		b = append(b, '}')
	}
	r.buf = append(b, ']')
	return string(r.buf)
}

func (r *rowCodec) tags(ts []billing.Tag) any {
	if ts == nil {
		return nil
	}
	b := append(r.buf[:0], '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, t.Name)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, t.Value)
		b = append(b, '}')
	}
	r.buf = append(b, ']')
	return string(r.buf)
}

func (r *rowCodec) invoice(inv *billing.Invoice) any {
	if inv == nil {
		return nil
	}
	b := append(r.buf[:0], `{"number":`...)
	b = appendJSONString(b, inv.Number)
	b = append(b, `,"date":`...)
	b = appendJSONString(b, string(inv.Date))
	b = append(b, `,"periodFrom":`...)
	b = appendJSONString(b, string(inv.PeriodFrom))
	b = append(b, `,"periodTo":`...)
	b = appendJSONString(b, string(inv.PeriodTo))
	r.buf = append(b, '}')
	return string(r.buf)
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

// appendJSONString appends s as a JSON string. Only '"', '\' and control
// characters are escaped; other bytes are copied (the API's strings are UTF-8).
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
