// Command reconcile reconciles what an MSP owes Sherweb (payable charges)
// against what its customers owe it (receivable charges) for one billing
// period, and writes an Excel workbook and a JSON summary for finance.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sampleHeapOnlyIfAsked(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
