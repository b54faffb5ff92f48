package report

import (
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// Compact text of a payable line's nested fields, for the Payable sheet:
// items joined by "; ", amounts as exact decimal text (billing.Text), an
// absent amount as "null".
//
//	Invoice     "INV-1001 2026-11-01"
//	Deductions  "PROMO:-1.69; LOYAL:-0.50"   code (or name, or type):totalValue (or value)
//	Fees        "Setup:10.00"                 name:totalValue (or unitValue)
//	Taxes       "GST:5; QST:9.975"            name:appliedRate
//	Tags        "CustomerId=42; Env=prod"     name=value

const itemSep = "; "

func decText(ds ...decimal.NullDecimal) string {
	for _, d := range ds {
		if d.Valid {
			return billing.Text(d.Decimal)
		}
	}
	return "null"
}

func invoiceText(inv *billing.Invoice) string {
	if inv == nil {
		return ""
	}
	return strings.TrimSpace(inv.Number + " " + string(inv.Date))
}

func deductionsText(ds []billing.Deduction) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		label := nonEmpty(d.Code, nonEmpty(d.Name, d.DeductionType))
		parts = append(parts, label+":"+decText(d.TotalValue, d.Value))
	}
	return strings.Join(parts, itemSep)
}

func feesText(fs []billing.Fee) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		parts = append(parts, f.Name+":"+decText(f.TotalValue, f.UnitValue))
	}
	return strings.Join(parts, itemSep)
}

func taxesText(ts []billing.Tax) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		parts = append(parts, t.Name+":"+decText(t.AppliedRate))
	}
	return strings.Join(parts, itemSep)
}

func tagsText(ts []billing.Tag) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		parts = append(parts, t.Name+"="+t.Value)
	}
	return strings.Join(parts, itemSep)
}
