package sherwebsim

import (
	"math/rand/v2"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// History and restatements.
//
// With Config.History, the simulator serves a history of months around the
// anchor month (DefaultPeriod, 2026-10): the anchor month is served exactly as
// without History (same bytes, same Truth), and every other month is the
// anchor month's data moved to that month (same customers, SKUs, quantities,
// prices, chargeIds; line dates moved to the same day of the month) with
// planted month-over-month changes, a pure function of (seed, month):
//
//   - customers that join and leave: customer i with i%7 == 1 has no lines
//     before the anchor month (it joins in the anchor month), one with
//     i%7 == 4 has none after it (it leaves); the last customer, which has no
//     charges in the anchor month, has lines in every other month;
//   - seat changes (i%3 == 0: seats of one SKU move by −2..+3, never to 0),
//     price changes (i%3 == 1: one SKU's prices +10%, payable and receivable),
//     SKUs dropped (i%5 == 2) and SKUs added (i%5 == 3, SKU suffix "-NEW");
//   - one customer whose receivables fetch fails in the month before the
//     anchor month only (index 4, answered 503 like FailCustomerAlways);
//   - partner-level (unattributed) lines that come and go: one fewer in odd
//     months from the anchor, one more in even ones.
//
// Changes only touch normal, fully attributed, full-month monthly keys whose
// SKU is used once by the customer, so that each lands in one bridge bucket.
// Truth.Changes lists them, with the bucket each lands in when the anchor
// month is the base and the month the current run of a comparison (swap
// new/lost for the other direction).
//
// Server.SetRestated(true) serves every month restated (a re-fetch of the same
// period with some lines changed): customers with i%4 == 2 get one more seat
// on one key ("restated_changed"), i%4 == 3 lose one key ("restated_removed"),
// i%4 == 0 (but not 0) get an extra key with SKU suffix "-RST"
// ("restated_added"). These are Truth.Changes with bucket "restatement".

// Change kinds recorded in Truth.Changes.
const (
	ChangeCustomerJoined  = "customer_joined"  // lines in the month, none in the anchor month
	ChangeCustomerLeft    = "customer_left"    // lines in the anchor month, none in the month
	ChangeSeats           = "seats"            // payable and receivable quantity of one SKU changed
	ChangePrice           = "price"            // unit prices of one SKU changed, same seats
	ChangeSKUDropped      = "sku_dropped"      // an SKU of the anchor month is gone
	ChangeSKUAdded        = "sku_added"        // a new SKU
	ChangeReceivablesFail = "receivables_fail" // the customer's receivables fetch fails this month
	ChangeUnattributed    = "unattributed"     // partner-level lines added or removed
	ChangeRestated        = "restated_changed" // restatement: quantity of one key changed
	ChangeRestatedAdded   = "restated_added"   // restatement: one key added
	ChangeRestatedRemoved = "restated_removed" // restatement: one key removed
)

// Change is one planted change of a month (or restatement), for tests.
type Change struct {
	Kind       string
	CustomerID string // "" for unattributed changes
	SKU        string // "" for customer-level changes
	Currency   string
	// Bucket is the margin bridge bucket (comparison-rules.md) the change lands
	// in when the anchor month is the base and this month the current run
	// ("restatement" for restatement changes, which are compared with the
	// same month served unrestated).
	Bucket string
	// Delta is the payable quantity change (seats) or the number of
	// partner-level lines added (+) or removed (−).
	Delta int64
}

// historyAnchor is the anchor month of Config.History (DefaultPeriod).
var historyAnchor = monthOf(billing.Date("2026-10-01").Time())

// offset is the number of months from the anchor month to pi.
func (g *generator) offset(pi *periodInfo) int { return int(int64(pi.key) - int64(historyAnchor.key)) }

// evolves reports whether month pi differs from the anchor month.
func (g *generator) evolves(pi *periodInfo) bool { return g.history && pi.key != historyAnchor.key }

// failsIn is the customer whose receivables fail in month pi (-1 for none).
func (g *generator) failsIn(pi *periodInfo) int {
	if g.evolves(pi) && g.offset(pi) == -1 && len(g.customers) > 4 {
		return 4
	}
	return -1
}

// moveGroup moves a group of the anchor month to month pi (same day of month,
// clamped; a yearly key keeps its one-year span).
func moveGroup(gr *group, pi *periodInfo) {
	a := historyAnchor
	day := func(d billing.Date) int { t := d.Time(); return t.Day() }
	df := min(day(gr.from), pi.dim)
	inAnchor := func(d billing.Date) bool { return d >= a.days[1] && d <= a.days[a.dim] }
	to := gr.to
	switch {
	case to == a.days[a.dim]:
		gr.to = pi.days[pi.dim]
	case inAnchor(to):
		gr.to = pi.days[min(day(to), pi.dim)]
	default:
		gr.to = billing.Date(pi.first.AddDate(1, 0, df-2).Format("2006-01-02"))
	}
	gr.from = pi.days[df]
}

// eligible reports whether a group can carry a bridge change cleanly.
func (g *generator) eligible(gr *group, pi *periodInfo, skuUses map[string]int) bool {
	ok, _ := g.attribution(gr)
	return ok && gr.scenario == scNormal && gr.chargeType == "Recurring" && gr.cycle == "Monthly" &&
		gr.from == pi.days[1] && gr.to == pi.days[pi.dim] && gr.npay == 1 && gr.nrec == 1 && skuUses[gr.sku] == 1
}

// plan is the per-customer plan of a month: what to change on which group.
type plan struct {
	absent    bool
	withLines bool // the no-charges customer has lines this month
	seats     int  // index among eligible groups, -1 none
	seatDelta int64
	price     int
	drop      int
	add       int
	rChange   int
	rDrop     int
	rAdd      int
}

func (g *generator) planOf(pi *periodInfo, ci int) plan {
	p := plan{seats: -1, price: -1, drop: -1, add: -1, rChange: -1, rDrop: -1, rAdd: -1}
	c := &g.customers[ci]
	if g.evolves(pi) {
		k := g.offset(pi)
		r := rand.New(rand.NewPCG(uint64(g.seed)^0x4157_0000, splitmix64(pi.key<<32|uint64(uint32(ci)))))
		switch {
		case c.noCharges:
			p.withLines = true
		case ci%7 == 1 && k < 0:
			p.absent = true
		case ci%7 == 4 && k > 0:
			p.absent = true
		default:
			if ci%3 == 0 {
				p.seats = 0
				p.seatDelta = int64(r.IntN(5)) - 2
				if p.seatDelta >= 0 {
					p.seatDelta++
				}
			}
			if ci%3 == 1 {
				p.price = 0
			}
			if ci%5 == 2 {
				p.drop = 1
			}
			if ci%5 == 3 {
				p.add = 0
			}
		}
	}
	if g.restated.Load() && !p.absent && !(c.noCharges && !p.withLines) {
		switch {
		case ci%4 == 2:
			p.rChange = 0
		case ci%4 == 3:
			p.rDrop = 0
		case ci%4 == 0 && ci > 0:
			p.rAdd = 0
		}
	}
	return p
}

// eachGroup calls fn for every group of customer ci in month pi, in served
// order, with the History changes and the restatement applied. The group
// passed to fn is reused: copy what you keep.
func (g *generator) eachGroup(pi *periodInfo, ci int, fn func(*group) error) error {
	_, err := g.eachGroupChanges(pi, ci, fn)
	return err
}

// eachGroupChanges is eachGroup that also returns the changes planted on the
// customer's groups this month.
func (g *generator) eachGroupChanges(pi *periodInfo, ci int, fn func(*group) error) ([]Change, error) {
	p := g.planOf(pi, ci)
	c := &g.customers[ci]
	if !g.evolves(pi) && p.rChange < 0 && p.rDrop < 0 && p.rAdd < 0 {
		return nil, g.eachGroupBase(pi, ci, false, fn)
	}
	var changes []Change
	if p.absent {
		changes = append(changes, Change{Kind: ChangeCustomerLeft, CustomerID: c.ID, Bucket: "lost_customers"})
		if g.offset(pi) < 0 {
			changes[0].Kind = ChangeCustomerJoined // joins in the anchor month: absent before it
		}
		return changes, nil
	}
	src := historyAnchor
	if !g.evolves(pi) {
		src = pi
	}
	var groups []group
	_ = g.eachGroupBase(src, ci, p.withLines, func(gr *group) error {
		groups = append(groups, *gr)
		return nil
	})
	uses := map[string]int{}
	for i := range groups {
		if src != pi {
			moveGroup(&groups[i], pi)
		}
		uses[groups[i].sku]++
	}
	if p.withLines {
		for _, gr := range groups {
			if ok, _ := g.attribution(&gr); ok {
				changes = append(changes, Change{Kind: ChangeCustomerJoined, CustomerID: c.ID, Currency: gr.currency, Bucket: "new_customers"})
				break
			}
		}
	}
	var elig []int
	for i := range groups {
		if g.eligible(&groups[i], pi, uses) {
			elig = append(elig, i)
		}
	}
	pickE := func(n int) (int, bool) {
		if n < 0 || n >= len(elig) {
			return 0, false
		}
		return elig[n], true
	}
	drop := map[int]bool{}
	var extra []group
	if i, ok := pickE(p.seats); ok {
		gr := &groups[i]
		d := p.seatDelta
		if gr.pay[0].qty.v+d*pow10[gr.pay[0].qty.s] <= 0 {
			d = 1
		}
		setSeats(gr, d)
		changes = append(changes, Change{Kind: ChangeSeats, CustomerID: c.ID, SKU: gr.sku, Currency: gr.currency, Bucket: "volume", Delta: d})
	}
	if i, ok := pickE(p.price); ok {
		gr := &groups[i]
		pl := &gr.pay[0]
		up := fx{v: 110, s: 2}
		pl.list = pl.list.mul(up).round(2)
		pl.net = pl.net.mul(up).round(2)
		pl.npp = pl.npp.mul(up).round(2)
		pl.sub = pl.qty.mul(pl.npp)
		gr.nrec = 0
		gr.mirror(rand.New(rand.NewPCG(1, 2)))
		changes = append(changes, Change{Kind: ChangePrice, CustomerID: c.ID, SKU: gr.sku, Currency: gr.currency, Bucket: "rate"})
	}
	if i, ok := pickE(p.drop); ok {
		drop[i] = true
		changes = append(changes, Change{Kind: ChangeSKUDropped, CustomerID: c.ID, SKU: groups[i].sku, Currency: groups[i].currency, Bucket: "lost_products"})
	}
	if i, ok := pickE(p.add); ok {
		gr := groups[i]
		gr.sku += "-NEW"
		extra = append(extra, gr)
		changes = append(changes, Change{Kind: ChangeSKUAdded, CustomerID: c.ID, SKU: gr.sku, Currency: gr.currency, Bucket: "new_products"})
	}
	if i, ok := pickE(p.rChange); ok && !drop[i] {
		setSeats(&groups[i], 1)
		changes = append(changes, Change{Kind: ChangeRestated, CustomerID: c.ID, SKU: groups[i].sku, Currency: groups[i].currency, Bucket: "restatement", Delta: 1})
	}
	if i, ok := pickE(p.rDrop); ok && !drop[i] {
		drop[i] = true
		changes = append(changes, Change{Kind: ChangeRestatedRemoved, CustomerID: c.ID, SKU: groups[i].sku, Currency: groups[i].currency, Bucket: "restatement"})
	}
	if i, ok := pickE(p.rAdd); ok {
		gr := groups[i]
		gr.sku += "-RST"
		extra = append(extra, gr)
		changes = append(changes, Change{Kind: ChangeRestatedAdded, CustomerID: c.ID, SKU: gr.sku, Currency: gr.currency, Bucket: "restatement"})
	}
	for i := range groups {
		if drop[i] {
			continue
		}
		if err := fn(&groups[i]); err != nil {
			return changes, err
		}
	}
	for i := range extra {
		if err := fn(&extra[i]); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// setSeats moves the payable and receivable quantity of a one-line key by d.
func setSeats(gr *group, d int64) {
	pl := &gr.pay[0]
	pl.qty = pl.qty.add(fxInt(d))
	pl.sub = pl.qty.mul(pl.npp)
	gr.rec[0].qty = pl.qty
}

// partnerLines is the number of partner-level lines of month pi.
func (g *generator) partnerLinesIn(pi *periodInfo) int {
	if !g.evolves(pi) {
		return g.partnerLines
	}
	if g.offset(pi)%2 != 0 {
		return max(0, g.partnerLines-1)
	}
	return g.partnerLines + 1
}

// eachPartnerGroup emits the partner-level lines of a month (untagged, or
// tagged with an unknown customer). promo turns the first line's chargeType
// into "Promotion" (the unknown_enum fault).
func (g *generator) eachPartnerGroup(pi *periodInfo, promo bool, fn func(*group) error) error {
	if !g.evolves(pi) {
		return g.eachPartnerGroupBase(pi, promo, g.partnerLines, fn)
	}
	return g.eachPartnerGroupBase(historyAnchor, promo, g.partnerLinesIn(pi), func(gr *group) error {
		moveGroup(gr, pi)
		return fn(gr)
	})
}

// changes lists the planted changes of month pi (History and restatement).
func (g *generator) changes(pi *periodInfo) []Change {
	var out []Change
	for ci := range g.customers {
		ch, _ := g.eachGroupChanges(pi, ci, func(*group) error { return nil })
		out = append(out, ch...)
		if g.failsIn(pi) == ci {
			out = append(out, Change{Kind: ChangeReceivablesFail, CustomerID: g.customers[ci].ID, Bucket: "coverage"})
		}
	}
	if d := g.partnerLinesIn(pi) - g.partnerLines; d != 0 {
		out = append(out, Change{Kind: ChangeUnattributed, Bucket: "unattributed", Delta: int64(d)})
	}
	return out
}
