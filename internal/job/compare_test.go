package job_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

var tolerance = report.Options{Tolerance: decimal.RequireFromString("0.01")}

func historyConfig() sherwebsim.Config {
	return sherwebsim.Config{Seed: 7, Customers: 30, Charges: 300, History: true}
}

// fetchMonth fetches the month of date into the env's ledger.
func (e *env) fetchMonth(t *testing.T, date billing.Date) ledger.Run {
	t.Helper()
	ctx := context.Background()
	run, err := job.Fetch(ctx, e.client(t, ctx), e.store, job.FetchOptions{
		Date: date, BaseURL: "http://simulator.test", ToolVersion: "test", Concurrency: 4, Now: fixedNow,
	})
	if err != nil && !errors.Is(err, job.ErrIncomplete) {
		t.Fatalf("fetch %s: %v", date, err)
	}
	return run
}

func period(month string) billing.Period {
	p := billing.Period{From: billing.Date(month + "-01")}
	t := p.From.Time().AddDate(0, 1, -1)
	p.To = billing.Date(t.Format("2006-01-02"))
	return p
}

// compareRuns runs job.Compare into dir and returns the comparison and its error.
func compareRuns(t *testing.T, e *env, base, cur job.RunPick, dir string) (*report.Comparison, error) {
	t.Helper()
	return job.Compare(context.Background(), job.CompareOptions{
		Ledger: e.store, Base: base, Current: cur, Reconcile: tolerance,
		Dir: dir, JSON: filepath.Join(dir, "comparison.json"), ToolVersion: "test",
	})
}

func movement(c *report.Comparison, id string) *report.CustomerMovement {
	for i := range c.Customers {
		if c.Customers[i].CustomerID == id {
			return &c.Customers[i]
		}
	}
	return nil
}

// bridgeMargin is the margin of one bridge line of a stored run.
func bridgeMargin(t *testing.T, e *env, run ledger.Run, customer, sku string) decimal.Decimal {
	t.Helper()
	s, err := job.Snapshot(context.Background(), e.store, run, tolerance, report.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range s.BridgeLines() {
		if l.CustomerID == customer && l.SKU == sku {
			return l.Margin()
		}
	}
	t.Fatalf("run %d has no bridge line %s %s", run.ID, customer, sku)
	return decimal.Zero
}

// checkBuckets checks that each planted change of truth lands in its bucket
// (swap: the comparison runs from the changed month to the anchor month),
// and that every continuing customer without a planted change has no split.
func checkBuckets(t *testing.T, e *env, c *report.Comparison, changes []sherwebsim.Change, baseRun, curRun ledger.Run, swap bool) {
	t.Helper()
	swapped := map[string]string{"new_customers": "lost_customers", "lost_customers": "new_customers",
		"new_products": "lost_products", "lost_products": "new_products"}
	changed := map[string]bool{}
	seen := map[string]int{}
	coverage := map[string]bool{}
	for _, ch := range changes {
		if ch.Bucket == "coverage" {
			coverage[ch.CustomerID] = true
		}
	}
	for _, ch := range changes {
		bucket := ch.Bucket
		if swap && swapped[bucket] != "" {
			bucket = swapped[bucket]
		}
		if coverage[ch.CustomerID] {
			// The rules classify coverage first: every change of a customer
			// whose receivables are missing lands in coverage.
			bucket = "coverage"
		}
		seen[bucket]++
		changed[ch.CustomerID] = true
		if ch.Kind == sherwebsim.ChangeUnattributed {
			for _, b := range c.Bridge {
				if b.Unattributed.IsZero() {
					continue
				}
				if sign := b.Unattributed.Sign() * int(ch.Delta); (sign < 0) == swap {
					t.Errorf("unattributed change %+d lands as %s", ch.Delta, b.Unattributed)
				}
			}
			continue
		}
		m := movement(c, ch.CustomerID)
		if m == nil {
			t.Errorf("%s of %s: customer not in the comparison", ch.Kind, ch.CustomerID)
			continue
		}
		switch bucket {
		case "coverage":
			if m.Status != report.StatusCoverage {
				t.Errorf("%s of %s: status %s, want coverage", ch.Kind, ch.CustomerID, m.Status)
			}
		case "new_customers":
			if m.Status != report.StatusNew {
				t.Errorf("%s of %s: status %s, want new", ch.Kind, ch.CustomerID, m.Status)
			}
		case "lost_customers":
			if m.Status != report.StatusLost {
				t.Errorf("%s of %s: status %s, want lost", ch.Kind, ch.CustomerID, m.Status)
			}
		case "volume":
			if m.Status != report.StatusContinuing || m.Volume.IsZero() || m.Rate.Abs().GreaterThan(decimal.RequireFromString("0.01")) {
				t.Errorf("%s of %s %s: status %s volume %s rate %s, want a volume effect", ch.Kind, ch.CustomerID, ch.SKU, m.Status, m.Volume, m.Rate)
			}
		case "rate":
			if m.Status != report.StatusContinuing || m.Rate.IsZero() || !m.Volume.IsZero() {
				t.Errorf("%s of %s %s: status %s volume %s rate %s, want a rate effect", ch.Kind, ch.CustomerID, ch.SKU, m.Status, m.Volume, m.Rate)
			}
		case "lost_products":
			want := bridgeMargin(t, e, baseRun, ch.CustomerID, ch.SKU).Neg()
			if m.Status != report.StatusContinuing || !m.LostProducts.Equal(want) {
				t.Errorf("%s of %s %s: status %s lost products %s, want %s", ch.Kind, ch.CustomerID, ch.SKU, m.Status, m.LostProducts, want)
			}
		case "new_products":
			want := bridgeMargin(t, e, curRun, ch.CustomerID, ch.SKU)
			if m.Status != report.StatusContinuing || !m.NewProducts.Equal(want) {
				t.Errorf("%s of %s %s: status %s new products %s, want %s", ch.Kind, ch.CustomerID, ch.SKU, m.Status, m.NewProducts, want)
			}
		default:
			t.Errorf("change %+v: unexpected bucket %s", ch, bucket)
		}
	}
	for _, m := range c.Customers {
		if changed[m.CustomerID] {
			continue
		}
		if m.Status != report.StatusContinuing || !m.Change().IsZero() {
			t.Errorf("customer %s %s without a planted change: status %s change %s", m.CustomerID, m.Currency, m.Status, m.Change())
		}
	}
	for _, b := range c.Bridge {
		if !b.Sum().Equal(b.EndMargin) {
			t.Errorf("%s: bridge adds up to %s, end margin %s", b.Currency, b.Sum(), b.EndMargin)
		}
	}
	t.Logf("buckets planted: %v", seen)
}

// A comparison of simulated periods equals the simulator's truth, end to end:
// simulator over HTTP → job.Fetch into a SQLite ledger → job.Compare.
func TestCompareEqualsSimulatorTruth(t *testing.T) {
	e := newEnv(t, historyConfig())
	oct := e.fetchMonth(t, "2026-10-01")
	nov := e.fetchMonth(t, "2026-11-01")
	sep := e.fetchMonth(t, "2026-09-01")
	if sep.Status != billing.RunPartial || oct.Status != billing.RunComplete || nov.Status != billing.RunComplete {
		t.Fatalf("statuses: sep %s, oct %s, nov %s", sep.Status, oct.Status, nov.Status)
	}

	t.Run("anchor to next month", func(t *testing.T) {
		dir := t.TempDir()
		c, err := compareRuns(t, e, job.RunPick{Month: "2026-10"}, job.RunPick{Month: "2026-11"}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Complete || c.BaseIsNewer || c.SamePeriod || len(c.Restatements) != 0 {
			t.Fatalf("complete %v, base newer %v, same period %v, %d restatements", c.Complete, c.BaseIsNewer, c.SamePeriod, len(c.Restatements))
		}
		changes := e.sim.Truth(period("2026-11")).Changes
		checkBuckets(t, e, c, changes, oct, nov, false)
		for _, want := range []string{"new_customers", "lost_customers", "volume", "rate", "lost_products", "new_products", "unattributed"} {
			if !slices.ContainsFunc(changes, func(ch sherwebsim.Change) bool { return ch.Bucket == want }) {
				t.Errorf("the simulator planted no %s change: the test proves nothing about it", want)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "comparison-2026-10-01_2026-10-31-vs-2026-11-01_2026-11-30.xlsx")); err != nil {
			t.Errorf("default-named workbook: %v", err)
		}
	})

	t.Run("month with a failure to anchor", func(t *testing.T) {
		dir := t.TempDir()
		c, err := compareRuns(t, e, job.RunPick{Month: "2026-09"}, job.RunPick{ID: oct.ID}, dir)
		if !errors.Is(err, job.ErrIncomplete) {
			t.Fatalf("error %v, want ErrIncomplete", err)
		}
		if c == nil || c.Complete || len(c.Incomplete) != 1 || c.Incomplete[0].Side != "base" {
			t.Fatalf("comparison %+v", c)
		}
		changes := e.sim.Truth(period("2026-09")).Changes
		failed := ""
		for _, ch := range changes {
			if ch.Bucket == "coverage" {
				failed = ch.CustomerID
			}
		}
		if failed == "" || len(c.Incomplete[0].Customers) != 1 || c.Incomplete[0].Customers[0].CustomerID != failed {
			t.Errorf("incomplete cause %+v, want customer %q", c.Incomplete, failed)
		}
		checkBuckets(t, e, c, changes, sep, oct, true)
		j, err := os.ReadFile(filepath.Join(dir, "comparison.json"))
		if err != nil || !bytes.Contains(j, []byte(`"complete": false`)) {
			t.Errorf("JSON not written or not marked incomplete: %v", err)
		}
	})

	t.Run("base newer than current", func(t *testing.T) {
		dir := t.TempDir()
		c, err := compareRuns(t, e, job.RunPick{Month: "2026-11"}, job.RunPick{Month: "2026-10"}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !c.BaseIsNewer {
			t.Error("BaseIsNewer not set")
		}
		f := openWorkbook(t, filepath.Join(dir, "comparison-2026-11-01_2026-11-30-vs-2026-10-01_2026-10-31.xlsx"))
		if !sheetContains(t, f, xlsx.SheetSummary, "bridge runs backwards") {
			t.Error("the Summary sheet does not say that the bridge runs backwards")
		}
	})

	t.Run("period without a run", func(t *testing.T) {
		_, err := compareRuns(t, e, job.RunPick{Month: "2026-08"}, job.RunPick{Month: "2026-10"}, t.TempDir())
		var nr *job.NoRunError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), "2026-08") || !strings.Contains(err.Error(), "reconcile run --period 2026-08") {
			t.Errorf("error %v, want a NoRunError naming 2026-08 and how to fetch it", err)
		}
	})
}

// A restatement run of the same period lists exactly the lines the
// simulator changed; an unchanged re-fetch lists none.
func TestCompareRestatements(t *testing.T) {
	e := newEnv(t, historyConfig())
	first := e.fetchMonth(t, "2026-10-01")
	again := e.fetchMonth(t, "2026-10-01")
	e.sim.SetRestated(true)
	restated := e.fetchMonth(t, "2026-10-01")
	changes := e.sim.Truth(period("2026-10")).Changes
	e.sim.SetRestated(false)

	c, err := compareRuns(t, e, job.RunPick{ID: first.ID}, job.RunPick{ID: again.ID}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !c.SamePeriod || len(c.Restatements) != 0 {
		t.Errorf("unchanged re-fetch: same period %v, %d restatement rows: %+v", c.SamePeriod, len(c.Restatements), c.Restatements)
	}
	for _, b := range c.Bridge {
		if !b.StartMargin.Equal(b.EndMargin) {
			t.Errorf("unchanged re-fetch moved the %s margin: %s → %s", b.Currency, b.StartMargin, b.EndMargin)
		}
	}

	c, err = compareRuns(t, e, job.RunPick{ID: first.ID}, job.RunPick{Month: "2026-10"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Current.RunID != job.RunID(restated.ID) {
		t.Fatalf("--period picked run %s, want the latest complete run %d", c.Current.RunID, restated.ID)
	}
	var want, got []string
	kinds := map[string]string{}
	for _, ch := range changes {
		if ch.Bucket != "restatement" {
			t.Errorf("unexpected change %+v", ch)
			continue
		}
		k := ch.CustomerID + "|" + ch.SKU
		want = append(want, k)
		kinds[k] = ch.Kind
	}
	for _, r := range c.Restatements {
		k := r.CustomerID + "|" + r.SKU
		got = append(got, k)
		switch kinds[k] {
		case sherwebsim.ChangeRestatedAdded:
			if r.InBase || !r.InCurrent {
				t.Errorf("%s added: in base %v, in current %v", k, r.InBase, r.InCurrent)
			}
		case sherwebsim.ChangeRestatedRemoved:
			if !r.InBase || r.InCurrent {
				t.Errorf("%s removed: in base %v, in current %v", k, r.InBase, r.InCurrent)
			}
		case sherwebsim.ChangeRestated:
			if !r.PayableQtyCurrent.Sub(r.PayableQtyBase).Equal(decimal.NewFromInt(1)) {
				t.Errorf("%s changed: payable quantity %s → %s, want +1", k, r.PayableQtyBase, r.PayableQtyCurrent)
			}
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("restatement rows %v, want the planted %v", got, want)
	}
}

func openWorkbook(t *testing.T, path string) *excelize.File {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func sheetContains(t *testing.T, f *excelize.File, sheet, text string) bool {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		for _, v := range r {
			if strings.Contains(v, text) {
				return true
			}
		}
	}
	return false
}

// The comparison workbook read back: sheet order, headers, numeric money,
// text ids, a chart on Summary; the same inputs give the same bytes.
func TestComparisonWorkbookReadBack(t *testing.T) {
	e := newEnv(t, historyConfig())
	e.fetchMonth(t, "2026-10-01")
	e.fetchMonth(t, "2026-11-01")
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		if _, err := compareRuns(t, e, job.RunPick{Month: "2026-10"}, job.RunPick{Month: "2026-11"}, d); err != nil {
			t.Fatal(err)
		}
	}
	name := "comparison-2026-10-01_2026-10-31-vs-2026-11-01_2026-11-30.xlsx"
	for _, n := range []string{name, "comparison.json"} {
		a, _ := os.ReadFile(filepath.Join(dirs[0], n))
		b, _ := os.ReadFile(filepath.Join(dirs[1], n))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: not byte-identical for the same inputs (%d and %d bytes)", n, len(a), len(b))
		}
	}
	path := filepath.Join(dirs[0], name)
	f := openWorkbook(t, path)
	if got := f.GetSheetList(); !slices.Equal(got, xlsx.ComparisonSheets) {
		t.Fatalf("sheets %v, want %v", got, xlsx.ComparisonSheets)
	}
	headers := map[string][]string{
		xlsx.SheetCustomers: {"Customer ID", "Customer", "Currency", "Status", "Margin Base", "Margin Current", "Change", "New Products", "Lost Products", "Volume", "Rate"},
		xlsx.SheetProducts:  {"SKU", "Product", "Currency", "Payable Qty Base", "Payable Qty Current", "Payable Base", "Payable Current", "Receivable Base", "Receivable Current"},
		xlsx.SheetFindings:  {"Fingerprint", "Status", "Kind", "Customer ID", "Customer", "SKU", "Charge Type", "Currency", "Count Base", "Count Current", "Amount Base", "Amount Current"},
		xlsx.SheetRestatements: {"Customer ID", "SKU", "Charge Type", "Period From", "Period To", "Currency", "Payable Qty Base", "Payable Qty Current",
			"Payable Amount Base", "Payable Amount Current", "Receivable Qty Base", "Receivable Qty Current", "Receivable Amount Base", "Receivable Amount Current"},
		xlsx.SheetRun: {"Field", "Value"},
	}
	for sheet, want := range headers {
		rows, err := f.GetRows(sheet)
		if err != nil || len(rows) == 0 {
			t.Fatalf("%s: %v", sheet, err)
		}
		if len(rows[0]) < len(want) || !slices.Equal(rows[0][:len(want)], want) {
			t.Errorf("%s header %v, want it to start with %v", sheet, rows[0], want)
		}
		panes, err := f.GetPanes(sheet)
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("%s: header row not frozen (%+v, %v)", sheet, panes, err)
		}
	}
	// Customers: ids text, margins numbers.
	rows, _ := f.GetRows(xlsx.SheetCustomers)
	if len(rows) < 10 {
		t.Fatalf("customers sheet has %d rows", len(rows))
	}
	for r := 2; r <= len(rows); r++ {
		for col, wantType := range map[string]excelize.CellType{"A": excelize.CellTypeInlineString, "E": excelize.CellTypeUnset, "F": excelize.CellTypeUnset, "G": excelize.CellTypeUnset} {
			ref := col + strconvItoa(r)
			typ, err := f.GetCellType(xlsx.SheetCustomers, ref)
			if err != nil {
				t.Fatal(err)
			}
			if typ != wantType {
				t.Fatalf("%s!%s: cell type %v, want %v", xlsx.SheetCustomers, ref, typ, wantType)
			}
		}
		v, _ := f.GetCellValue(xlsx.SheetCustomers, "E"+strconvItoa(r), excelize.Options{RawCellValue: true})
		if _, err := decimal.NewFromString(v); err != nil {
			t.Fatalf("Margin Base row %d: %q is not a number", r, v)
		}
	}
	// The waterfall charts: one per currency, on Summary.
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	charts := 0
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "xl/charts/chart") {
			charts++
		}
	}
	c, _ := compareRuns(t, e, job.RunPick{Month: "2026-10"}, job.RunPick{Month: "2026-11"}, t.TempDir())
	if charts == 0 || charts != len(c.Bridge) {
		t.Errorf("%d charts, want one per currency (%d)", charts, len(c.Bridge))
	}
	if !sheetContains(t, f, xlsx.SheetSummary, "COMPLETE") || !sheetContains(t, f, xlsx.SheetSummary, "Margin bridge") {
		t.Error("Summary has no banner or no bridge table")
	}
}

func strconvItoa(i int) string { return strconv.Itoa(i) }

// runReaderOnly hides the store's row reader: job.Snapshot then reads the
// run through EachPayable/EachReceivable (every field decoded), as before
// the comparison had a reader of its own.
type runReaderOnly struct{ job.RunReader }

// TestSnapshotFromRowsMatchesFullRead: the comparison's snapshots, read with
// the row reader (only the fields the engine reads decoded, one charge
// reused), are those of the full read: the same Result, bridge lines and
// line key totals, bit for bit.
func TestSnapshotFromRowsMatchesFullRead(t *testing.T) {
	e := newEnv(t, historyConfig())
	runs := []ledger.Run{e.fetchMonth(t, "2026-09-01"), e.fetchMonth(t, "2026-10-01")}
	e.sim.SetRestated(true)
	runs = append(runs, e.fetchMonth(t, "2026-10-01"))
	// A customer whose receivables are of another period (stored, not
	// counted) and one whose fetch fails.
	cfg := historyConfig()
	cs := sherwebsim.New(cfg).Customers()
	cfg.Faults = sherwebsim.Faults{PeriodDiffersFor: []string{cs[4].ID}, FailCustomerAlways: []string{cs[1].ID}}
	fe := newEnv(t, cfg)
	faulted := fe.fetchMonth(t, "2026-10-01")
	ctx := context.Background()
	cov, err := fe.store.Coverage(ctx, faulted.ID)
	if err != nil {
		t.Fatal(err)
	}
	differs := 0
	for _, c := range cov {
		if c.Coverage == billing.CoveragePeriodDiffers {
			differs++
		}
	}
	if differs != 1 {
		t.Fatalf("the faulted run has %d period_differs customers, want 1", differs)
	}
	type stored struct {
		store *ledger.Store
		run   ledger.Run
	}
	var all []stored
	for _, r := range runs {
		all = append(all, stored{e.store, r})
	}
	all = append(all, stored{fe.store, faulted})
	for _, sr := range all {
		run, err := sr.store.Run(ctx, sr.run.ID)
		if err != nil {
			t.Fatal(err)
		}
		store := sr.store
		sopts := report.SnapshotOptions{LineKeys: true}
		fast, err := job.Snapshot(ctx, store, run, tolerance, sopts)
		if err != nil {
			t.Fatal(err)
		}
		full, err := job.Snapshot(ctx, runReaderOnly{store}, run, tolerance, sopts)
		if err != nil {
			t.Fatal(err)
		}
		if full.Result.PayableLines == 0 || full.Result.ReceivableLines == 0 || len(full.Result.Mismatches) == 0 {
			t.Fatalf("run %d: %d payable, %d receivable lines, %d findings: the test needs all three", run.ID,
				full.Result.PayableLines, full.Result.ReceivableLines, len(full.Result.Mismatches))
		}
		var a, b bytes.Buffer
		if err := full.Result.WriteJSON(&a); err != nil {
			t.Fatal(err)
		}
		if err := fast.Result.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) || !reflect.DeepEqual(full.Result, fast.Result) {
			t.Errorf("run %d: the Results differ", run.ID)
		}
		if !reflect.DeepEqual(full.BridgeLines(), fast.BridgeLines()) {
			t.Errorf("run %d: the bridge lines differ", run.ID)
		}
		if !reflect.DeepEqual(full.LineKeyTotals(), fast.LineKeyTotals()) {
			t.Errorf("run %d: the line key totals differ", run.ID)
		}
	}
}
