package report

import (
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// KindLicenceMismatch is a data-quality finding outside the six kinds: a
// customer and SKU whose subscribed seats differ from the billed seats
// (PayableQty holds the subscribed quantity S, ReceivableQty the billed
// quantity B; the amounts are zero). It changes no amount and no total.
const KindLicenceMismatch = "licence_mismatch"

// SubscriptionsBlock is what a run's subscriptions add to its report: the
// Commitments and the period's amendments log. Nil in a Result when the run
// was not checked (no subscriptions reader).
type SubscriptionsBlock struct {
	Commitments Commitments
	Amendments  []AmendmentLogRow
}

// AmendmentLogRow is one event of the amendments log, as reports show it.
type AmendmentLogRow struct {
	Seq             int64
	At              string // RFC 3339 UTC
	Actor           string
	PlanHash        string
	CustomerID      string
	SubscriptionID  string
	SKU             string
	CurrentQuantity int64
	NewQuantity     int64
	Event           string
	AmendmentID     string
	Status          string
	Detail          string
}

// AddLicenceFindings adds the licence_mismatch findings to res.Mismatches
// (in the report order) and sets res.Subscriptions.
func AddLicenceFindings(res *Result, findings []LicenceFinding, names map[string]string) {
	for _, f := range findings {
		reason := "subscribed " + f.Subscribed.String() + ", billed " + f.Billed.String()
		switch {
		case f.Excess.IsPositive():
			reason += ": " + f.Excess.String() + " seat(s) paid for and not billed"
		default:
			reason += ": " + f.Excess.Neg().String() + " seat(s) billed and not subscribed"
		}
		res.Mismatches = append(res.Mismatches, Finding{Kind: KindLicenceMismatch, CustomerID: f.CustomerID,
			CustomerName: names[f.CustomerID], SKU: f.SKU, Product: f.Product,
			PayableQty: f.Subscribed, ReceivableQty: f.Billed, Reason: reason})
	}
	slices.SortFunc(res.Mismatches, compareFindings)
}

// JSON of the Commitments block. The JSON is the summary: it carries the
// totals, the counts and the stranded rows (the ones to act on); every row
// is on the Commitments sheet (a run can have a commitment per
// subscription, hundreds of thousands).
type jsonCommitments struct {
	Subscriptions int                   `json:"subscriptions_with_commitment"`
	Renews30      int                   `json:"renewing_within_30_days"`
	Renews60      int                   `json:"renewing_within_60_days"`
	Renews90      int                   `json:"renewing_within_90_days"`
	NoUnitCost    int                   `json:"without_unit_cost"`
	Totals        []jsonCommitmentTotal `json:"remaining_by_currency"`
	Stranded      []jsonCommitment      `json:"stranded"`
	Amendments    []jsonAmendmentEvent  `json:"amendments"`
}

type jsonCommitment struct {
	CustomerID        string       `json:"customer_id"`
	SubscriptionID    string       `json:"subscription_id"`
	SKU               string       `json:"sku"`
	Product           string       `json:"product"`
	Quantity          int64        `json:"quantity"`
	TermType          string       `json:"term_type"`
	TermEnd           billing.Date `json:"term_end"`
	RenewalDate       billing.Date `json:"renewal_date"`
	ScheduledQuantity *int64       `json:"scheduled_quantity"`
	MinimumInForce    int64        `json:"minimum_in_force"`
	DaysToTermEnd     int          `json:"days_to_term_end"`
	Months            int          `json:"whole_months_left"`
	UnitCost          *string      `json:"monthly_unit_cost"`
	Currency          string       `json:"currency"`
	Remaining         *string      `json:"remaining_commitment"`
	Note              string       `json:"note,omitempty"`
	Renews30          bool         `json:"renews_within_30_days"`
	Renews60          bool         `json:"renews_within_60_days"`
	Renews90          bool         `json:"renews_within_90_days"`
	Stranded          bool         `json:"stranded"`
}

type jsonCommitmentTotal struct {
	Currency  string `json:"currency"`
	Remaining string `json:"remaining_commitment"`
}

type jsonAmendmentEvent struct {
	Seq             int64  `json:"seq"`
	At              string `json:"at"`
	Actor           string `json:"actor"`
	PlanHash        string `json:"plan_hash"`
	CustomerID      string `json:"customer_id"`
	SubscriptionID  string `json:"subscription_id"`
	SKU             string `json:"sku"`
	CurrentQuantity int64  `json:"current_quantity"`
	NewQuantity     int64  `json:"new_quantity"`
	Event           string `json:"event"`
	AmendmentID     string `json:"amendment_id"`
	Status          string `json:"status"`
	Detail          string `json:"detail"`
}

func nullText(d decimal.NullDecimal) *string {
	if !d.Valid {
		return nil
	}
	s := billing.Text(d.Decimal)
	return &s
}

// commitmentsJSON is the `commitments` block of the JSON summary (nil when
// the run was not checked).
func commitmentsJSON(b *SubscriptionsBlock) *jsonCommitments {
	if b == nil {
		return nil
	}
	c := &b.Commitments
	out := &jsonCommitments{Subscriptions: c.Subscriptions, Renews30: c.Renews30, Renews60: c.Renews60,
		Renews90: c.Renews90, NoUnitCost: c.NoUnitCost, Totals: []jsonCommitmentTotal{},
		Stranded: []jsonCommitment{}, Amendments: []jsonAmendmentEvent{}}
	for i := range c.Stranded {
		r := &c.Stranded[i]
		note := r.UnitCostNote
		if r.Unreadable != "" {
			note = "unreadable commitment term: " + r.Unreadable
		}
		out.Stranded = append(out.Stranded, jsonCommitment{CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID, SKU: r.SKU,
			Product: r.Product, Quantity: r.Quantity, TermType: r.TermType, TermEnd: r.TermEnd, RenewalDate: r.RenewalDate,
			ScheduledQuantity: r.ScheduledQuantity, MinimumInForce: r.MinimumInForce, DaysToTermEnd: r.DaysToTermEnd,
			Months: r.Months, UnitCost: nullText(r.UnitCost), Currency: r.Currency, Remaining: nullText(r.Remaining),
			Note: note, Renews30: r.Renews30, Renews60: r.Renews60, Renews90: r.Renews90, Stranded: r.Stranded})
	}
	for _, c := range CommitmentCurrencies(b.Commitments) {
		out.Totals = append(out.Totals, jsonCommitmentTotal{Currency: c, Remaining: billing.Text(b.Commitments.Totals[c])})
	}
	for _, a := range b.Amendments {
		out.Amendments = append(out.Amendments, jsonAmendmentEvent(a))
	}
	return out
}

// CommitmentCurrencies returns the currencies of the totals, sorted.
func CommitmentCurrencies(c Commitments) []string {
	out := make([]string, 0, len(c.Totals))
	for k := range c.Totals {
		out = append(out, k)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
