package job

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// Reconcile computes the reconciliation of a stored run from the ledger
// alone (no network). Lines are streamed from the ledger into the engine, so
// memory grows with the number of line keys, not with the number of lines.
func Reconcile(ctx context.Context, store *ledger.Store, run ledger.Run, opts report.Options) (*report.Result, error) {
	if run.Status != "complete" && run.Status != "partial" {
		return nil, fmt.Errorf("run %d is %s: only complete or partial runs can be reported", run.ID, run.Status)
	}
	customers, err := store.Customers(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read customers of run %d: %w", run.ID, err)
	}
	cov, err := store.Coverage(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read coverage of run %d: %w", run.ID, err)
	}
	in := report.Input{
		RunID:     RunID(run.ID),
		Period:    run.Period,
		Customers: customers,
		PayableOK: true,
	}
	for _, c := range cov {
		in.Coverage = append(in.Coverage, report.Coverage{
			CustomerID: c.CustomerID,
			Status:     string(c.Coverage),
			Error:      c.Error,
			Period:     c.Period,
		})
	}
	r := report.NewReconciler(in, opts)
	if err := store.EachPayable(ctx, run.ID, func(c *billing.PayableCharge) error {
		r.AddPayable(c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read payable charges of run %d: %w", run.ID, err)
	}
	if err := store.EachReceivable(ctx, run.ID, func(id string, c *billing.ReceivableCharge) error {
		r.AddReceivable(id, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read receivable charges of run %d: %w", run.ID, err)
	}
	return r.Result(), nil
}

// RunID renders a ledger run id as it appears in reports.
func RunID(id int64) string { return strconv.FormatInt(id, 10) }

// RunInfo is the provenance of a run for the workbook's Run sheet.
func RunInfo(run ledger.Run, settings []Setting) report.RunInfo {
	info := report.RunInfo{
		RunID:       RunID(run.ID),
		ToolVersion: run.ToolVersion,
		BaseURL:     run.BaseURL,
		Status:      string(run.Status),
		StartedAt:   formatTime(run.StartedAt),
		FinishedAt:  formatTime(run.FinishedAt),
		Calls:       run.Calls,
		Retries:     run.Retries,
	}
	info.Settings = append(info.Settings, [2]string{"requested date", string(run.RequestedDate)})
	// The settings stored with the fetch, then those of this report.
	var stored []struct{ k, v string }
	if run.Settings != "" {
		dec := json.NewDecoder(strings.NewReader(run.Settings))
		if tok, err := dec.Token(); err == nil && tok == json.Delim('{') {
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					break
				}
				var v any
				if err := dec.Decode(&v); err != nil {
					break
				}
				k, _ := kt.(string)
				stored = append(stored, struct{ k, v string }{k, fmt.Sprint(v)})
			}
		}
	}
	for _, kv := range stored {
		info.Settings = append(info.Settings, [2]string{kv.k, kv.v})
	}
	for _, s := range settings {
		info.Settings = append(info.Settings, [2]string{s.Name, s.Value})
	}
	if run.Error != "" {
		info.Settings = append(info.Settings, [2]string{"run error", run.Error})
	}
	return info
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Detail adapts one ledger run to report.Detail.
type Detail struct {
	Store *ledger.Store
	RunID int64
}

// EachPayable implements report.Detail.
func (d Detail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	return d.Store.EachPayable(ctx, d.RunID, fn)
}

// EachReceivable implements report.Detail.
func (d Detail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	return d.Store.EachReceivable(ctx, d.RunID, fn)
}

var _ report.Detail = Detail{}

// countingDetail counts the detail lines a workbook writer reads.
type countingDetail struct {
	d    report.Detail
	rows int64
}

func (c *countingDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	return c.d.EachPayable(ctx, func(p *billing.PayableCharge) error {
		c.rows++
		return fn(p)
	})
}

func (c *countingDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	return c.d.EachReceivable(ctx, func(id string, r *billing.ReceivableCharge) error {
		c.rows++
		return fn(id, r)
	})
}

// Outputs says where to write a reconciliation.
type Outputs struct {
	Workbook string    // path of the .xlsx; "" for none
	JSON     string    // path of the JSON summary; "-" for Stdout; "" for none
	Stdout   io.Writer // for JSON "-"
	Options  report.WorkbookOptions
	// Logger, when set, receives the workbook stage's timing at Info level.
	Logger *slog.Logger
}

// WriteOutputs writes the workbook and the JSON summary. Both are written
// atomically (temporary file in the target folder, fsync, rename): a failure
// leaves whatever was at the target paths untouched.
func WriteOutputs(ctx context.Context, store *ledger.Store, run ledger.Run, res *report.Result, info report.RunInfo, out Outputs) error {
	if out.Workbook != "" {
		start := time.Now()
		d := &countingDetail{d: Detail{Store: store, RunID: run.ID}}
		if err := report.WriteWorkbook(ctx, out.Workbook, res, info, d, out.Options); err != nil {
			return fmt.Errorf("write workbook %s: %w", out.Workbook, err)
		}
		summary := int64(len(res.Customers) + len(res.Products) + len(res.Mismatches))
		LogStage(out.Logger, "workbook write", start, d.rows+summary, "rows",
			"detail_rows", d.rows, "summary_rows", summary)
	}
	switch out.JSON {
	case "":
	case "-":
		if err := res.WriteJSON(out.Stdout); err != nil {
			return fmt.Errorf("write JSON summary to stdout: %w", err)
		}
	default:
		if err := WriteFileAtomic(out.JSON, res.WriteJSON); err != nil {
			return fmt.Errorf("write JSON summary %s: %w", out.JSON, err)
		}
	}
	return nil
}

// WriteFileAtomic writes a file through a temporary file in the same folder,
// fsyncs it and renames it over path, then fsyncs the folder.
func WriteFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+"-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()           // already failing: best-effort cleanup of the temporary file
			_ = os.Remove(tmp.Name()) // already failing: best-effort cleanup of the temporary file
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	mode := os.FileMode(0o644) // a replaced file keeps its mode
	if st, serr := os.Stat(path); serr == nil {
		mode = st.Mode().Perm()
	}
	if err = os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close() // the folder, opened read-only for Sync
	}
	return nil
}
