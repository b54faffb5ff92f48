package ledger

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// A run written after the server last analyzed the tables is read with a
// plan made for its rows: the customer writer refreshes the statistics, so
// the receivable read joins the coverage by customer instead of comparing
// every line with every customer of the run (the nested loop a one-row
// estimate leads to; ten minutes at W1M).
func TestNewRunIsPlannedForItsRows(t *testing.T) {
	dbtest.PostgresOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	const customers, lines = 200, 20
	writeRun := func() int64 {
		id := storePayables(t, s, customerLines("cust-a", 0, 3))
		storeNumberedCustomers(t, s, id, customers, func(i int, d *CustomerData) {
			for j := range lines {
				d.Receivables = append(d.Receivables, sampleReceivable(i*lines+j))
			}
		})
		return id
	}
	writeRun()
	// The server analyzes the tables holding the first run (autovacuum), then
	// the second run is written.
	if _, err := s.db.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	second := writeRun()

	var runs string
	if err := s.db.GetContext(ctx, &runs, `SELECT COALESCE(most_common_vals::text, '') FROM pg_stats
		WHERE schemaname = current_schema() AND tablename = 'receivable_charges' AND attname = 'run_id'`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(runs, fmt.Sprint(second)) {
		t.Errorf("receivable_charges.run_id statistics know the runs %q, want run %d among them", runs, second)
	}
	var plan []string
	if err := s.db.SelectContext(ctx, &plan, "EXPLAIN "+s.q[qEachReceivableAvailable], second); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	// The estimate is taken from a sample: near the run's lines, not one.
	var estimate int
	if m := planRows.FindStringSubmatch(plan[0]); m != nil {
		estimate, _ = strconv.Atoi(m[1])
	}
	if strings.Contains(joined, "Join Filter") || estimate < customers*lines/2 {
		t.Errorf("each_receivable_available plan for the new run:\n%s\nwant its %d lines estimated and a join on the customer, not a join filter",
			joined, customers*lines)
	}
}

// planRows is the estimated row count of an EXPLAIN line.
var planRows = regexp.MustCompile(` rows=([0-9]+) `)

// storeNumberedCustomers lists n customers c0000, c0001, … in run id and
// stores each one's coverage (available) through a customer writer, with
// the rows fill adds (fill may be nil).
func storeNumberedCustomers(t *testing.T, s *Store, id int64, n int, fill func(i int, d *CustomerData)) {
	t.Helper()
	ctx := context.Background()
	cs := make([]billing.Customer, n)
	for i := range cs {
		cs[i] = billing.Customer{ID: fmt.Sprintf("c%04d", i)}
	}
	if err := s.SaveCustomers(ctx, id, cs); err != nil {
		t.Fatal(err)
	}
	w := s.NewCustomerWriter(ctx, id)
	for i, c := range cs {
		d := CustomerData{CustomerID: c.ID, Coverage: billing.CoverageAvailable, Period: october}
		if fill != nil {
			fill(i, &d)
		}
		if err := w.Save(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
