// Package job holds the use cases of the tool. Close is the monthly close:
// prepare the outputs, fetch a billing period from the Sherweb APIs into a
// new immutable ledger run (Fetch), reconcile it (Reconcile) and publish the
// result through a Sink; Reissue reconciles and publishes a stored run
// again. Both decide the outcome the command maps to an exit code: an
// incomplete run wraps ErrIncomplete, findings with FailOnFindings are a
// *FindingsError.
//
// What a use case needs of its collaborators is declared here, as small
// interfaces: RunReader and RunWriter (Ledger) of the ledger, Client of the
// Sherweb client, Sink of the outputs. *ledger.Store and *fetch.Client
// implement them; FileSink writes the workbook (package report/xlsx) and the
// JSON summary as files, atomically (package atomicfile). A mail sink, a
// second ledger backend or a test double plug in without touching the
// command line.
//
// The package owns the mapping from fetch results to ledger records and the
// rule that decides a run's status; the command line in cmd/reconcile only
// parses flags and configuration and maps errors to exit codes.
package job
