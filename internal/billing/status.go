package billing

// Coverage says whether a customer's receivables can be used for the
// period. The values are part of the ledger and the JSON contract.
type Coverage string

// The coverage values.
const (
	CoverageAvailable     Coverage = "available"      // fetched, and the response's period is the payable period
	CoverageFetchFailed   Coverage = "fetch_failed"   // the fetch failed after retries
	CoveragePeriodDiffers Coverage = "period_differs" // fetched, but for another period (lines kept for audit)
)

// RunStatus is the state of a fetch run. A run starts RunRunning; when it
// finishes it is set to one of the others.
type RunStatus string

// The states of a run.
const (
	RunRunning  RunStatus = "running"
	RunComplete RunStatus = "complete" // payables, customers and every customer's receivables fetched
	RunPartial  RunStatus = "partial"  // some customers' receivables could not be fetched
	RunFailed   RunStatus = "failed"   // payables or customers could not be fetched, or interrupted
	// RunAbandoned: the process running it died (killed, power loss): its
	// heartbeat lease expired and a later run marked it. Never reportable.
	RunAbandoned RunStatus = "abandoned"
)

// Reportable tells whether a run with this status can be reconciled: only
// complete and partial runs can.
func (s RunStatus) Reportable() bool { return s == RunComplete || s == RunPartial }
