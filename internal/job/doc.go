// Package job wires the pieces of a monthly close together: it fetches a
// billing period from the Sherweb APIs into a new immutable ledger run
// (Fetch), reconciles a stored run (Reconcile) and writes the workbook and
// JSON summary (WriteOutputs). It owns the mapping from fetch results to
// ledger records and the rule that decides a run's status; the command line
// in cmd/reconcile only parses flags and maps errors to exit codes.
package job
