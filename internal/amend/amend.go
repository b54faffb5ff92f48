// Package amend plans subscription quantity amendments from the licence
// check, and checks a plan's entries against the subscriptions as they are
// now (docs/subscriptions-and-amendments.md). It is pure: no I/O; the job
// package fetches, records and posts.
package amend

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// PlanVersion is the version of the plan file format.
const PlanVersion = 1

// Entry is one proposed change: a subscription and its new quantity.
type Entry struct {
	CustomerID      string   `json:"customerId"`
	SubscriptionID  string   `json:"subscriptionId"`
	SKU             string   `json:"sku"`
	Product         string   `json:"product"`
	CurrentQuantity int64    `json:"currentQuantity"`
	NewQuantity     int64    `json:"newQuantity"`
	Reason          string   `json:"reason"`
	Guards          []string `json:"guards,omitempty"`
}

// Skip is a subscription of a licence finding for which nothing is proposed.
type Skip struct {
	CustomerID     string `json:"customerId"`
	SubscriptionID string `json:"subscriptionId,omitempty"`
	SKU            string `json:"sku"`
	Why            string `json:"why"`
}

// Plan is the reviewable file `amend plan` writes and `amend apply` reads.
type Plan struct {
	Version    int          `json:"version"`
	RunID      int64        `json:"runId"`
	PeriodFrom billing.Date `json:"periodFrom"`
	PeriodTo   billing.Date `json:"periodTo"`
	Today      billing.Date `json:"plannedOn"`
	Hash       string       `json:"entriesHash"`
	Entries    []Entry      `json:"entries"`
	Skipped    []Skip       `json:"skipped"`
}

// Customer is one available customer's data for planning.
type Customer = report.LicenceCustomer

// Build proposes, for each customer and SKU whose subscribed quantity S
// exceeds the billed quantity B, to bring the subscriptions down to B but
// never below the committed minimum in force today: with one subscription
// of the SKU, new quantity = max(B, minimum); with several, the excess is
// taken from each in subscription id order, down to its own minimum.
// Customers filters by id when not empty.
func Build(runID int64, period billing.Period, today billing.Date, customers []Customer, only []string) (Plan, error) {
	p := Plan{Version: PlanVersion, RunID: runID, PeriodFrom: period.From, PeriodTo: period.To, Today: today,
		Entries: []Entry{}, Skipped: []Skip{}}
	keep := map[string]bool{}
	for _, id := range only {
		keep[strings.ToLower(id)] = true
	}
	var cs []Customer
	for _, c := range customers {
		if len(keep) == 0 || keep[strings.ToLower(c.ID)] {
			cs = append(cs, c)
		}
	}
	subsOf := map[[2]string][]billing.Subscription{}
	for _, c := range cs {
		for _, s := range c.Subs {
			k := [2]string{c.ID, s.SKU}
			subsOf[k] = append(subsOf[k], s)
		}
	}
	for _, f := range report.LicenceCheck(period.To, cs) {
		if !f.Excess.IsPositive() {
			continue
		}
		if !f.Excess.IsInteger() || !f.Billed.IsInteger() {
			p.Skipped = append(p.Skipped, Skip{CustomerID: f.CustomerID, SKU: f.SKU,
				Why: fmt.Sprintf("billed quantity %s is not a whole number of seats", f.Billed)})
			continue
		}
		excess := f.Excess.IntPart()
		subs := subsOf[[2]string{f.CustomerID, f.SKU}]
		sort.Slice(subs, func(i, j int) bool { return subs[i].ID < subs[j].ID })
		for _, s := range subs {
			cur := s.Quantity.Decimal.IntPart()
			c, err := billing.ParseCommitment(s.CommitmentTerm)
			if err != nil {
				return Plan{}, fmt.Errorf("customer %s subscription %s: %w", f.CustomerID, s.ID, err)
			}
			min, until := c.MinimumOn(today)
			target := max(cur-excess, min, 0)
			var guards []string
			if min > 0 {
				guards = append(guards, fmt.Sprintf("committed minimum %d in force until %s", min, until))
			}
			if c != nil {
				guards = append(guards, fmt.Sprintf("%s commitment, term ends %s", c.Type, c.TermEndDate))
				if c.Renewal != nil {
					guards = append(guards, fmt.Sprintf("renews on %s", c.Renewal.Date))
				}
			}
			if target >= cur {
				why := "nothing to change"
				if min >= cur {
					why = fmt.Sprintf("committed minimum %d in force until %s blocks any reduction", min, until)
				}
				if excess <= 0 {
					why = "the excess is taken from other subscriptions of the SKU"
				}
				p.Skipped = append(p.Skipped, Skip{CustomerID: f.CustomerID, SubscriptionID: s.ID, SKU: f.SKU, Why: why})
				continue
			}
			reason := fmt.Sprintf("subscribed %s, billed %s: %s seat(s) paid for and not billed", f.Subscribed, f.Billed, f.Excess)
			if target == 0 {
				guards = append(guards, "removes every seat of the subscription (none is billed)")
			}
			if cur-target < excess && min > 0 {
				guards = append(guards, fmt.Sprintf("the committed minimum blocks a full reduction: %d seat(s) stay", excess-(cur-target)))
			}
			p.Entries = append(p.Entries, Entry{CustomerID: f.CustomerID, SubscriptionID: s.ID, SKU: f.SKU,
				Product: s.ProductName, CurrentQuantity: cur, NewQuantity: target, Reason: reason, Guards: guards})
			excess -= cur - target
		}
	}
	p.Hash = Hash(p.Entries)
	return p, nil
}

// Hash identifies a plan's entries (customer, subscription, current and new
// quantity, in order): an edited plan has a different hash.
func Hash(entries []Entry) string {
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\n", strings.ToLower(e.CustomerID), strings.ToLower(e.SubscriptionID), e.CurrentQuantity, e.NewQuantity)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Validate checks a plan read from a file: its version and entries.
func (p *Plan) Validate() error {
	if p.Version != PlanVersion {
		return fmt.Errorf("plan version %d: this tool reads version %d", p.Version, PlanVersion)
	}
	seen := map[string]bool{}
	for i, e := range p.Entries {
		switch {
		case strings.TrimSpace(e.CustomerID) == "" || strings.TrimSpace(e.SubscriptionID) == "":
			return fmt.Errorf("plan entry %d: customerId and subscriptionId are required", i+1)
		case e.NewQuantity < 0 || e.NewQuantity > 1<<31-1:
			return fmt.Errorf("plan entry %d (subscription %s): newQuantity %d is out of range", i+1, e.SubscriptionID, e.NewQuantity)
		case seen[strings.ToLower(e.SubscriptionID)]:
			return fmt.Errorf("plan entry %d: subscription %s appears twice", i+1, e.SubscriptionID)
		}
		seen[strings.ToLower(e.SubscriptionID)] = true
	}
	return nil
}

// Refusal says why an entry may not be applied now (stale plan, below the
// committed minimum in force today, subscription gone, nothing to change);
// "" when it may. sub is the subscription as re-fetched (nil: not found).
func Refusal(e Entry, sub *billing.Subscription, today billing.Date) string {
	if sub == nil {
		return "the subscription no longer exists for this customer"
	}
	cur := sub.Quantity.Decimal
	if !sub.Quantity.Valid || !cur.IsInteger() || cur.IntPart() != e.CurrentQuantity {
		return fmt.Sprintf("stale plan: the quantity is now %s, the plan expected %d", cur, e.CurrentQuantity)
	}
	c, err := billing.ParseCommitment(sub.CommitmentTerm)
	if err != nil {
		return fmt.Sprintf("cannot read the commitment: %v", err)
	}
	if min, until := c.MinimumOn(today); e.NewQuantity < min {
		return fmt.Sprintf("new quantity %d is below the committed minimum %d in force until %s", e.NewQuantity, min, until)
	}
	if e.NewQuantity == e.CurrentQuantity {
		return "nothing to change"
	}
	return ""
}
