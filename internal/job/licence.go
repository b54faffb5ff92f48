package job

import (
	"context"
	"fmt"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// Licences is a run's licence check and commitments
// (docs/subscriptions-and-amendments.md).
type Licences struct {
	Findings    []report.LicenceFinding
	Commitments report.Commitments
}

// LicenceReport computes the licence_mismatch findings and the Commitments
// block of a stored run (customers whose subscriptions are missing take no
// part).
func LicenceReport(ctx context.Context, l AmendLedger, run ledger.Run) (Licences, error) {
	in, err := LicenceInput(ctx, l, run)
	if err != nil {
		return Licences{}, fmt.Errorf("licence check of run %d: %w", run.ID, err)
	}
	customers, err := l.Customers(ctx, run.ID)
	if err != nil {
		return Licences{}, fmt.Errorf("licence check of run %d: %w", run.ID, err)
	}
	attr := report.NewAttributor(customers)
	prices := report.NewUnitPrices()
	err = l.EachPayable(ctx, run.ID, func(c *billing.PayableCharge) error {
		id, _, _ := attr.Attribute(c)
		prices.Add(id, c)
		return nil
	})
	if err != nil {
		return Licences{}, fmt.Errorf("licence check of run %d: %w", run.ID, err)
	}
	return Licences{
		Findings:    report.LicenceCheck(run.Period.To, in),
		Commitments: report.ComputeCommitments(run.Period.To, in, prices),
	}, nil
}
