package ledger

// The payable statements of a ledger whose migrations stop before 0010
// (Options.migrateThrough: tests that write a ledger of an older schema and
// migrate it; mustOpenPath switches such a store to them). Such a ledger has
// no payable_customers table and no payable_charges.customer_ord column: the
// batch writes the columns of 0001-0009 and numbers no customers
// (Store.payable0009), and each_payable reads the table in its 0006 order.

const (
	insertPayable0009 = `INSERT INTO payable_charges (
    run_id, line_no, customer_key, sku, charge_type, period_from, period_to, currency,
    charge_id, sub_total, quantity, detail, content_hash
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	eachPayable0009 = `SELECT sku, charge_type, period_from, period_to, currency, charge_id, sub_total, quantity, detail,
       customer_key, content_hash
FROM payable_charges
WHERE run_id = ?
ORDER BY run_id, customer_key, sku, charge_type, period_from, period_to, currency, charge_id, line_no`
)

// usePayable0009 makes s write and read the payable tables of 0009.
func (s *Store) usePayable0009() {
	s.payable0009 = true
	s.q[qInsertPayable] = s.db.Rebind(insertPayable0009)
	if !s.d.postgres() { // PostgreSQL's each_payable orders by customer_key itself
		s.q[qEachPayable] = eachPayable0009
	}
}
