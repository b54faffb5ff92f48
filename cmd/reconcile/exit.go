package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/msp-reconcile/reconcile/internal/job"
)

// Exit codes. The same table is printed by `reconcile -h` and in the README.
const (
	exitOK          = 0   // the run is complete (findings are results, not errors)
	exitFailure     = 1   // the run failed: nothing usable was produced
	exitUsage       = 2   // bad flags, arguments or configuration
	exitIncomplete  = 3   // finished, but receivables are missing for some customers
	exitFindings    = 4   // complete, with findings, and --fail-on-findings was given
	exitMailFailed  = 5   // the report was written, but mailing it failed
	exitInterrupted = 130 // stopped by Ctrl-C / SIGTERM
)

const exitTable = `EXIT STATUS
  0    complete: every payable and receivable charge was fetched (findings are
       results, not errors)
  1    failure: the run could not finish (API, database or output error); no
       report was written and no run is marked complete
  2    usage: bad flags, arguments or configuration (e.g. missing credentials)
  3    incomplete: the report was written, marked INCOMPLETE, because some
       customers' receivables could not be fetched
  4    findings: complete, but there are findings and --fail-on-findings was given
  5    mail failed: the report was written (and stays as written), but it could
       not be mailed ('email', 'run --email'); the ledger records the failed
       delivery and a later 'reconcile email' sends it. Takes precedence over 3
       and 4
  130  interrupted (Ctrl-C or SIGTERM); the run is recorded as failed
`

// usageError is a problem with how the tool was called.
type usageError struct {
	msg string
	cmd string // the subcommand whose flags were wrong, if any
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp is returned after printing help: exit 0.
var errHelp = errors.New("help requested")

// exitCode is the one place errors become exit codes.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	var ue *usageError
	var fe *job.FindingsError
	var me *job.MailError
	switch {
	case errors.As(err, &ue):
		hint := "reconcile -h"
		if ue.cmd != "" {
			hint = "reconcile " + ue.cmd + " -h"
		}
		fmt.Fprintf(stderr, "reconcile: %v\nRun '%s' for usage.\n", err, hint)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "reconcile: interrupted: %v\n", err)
		return exitInterrupted
	case errors.As(err, &me):
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return exitMailFailed
	case errors.Is(err, job.ErrIncomplete):
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return exitIncomplete
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return exitFindings
	default:
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return exitFailure
	}
}
