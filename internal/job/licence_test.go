package job_test

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/amend"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

func licenceConfig() sherwebsim.Config {
	c := baseConfig()
	c.LicenceScenarios = true
	return c
}

// TestLicenceAndCommitmentsMatchSimulatorTruth: the licence findings are the
// planted seat scenarios (billed fewer, billed none, billed more) and nothing
// else; the commitments show the planted minimum, renewal and missing
// commitment; the remaining commitment is quantity × payable price × months.
func TestLicenceAndCommitmentsMatchSimulatorTruth(t *testing.T) {
	e := newEnv(t, licenceConfig())
	run, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := job.LicenceReport(context.Background(), e.store, run)
	if err != nil {
		t.Fatal(err)
	}
	truth := e.sim.Truth(run.Period)
	want := map[[2]string][2]decimal.Decimal{}
	for _, f := range truth.Findings {
		switch {
		case f.Kind == sherwebsim.KindUnbilled && f.Scenario == "unbilled":
			want[[2]string{f.CustomerID, f.SKU}] = [2]decimal.Decimal{f.PayableQty, decimal.Zero}
		case f.Kind == sherwebsim.KindQuantityMismatch:
			want[[2]string{f.CustomerID, f.SKU}] = [2]decimal.Decimal{f.PayableQty, f.ReceivableQty}
		}
	}
	fewer, more := 0, 0
	got := map[[2]string]bool{}
	for _, f := range lr.Findings {
		k := [2]string{f.CustomerID, f.SKU}
		got[k] = true
		w, ok := want[k]
		if !ok {
			t.Errorf("unexpected licence finding %s %s S=%s B=%s", f.CustomerID, f.SKU, f.Subscribed, f.Billed)
			continue
		}
		if !f.Subscribed.Equal(w[0]) || !f.Billed.Equal(w[1]) || !f.Excess.Equal(w[0].Sub(w[1])) {
			t.Errorf("%s %s: S=%s B=%s, want S=%s B=%s", f.CustomerID, f.SKU, f.Subscribed, f.Billed, w[0], w[1])
		}
		if f.Excess.IsPositive() {
			fewer++
		} else {
			more++
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("missing licence finding %v", k)
		}
	}
	if fewer == 0 || more == 0 {
		t.Errorf("want both billed-fewer and billed-more cases: %d, %d", fewer, more)
	}

	lp := e.sim.LicenceScenarios()
	rows := map[string]report.CommitmentRow{}
	for _, r := range lr.Rows {
		rows[strings.ToLower(r.SubscriptionID)] = r
	}
	if _, ok := rows[lp.NoCommitmentSubscription]; ok || lp.NoCommitmentSubscription == "" {
		t.Errorf("the subscription without commitment (%q) is listed in Commitments", lp.NoCommitmentSubscription)
	}
	ren := rows[lp.RenewingSubscription]
	if ren.TermType != "Annual" || ren.TermEnd != lp.RenewingTermEnd || ren.RenewalDate != lp.RenewingDate || !ren.Renews30 || ren.DaysToTermEnd != 20 {
		t.Errorf("renewing annual commitment: %+v", ren)
	}
	min := rows[lp.MinimumSubscription]
	if min.MinimumInForce != lp.MinimumQuantity || !min.Stranded {
		t.Errorf("committed minimum: %+v, want minimum %d, stranded", min, lp.MinimumQuantity)
	}
	// Remaining commitment and stranded flags, per row, from the simulator's own data.
	price := map[[2]string]map[string]bool{}
	cur := map[[2]string]string{}
	ids, names := map[string]string{}, map[string][]string{}
	for _, c := range e.sim.Customers() {
		ids[strings.ToLower(c.ID)] = c.ID
		names[strings.TrimSpace(c.DisplayName)] = append(names[strings.TrimSpace(c.DisplayName)], c.ID)
	}
	owner := func(tags []billing.Tag) string {
		for _, tg := range tags {
			if strings.EqualFold(tg.Name, "CustomerId") {
				return ids[strings.ToLower(tg.Value)]
			}
		}
		for _, tg := range tags {
			if n := names[strings.TrimSpace(tg.Value)]; strings.EqualFold(tg.Name, "CustomerDisplayName") && len(n) == 1 {
				return n[0]
			}
		}
		return ""
	}
	_ = e.sim.EachPayable(run.Period, func(c *billing.PayableCharge) error {
		if c.ChargeType != "Recurring" {
			return nil
		}
		{
			if id := owner(c.Tags); id != "" {
				k := [2]string{id, c.SKU}
				if price[k] == nil {
					price[k] = map[string]bool{}
				}
				price[k][c.NetPrice.Decimal.String()+" "+c.Currency] = true
				cur[k] = c.Currency
			}
		}
		return nil
	})
	totals := map[string]decimal.Decimal{}
	for _, r := range lr.Rows {
		k := [2]string{r.CustomerID, r.SKU}
		w := want[k]
		if stranded := w[0].GreaterThan(w[1]); r.Stranded != stranded {
			t.Errorf("%s %s: stranded %v, want %v", r.CustomerID, r.SKU, r.Stranded, stranded)
		}
		if len(price[k]) != 1 {
			if r.Remaining.Valid {
				t.Errorf("%s %s: remaining %s without a single price", r.CustomerID, r.SKU, r.Remaining.Decimal)
			}
			continue
		}
		var p decimal.Decimal
		for s := range price[k] {
			p, _ = decimal.NewFromString(strings.Fields(s)[0])
		}
		rem := p.Mul(decimal.NewFromInt(r.Quantity)).Mul(decimal.NewFromInt(int64(r.Months)))
		if !r.Remaining.Valid || !r.Remaining.Decimal.Equal(rem) {
			t.Errorf("%s %s: remaining %v, want %s (%s)", r.CustomerID, r.SKU, r.Remaining, rem, r.UnitCostNote)
		}
		totals[cur[k]] = totals[cur[k]].Add(rem)
	}
	for c, v := range totals {
		if !lr.Commitments.Totals[c].Equal(v) {
			t.Errorf("total %s: %s, want %s", c, lr.Commitments.Totals[c], v)
		}
	}
	if ren.Months != 0 || (ren.Remaining.Valid && !ren.Remaining.Decimal.IsZero()) {
		t.Errorf("a term ending in 20 days has %d whole months left", ren.Months)
	}

	// The plan: the minimum blocks a full reduction; without commitment a full one.
	p := e.plan(t, run, afterMinimums)
	entries := map[string]int{}
	for i, en := range p.Entries {
		entries[strings.ToLower(en.SubscriptionID)] = i
	}
	i, ok := entries[lp.MinimumSubscription]
	if !ok || p.Entries[i].NewQuantity != lp.MinimumQuantity || !strings.Contains(strings.Join(p.Entries[i].Guards, ";"), "blocks a full reduction") {
		t.Errorf("plan entry of the minimum: %+v", p.Entries[i])
	}
	j, ok := entries[lp.NoCommitmentSubscription]
	nk := [2]string{lp.NoCommitmentCustomer, lp.NoCommitmentSKU}
	if !ok || p.Entries[j].NewQuantity != want[nk][1].IntPart() || len(p.Entries[j].Guards) != 0 {
		t.Errorf("plan entry without commitment: %+v (billed %s)", p.Entries[j], want[nk][1])
	}
	// An edited plan below the minimum is refused at apply.
	below := p
	below.Entries = []amend.Entry{p.Entries[i]}
	below.Entries[0].NewQuantity--
	res, err := e.apply(t, below, afterMinimums, nil)
	if err != nil || res[0].State != job.StateRefused || !strings.Contains(res[0].Detail, "below the committed minimum") {
		t.Errorf("below the minimum: %v %+v", err, res)
	}
}

// TestStreamedCommitmentsMatchInMemory: the close keeps no Commitments row
// (it streams them from the ledger for the sheet); the streamed rows, and
// the summary the close keeps, are those of the in-memory computation.
func TestStreamedCommitmentsMatchInMemory(t *testing.T) {
	e := newEnv(t, licenceConfig())
	run, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lr, err := job.LicenceReport(ctx, e.store, run)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := job.Reconcile(ctx, e.store, run, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	com := rec.Result.Subscriptions.Commitments
	if _, inMemory := com.Rows.(report.CommitmentSlice); inMemory {
		t.Fatal("the close holds the Commitments rows in memory")
	}
	var got []report.CommitmentRow
	for pass := range 2 { // the sheet can read them again
		got = got[:0]
		if err := com.Rows.EachCommitment(ctx, func(r *report.CommitmentRow) error {
			got = append(got, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || !reflect.DeepEqual(got, lr.Rows) {
			t.Fatalf("pass %d: streamed %d rows, in memory %d; they differ", pass, len(got), len(lr.Rows))
		}
	}
	want := lr.Commitments
	if com.Subscriptions != want.Subscriptions || com.Renews30 != want.Renews30 || com.Renews60 != want.Renews60 ||
		com.Renews90 != want.Renews90 || com.NoUnitCost != want.NoUnitCost || len(com.Totals) != len(want.Totals) ||
		!reflect.DeepEqual(com.Stranded, want.Stranded) || len(com.Stranded) == 0 {
		t.Errorf("summary %+v, want %+v", com, want)
	}
	for c, v := range want.Totals {
		if !com.Totals[c].Equal(v) {
			t.Errorf("total %s: %s, want %s", c, com.Totals[c], v)
		}
	}
}

// perCustomerStore is the ledger whose streamed subscriptions read is made
// of one Subscriptions query per customer of the run (in id order).
type perCustomerStore struct{ *ledger.Store }

func (p perCustomerStore) EachCustomerSubscriptions(ctx context.Context, runID int64, fn func(string, []billing.Subscription) error) error {
	customers, err := p.Customers(ctx, runID)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(customers))
	for _, c := range customers {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		subs, err := p.Subscriptions(ctx, runID, id)
		if err != nil {
			return err
		}
		if len(subs) > 0 {
			if err := fn(id, subs); err != nil {
				return err
			}
		}
	}
	return nil
}

// A report of a stored run reads the subscriptions in one pass; the licence
// findings, the Commitments rows and the whole JSON summary are those of
// the read customer by customer.
func TestLicenceStreamedReadMatchesPerCustomer(t *testing.T) {
	e := newEnv(t, licenceConfig())
	run, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	summary := func(store job.RunReader) (string, []report.CommitmentRow) {
		t.Helper()
		rec, err := job.Reconcile(ctx, store, run, report.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := rec.Result.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var rows []report.CommitmentRow
		if err := rec.Result.Subscriptions.Commitments.Rows.EachCommitment(ctx, func(r *report.CommitmentRow) error {
			rows = append(rows, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return b.String(), rows
	}
	streamed, streamedRows := summary(e.store)
	perCustomer, perCustomerRows := summary(perCustomerStore{Store: e.store})
	if streamed != perCustomer {
		t.Error("the JSON summary differs between the streamed and the per-customer subscriptions read")
	}
	if len(streamedRows) == 0 || !reflect.DeepEqual(streamedRows, perCustomerRows) {
		t.Errorf("Commitments rows: %d streamed, %d per customer; they differ", len(streamedRows), len(perCustomerRows))
	}
	if !strings.Contains(streamed, `"kind": "licence_mismatch"`) {
		t.Error("no licence finding in the summary: the test compares nothing")
	}
}
