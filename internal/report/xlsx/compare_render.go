package xlsx

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/xuri/excelize/v2"
)

// The comparison and trend workbooks share the close workbook's machinery:
// the builder's styles and table sheets (rows compressed as they come, workbook_parts.go), the
// sorted zip (deterministic bytes) and the atomic write.

// writeAtomic renders a workbook to path atomically (temp file in path's
// folder, fsync, rename, fsync of the folder): on an error path is untouched.
func writeAtomic(ctx context.Context, path string, opts WorkbookOptions, label string, build func(*builder) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("write workbook %q: no file name", path)
	}
	if opts.TmpDir == "" {
		opts.TmpDir = dir
	}
	a, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			a.Abort()
		}
	}()
	bw := bufio.NewWriterSize(a, 1<<20)
	if err := renderWith(ctx, bw, opts, label, build); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := a.Finish(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := a.Commit(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	done = true
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("write workbook %s: sync directory: %w", path, err)
	}
	return nil
}

// renderWith renders a comparison or trend workbook built by build to w
// (renderBuilder, the close's engine), every sheet printed landscape and one
// page wide.
func renderWith(ctx context.Context, w io.Writer, opts WorkbookOptions, label string, build func(*builder) error) error {
	if opts.TmpDir == "" {
		opts.TmpDir = os.TempDir()
	}
	b := &builder{res: &report.Result{}, names: map[string]string{}}
	return renderBuilder(ctx, w, opts, label, b, func(b *builder) error {
		if err := build(b); err != nil {
			return err
		}
		for _, sheet := range b.f.GetSheetList() {
			if err := b.f.SetPageLayout(sheet, &excelize.PageLayoutOptions{
				Orientation: ptr("landscape"), FitToWidth: ptr(1), FitToHeight: ptr(0),
			}); err != nil {
				return fmt.Errorf("sheet %q: page layout: %w", sheet, err)
			}
			if err := b.f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: ptr(true)}); err != nil {
				return fmt.Errorf("sheet %q: %w", sheet, err)
			}
		}
		return nil
	})
}

// page writes cells of a designed sheet (Summary) with the normal API.
type page struct {
	b     *builder
	sheet string
	row   int // last written row
}

func (p *page) set(col int, v any) error {
	if v == nil {
		return nil
	}
	ref, err := excelize.CoordinatesToCellName(col, p.row)
	if err != nil {
		return err
	}
	f := p.b.f
	style := 0
	if c, ok := v.(excelize.Cell); ok {
		style, v = c.StyleID, c.Value
	}
	switch v := v.(type) {
	case nil:
	case string:
		err = f.SetCellStr(p.sheet, ref, v)
	default:
		err = f.SetCellValue(p.sheet, ref, v)
	}
	if err != nil {
		return fmt.Errorf("sheet %s cell %s: %w", p.sheet, ref, err)
	}
	if style != 0 {
		if err := f.SetCellStyle(p.sheet, ref, ref, style); err != nil {
			return fmt.Errorf("sheet %s cell %s style: %w", p.sheet, ref, err)
		}
	}
	return nil
}

// line writes the next row, cells from column 1.
func (p *page) line(cells ...any) error {
	p.row++
	for i, v := range cells {
		if err := p.set(i+1, v); err != nil {
			return err
		}
	}
	return nil
}

// header is a header-styled text cell.
func (b *builder) header(s string) excelize.Cell {
	return excelize.Cell{StyleID: b.st.header, Value: s}
}

// setWidths sets the column widths of a designed sheet.
func (b *builder) setWidths(sheet string, ws ...float64) error {
	for i, w := range ws {
		name, err := excelize.ColumnNumberToName(i + 1)
		if err != nil {
			return err
		}
		if err := b.f.SetColWidth(sheet, name, name, w); err != nil {
			return err
		}
	}
	return nil
}

// runTable writes the Run sheet of fields and values.
func (b *builder) runTable(rows [][2]string) error {
	t, err := b.newTable(SheetRun, []column{{"Field", 28}, {"Value", 60}})
	if err != nil {
		return err
	}
	for _, r := range rows {
		t.row = append(t.row[:0], textCell(r[0]), textCell(r[1]))
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}
