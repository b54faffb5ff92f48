package job_test

// The workbook-dependent part of the field completeness test (see
// fields_test.go): the detail columns. It is kept apart so the import can
// follow the workbook code when it moves (internal/report -> its own
// package). The Payable and Receivable sheets are built from the same
// column lists as the CSV detail files (payableColumns, receivableColumns),
// so the CSV header is the sheets' header.

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// payableColumnOf maps each JSON field of a payable charge to its detail
// column. Nested lists and the invoice are one text column each.
var payableColumnOf = map[string]string{
	"productId": "Product ID", "productName": "Product", "sku": "SKU", "chargeId": "Charge ID",
	"chargeName": "Charge Name", "chargeType": "Charge Type", "billingCycleType": "Billing Cycle",
	"periodFrom": "Period From", "periodTo": "Period To", "quantity": "Quantity", "listPrice": "List Price",
	"netPrice": "Net Price", "netPriceProrated": "Net Price Prorated", "subTotal": "Sub Total",
	"currency": "Currency", "isBilled": "Billed", "isProratable": "Proratable", "deductions": "Deductions",
	"fees": "Fees", "invoice": "Invoice", "taxes": "Taxes", "tags": "Tags",
}

// receivableColumnOf maps each JSON field of a receivable charge to its
// detail column.
var receivableColumnOf = map[string]string{
	"productName": "Product", "sku": "SKU", "chargeId": "Charge ID", "chargeName": "Charge Name",
	"chargeType": "Charge Type", "billingCycleType": "Billing Cycle", "periodFrom": "Period From",
	"periodTo": "Period To", "quantity": "Quantity", "costPrice": "Cost Price",
	"costPriceProrated": "Cost Price Prorated", "currency": "Currency", "isProratable": "Proratable",
}

// detailColumns writes the CSV detail of the stored run and checks that
// every JSON field of the payable and receivable line has a filled column.
func detailColumns(t *testing.T, detail xlsx.Detail, _ *billing.PayableCharge, _ *billing.ReceivableCharge) {
	t.Helper()
	ctx := context.Background()
	res := &report.Result{}
	var pay, rec bytes.Buffer
	if err := xlsx.WritePayableCSV(ctx, &pay, res, noAttribution{}, detail); err != nil {
		t.Fatal(err)
	}
	if err := xlsx.WriteReceivableCSV(ctx, &rec, res, detail); err != nil {
		t.Fatal(err)
	}
	checkColumns(t, "payable detail", reflect.TypeFor[billing.PayableCharge](), payableColumnOf, pay.String())
	checkColumns(t, "receivable detail", reflect.TypeFor[billing.ReceivableCharge](), receivableColumnOf, rec.String())
}

// noAttribution attributes no line: the columns, not their values, are checked.
type noAttribution struct{}

func (noAttribution) Attribute(*billing.PayableCharge) (customerID, customerName, reason string) {
	return "", "", ""
}
