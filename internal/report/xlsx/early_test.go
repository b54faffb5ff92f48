package xlsx

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// earlyCountingDetail counts the payable reads of a Detail.
type earlyCountingDetail struct {
	Detail
	payableReads atomic.Int32
}

func (d *earlyCountingDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	d.payableReads.Add(1)
	return d.Detail.EachPayable(ctx, fn)
}

// earlyReference writes the workbook and its CSV files without a file
// written ahead, and returns their bytes by file name.
func earlyReference(t *testing.T, attr Attributor) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	res, info, d := wbFixture(true)
	if err := WriteWorkbook(context.Background(), filepath.Join(dir, "recon.xlsx"), res, attr, info, d, WorkbookOptions{Detail: DetailCSV}); err != nil {
		t.Fatal(err)
	}
	return earlyFiles(t, dir)
}

func earlyFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range wbDirEntries(t, dir) {
		out[name] = mustRead(t, filepath.Join(dir, name))
	}
	return out
}

func earlySame(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"recon-payable.csv", "recon-receivable.csv", "recon.xlsx"}; !slices.Equal(names, want) {
		t.Fatalf("dir holds %q, want %q (no temp file)", names, want)
	}
	for n, b := range want {
		if !bytes.Equal(got[n], b) {
			t.Errorf("%s differs from the one written without a file written ahead", n)
		}
	}
}

func TestEarlyPayableCSVIsUsedAndIdentical(t *testing.T) {
	ctx := context.Background()
	res, info, d := wbFixture(true)
	attr := wbAttrOf(res)
	want := earlyReference(t, attr)

	dir := t.TempDir()
	path := filepath.Join(dir, "recon.xlsx")
	cd := &earlyCountingDetail{Detail: d}
	e := StartPayableCSV(ctx, path, attr, cd)
	defer e.Close()
	if err := WriteWorkbook(ctx, path, res, attr, info, cd, WorkbookOptions{Detail: DetailCSV, EarlyPayable: e}); err != nil {
		t.Fatal(err)
	}
	used, lines := e.Used()
	if !used || e.Unused() != "" {
		t.Fatalf("the file written ahead was not used: %s", e.Unused())
	}
	if lines != int64(len(d.payables)) {
		t.Errorf("lines = %d, want %d", lines, len(d.payables))
	}
	if n := cd.payableReads.Load(); n != 1 {
		t.Errorf("the payable lines were read %d times, want once (ahead)", n)
	}
	e.Close()
	earlySame(t, earlyFiles(t, dir), want)
}

func TestEarlyPayableCSVFallsBack(t *testing.T) {
	ctx := context.Background()
	// nameless attributes like the fixture's attribution but gives no
	// name: the payable file then takes the names from the Result.
	nameless := func(attr Attributor) Attributor {
		return wbAttributeFunc(func(c *billing.PayableCharge) (string, string, string) {
			id, _, reason := attr.Attribute(c)
			return id, "", reason
		})
	}
	cases := map[string]struct {
		attr  func(Attributor) Attributor
		early func(path string, d *wbDetail) (string, Detail) // the early file's workbook and detail
		want  string                                          // in Unused
	}{
		"read error ahead": {
			early: func(path string, d *wbDetail) (string, Detail) {
				bad := *d
				bad.failAt = 3
				return path, &bad
			},
			want: errDetail.Error(),
		},
		"another workbook": {
			early: func(path string, d *wbDetail) (string, Detail) {
				return filepath.Join(filepath.Dir(path), "other.xlsx"), d
			},
			want: "other.xlsx",
		},
		"names from the result": {
			attr:  nameless,
			early: func(path string, d *wbDetail) (string, Detail) { return path, d },
			want:  "has a name in the result",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res, info, d := wbFixture(true)
			attr := wbAttrOf(res)
			if tc.attr != nil {
				attr = tc.attr(attr)
			}
			want := earlyReference(t, attr)
			dir := t.TempDir()
			path := filepath.Join(dir, "recon.xlsx")
			ep, ed := tc.early(path, d)
			e := StartPayableCSV(ctx, ep, attr, ed)
			err := WriteWorkbook(ctx, path, res, attr, info, d, WorkbookOptions{Detail: DetailCSV, EarlyPayable: e})
			earlyNotUsed(t, e, err, tc.want, dir, want)
		})
	}
}

// earlyOutcome is what a test asks of a file written ahead.
type earlyOutcome interface {
	Used() (bool, int64)
	Unused() string
	Close()
}

// earlyNotUsed checks that the workbook was written (err) without the file
// e written ahead, for reason, and that dir then holds the files want
// holds (those written without a file ahead).
func earlyNotUsed(t *testing.T, e earlyOutcome, err error, reason, dir string, want map[string][]byte) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if used, _ := e.Used(); used || !strings.Contains(e.Unused(), reason) {
		t.Errorf("used %v, unused %q; want not used, saying %q", used, e.Unused(), reason)
	}
	e.Close()
	earlySame(t, earlyFiles(t, dir), want)
}

func TestEarlyPayableCSVWorkbookFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	res, info, d := wbFixture(true)
	attr := wbAttrOf(res)
	dir := t.TempDir()
	path := filepath.Join(dir, "recon.xlsx")
	e := StartPayableCSV(ctx, path, attr, d)
	defer e.Close()
	// The payable file is taken; the workbook then fails.
	err := WriteWorkbook(ctx, path, res, attr, info, d, WorkbookOptions{Detail: DetailCSV, EarlyPayable: e, MaxRowsPerSheet: -1})
	if err == nil {
		t.Fatal("WriteWorkbook succeeded")
	}
	e.Close()
	if got := wbDirEntries(t, dir); len(got) != 0 {
		t.Errorf("dir holds %q after a failure, want nothing", got)
	}
}

func TestEarlyPayableCSVCancelRemovesTemp(t *testing.T) {
	t.Run("cancelled while writing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res, _, d := wbFixture(true)
		dir := t.TempDir()
		bd := &wbBlockingDetail{wbDetail: *d, cancelled: make(chan struct{})}
		e := StartPayableCSV(ctx, filepath.Join(dir, "recon.xlsx"), wbAttrOf(res), bd)
		cancel()
		<-bd.cancelled
		e.Close()
		if got := wbDirEntries(t, dir); len(got) != 0 {
			t.Errorf("dir holds %q after a cancelled write, want nothing", got)
		}
		if err := e.err; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want the cancellation", err)
		}
	})
	t.Run("closed before the workbook", func(t *testing.T) {
		res, _, d := wbFixture(true)
		dir := t.TempDir()
		e := StartPayableCSV(context.Background(), filepath.Join(dir, "recon.xlsx"), wbAttrOf(res), d)
		<-e.done
		if got := wbDirEntries(t, dir); len(got) != 1 || !strings.HasSuffix(got[0], ".tmp") {
			t.Fatalf("dir holds %q, want the finished temp file", got)
		}
		e.Close() // the close failed before its workbook stage
		if got := wbDirEntries(t, dir); len(got) != 0 {
			t.Errorf("dir holds %q after Close, want nothing", got)
		}
	})
	t.Run("workbook cancelled while waiting", func(t *testing.T) {
		res, info, d := wbFixture(true)
		dir := t.TempDir()
		path := filepath.Join(dir, "recon.xlsx")
		bd := &wbBlockingDetail{wbDetail: *d, cancelled: make(chan struct{})}
		e := StartPayableCSV(context.Background(), path, wbAttrOf(res), bd)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := WriteWorkbook(ctx, path, res, wbAttrOf(res), info, d, WorkbookOptions{Detail: DetailCSV, EarlyPayable: e})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want the cancellation", err)
		}
		e.Close()
		if got := wbDirEntries(t, dir); len(got) != 0 {
			t.Errorf("dir holds %q, want nothing", got)
		}
	})
}
