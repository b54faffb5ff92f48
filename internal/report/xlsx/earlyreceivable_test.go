package xlsx

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// earlyCustomers is the customer list of the fixture's Result (ids and
// names), in reverse byte order.
func earlyCustomers(res *report.Result) []billing.Customer {
	var cs []billing.Customer
	for _, r := range res.Customers {
		cs = append(cs, billing.Customer{ID: r.CustomerID, DisplayName: r.CustomerName})
	}
	slices.SortFunc(cs, func(a, b billing.Customer) int { return strings.Compare(b.ID, a.ID) })
	return cs
}

// earlyLinesOf reads customer id's lines of d, in d's order.
func earlyLinesOf(d *wbDetail, id string) func(func(string, *billing.ReceivableCharge) error) error {
	return func(fn func(string, *billing.ReceivableCharge) error) error {
		for i := range d.receivables {
			if r := &d.receivables[i]; r.customerID == id {
				if err := fn(r.customerID, &r.c); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// earlyGiveAll gives e every customer of cs, concurrently, in cs's order:
// the customers with lines in d as available, the others as not.
func earlyGiveAll(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			has := slices.ContainsFunc(d.receivables, func(r wbRecv) bool { return r.customerID == c.ID })
			e.Customer(c.ID, has, earlyLinesOf(d, c.ID))
		})
	}
	wg.Wait()
}

func TestEarlyReceivableCSVIsUsedAndIdentical(t *testing.T) {
	ctx := context.Background()
	res, info, d := wbFixture(true)
	attr := wbAttrOf(res)
	want := earlyReference(t, attr)
	cs := earlyCustomers(res)
	if len(cs) < 4 || len(d.receivables) < 3 {
		t.Fatalf("fixture: %d customers, %d receivable lines", len(cs), len(d.receivables))
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "recon.xlsx")
	e := StartReceivableCSV(ctx, path, cs)
	defer e.Close()
	earlyGiveAll(e, cs, d)
	e.Finish()
	// The workbook's receivable file is the one written ahead: a detail
	// without receivable lines would write an empty one.
	noRecv := *d
	noRecv.receivables = nil
	if err := WriteWorkbook(ctx, path, res, attr, info, &noRecv, WorkbookOptions{Detail: DetailCSV, EarlyReceivable: e}); err != nil {
		t.Fatal(err)
	}
	used, lines := e.Used()
	if !used || e.Unused() != "" {
		t.Fatalf("the file written ahead was not used: %s", e.Unused())
	}
	if lines != int64(len(d.receivables)) {
		t.Errorf("lines = %d, want %d", lines, len(d.receivables))
	}
	e.Close()
	earlySame(t, earlyFiles(t, dir), want)
}

func TestEarlyReceivableCSVFallsBack(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		// give gives the customers and finishes (or not); workbook is the
		// early file's workbook ("" the real one).
		give     func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail)
		rename   bool // the customer list names a customer otherwise than the Result
		workbook string
		want     string // in Unused
	}{
		"not every customer stored": {
			give: func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) { earlyGiveAll(e, cs, d) },
			want: "did not store every customer",
		},
		"another workbook": {
			give:     func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) { earlyGiveAll(e, cs, d); e.Finish() },
			workbook: "other.xlsx",
			want:     "other.xlsx",
		},
		"a name not the result's": {
			give:   func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) { earlyGiveAll(e, cs, d); e.Finish() },
			rename: true,
			want:   "in the result, not",
		},
		"a customer given twice": {
			give: func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) {
				e.Customer(cs[0].ID, false, nil)
				earlyGiveAll(e, cs, d)
				e.Finish()
			},
			want: "given twice",
		},
		"a customer not in the list": {
			give: func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) {
				e.Customer("C9", false, nil)
				earlyGiveAll(e, cs, d)
				e.Finish()
			},
			want: "customer C9 is not in the customer list",
		},
		"lines not encoded": {
			give: func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) {
				for _, c := range cs {
					e.Customer(c.ID, true, nil)
				}
				e.Finish()
			},
			want: "were not encoded",
		},
		"a line fails": {
			give: func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) {
				for _, c := range cs {
					e.Customer(c.ID, true, func(func(string, *billing.ReceivableCharge) error) error { return errDetail })
				}
				e.Finish()
			},
			want: errDetail.Error(),
		},
		"too much waiting for a customer before them": {
			give: func(e *EarlyReceivable, cs []billing.Customer, d *wbDetail) {
				// The last customer first, with more lines than the file
				// holds while it waits for the others.
				big := d.receivables[0].c
				big.ProductName = strings.Repeat("x", 4096)
				last := cs[0].ID
				e.Customer(last, true, func(fn func(string, *billing.ReceivableCharge) error) error {
					for range earlyReceivableHold/4096 + 1 {
						if err := fn(last, &big); err != nil {
							return err
						}
					}
					return nil
				})
				earlyGiveAll(e, cs[1:], d)
				e.Finish()
			},
			want: "waited for the customers before them",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res, info, d := wbFixture(true)
			attr := wbAttrOf(res)
			want := earlyReference(t, attr)
			dir := t.TempDir()
			path := filepath.Join(dir, "recon.xlsx")
			cs := earlyCustomers(res)
			if tc.rename {
				for i := range cs {
					if cs[i].ID == "C2" {
						cs[i].DisplayName = "Acme (renamed)"
					}
				}
			}
			ep := path
			if tc.workbook != "" {
				ep = filepath.Join(dir, tc.workbook)
			}
			e := StartReceivableCSV(ctx, ep, cs)
			defer e.Close()
			tc.give(e, cs, d)
			err := WriteWorkbook(ctx, path, res, attr, info, d, WorkbookOptions{Detail: DetailCSV, EarlyReceivable: e})
			earlyNotUsed(t, e, err, tc.want, dir, want)
		})
	}
}

func TestEarlyReceivableCSVCloseRemovesTemp(t *testing.T) {
	t.Run("cancelled while waiting for a customer", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res, _, d := wbFixture(true)
		dir := t.TempDir()
		cs := earlyCustomers(res)
		e := StartReceivableCSV(ctx, filepath.Join(dir, "recon.xlsx"), cs)
		earlyGiveAll(e, cs[:1], d) // the last one only: the writer waits for the first
		cancel()
		<-e.done
		if err := e.err; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want the cancellation", err)
		}
		e.Close()
		if got := wbDirEntries(t, dir); len(got) != 0 {
			t.Errorf("dir holds %q after a cancelled write, want nothing", got)
		}
	})
	t.Run("closed before the workbook", func(t *testing.T) {
		res, _, d := wbFixture(true)
		dir := t.TempDir()
		cs := earlyCustomers(res)
		e := StartReceivableCSV(context.Background(), filepath.Join(dir, "recon.xlsx"), cs)
		earlyGiveAll(e, cs, d)
		e.Finish()
		<-e.done
		if got := wbDirEntries(t, dir); len(got) != 1 || !strings.HasSuffix(got[0], ".tmp") {
			t.Fatalf("dir holds %q, want the finished temp file", got)
		}
		e.Close() // the close failed before its workbook stage
		if got := wbDirEntries(t, dir); len(got) != 0 {
			t.Errorf("dir holds %q after Close, want nothing", got)
		}
	})
}
