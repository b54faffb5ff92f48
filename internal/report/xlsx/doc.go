// Package xlsx renders a reconciliation (report.Result) as the finance
// workbook, and its payable and receivable detail as sheets or CSV files.
//
// It holds everything that knows excelize: the sheets (Summary, Customers,
// Products, Mismatches, Invoices, Payable, Receivable, Run), their styles and text
// rules, the fast row encoder of the table sheets (workbook_rows.go, which
// writes the bytes excelize's StreamWriter would, less the cell references
// a reader infers), the table sheets' zip
// parts compressed on their own goroutines while the rows are read
// (workbook_parts.go), the sorted zip that makes the file byte-identical for
// the same inputs, and the CSV detail. Outputs
// are written atomically through package atomicfile (WriteWorkbook); the
// rows of the detail are streamed from a Detail, and the attribution of
// each payable line comes from an Attributor (the engine's
// report.Attributor), passed beside the Result.
//
// # excelize version
//
// excelize is pinned in go.mod (v2.11.1). The output must be deterministic
// and byte-identical to the golden files (testdata/workbook) and to
// sample-output/; the row encoder copies excelize's encoding (the tests
// fill the references it leaves out back in and compare). An excelize
// bump is only acceptable with the byte-equality tests green:
// TestWorkbookGolden, TestRowEncoderMatchesExcelize,
// TestWorkbookFastRowsMatchExcelize, TestWorkbookManyChunksMatchExcelize,
// TestWorkbookDeterministic
// and TestSampleOutputIsCurrent in cmd/reconcile.
package xlsx
