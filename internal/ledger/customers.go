package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// CustomerData is what was fetched for one customer.
type CustomerData struct {
	CustomerID         string
	Coverage           billing.Coverage
	Error              string         // fetch error text for fetch_failed
	Period             billing.Period // the receivables response's period (empty when the fetch failed)
	Receivables        []billing.ReceivableCharge
	Subscriptions      []billing.Subscription
	SubscriptionsError string // subscriptions are reference data: a failure is recorded, not fatal
	// CopyFrom, when not 0, is an earlier run of the same period whose
	// stored data of this customer (coverage, receivables, subscriptions) is
	// copied, in the ledger, instead of the fields above (run
	// --retry-missing). Coverage must still be valid; the copied one counts.
	CopyFrom int64
}

// CustomerCoverage is the stored coverage of one customer.
type CustomerCoverage struct {
	CustomerID string
	Coverage   billing.Coverage
	Error      string
	Period     billing.Period
}

// SaveCustomers stores the run's customer list in one transaction. Ids must
// be non-empty and unique.
func (s *Store) SaveCustomers(ctx context.Context, runID int64, cs []billing.Customer) error {
	seen := make(map[string]bool, len(cs))
	for i := range cs {
		if err := cs[i].Validate(); err != nil {
			return fmt.Errorf("store customers of run %d: %w", runID, err)
		}
		if seen[cs[i].ID] {
			return fmt.Errorf("store customers of run %d: duplicate customer id %q", runID, cs[i].ID)
		}
		seen[cs[i].ID] = true
	}
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q[qInsertCustomer])
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range cs {
			path, err := jsonColumn(c.Path == nil, c.Path)
			if err != nil {
				return fmt.Errorf("customer %s: encode path: %w", c.ID, err)
			}
			if _, err := stmt.ExecContext(ctx, runID, c.ID, c.DisplayName, path, string(c.SuspendedOn)); err != nil {
				return fmt.Errorf("customer %s: %w", c.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store customers of run %d: %w", runID, err)
	}
	return nil
}

// Customers returns the run's customers sorted by id.
func (s *Store) Customers(ctx context.Context, runID int64) ([]billing.Customer, error) {
	rows, err := s.db.QueryContext(ctx, s.q[qListCustomers], runID)
	if err != nil {
		return nil, fmt.Errorf("read customers of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []billing.Customer
	for rows.Next() {
		var (
			c        billing.Customer
			path     sql.NullString
			suspened string
		)
		if err := rows.Scan(&c.ID, &c.DisplayName, &path, &suspened); err != nil {
			return nil, fmt.Errorf("read customers of run %d: %w", runID, err)
		}
		c.SuspendedOn = billing.Timestamp(suspened)
		if path.Valid {
			if err := json.Unmarshal([]byte(path.String), &c.Path); err != nil {
				return nil, fmt.Errorf("read customers of run %d: customer %s: path: %w", runID, c.ID, err)
			}
			if c.Path == nil {
				c.Path = []string{}
			}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read customers of run %d: %w", runID, err)
	}
	return out, nil
}

// Stages of SaveCustomerData, reported to Store.testHook.
const (
	stageCoverage      = "coverage"
	stageReceivables   = "receivables"
	stageSubscriptions = "subscriptions"
)

// SaveCustomerData stores one customer's coverage row, receivable lines and
// subscriptions in one transaction (all or nothing). Receivable lines are
// stored only for coverage "available" or "period_differs" (the latter for
// audit; EachReceivable skips them). The customer must be in the run's
// customer list (SaveCustomers) and is saved once. Safe to call from several
// goroutines: writes are serialised.
func (s *Store) SaveCustomerData(ctx context.Context, runID int64, d CustomerData) error {
	if err := validateCustomerData(runID, &d); err != nil {
		return err
	}
	rows := s.encodeCustomer(runID, &d)
	err := s.customerTx(ctx, func(st *customerStmts) error {
		return s.saveCustomer(ctx, st, runID, &d, rows)
	})
	if err != nil {
		return fmt.Errorf("store data of customer %s (run %d): %w", d.CustomerID, runID, err)
	}
	return nil
}

func validateCustomerData(runID int64, d *CustomerData) error {
	switch d.Coverage {
	case billing.CoverageAvailable, billing.CoverageFetchFailed, billing.CoveragePeriodDiffers:
	default:
		return fmt.Errorf("store data of customer %s (run %d): invalid coverage %q", d.CustomerID, runID, d.Coverage)
	}
	if d.CustomerID == "" {
		return fmt.Errorf("store customer data (run %d): empty customer id", runID)
	}
	return nil
}

// customerStmts are the prepared inserts of one write transaction of
// customer data. They talk to the driver directly (like the payable writer):
// one prepared statement per table, values bound from reused buffers without
// database/sql's per-call conversions and allocations.
type customerStmts struct {
	coverage, receivable, subscription driver.StmtExecContext
	copyCoverage, copyReceivables      driver.StmtExecContext
	copySubscriptions                  driver.StmtExecContext
	// pg is the PostgreSQL connection under the transaction, nil on SQLite:
	// the transaction's coverage rows, receivable lines and subscriptions
	// are encoded into pgCopies and written with one COPY per table before
	// the commit (pgcopy.go) instead of a round trip per row.
	pg       *pgx.Conn
	pgCopies *customerCopies
	args     []driver.NamedValue
	// SQLite: the receivable and subscription inserts executed in batches
	// of rows bound in C (sqliterows.go); nil when the driver's statement
	// cannot be reached that way (then executed through the driver).
	fastRecv, fastSubs *sqliteRows
}

// writeRowsError is a failure to write the rows a customer transaction
// collected (PostgreSQL: its COPYs, at the commit or when the buffers are
// full), which may be another customer's than the one being saved: the error
// names the customer itself.
type writeRowsError struct{ err error }

func (e *writeRowsError) Error() string { return e.err.Error() }
func (e *writeRowsError) Unwrap() error { return e.err }

// customerTx runs fn in one write transaction on a connection of its own,
// with the customer inserts prepared, and commits if fn succeeds and ctx has
// not ended. Writes are serialised with the store's other writers.
func (s *Store) customerTx(ctx context.Context, fn func(st *customerStmts) error) error {
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, s.q[qBulkCheckpoint]); err != nil {
		return fmt.Errorf("checkpoint setting: %w", err)
	}
	defer s.restoreReferences(ctx, conn) // before conn.Close
	if err := s.bulkReferences(ctx, conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, s.q[qBeginWrite]); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err = conn.Raw(func(dc any) error {
		st, err := s.prepareCustomerStmts(ctx, dc)
		if err != nil {
			return err
		}
		defer st.close()
		if s.d.postgres() {
			if c, ok := dc.(*stdlib.Conn); ok {
				st.pg = c.Conn()
			}
		}
		if st.pg != nil {
			st.pgCopies = s.customerCopies()
			defer s.releaseCopies(st)
		}
		if err := fn(st); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := st.flushCopies(context.WithoutCancel(ctx)); err != nil {
			return &writeRowsError{err}
		}
		return nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		if _, cerr := conn.ExecContext(context.WithoutCancel(ctx), s.q[qCommit]); cerr != nil {
			err = fmt.Errorf("commit: %w", cerr)
		} else {
			return nil
		}
	}
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), s.q[qRollback]); rerr != nil {
		// Never hand back to the pool a connection that may hold a transaction.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return err
}

func (s *Store) prepareCustomerStmts(ctx context.Context, dc any) (*customerStmts, error) {
	p, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver connection %T cannot prepare statements", dc)
	}
	st := &customerStmts{args: make([]driver.NamedValue, 0, 13)}
	// SQLite: the transaction skips the row-by-row reference checks
	// (references.go), so the coverage row checks its customer itself.
	coverageInsert, coverageCopy := qInsertCoverage, qCopyCoverage
	if !s.d.postgres() {
		coverageInsert, coverageCopy = qInsertCoverageListed, qCopyCoverageListed
	}
	for _, q := range []struct {
		dst  *driver.StmtExecContext
		name string
	}{{&st.coverage, coverageInsert}, {&st.receivable, qInsertReceivable}, {&st.subscription, qInsertSubscription},
		{&st.copyCoverage, coverageCopy}, {&st.copyReceivables, qCopyReceivables}, {&st.copySubscriptions, qCopySubscriptions}} {
		stmt, err := p.PrepareContext(ctx, s.q[q.name])
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare %s: %w", q.name, err)
		}
		if *q.dst, ok = stmt.(driver.StmtExecContext); !ok {
			_ = stmt.Close() // already failing: releasing the statement
			st.close()
			return nil, fmt.Errorf("driver statement %T cannot execute with a context", stmt)
		}
	}
	if !s.d.postgres() {
		st.fastRecv, _ = sqliteRowsFor(st.receivable, receivableCols)
		st.fastSubs, _ = sqliteRowsFor(st.subscription, subscriptionCols)
	}
	return st, nil
}

func (st *customerStmts) close() {
	st.fastRecv.free()
	st.fastSubs.free()
	for _, stmt := range []driver.StmtExecContext{st.coverage, st.receivable, st.subscription,
		st.copyCoverage, st.copyReceivables, st.copySubscriptions} {
		if stmt != nil {
			_ = stmt.(driver.Stmt).Close()
		}
	}
}

// exec runs stmt with vals (nil, string or int64 each) and returns the
// number of rows it changed.
func (st *customerStmts) exec(ctx context.Context, stmt driver.StmtExecContext, vals ...any) (int64, error) {
	args := st.args[:0]
	for i, v := range vals {
		args = append(args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	st.args = args
	res, err := stmt.ExecContext(ctx, args)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// saveCustomer writes one customer's rows in the current transaction: rows,
// d's rows encoded by encodeCustomer (on the caller's goroutine; encoded here
// when nil), which it releases. The statements run without ctx's
// cancellation (go-sqlite3 starts a goroutine per call for a cancellable
// context); ctx is checked between the stages instead.
func (s *Store) saveCustomer(ctx context.Context, st *customerStmts, runID int64, d *CustomerData, rows *customerRows) error {
	ectx := context.WithoutCancel(ctx)
	if err := ctx.Err(); err != nil {
		rows.release()
		return err
	}
	if d.CopyFrom != 0 {
		rows.release()
		return s.copyCustomer(ctx, st, runID, d)
	}
	if rows == nil || rows.pg != (st.pg != nil) {
		rows.release()
		rows = customerRowsPool.Get().(*customerRows)
		rows.pg = st.pg != nil
		rows.encode(runID, d)
	}
	defer rows.release()
	if st.pg != nil {
		// pgcopy.go: written with the transaction's other rows
		st.copies().coverage.addRows(d.CustomerID, 1, rows.cov.buf)
	} else if n, err := st.exec(ectx, st.coverage, runID, d.CustomerID, string(d.Coverage), d.Error,
		string(d.Period.From), string(d.Period.To), d.SubscriptionsError); err != nil {
		return fmt.Errorf("coverage: %w", err)
	} else if n != 1 {
		return errors.New("coverage: the customer is not in the run's customer list (FOREIGN KEY customer_coverage → customers)")
	}
	if err := s.stageDone(ctx, stageCoverage); err != nil {
		return err
	}
	if d.Coverage != billing.CoverageFetchFailed && len(d.Receivables) > 0 {
		if err := insertReceivables(ectx, st, d, rows); err != nil {
			return err
		}
	}
	if err := s.stageDone(ctx, stageReceivables); err != nil {
		return err
	}
	if len(d.Subscriptions) > 0 {
		if err := insertSubscriptions(ectx, st, d, rows); err != nil {
			return err
		}
	}
	if st.pgCopies != nil && st.pgCopies.size() >= customerCopyFlush {
		// A group of large customers: write what is encoded so far (same
		// transaction) rather than hold it all in memory.
		if err := st.flushCopies(ectx); err != nil {
			return &writeRowsError{err}
		}
	}
	return s.stageDone(ctx, stageSubscriptions)
}

// copyCustomer copies one customer's rows of run d.CopyFrom into runID, in
// the current transaction, with the stages of saveCustomer.
func (s *Store) copyCustomer(ctx context.Context, st *customerStmts, runID int64, d *CustomerData) error {
	ectx := context.WithoutCancel(ctx)
	args := []driver.NamedValue{{Ordinal: 1, Value: runID}, {Ordinal: 2, Value: d.CopyFrom}, {Ordinal: 3, Value: d.CustomerID}}
	res, err := st.copyCoverage.ExecContext(ectx, args)
	if err != nil {
		return fmt.Errorf("copy coverage from run %d: %w", d.CopyFrom, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(err, fmt.Errorf("copy coverage from run %d: run %d has no data of customer %s, or the customer is not in run %d's customer list",
			d.CopyFrom, d.CopyFrom, d.CustomerID, runID))
	}
	if err := s.stageDone(ctx, stageCoverage); err != nil {
		return err
	}
	if _, err := st.copyReceivables.ExecContext(ectx, args); err != nil {
		return fmt.Errorf("copy receivables from run %d: %w", d.CopyFrom, err)
	}
	if err := s.stageDone(ctx, stageReceivables); err != nil {
		return err
	}
	if _, err := st.copySubscriptions.ExecContext(ectx, args); err != nil {
		return fmt.Errorf("copy subscriptions from run %d: %w", d.CopyFrom, err)
	}
	return s.stageDone(ctx, stageSubscriptions)
}

// stageDone runs the test hook and checks ctx.
func (s *Store) stageDone(ctx context.Context, stage string) error {
	if err := s.hook(ctx, stage); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *Store) hook(ctx context.Context, stage string) error {
	if s.testHook == nil {
		return nil
	}
	return s.testHook(ctx, stage)
}

// receivableColumns are the columns of insert_receivable, in its order (COPY).
var receivableColumns = []string{"run_id", "customer_id", "line_no", "sku", "charge_id", "charge_type", "period_from",
	"period_to", "quantity", "cost_price", "cost_price_prorated", "currency", "detail", "content_hash"}

// insertReceivables writes d's receivable lines, encoded in rows.
func insertReceivables(ctx context.Context, st *customerStmts, d *CustomerData, rows *customerRows) error {
	if rows.recvErr != nil {
		return rows.recvErr
	}
	if st.pg != nil {
		st.copies().receivables.addRows(d.CustomerID, rows.nRecv, rows.pgRecv.buf) // pgcopy.go
		return nil
	}
	if st.fastRecv != nil {
		if i, err := execRows(st.fastRecv, rows.recvOrder, rows.receivableRow); err != nil {
			return fmt.Errorf("receivable charge %s: %w", d.Receivables[i].Describe(), err)
		}
		return nil
	}
	var nv []driver.NamedValue
	for _, i := range rows.recvOrder {
		nv = namedValues(nv, rows.receivableRow(i))
		if _, err := st.receivable.ExecContext(ctx, nv); err != nil {
			return fmt.Errorf("receivable charge %s: %w", d.Receivables[i].Describe(), err)
		}
	}
	return nil
}

type jsonSubscriptionFees struct {
	RecurringFee *string `json:"recurringFee"`
	SetupFee     *string `json:"setupFee"`
	Currency     string  `json:"currency"`
}

// insertSubscriptions writes d's subscriptions, encoded in rows.
func insertSubscriptions(ctx context.Context, st *customerStmts, d *CustomerData, rows *customerRows) error {
	if rows.subsErr != nil {
		return rows.subsErr
	}
	if st.pg != nil {
		st.copies().subscriptions.addRows(d.CustomerID, rows.nSubs, rows.pgSubs.buf) // pgcopy.go
		return nil
	}
	if st.fastSubs != nil {
		if i, err := execRows(st.fastSubs, rows.subsOrder, rows.subscriptionRow); err != nil {
			return fmt.Errorf("subscription %s: %w", d.Subscriptions[i].ID, err)
		}
		return nil
	}
	var nv []driver.NamedValue
	for _, i := range rows.subsOrder {
		nv = namedValues(nv, rows.subscriptionRow(i))
		if _, err := st.subscription.ExecContext(ctx, nv); err != nil {
			return fmt.Errorf("subscription %s: %w", d.Subscriptions[i].ID, err)
		}
	}
	return nil
}

// subscriptionColumns are the columns of insert_subscription, in its order (COPY).
var subscriptionColumns = []string{"run_id", "customer_id", "line_no", "id", "product_name", "description", "sku",
	"quantity", "billing_cycle", "purchase_date", "fees", "commitment_term", "content_hash"}

// Coverage returns the stored coverage of the run's customers, sorted by
// customer id. Customers whose data was never saved have no row.
func (s *Store) Coverage(ctx context.Context, runID int64) ([]CustomerCoverage, error) {
	rows, err := s.db.QueryContext(ctx, s.q[qListCoverage], runID)
	if err != nil {
		return nil, fmt.Errorf("read coverage of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []CustomerCoverage
	for rows.Next() {
		var (
			c                 CustomerCoverage
			cov, from, to, se string
		)
		if err := rows.Scan(&c.CustomerID, &cov, &c.Error, &from, &to, &se); err != nil {
			return nil, fmt.Errorf("read coverage of run %d: %w", runID, err)
		}
		c.Coverage, c.Period = billing.Coverage(cov), billing.Period{From: billing.Date(from), To: billing.Date(to)}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read coverage of run %d: %w", runID, err)
	}
	return out, nil
}

// Subscriptions returns one customer's subscriptions in the run, sorted by
// subscription id (then content).
func (s *Store) Subscriptions(ctx context.Context, runID int64, customerID string) ([]billing.Subscription, error) {
	rows, err := s.db.QueryContext(ctx, s.q[qListSubscriptions], runID, customerID)
	if err != nil {
		return nil, fmt.Errorf("read subscriptions of customer %s (run %d): %w", customerID, runID, err)
	}
	defer rows.Close()
	var out []billing.Subscription
	for rows.Next() {
		sub, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("read subscriptions of customer %s (run %d): %w", customerID, runID, err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read subscriptions of customer %s (run %d): %w", customerID, runID, err)
	}
	return out, nil
}

// EachCustomerSubscriptions calls fn once for each customer of the run that
// has subscriptions, in customer id order, with that customer's
// subscriptions as Subscriptions returns them (same order, same decoding;
// fn may keep the slice). One read of the run's subscriptions (in C
// batches on SQLite) instead of one query per customer: a report's licence
// check of a stored W1M run reads 780,000 subscriptions of 10,000
// customers.
func (s *Store) EachCustomerSubscriptions(ctx context.Context, runID int64, fn func(customerID string, subs []billing.Subscription) error) error {
	var (
		cur  string
		subs []billing.Subscription
	)
	err := s.eachStored(ctx, qEachSubscription, runID, 10, func(v []storedCol) error {
		customerID := v[0].text()
		if customerID != cur && len(subs) > 0 {
			if err := fn(cur, subs); err != nil {
				return err
			}
			subs = nil
		}
		cur = customerID
		sub := billing.Subscription{ID: v[1].text(), ProductName: v[2].text(), Description: v[3].text(), SKU: v[4].text(), BillingCycle: v[6].text()}
		if err := decodeSubscription(&sub, v[5].nullText(), v[7].text(), v[8].nullText(), v[9].nullText()); err != nil {
			return &readError{fmt.Errorf("customer %s: %w", customerID, err)}
		}
		subs = append(subs, sub)
		return nil
	})
	if err == nil && len(subs) > 0 {
		err = fn(cur, subs)
	}
	if err := unwrapRead(err); err != nil {
		return fmt.Errorf("read subscriptions of run %d: %w", runID, err)
	}
	return nil
}

// scanSubscription scans the columns id .. commitment_term.
func scanSubscription(rows *sql.Rows) (billing.Subscription, error) {
	var (
		sub             billing.Subscription
		qty, fees, term sql.NullString
		purchase        string
	)
	dest := []any{&sub.ID, &sub.ProductName, &sub.Description, &sub.SKU, &qty, &sub.BillingCycle, &purchase, &fees, &term}
	if err := rows.Scan(dest...); err != nil {
		return sub, err
	}
	return sub, decodeSubscription(&sub, qty, purchase, fees, term)
}

// decodeSubscription sets sub's purchase date, quantity, fees and
// commitment term from their stored columns (sub's ID is set).
func decodeSubscription(sub *billing.Subscription, qty sql.NullString, purchase string, fees, term sql.NullString) error {
	sub.PurchaseDate = billing.Timestamp(purchase)
	var err error
	if sub.Quantity, err = parseMoney(qty); err != nil {
		return fmt.Errorf("subscription %s: quantity: %w", sub.ID, err)
	}
	if fees.Valid {
		f, err := subscriptionFees(fees.String)
		if err != nil {
			return fmt.Errorf("subscription %s: fees: %w", sub.ID, err)
		}
		sub.Fees = &billing.SubscriptionFees{Currency: f.Currency}
		if sub.Fees.RecurringFee, err = parseMoneyText(f.RecurringFee); err != nil {
			return fmt.Errorf("subscription %s: recurringFee: %w", sub.ID, err)
		}
		if sub.Fees.SetupFee, err = parseMoneyText(f.SetupFee); err != nil {
			return fmt.Errorf("subscription %s: setupFee: %w", sub.ID, err)
		}
	}
	if term.Valid {
		if sub.CommitmentTerm, err = commitmentColumn(term.String); err != nil {
			return fmt.Errorf("subscription %s: commitment_term: %w", sub.ID, err)
		}
	}
	return nil
}
