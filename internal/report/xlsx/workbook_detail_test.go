package xlsx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// wbJitterDetail is a wbDetail whose two reads yield at random lines, so
// that the producers interleave differently from run to run.
type wbJitterDetail struct {
	wbDetail
	seed uint64
}

func (d *wbJitterDetail) jitter(r *rand.Rand) {
	switch r.IntN(50) {
	case 0:
		time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond)
	case 1, 2, 3:
		runtime.Gosched()
	}
}

func (d *wbJitterDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	r := rand.New(rand.NewPCG(d.seed, 1))
	return d.wbDetail.EachPayable(ctx, func(c *billing.PayableCharge) error {
		d.jitter(r)
		return fn(c)
	})
}

func (d *wbJitterDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	r := rand.New(rand.NewPCG(d.seed, 2))
	return d.wbDetail.EachReceivable(ctx, func(id string, c *billing.ReceivableCharge) error {
		d.jitter(r)
		return fn(id, c)
	})
}

// The Payable and Receivable sheets are produced at the same time, but the
// workbook is the one of producing them one after the other: money styles
// first used on the Receivable sheet (JPY, before any payable line ends),
// first used late on the Payable sheet (EUR, also on the Receivable sheet
// early), currencies whose formats coincide (codes that are not plain), and
// continuation sheets.
func TestDetailSheetsConcurrentMatchSequential(t *testing.T) {
	res, info, base := wbFixture(true)
	d := &wbJitterDetail{}
	for i := 0; i < 600; i++ {
		p := base.payables[i%len(base.payables)]
		p.ChargeID = fmt.Sprintf("pay-%04d", i)
		switch i {
		case 450:
			p.Currency = "EUR"
		case 500:
			p.Currency = "U$D"
		case 550:
			p.Currency = "GBP"
			p.ListPrice = wbND("1.5")
		}
		d.payables = append(d.payables, p)
	}
	for i := 0; i < 400; i++ {
		cur := "USD"
		switch i {
		case 0:
			cur = "JPY"
		case 3:
			cur = "EUR"
		case 5:
			cur = "C$D"
		case 7:
			cur = "GBP"
		}
		r := wbReceivable("C2", fmt.Sprintf("SKU-%03d", i), "Line", "2", "3.25", cur)
		d.receivables = append(d.receivables, r)
	}
	wbMatchSequential(t, res, info, d, nil, 0, 170)
	// The styles the sheets use are the ones their currencies need.
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	for _, c := range []struct{ sheet, cell, want string }{
		{SheetReceivable, "N2", `#,##0.00 "JPY";[Red]-#,##0.00 "JPY"`},
		{SheetReceivable, "L5", `#,##0.00#### "EUR";[Red]-#,##0.00#### "EUR"`},
		{SheetReceivable, "N7", `#,##0.00;[Red]-#,##0.00`},
		{SheetPayable, "N552", `#,##0.00#### "GBP";[Red]-#,##0.00#### "GBP"`},
	} {
		if got := wbNumFmt(t, f, c.sheet, c.cell); got != c.want {
			t.Errorf("%s!%s format = %q, want %q", c.sheet, c.cell, got, c.want)
		}
	}
}

// wbBlockingDetail fails one read after a few lines; the other read blocks
// after its first line until it is cancelled.
type wbBlockingDetail struct {
	wbDetail
	failPayable bool
	cancelled   chan struct{} // closed when the blocked read saw its cancellation
}

var errNotCancelled = errors.New("the blocked read was not cancelled")

func (d *wbBlockingDetail) block(ctx context.Context) error {
	select {
	case <-ctx.Done():
		close(d.cancelled)
		return ctx.Err()
	case <-time.After(20 * time.Second):
		return errNotCancelled
	}
}

func (d *wbBlockingDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	for i := range d.payables {
		if d.failPayable && i == 2 {
			return errDetail
		}
		if err := fn(&d.payables[i]); err != nil {
			return err
		}
		if !d.failPayable {
			return d.block(ctx)
		}
	}
	return nil
}

func (d *wbBlockingDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	for i := range d.receivables {
		if !d.failPayable && i == 1 {
			return errDetail
		}
		if err := fn(d.receivables[i].customerID, &d.receivables[i].c); err != nil {
			return err
		}
		if d.failPayable {
			return d.block(ctx)
		}
	}
	return nil
}

// A failing detail read is reported with its sheet, stops the other sheet's
// producer, and leaves no file behind.
func TestDetailSheetsReadErrorStopsTheOther(t *testing.T) {
	for _, tc := range []struct {
		name        string
		failPayable bool
		csv         bool
		want        string
	}{
		{"payable", true, false, "payable sheet: payable line 2: "},
		{"receivable", false, false, "receivable sheet: receivable line 1: "},
		{"payable csv", true, true, "write payable csv "},
		{"receivable csv", false, true, "write receivable csv "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, info, base := wbFixture(true)
			d := &wbBlockingDetail{wbDetail: *base, failPayable: tc.failPayable, cancelled: make(chan struct{})}
			dir := t.TempDir()
			path := filepath.Join(dir, "recon.xlsx")
			opts := WorkbookOptions{}
			if tc.csv {
				opts.Detail = DetailCSV
			}
			err := WriteWorkbook(context.Background(), path, res, wbAttrOf(res), info, d, opts)
			if !errors.Is(err, errDetail) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want the detail error after %q", err, tc.want)
			}
			select {
			case <-d.cancelled:
			default:
				t.Error("the other read was not cancelled")
			}
			if got := wbDirEntries(t, dir); len(got) != 0 {
				t.Errorf("dir holds %q after a failure", got)
			}
		})
	}
}

// The CSV files, written at the same time, are those written one after the
// other.
func TestDetailCSVConcurrentMatchSequential(t *testing.T) {
	res, _, base := wbFixture(true)
	d := &wbJitterDetail{wbDetail: *base}
	for i := 0; i < 2000; i++ {
		p := base.payables[i%len(base.payables)]
		p.ChargeID = fmt.Sprintf("pay-%04d", i)
		d.payables = append(d.payables, p)
		d.receivables = append(d.receivables, wbReceivable("C2", fmt.Sprintf("SKU-%04d", i), "Line", "2", "3.25", "USD"))
	}
	var wantPay, wantRec bytes.Buffer
	ctx := context.Background()
	if err := WritePayableCSV(ctx, &wantPay, res, wbAttrOf(res), &d.wbDetail); err != nil {
		t.Fatal(err)
	}
	if err := WriteReceivableCSV(ctx, &wantRec, res, &d.wbDetail); err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 4; seed++ {
		d.seed = seed
		dir := t.TempDir()
		path := filepath.Join(dir, "recon.xlsx")
		if err := WriteWorkbook(ctx, path, res, wbAttrOf(res), RunInfo{}, d, WorkbookOptions{Detail: DetailCSV}); err != nil {
			t.Fatal(err)
		}
		payPath, recPath := DetailCSVPaths(path)
		for _, c := range []struct {
			path string
			want []byte
		}{{payPath, wantPay.Bytes()}, {recPath, wantRec.Bytes()}} {
			got, err := os.ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.want) {
				t.Errorf("seed %d: %s differs from the sequential writer's output", seed, filepath.Base(c.path))
			}
		}
		if got := wbDirEntries(t, dir); !slices.Equal(got, []string{"recon-payable.csv", "recon-receivable.csv", "recon.xlsx"}) {
			t.Errorf("dir holds %q", got)
		}
	}
}

// wbJitterCommitments are commitment rows read with random yields, so that
// the Commitments sheet, written beside the detail sheets' producers,
// interleaves with them differently from run to run.
type wbJitterCommitments struct {
	rows report.CommitmentSlice
	seed *uint64
	fail int // > 0: the read fails after this many rows
}

var errCommitments = errors.New("commitments read failed")

func (c wbJitterCommitments) EachCommitment(ctx context.Context, fn func(*report.CommitmentRow) error) error {
	r := rand.New(rand.NewPCG(*c.seed, 3))
	for i := range c.rows {
		if c.fail > 0 && i == c.fail {
			return errCommitments
		}
		switch r.IntN(20) {
		case 0:
			time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
		case 1, 2:
			runtime.Gosched()
		}
		if err := fn(&c.rows[i]); err != nil {
			return err
		}
	}
	return nil
}

// wbCommitmentsDetail is a workbook whose Commitments sheet (written beside
// the detail sheets' producers) and detail sheets use money styles that
// each may create first: CHF unit prices first on the Payable sheet's first
// rows but created by the Commitments sheet's last rows, SEK on the
// Receivable sheet's first rows and the Commitments sheet's last, GBP on all
// three, NOK only on the detail sheets.
func wbCommitmentsDetail(seed *uint64) (*report.Result, RunInfo, *wbJitterDetail) {
	res, info, base := wbFixture(true)
	d := &wbJitterDetail{}
	for i := 0; i < 500; i++ {
		p := base.payables[i%len(base.payables)]
		p.ChargeID = fmt.Sprintf("pay-%04d", i)
		switch {
		case i < 3:
			p.Currency, p.ListPrice = "CHF", wbND("1.5")
		case i == 200:
			p.Currency, p.ListPrice = "GBP", wbND("1.5")
		case i == 300:
			p.Currency, p.ListPrice = "NOK", wbND("1.5")
		}
		d.payables = append(d.payables, p)
	}
	for i := 0; i < 300; i++ {
		cur := "USD"
		switch i {
		case 0:
			cur = "SEK"
		case 100:
			cur = "NOK"
		case 150:
			cur = "GBP"
		}
		d.receivables = append(d.receivables, wbReceivable("C2", fmt.Sprintf("SKU-%03d", i), "Line", "2", "3.25", cur))
	}
	var rows report.CommitmentSlice
	for i := 0; i < 400; i++ {
		cur := "USD"
		switch i {
		case 250:
			cur = "GBP"
		case 390:
			cur = "CHF"
		case 395:
			cur = "SEK"
		}
		rows = append(rows, report.CommitmentRow{CustomerID: "C2", SubscriptionID: fmt.Sprintf("s%03d", i), SKU: "SKU-A",
			Quantity: 5, TermType: "Annual", TermEnd: "2027-10-30", RenewalDate: "2027-10-31", UnitCost: wbND("12.5"),
			Currency: cur, Remaining: wbND("687.5")})
	}
	res.Subscriptions = &report.SubscriptionsBlock{Commitments: report.Commitments{
		Rows:   wbJitterCommitments{rows: rows, seed: seed},
		Totals: map[string]decimal.Decimal{"CHF": wbDec("687.5"), "GBP": wbDec("687.5"), "SEK": wbDec("687.5"), "USD": wbDec("687.5")},
	}}
	return res, info, d
}

// The Commitments sheet is written while the detail sheets are produced,
// but the workbook is the one of writing the sheets one after the other.
func TestDetailSheetsBesideCommitmentsMatchSequential(t *testing.T) {
	seed := uint64(1)
	res, info, d := wbCommitmentsDetail(&seed)
	wbMatchSequential(t, res, info, d, &seed, 0, 130)
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	for _, c := range []struct{ sheet, cell, want string }{
		{SheetPayable, "N2", `#,##0.00#### "CHF";[Red]-#,##0.00#### "CHF"`},
		{SheetCommitments, "N392", `#,##0.00#### "CHF";[Red]-#,##0.00#### "CHF"`},
		{SheetReceivable, "L2", `#,##0.00#### "SEK";[Red]-#,##0.00#### "SEK"`},
		{SheetReceivable, "L102", `#,##0.00#### "NOK";[Red]-#,##0.00#### "NOK"`},
		{SheetPayable, "N302", `#,##0.00#### "NOK";[Red]-#,##0.00#### "NOK"`},
	} {
		if got := wbNumFmt(t, f, c.sheet, c.cell); got != c.want {
			t.Errorf("%s!%s format = %q, want %q", c.sheet, c.cell, got, c.want)
		}
	}
}

// A failing Commitments read stops the detail sheets' producers (also one
// waiting for a money style the Commitments sheet would have created) and
// leaves no file behind.
func TestCommitmentsErrorStopsDetailProducers(t *testing.T) {
	seed := uint64(5)
	res, info, d := wbCommitmentsDetail(&seed)
	c := res.Subscriptions.Commitments.Rows.(wbJitterCommitments)
	c.fail = 50
	res.Subscriptions.Commitments.Rows = c
	dir := t.TempDir()
	path := filepath.Join(dir, "recon.xlsx")
	err := WriteWorkbook(context.Background(), path, res, wbAttrOf(res), info, d, WorkbookOptions{})
	if !errors.Is(err, errCommitments) || !strings.Contains(err.Error(), "commitments and amendments sheets: ") {
		t.Errorf("err = %v, want the commitments error", err)
	}
	if got := wbDirEntries(t, dir); len(got) != 0 {
		t.Errorf("dir holds %q after a failure", got)
	}
}

// wbMatchSequential renders d's workbook with each of maxRows rows per
// sheet, eight times with different interleavings of its readers (seeds 1
// to 8, given to d and, when not nil, to other, the seed of res's
// Commitments rows), and fails unless every file is byte for byte the
// rendering of d's rows without interleaving, itself excelize's sequential
// reference rendering but for the cell references (wbSameAsExcelize).
func wbMatchSequential(t *testing.T, res *report.Result, info RunInfo, d *wbJitterDetail, other *uint64, maxRows ...int) {
	t.Helper()
	for _, rows := range maxRows {
		opts := WorkbookOptions{MaxRowsPerSheet: rows}
		want := wbRender(t, res, info, &d.wbDetail, opts)
		wbSameAsExcelize(t, want, wbRenderRef(t, res, info, &d.wbDetail, opts))
		for seed := uint64(1); seed <= 8; seed++ {
			d.seed = seed
			if other != nil {
				*other = seed
			}
			if got := wbRender(t, res, info, d, opts); !bytes.Equal(got, want) {
				t.Fatalf("max rows %d, seed %d: the concurrent sheets give %d bytes, the sequential reference %d: the files differ",
					rows, seed, len(got), len(want))
			}
		}
	}
}
