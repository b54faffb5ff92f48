package main

// Crash safety: `reconcile run` is killed with SIGKILL at many seeded points
// and re-run into the same ledger and output path. See TestCrashKillAndRerun.

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// testMainEnv switches the test binary into the reconcile program: the crash
// test re-executes itself as `reconcile run` (no second cgo build).
const testMainEnv = "RECONCILE_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(testMainEnv) == "1" {
		main() // exits
		return
	}
	// Every test on SQLite, then on PostgreSQL when available (see
	// backend_test.go).
	dbtest.Main(m)
}

// Knobs of the crash test. RECONCILE_CRASH_POINTS sets the number of kill
// points (default 15, or 8 in a -race build, whose subprocesses are several
// times slower — `make test` uses -race; use e.g. 200 for a long fault run)
// and RECONCILE_CRASH_SEED the seed of the kill points (default:
// crashDefaultSeed; the seed in use is logged so a failure can be replayed).
const (
	crashDefaultSeed = 20261031
	crashPeriodDate  = billing.Date("2026-10-01")
)

// The simulator is slowed down so that a run takes about a second: every API
// call waits crashLatency, and the payable stream stalls crashStall in its
// middle (half the lines are staged in the open payable transaction then).
// A -race build gets less data: its workbook write alone takes seconds.
func crashSimConfig() sherwebsim.Config {
	if raceBuild() {
		return sherwebsim.Config{Seed: 11, Customers: 12, Charges: 400}
	}
	return sherwebsim.Config{Seed: 11, Customers: 30, Charges: 2500}
}

func crashDefaultPoints() int {
	if dbtest.Backend() == dbtest.Postgres {
		return 5 // the PostgreSQL pass: a few points, one per phase
	}
	if raceBuild() {
		return 8
	}
	return 15
}

// raceBuild reports whether the test binary was built with -race.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

const (
	crashLatency = 8 * time.Millisecond
	crashStall   = 100 * time.Millisecond
)

func crashFaults() sherwebsim.Faults {
	return sherwebsim.Faults{Latency: crashLatency, StallMidBody: crashStall}
}

// The phases a kill point aims at. A point waits for its phase to begin (an
// event seen by the simulator or in the output folder), then a seeded delay
// within the phase's duration measured on the clean run. phaseAny is a seeded
// time since the start of the process.
type crashPhase int

const (
	phasePayable  crashPhase = iota // while the payable stream is stalled mid-body (open payable tx)
	phaseFanOut                     // during the per-customer receivables/subscriptions fan-out
	phaseFinish                     // just after the last receivables request: last SaveCustomerData txs, FinishRun
	phaseWorkbook                   // while the workbook temp file exists (render, sync, rename)
	phaseAny                        // anywhere from process start to a little past the clean run's end
	numPhases
)

func (p crashPhase) String() string {
	return [...]string{"payable-stream", "fan-out", "finish", "workbook", "any"}[p]
}

// simProbe wraps the simulator and reports events of the current attempt.
type simProbe struct {
	h http.Handler

	mu          sync.Mutex
	payableMid  chan struct{} // closed when the payable stream flushes mid-body (the stall begins)
	receivables int
	firstRecv   chan struct{} // closed at the first receivables request
	lastRecv    chan struct{} // closed when receivables were requested for every customer
	customers   int
	tFirstRecv  time.Time
	tLastRecv   time.Time
	tPayableMid time.Time
}

func newSimProbe(h http.Handler, customers int) *simProbe {
	p := &simProbe{h: h, customers: customers}
	p.reset()
	return p
}

func (p *simProbe) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.payableMid = make(chan struct{})
	p.firstRecv = make(chan struct{})
	p.lastRecv = make(chan struct{})
	p.receivables = 0
	p.tFirstRecv, p.tLastRecv, p.tPayableMid = time.Time{}, time.Time{}, time.Time{}
}

func (p *simProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case sherwebsim.PathPayable:
		p.mu.Lock()
		ch := p.payableMid
		p.mu.Unlock()
		w = &flushProbe{ResponseWriter: w, onFlush: func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.tPayableMid.IsZero() && ch == p.payableMid {
				p.tPayableMid = time.Now()
				close(ch)
			}
		}}
	case sherwebsim.PathReceivable:
		p.mu.Lock()
		p.receivables++
		if p.receivables == 1 {
			p.tFirstRecv = time.Now()
			close(p.firstRecv)
		}
		if p.receivables == p.customers {
			p.tLastRecv = time.Now()
			close(p.lastRecv)
		}
		p.mu.Unlock()
	}
	p.h.ServeHTTP(w, r)
}

type flushProbe struct {
	http.ResponseWriter
	onFlush func()
}

func (f *flushProbe) Flush() {
	f.onFlush()
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (f *flushProbe) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// crashEnv is one test's world: simulator, paths, clean reference.
type crashEnv struct {
	t      *testing.T
	sim    *sherwebsim.Server
	probe  *simProbe
	env    []string
	db     string // the one ledger shared by all attempts
	outDir string
	out    string // workbook
	json   string

	cleanOut      string // the clean run's workbook and JSON summary
	cleanJSONPath string
	cleanDigest   string
	cleanBook     *book
	cleanJSON     map[string]any
	cleanPeriod   billing.Period
	cleanPayables int

	// Durations measured on the clean run.
	dTotal, dPayableToRecv, dFanOut, dTail time.Duration
	dWorkbook                              time.Duration // from the temp file's creation to the rename
}

func newCrashEnv(t *testing.T) *crashEnv {
	sim := sherwebsim.New(crashSimConfig())
	probe := newSimProbe(sim, len(sim.Customers()))
	srv := httptest.NewServer(probe)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	e := &crashEnv{
		t: t, sim: sim, probe: probe,
		env: append(os.Environ(),
			testMainEnv+"=1",
			"SHERWEB_BASE_URL="+srv.URL,
			"SHERWEB_CLIENT_ID=sim-client",
			"SHERWEB_CLIENT_SECRET=sim-secret",
			"SHERWEB_SUBSCRIPTION_KEY=sim-key",
			"RECONCILE_DB=",
		),
		db:     crashDB(t, filepath.Join(dir, "ledger", "reconcile.db")),
		outDir: filepath.Join(dir, "out"),
	}
	e.out = filepath.Join(e.outDir, "close.xlsx")
	e.json = filepath.Join(e.outDir, "close.json")
	for _, d := range []string{filepath.Dir(e.db), e.outDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// attempt is one `reconcile run` subprocess.
type attempt struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	start          time.Time
	done           chan struct{} // closed when the process has exited (Wait returned)
	waitErr        error
}

// startRun starts `reconcile run` into db/out/json, with the simulator's
// once-faults (the mid-body stall) re-armed.
func (e *crashEnv) startRun(db, out, js string) *attempt {
	e.t.Helper()
	e.sim.SetFaults(crashFaults())
	e.probe.reset()
	a := &attempt{done: make(chan struct{})}
	a.cmd = exec.Command(os.Args[0], "run", "--period", "2026-10", "--db", db, "--out", out, "--json", js)
	a.cmd.Env = e.env
	a.cmd.Stdout, a.cmd.Stderr = &a.stdout, &a.stderr
	a.start = time.Now()
	if err := a.cmd.Start(); err != nil {
		e.t.Fatalf("start reconcile run: %v", err)
	}
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.done)
	}()
	return a
}

// wait waits for the process to exit by itself and returns its exit code.
func (a *attempt) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(2 * time.Minute):
		_ = a.cmd.Process.Kill()
		<-a.done
		t.Fatalf("reconcile run did not finish in 2 minutes\nstderr: %s", a.stderr.String())
	}
	return a.cmd.ProcessState.ExitCode()
}

// kill sends SIGKILL and reports whether the process was still running, i.e.
// it really died by the signal (false: it had already exited by itself).
func (a *attempt) kill(t *testing.T) (killed bool) {
	t.Helper()
	err := a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill reconcile run: %v", err)
	}
	ws, ok := a.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// workbookTempIn reports whether a workbook temp file or scratch dir for the
// output named base exists in dir, other than those in old (a killed run's
// leftovers).
func workbookTempIn(dir, base string, old []string) bool {
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		n := en.Name()
		if strings.HasPrefix(n, "."+base+"-") && strings.HasSuffix(n, ".tmp") && !slices.Contains(old, n) {
			return true
		}
	}
	return false
}

// waitWorkbookTemp polls dir until a new workbook temp file appears or the
// process ends; it returns false if the process ended first.
func waitWorkbookTemp(a *attempt, dir, base string, old []string) bool {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if workbookTempIn(dir, base, old) {
			return true
		}
		select {
		case <-a.done:
			return false
		case <-tick.C:
		}
	}
}

// leftovers lists the dot-files ending in .tmp (temp files and scratch dirs)
// in dir.
func leftovers(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") && strings.HasSuffix(en.Name(), ".tmp") {
			out = append(out, en.Name())
		}
	}
	return out
}

// cleanRun runs the close once, uninterrupted, into its own ledger and
// folder, records the reference digest and outputs, and measures the phases.
func (e *crashEnv) cleanRun() {
	t := e.t
	t.Helper()
	dir := filepath.Join(filepath.Dir(e.outDir), "clean")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := crashDB(t, filepath.Join(dir, "clean.db"))
	out := filepath.Join(dir, "close.xlsx")
	js := filepath.Join(dir, "close.json")
	e.cleanOut, e.cleanJSONPath = out, js
	a := e.startRun(db, out, js)
	// Watch the folder: when the workbook's temp file appears and when the
	// workbook is renamed into place.
	tmpSeen, renamed := make(chan time.Time, 1), make(chan time.Time, 1)
	go func() {
		defer close(renamed)
		defer close(tmpSeen)
		if !waitWorkbookTemp(a, dir, "close.xlsx", nil) {
			return
		}
		tmpSeen <- time.Now()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(out); err == nil {
				renamed <- time.Now()
				return
			}
			select {
			case <-a.done:
				return
			case <-tick.C:
			}
		}
	}()
	if code := a.wait(t); code != exitOK {
		t.Fatalf("clean run: exit %d\nstderr: %s", code, a.stderr.String())
	}
	end := time.Now()
	tWorkbook, ok := <-tmpSeen
	if !ok {
		tWorkbook = end // the write was quicker than the poll
	}
	tRenamed, ok := <-renamed
	if !ok {
		tRenamed = end
	}
	e.probe.mu.Lock()
	e.dTotal = end.Sub(a.start)
	e.dPayableToRecv = e.probe.tFirstRecv.Sub(e.probe.tPayableMid)
	e.dFanOut = e.probe.tLastRecv.Sub(e.probe.tFirstRecv)
	e.dTail = tWorkbook.Sub(e.probe.tLastRecv)
	e.probe.mu.Unlock()
	e.dWorkbook = tRenamed.Sub(tWorkbook)
	t.Logf("clean run: %v total; payable stall %v, stall start to first receivables %v, fan-out %v, last receivables request to workbook temp %v, workbook temp to rename %v, rename to exit %v",
		e.dTotal.Round(time.Millisecond), crashStall, e.dPayableToRecv.Round(time.Millisecond),
		e.dFanOut.Round(time.Millisecond), e.dTail.Round(time.Millisecond), e.dWorkbook.Round(time.Millisecond),
		end.Sub(tRenamed).Round(time.Millisecond))

	store := openLedger(t, db)
	defer store.Close()
	run, err := store.FindRun(context.Background(), crashPeriodDate)
	if err != nil {
		t.Fatalf("clean run: %v", err)
	}
	if run.Status != billing.RunComplete {
		t.Fatalf("clean run is %s, want complete", run.Status)
	}
	if e.cleanDigest, err = store.Digest(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	if e.cleanPayables, _, err = store.Counts(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	e.cleanPeriod = run.Period
	if e.cleanBook, err = openBook(out); err != nil {
		t.Fatalf("clean workbook: %v", err)
	}
	t.Cleanup(e.cleanBook.Close)
	if e.cleanJSON, err = jsonContent(js); err != nil {
		t.Fatalf("clean JSON: %v", err)
	}
	if l := leftovers(dir); len(l) > 0 {
		t.Fatalf("clean run left temporary files: %v", l)
	}
}

// crashDB is the crash test's ledger: the SQLite file path, or a fresh
// PostgreSQL database in the PostgreSQL pass.
func crashDB(t *testing.T, path string) string {
	if dbtest.Backend() == dbtest.Postgres {
		return dbtest.NewDatabase(t)
	}
	return path
}

func openLedger(t *testing.T, path string) *ledger.Store {
	t.Helper()
	store, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	return store
}

// integrityCheck runs PRAGMA integrity_check on the ledger file as the
// killed process left it (WAL included), before the ledger package touches it.
func integrityCheck(path string) error {
	if ledger.IsPostgres(path) {
		return nil // the server's own crash recovery
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		msgs = append(msgs, s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("integrity_check: %q", msgs)
	}
	return nil
}

// volatileLabels are the workbook rows that legitimately differ between two
// runs of the same data: the Run sheet's run id, start/finish times and call
// counters, and the Summary sheet's "Run ID" row. In such a row every cell
// after the label is masked; all other cells of all sheets must be equal.
var volatileLabels = map[string]bool{
	"Run ID": true, "Started": true, "Finished": true, "Calls": true, "Retries": true,
}

// wantSheets are the eleven sheets of the workbook, in order.
var wantSheets = []string{
	xlsx.SheetSummary, xlsx.SheetCustomers, xlsx.SheetProducts, xlsx.SheetMismatches, xlsx.SheetInvoices, xlsx.SheetExceptions,
	xlsx.SheetCommitments, xlsx.SheetAmendments,
	xlsx.SheetPayable, xlsx.SheetReceivable, xlsx.SheetRun,
}

// book is an opened workbook: its zip parts and, through excelize, its cells.
//
// Reading every cell with excelize.GetRows takes over a second for this
// workbook, too slow to do twice per kill point, so books are compared part by
// part: a worksheet whose XML is byte-identical to the clean run's (and that
// uses no shared strings, or the shared strings are identical too) has
// identical cells; every other worksheet is compared cell by cell with
// GetRows, volatile cells masked. The parts that are not worksheets must be
// byte-identical except xl/sharedStrings.xml (which holds the Summary's run
// id; the sheets using it are compared cell by cell).
type book struct {
	f      *excelize.File
	parts  map[string][]byte
	sheets map[string]string // sheet name -> zip part
	rows   map[string][][]string
}

// openBook opens an xlsx with excelize (it must open: a file at the output
// path is never broken) and reads its parts.
func openBook(path string) (*book, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("open %s with excelize: %w", path, err)
	}
	b := &book{f: f, parts: map[string][]byte{}, rows: map[string][][]string{}}
	if got := f.GetSheetList(); !slices.Equal(got, wantSheets) {
		f.Close()
		return nil, fmt.Errorf("%s has sheets %q, want %q", path, got, wantSheets)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s as zip: %w", path, err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: part %s: %w", path, zf.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: part %s: %w", path, zf.Name, err)
		}
		b.parts[zf.Name] = data
	}
	if b.sheets, err = sheetParts(b.parts); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

func (b *book) Close() { b.f.Close() }

// sheetParts maps sheet names to their worksheet parts, from xl/workbook.xml
// and its relationships.
func sheetParts(parts map[string][]byte) (map[string]string, error) {
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := xml.Unmarshal(parts["xl/workbook.xml"], &wb); err != nil {
		return nil, fmt.Errorf("parse xl/workbook.xml: %w", err)
	}
	var rels struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := xml.Unmarshal(parts["xl/_rels/workbook.xml.rels"], &rels); err != nil {
		return nil, fmt.Errorf("parse xl/_rels/workbook.xml.rels: %w", err)
	}
	target := map[string]string{}
	for _, r := range rels.Rel {
		t := r.Target
		if strings.HasPrefix(t, "/") {
			t = strings.TrimPrefix(t, "/")
		} else {
			t = "xl/" + t
		}
		target[r.ID] = t
	}
	out := map[string]string{}
	for _, s := range wb.Sheets {
		p, ok := target[s.RID]
		if !ok {
			return nil, fmt.Errorf("sheet %s: no relationship %s", s.Name, s.RID)
		}
		if _, ok := parts[p]; !ok {
			return nil, fmt.Errorf("sheet %s: part %s missing", s.Name, p)
		}
		out[s.Name] = p
	}
	return out, nil
}

// cells returns a sheet's cell text as GetRows reads it, volatile cells masked.
func (b *book) cells(sheet string) ([][]string, error) {
	if rows, ok := b.rows[sheet]; ok {
		return rows, nil
	}
	rows, err := b.f.GetRows(sheet)
	if err != nil {
		return nil, fmt.Errorf("read sheet %s: %w", sheet, err)
	}
	if sheet == xlsx.SheetRun || sheet == xlsx.SheetSummary {
		for _, r := range rows {
			for i, c := range r {
				if volatileLabels[c] {
					for j := i + 1; j < len(r); j++ {
						r[j] = "<volatile>"
					}
					break
				}
			}
		}
	}
	b.rows[sheet] = rows
	return rows, nil
}

const sharedStringsPart = "xl/sharedStrings.xml"

// sameContent reports how got differs from the clean workbook want (nil: the
// same content, volatile cells aside).
func sameContent(want, got *book) error {
	worksheet := map[string]bool{}
	for _, p := range want.sheets {
		worksheet[p] = true
	}
	if len(got.parts) != len(want.parts) {
		return fmt.Errorf("%d zip parts, clean workbook has %d", len(got.parts), len(want.parts))
	}
	for name, data := range want.parts {
		g, ok := got.parts[name]
		if !ok {
			return fmt.Errorf("part %s missing", name)
		}
		if !worksheet[name] && name != sharedStringsPart && !bytes.Equal(g, data) {
			return fmt.Errorf("part %s differs", name)
		}
	}
	sharedSame := bytes.Equal(got.parts[sharedStringsPart], want.parts[sharedStringsPart])
	for _, sh := range wantSheets {
		p := want.sheets[sh]
		if got.sheets[sh] != p {
			return fmt.Errorf("sheet %s is part %s, clean workbook has %s", sh, got.sheets[sh], p)
		}
		if bytes.Equal(got.parts[p], want.parts[p]) && (sharedSame || !bytes.Contains(want.parts[p], []byte(`t="s"`))) {
			continue
		}
		wr, err := want.cells(sh)
		if err != nil {
			return fmt.Errorf("clean workbook: %w", err)
		}
		gr, err := got.cells(sh)
		if err != nil {
			return err
		}
		if d := cmp.Diff(wr, gr); d != "" {
			return fmt.Errorf("sheet %s differs from the clean workbook's (-clean +got):\n%s", sh, d)
		}
	}
	return nil
}

// jsonContent reads a JSON summary without its "run_id", the one field that
// differs between runs of the same data.
func jsonContent(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if _, ok := m["run_id"]; !ok {
		return nil, fmt.Errorf("%s has no run_id", path)
	}
	delete(m, "run_id")
	return m, nil
}

// checkOutputs checks whatever is at the output paths: a workbook or JSON
// summary that exists must be whole and equal to the clean run's (the paths
// only ever hold a finished file of a complete run of the same data).
func (e *crashEnv) checkOutputs(mustExist bool) error {
	if _, err := os.Stat(e.out); err == nil || mustExist {
		got, err := openBook(e.out)
		if err != nil {
			return fmt.Errorf("workbook at the output path: %w", err)
		}
		defer got.Close()
		if err := sameContent(e.cleanBook, got); err != nil {
			return fmt.Errorf("workbook at the output path differs from the clean run's: %w", err)
		}
	}
	if _, err := os.Stat(e.json); err == nil || mustExist {
		got, err := jsonContent(e.json)
		if err != nil {
			return fmt.Errorf("JSON at the output path: %w", err)
		}
		if d := cmp.Diff(e.cleanJSON, got); d != "" {
			return fmt.Errorf("JSON summary at the output path differs from the clean run's, run_id aside (-clean +got):\n%s", d)
		}
	}
	return nil
}

// ledgerState checks the shared ledger after a kill or a re-run and returns
// the phase the newest run reached (for the log).
//
// Invariants: every run is running or complete (a SIGKILL leaves no chance to
// write "failed"); every complete run holds exactly the clean run's data
// (same digest) — a run is marked complete only by FinishRun, after all its
// data, so a run killed before that stays "running"; a running run holds no
// half-written transaction: no payable lines without its period (the payable
// batch and the period are one transaction), a customer list that is empty
// or whole, and for each customer either nothing or its coverage row with all
// its receivable lines (SaveCustomerData is one transaction); FindRun picks
// the newest complete run, never a running one.
func (e *crashEnv) ledgerState(digests map[int64]string) (newest ledger.Run, phase string, err error) {
	ctx := context.Background()
	if err := integrityCheck(e.db); err != nil {
		return newest, "", err
	}
	store, err := ledger.Open(ctx, e.db, ledger.Options{})
	if err != nil {
		return newest, "", err
	}
	defer store.Close()
	if err := store.ForeignKeyCheck(ctx); err != nil {
		return newest, "", err // the bulk writers skip the row-by-row check: none left behind by the kill
	}
	runs, err := store.Runs(ctx)
	if err != nil {
		return newest, "", err
	}
	if len(runs) == 0 {
		return newest, "before BeginRun", nil
	}
	var latestComplete int64
	for _, r := range runs {
		switch r.Status {
		case billing.RunComplete:
			latestComplete = max(latestComplete, r.ID)
			if _, ok := digests[r.ID]; !ok {
				d, err := store.Digest(ctx, r.ID)
				if err != nil {
					return newest, "", err
				}
				digests[r.ID] = d
			}
			if digests[r.ID] != e.cleanDigest {
				return newest, "", fmt.Errorf("run %d is complete but its digest %s differs from the clean run's %s", r.ID, digests[r.ID], e.cleanDigest)
			}
		case billing.RunRunning, billing.RunAbandoned:
			if err := e.checkRunning(ctx, store, r); err != nil {
				return newest, "", err
			}
		default:
			return newest, "", fmt.Errorf("run %d is %s: only running (killed) or complete runs expected", r.ID, r.Status)
		}
	}
	if latestComplete > 0 {
		found, err := store.FindRun(ctx, crashPeriodDate)
		if err != nil {
			return newest, "", err
		}
		if found.ID != latestComplete || found.Status != billing.RunComplete {
			return newest, "", fmt.Errorf("FindRun picked run %d (%s), want the newest complete run %d", found.ID, found.Status, latestComplete)
		}
	} else if found, err := store.FindRun(ctx, crashPeriodDate); !errors.Is(err, ledger.ErrNotFound) {
		return newest, "", fmt.Errorf("FindRun with no complete run: got run %d (%s), err %v; want ErrNotFound", found.ID, found.Status, err)
	}

	newest = runs[0]
	for _, r := range runs {
		if r.ID > newest.ID {
			newest = r
		}
	}
	if newest.Status == billing.RunComplete {
		return newest, "after FinishRun (complete)", nil
	}
	return newest, e.runningPhase(ctx, store, newest), nil
}

func (e *crashEnv) checkRunning(ctx context.Context, store *ledger.Store, r ledger.Run) error {
	payable, receivable, err := store.Counts(ctx, r.ID)
	if err != nil {
		return err
	}
	if r.Period.From == "" {
		if payable != 0 {
			return fmt.Errorf("killed run %d has %d payable lines but no period: half a payable transaction survived", r.ID, payable)
		}
	} else if payable != e.cleanPayables || !r.Period.Equal(e.cleanPeriod) {
		return fmt.Errorf("killed run %d has %d payable lines for %s, want %d for %s", r.ID, payable, r.Period, e.cleanPayables, e.cleanPeriod)
	}
	customers, err := store.Customers(ctx, r.ID)
	if err != nil {
		return err
	}
	if n := len(customers); n != 0 && n != len(e.sim.Customers()) {
		return fmt.Errorf("killed run %d has %d customers, want 0 or %d", r.ID, n, len(e.sim.Customers()))
	}
	cov, err := store.Coverage(ctx, r.ID)
	if err != nil {
		return err
	}
	want := 0
	for _, c := range cov {
		if c.Coverage != billing.CoverageAvailable {
			return fmt.Errorf("killed run %d: customer %s has coverage %s, want available", r.ID, c.CustomerID, c.Coverage)
		}
		want += len(e.sim.Receivables(c.CustomerID, e.cleanPeriod))
	}
	if receivable != want {
		return fmt.Errorf("killed run %d: %d receivable lines for its %d covered customers, want %d: a customer transaction is torn", r.ID, receivable, len(cov), want)
	}
	return nil
}

func (e *crashEnv) runningPhase(ctx context.Context, store *ledger.Store, r ledger.Run) string {
	if r.Period.From == "" {
		return "running, payable not committed"
	}
	customers, _ := store.Customers(ctx, r.ID)
	if len(customers) == 0 {
		return "running, payable committed, no customer list"
	}
	cov, _ := store.Coverage(ctx, r.ID)
	if len(cov) < len(customers) {
		return fmt.Sprintf("running, fan-out %d/%d customers stored", len(cov), len(customers))
	}
	return "running, all customers stored, not finished"
}

func crashPointsFromEnv(t *testing.T) (int, uint64) {
	n, seed := crashDefaultPoints(), uint64(crashDefaultSeed)
	if v := os.Getenv("RECONCILE_CRASH_POINTS"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 1 {
			t.Fatalf("RECONCILE_CRASH_POINTS=%q: want a positive integer", v)
		}
		n = i
	}
	if v := os.Getenv("RECONCILE_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RECONCILE_CRASH_SEED=%q: want an unsigned integer", v)
		}
		seed = s
	}
	return n, seed
}

// TestCrashKillAndRerun starts `reconcile run` as a subprocess against a slow
// simulator, kills it with SIGKILL at seeded points in each phase (payable
// stream, customer fan-out, the last transactions and FinishRun, the workbook
// write, and anywhere), and after each kill checks the ledger (integrity_check,
// no killed run complete, no torn transaction, FindRun never picks a killed
// run) and the output path (never a broken file), then re-runs into the same
// ledger and folder: exit 0, the newest complete run has the clean run's
// digest, the workbook and JSON equal the clean run's, and no temporary file
// of the killed run is left.
func TestCrashKillAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts subprocesses; skipped with -short")
	}
	points, seed := crashPointsFromEnv(t)
	t.Logf("%d kill points, seed %d (RECONCILE_CRASH_POINTS, RECONCILE_CRASH_SEED)", points, seed)
	e := newCrashEnv(t)
	e.cleanRun()

	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	digests := map[int64]string{}
	reached := map[string]int{}
	var lastID int64 // the newest run id before the current point
	for i := 0; i < points; i++ {
		phase := crashPhase(i % int(numPhases))
		frac := rng.Float64()
		stale := leftovers(e.outDir) // left by the previous point's kill, if not re-run since
		a := e.startRun(e.db, e.out, e.json)
		var delay time.Duration
		started := true
		switch phase {
		case phasePayable:
			started = waitOrDone(a, e.probe.payableMid)
			delay = time.Duration(frac * float64(crashStall))
		case phaseFanOut:
			started = waitOrDone(a, e.probe.firstRecv)
			delay = time.Duration(frac * float64(e.dFanOut))
		case phaseFinish:
			started = waitOrDone(a, e.probe.lastRecv)
			// The last customers' saves and FinishRun follow the last
			// receivables request within a few API latencies.
			delay = time.Duration(frac * float64(min(e.dTail, 4*crashLatency+20*time.Millisecond)))
		case phaseWorkbook:
			started = waitWorkbookTemp(a, e.outDir, filepath.Base(e.out), stale)
			// From the temp file's creation to about the rename (timing
			// jitter sometimes carries it past: directory sync, JSON).
			delay = time.Duration(frac * float64(e.dWorkbook))
		case phaseAny:
			delay = time.Duration(frac * 1.1 * float64(e.dTotal))
		}
		if started {
			select {
			case <-a.done:
			case <-time.After(delay):
			}
		}
		killedAt := time.Since(a.start)
		killed := a.kill(t)
		tmpAtKill := slices.DeleteFunc(leftovers(e.outDir), func(n string) bool { return slices.Contains(stale, n) })
		if !killed {
			if code := a.cmd.ProcessState.ExitCode(); code != exitOK {
				t.Fatalf("point %d (%s): the run exited %d before the kill\nstderr: %s", i, phase, code, a.stderr.String())
			}
		}

		// After the kill: ledger and output path.
		newest, reachedPhase, err := e.ledgerState(digests)
		if err != nil {
			t.Fatalf("point %d (%s, killed at %v): %v\nkilled run's stderr: %s", i, phase, killedAt, err, a.stderr.String())
		}
		switch {
		case !killed:
			reachedPhase = "exited before the kill"
		case newest.ID <= lastID:
			reachedPhase = "before BeginRun"
		case newest.Status == billing.RunComplete && len(tmpAtKill) > 0:
			reachedPhase = "complete, workbook being written"
		case newest.Status == billing.RunComplete && e.workbookRunID() == job.RunID(newest.ID):
			reachedPhase = "complete, workbook in place (JSON, exit)"
		}
		// A killed run that got as far as BeginRun had cleaned the output
		// folder first: the previous kill's temporary files are gone.
		if newest.ID > lastID {
			if still := slices.DeleteFunc(leftovers(e.outDir), func(n string) bool { return !slices.Contains(stale, n) }); len(still) > 0 {
				t.Fatalf("point %d (%s): run %d started but the previous killed run's temporary files remain: %v", i, phase, newest.ID, still)
			}
		}
		lastID = newest.ID
		coarse := reachedPhase
		if strings.HasPrefix(coarse, "running, fan-out") {
			coarse = "running, fan-out (some customers stored)"
		}
		reached[coarse]++
		t.Logf("point %2d: aim %-14s killed at %6v (+%v): run %d %s; left %v; stale before %v", i, phase,
			killedAt.Round(time.Millisecond), delay.Round(time.Millisecond), newest.ID, reachedPhase, tmpAtKill, stale)
		if err := e.checkOutputs(false); err != nil {
			t.Fatalf("point %d (%s) after the kill: %v", i, phase, err)
		}

		// Re-run to completion into the same ledger and folder, after every
		// second kill and after the last one: in between, a run starts from
		// the leftovers of a killed run, as when an operator's retry is
		// interrupted again.
		if i%2 == 1 || i == points-1 {
			lastID = e.rerun(t, i, phase, digests, tmpAtKill)
		}
	}
	keys := make([]string, 0, len(reached))
	for k := range reached {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("killed %-45s %d", k, reached[k])
	}
}

// rerun runs the close to completion into the shared ledger and folder and
// checks the result: exit 0, the newest run complete with the clean digest,
// the outputs equal to the clean run's, no temporary file left.
func (e *crashEnv) rerun(t *testing.T, i int, phase crashPhase, digests map[int64]string, tmpAtKill []string) (runID int64) {
	t.Helper()
	re := e.startRun(e.db, e.out, e.json)
	if code := re.wait(t); code != exitOK {
		t.Fatalf("point %d (%s): re-run exit %d\nstderr: %s", i, phase, code, re.stderr.String())
	}
	newest, _, err := e.ledgerState(digests)
	if err != nil {
		t.Fatalf("point %d (%s) after the re-run: %v", i, phase, err)
	}
	if newest.Status != billing.RunComplete {
		t.Fatalf("point %d (%s): the re-run's run %d is %s, want complete", i, phase, newest.ID, newest.Status)
	}
	if err := e.checkOutputs(true); err != nil {
		t.Fatalf("point %d (%s) after the re-run: %v", i, phase, err)
	}
	if l := leftovers(e.outDir); len(l) > 0 {
		t.Fatalf("point %d (%s): temporary files left after the re-run: %v (the last killed run left %v)", i, phase, l, tmpAtKill)
	}
	return newest.ID
}

// workbookRunID is the run id on the Run sheet of the workbook at the output
// path ("" if there is none).
func (e *crashEnv) workbookRunID() string {
	f, err := excelize.OpenFile(e.out)
	if err != nil {
		return ""
	}
	defer f.Close()
	if label, _ := f.GetCellValue(xlsx.SheetRun, "A2"); label != "Run ID" {
		return ""
	}
	id, _ := f.GetCellValue(xlsx.SheetRun, "B2")
	return id
}

// waitOrDone waits for ch or the process's end; it reports whether ch fired.
func waitOrDone(a *attempt, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-a.done:
		return false
	}
}

// TestCrashCheckersCatchDamage shows that the crash test's checks can fail: a
// killed run marked complete, a torn customer transaction, a broken or
// altered workbook and an altered JSON summary are all reported.
func TestCrashCheckersCatchDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts subprocesses; skipped with -short")
	}
	e := newCrashEnv(t)
	e.cleanRun()
	ctx := context.Background()

	// A run killed in the middle of the fan-out. The kill is aimed by the
	// clean run's timings; on a loaded machine the run may get past the
	// fan-out first, so aim again (a few times) rather than fail.
	digests := map[int64]string{}
	var killed ledger.Run
	var phase string
	for attempt := 1; ; attempt++ {
		a := e.startRun(e.db, e.out, e.json)
		if waitOrDone(a, e.probe.firstRecv) {
			time.Sleep(e.dFanOut / 2)
		}
		if !a.kill(t) {
			t.Fatal("the run finished before it could be killed")
		}
		var err error
		killed, phase, err = e.ledgerState(digests)
		if err != nil {
			t.Fatalf("untouched ledger after a kill: %v", err)
		}
		if killed.Status == billing.RunRunning {
			break
		}
		if attempt == 3 {
			t.Fatalf("killed run %d is %s (%s), want running", killed.ID, killed.Status, phase)
		}
		t.Logf("attempt %d: the kill came after the fan-out (run %d %s, %s); aiming again", attempt, killed.ID, killed.Status, phase)
	}
	t.Logf("killed run %d: %s", killed.ID, phase)
	// The damage is done with SQL through the backend's own driver
	// (PostgreSQL: $n placeholders, ctid for SQLite's rowid).
	driver, dsn, rowid := "sqlite3", "file:"+e.db, "rowid"
	if ledger.IsPostgres(e.db) {
		driver, dsn, rowid = "pgx", e.db, "ctid"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bind := func(q string) string {
		if driver == "pgx" {
			var b strings.Builder
			n := 0
			for _, r := range strings.ReplaceAll(q, "rowid", rowid) {
				if r == '?' {
					n++
					fmt.Fprintf(&b, "$%d", n)
					continue
				}
				b.WriteRune(r)
			}
			return b.String()
		}
		return q
	}
	execSQL := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, bind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	execSQL(`UPDATE runs SET status = 'complete' WHERE id = ?`, killed.ID)
	if _, _, err := e.ledgerState(digests); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("killed run marked complete: got %v, want a digest mismatch", err)
	}
	execSQL(`UPDATE runs SET status = 'running' WHERE id = ?`, killed.ID)
	delete(digests, killed.ID)
	if _, _, err := e.ledgerState(digests); err != nil {
		t.Fatalf("ledger restored: %v", err)
	}
	var covered int
	if err := db.QueryRowContext(ctx, bind(`SELECT count(*) FROM customer_coverage WHERE run_id = ?`), killed.ID).Scan(&covered); err != nil {
		t.Fatal(err)
	}
	if covered > 0 {
		// One line of one stored customer (the charge tables have no rowid since 0006).
		execSQL(`DELETE FROM receivable_charges WHERE run_id = ? AND line_no = 1
			AND customer_id = (SELECT min(customer_id) FROM receivable_charges WHERE run_id = ?)`, killed.ID, killed.ID)
		if _, _, err := e.ledgerState(digests); err == nil || !strings.Contains(err.Error(), "torn") {
			t.Errorf("receivable line deleted from a stored customer: got %v, want a torn transaction", err)
		}
	} else {
		t.Log("the killed run stored no customer: torn-transaction check not exercised")
	}

	// Outputs: the clean files pass; a truncated or altered workbook and an
	// altered JSON summary do not.
	clean, err := os.ReadFile(e.cleanOut)
	if err != nil {
		t.Fatal(err)
	}
	cleanJSON, err := os.ReadFile(e.cleanJSONPath)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(e.out, clean)
	write(e.json, cleanJSON)
	if err := e.checkOutputs(true); err != nil {
		t.Fatalf("the clean outputs themselves: %v", err)
	}
	write(e.out, clean[:len(clean)/2])
	if err := e.checkOutputs(true); err == nil {
		t.Error("a truncated workbook passed")
	}
	write(e.out, alterSheet(t, e.cleanBook, clean, xlsx.SheetPayable))
	if err := e.checkOutputs(true); err == nil || !strings.Contains(err.Error(), "sheet Payable") {
		t.Errorf("a workbook with an altered Payable cell: got %v, want a Payable difference", err)
	}
	write(e.out, clean)
	write(e.json, bytes.Replace(cleanJSON, []byte(`"complete": true`), []byte(`"complete": false`), 1))
	if err := e.checkOutputs(true); err == nil {
		t.Error("an altered JSON summary passed")
	}
}

// alterSheet returns the workbook xlsx with one character added to the first
// inline string of sheet's second row; every other part is copied unchanged.
func alterSheet(t *testing.T, b *book, xlsx []byte, sheet string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(xlsx), int64(len(xlsx)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	target := b.sheets[sheet]
	altered := false
	for _, zf := range zr.File {
		data := b.parts[zf.Name]
		if zf.Name == target {
			i := bytes.Index(data, []byte(`<row r="2"`))
			j := bytes.Index(data[max(i, 0):], []byte(`</t>`))
			if i < 0 || j < 0 {
				t.Fatalf("no inline string in row 2 of %s", sheet)
			}
			data = slices.Concat(data[:i+j], []byte("X"), data[i+j:])
			altered = true
		}
		w, err := zw.Create(zf.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil || !altered {
		t.Fatalf("rebuild workbook: %v (altered %v)", err, altered)
	}
	return out.Bytes()
}
