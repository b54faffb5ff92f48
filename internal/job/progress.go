package job

// Progress receives a close's progress, phase by phase, for a display. The
// job calls it from several goroutines and from hot loops (once per line),
// so an implementation must be safe for concurrent use and cheap: store a
// number, render elsewhere. A nil Progress in the options means none.
type Progress interface {
	// Phase starts a phase, ending the previous one. unit names what is
	// counted ("lines", "customers", "rows"); total is 0 when unknown.
	Phase(name, unit string, total int64)
	// Rows reports the units of the current phase done so far.
	Rows(done int64)
	// Done ends the current phase (nothing is shown until the next Phase).
	Done()
}

// The phases, in the order a close runs them.
const (
	PhasePayable   = "payable charges"
	PhaseStore     = "storing payable"
	PhaseCustomers = "customers"
	PhaseReconcile = "reconcile"
	PhaseWorkbook  = "workbook"
)

// nopProgress is the Progress of options without one.
type nopProgress struct{}

func (nopProgress) Phase(string, string, int64) {}
func (nopProgress) Rows(int64)                  {}
func (nopProgress) Done()                       {}

func orNop(p Progress) Progress {
	if p == nil {
		return nopProgress{}
	}
	return p
}
