package report

import (
	"math"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// LicenceCollector computes a close's licence check and Commitments with one
// pass over the run's subscriptions and none over its lines of its own.
//
// While the lines flow into the Reconciler (Reconciler.CollectLicences), it
// keeps, per customer and SKU, what the check needs of the lines: the billed
// quantity B (Recurring receivable lines in force at the period end) and the
// payable unit price (Recurring payable lines, attributed by the tags as
// LicenceReport does: rules 1–3, the engine's attribution reused). Then the
// subscriptions are read once, customer by customer (AddCustomer): the
// subscribed quantity S of a customer is computed from its own
// subscriptions, so no per-subscription state is kept, and the findings,
// the Commitments counts and totals and the stranded rows are done there;
// AddCustomer returns the customer's Commitments rows for the sheet (the
// job spools them). CustomerRows computes them again from the
// subscriptions, with the same rules, for a sheet that reads them again.
//
// Memory: one 32-byte entry per customer × SKU seen on a Recurring line, in
// fixed-size chunks, addressed by an open-addressing table of int32 (≈ 8
// bytes per entry) over the (customer, SKU) numbers; the
// sums and the price are int64 coefficients with the exponent of
// decimal.Decimal (engine_sum.go), with a decimal fallback in side maps for
// the rare values that do not fit.
type LicenceCollector struct {
	end  billing.Date
	attr *Attributor

	custIDs map[string]uint32 // customer id (exact) → number
	byAttr  []int32           // Attributor index → customer number, -1 not yet looked up
	skuIDs  map[string]uint32
	curs    []string // currencies of the unit prices, by number
	lastRec string
	lastCus uint32

	slots   []int32 // open addressing: entry index + 1 by hash of its key, 0 empty
	entries chunkStore[licenceEntry]
	bigB    map[int32]decimal.Decimal // billed sums that do not fit an entry
	bigP    map[int32]decimal.Decimal // unit prices that do not fit an entry

	// Results of the subscriptions pass.
	findings []LicenceFinding
	com      Commitments
	any      bool
	scratch  customerSeats
	rows     []CommitmentRow
}

// licenceEntry flags.
const (
	licBilled  uint8 = 1 << iota // a Recurring line in force at the period end was added
	licBigB                      // B is in bigB
	licPrice                     // one unit price (in p/pExp, or bigP)
	licSeveral                   // several unit prices (or currencies)
	licBigP                      // the price is in bigP
)

// licenceEntry is B and the unit price of one customer × SKU.
type licenceEntry struct {
	key        uint64 // customer << 32 | SKU
	b, p       int64  // B and the price: coefficients
	bExp, pExp int8   // their exponents
	cur        uint16
	flags      uint8
}

// NewLicenceCollector starts the licence check of a period ending on
// periodEnd.
func NewLicenceCollector(periodEnd billing.Date) *LicenceCollector {
	return &LicenceCollector{end: periodEnd, custIDs: map[string]uint32{}, skuIDs: map[string]uint32{},
		bigB: map[int32]decimal.Decimal{}, bigP: map[int32]decimal.Decimal{},
		com: NewCommitments(nil)}
}

// SetPeriodEnd sets the period's end, for a collector started before the
// period was known (the close feeds the payable lines as they stream); call
// it before the first receivable line.
func (lc *LicenceCollector) SetPeriodEnd(end billing.Date) { lc.end = end }

// CollectLicences makes the Reconciler hand lc what the licence check needs
// of each line it is fed (its own attribution is reused for the payable
// lines). Call it before the first line.
func (r *Reconciler) CollectLicences(lc *LicenceCollector) {
	r.lic = lc
	lc.attr = r.attr
	lc.byAttr = make([]int32, len(r.attr.ids))
	for i := range lc.byAttr {
		lc.byAttr[i] = -1
	}
}

func (lc *LicenceCollector) customer(id string) uint32 {
	if n, ok := lc.custIDs[id]; ok {
		return n
	}
	n := uint32(len(lc.custIDs))
	lc.custIDs[id] = n
	return n
}

func (lc *LicenceCollector) sku(s string) uint32 {
	if n, ok := lc.skuIDs[s]; ok {
		return n
	}
	n := uint32(len(lc.skuIDs))
	lc.skuIDs[s] = n
	return n
}

// entry returns the entry of (customer, sku), adding it when add is set
// (else -1 when there is none).
func (lc *LicenceCollector) entry(cust, sku uint32, add bool) int32 {
	k := uint64(cust)<<32 | uint64(sku)
	if add && 4*(int(lc.entries.n)+1) > 3*len(lc.slots) {
		lc.grow()
	}
	if len(lc.slots) == 0 {
		return -1
	}
	mask := uint64(len(lc.slots) - 1)
	for p := hashKey64(k) & mask; ; p = (p + 1) & mask {
		s := lc.slots[p]
		if s == 0 {
			if !add {
				return -1
			}
			i := lc.entries.add()
			lc.entries.at(i).key = k
			lc.slots[p] = i + 1
			return i
		}
		if lc.entries.at(s-1).key == k {
			return s - 1
		}
	}
}

func (lc *LicenceCollector) grow() {
	n := max(1024, 2*len(lc.slots))
	lc.slots = make([]int32, n)
	mask := uint64(n - 1)
	for i := range lc.entries.n {
		p := hashKey64(lc.entries.at(i).key) & mask
		for lc.slots[p] != 0 {
			p = (p + 1) & mask
		}
		lc.slots[p] = i + 1
	}
}

func hashKey64(h uint64) uint64 {
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

func (lc *LicenceCollector) lookup(customerID, sku string) (*licenceEntry, int32) {
	c, ok := lc.custIDs[customerID]
	if !ok {
		return nil, -1
	}
	s, ok := lc.skuIDs[sku]
	if !ok {
		return nil, -1
	}
	i := lc.entry(c, s, false)
	if i < 0 {
		return nil, -1
	}
	return lc.entries.at(i), i
}

// addPayable records the unit price of a payable line; x is the customer
// index the engine's attribution gave it and entry the rule-0 entry that
// decided it (-1 for none). The licence check attributes by the tags only
// (rules 1–3), as LicenceReport does.
func (lc *LicenceCollector) addPayable(c *billing.PayableCharge, x int32, entry int) {
	if c.ChargeType != "Recurring" || !c.NetPrice.Valid {
		return
	}
	if entry >= 0 { // rule 0 decided: the tags may say otherwise
		x, _ = lc.attr.attribute(c)
	}
	if x < 0 {
		return
	}
	cn := lc.byAttr[x]
	if cn < 0 {
		cn = int32(lc.customer(lc.attr.ids[x]))
		lc.byAttr[x] = cn
	}
	i := lc.entry(uint32(cn), lc.sku(c.SKU), true)
	e := lc.entries.at(i)
	price := c.NetPrice.Decimal
	switch {
	case e.flags&licSeveral != 0:
	case e.flags&licPrice == 0:
		e.flags |= licPrice
		e.cur = lc.currency(c.Currency)
		lc.setPrice(e, i, price)
	case lc.curs[e.cur] != c.Currency || !lc.price(e, i).Equal(price):
		e.flags |= licSeveral
		if e.flags&licBigP != 0 {
			delete(lc.bigP, i)
			e.flags &^= licBigP
		}
	case price.Exponent() < lc.price(e, i).Exponent():
		// The same price written with more decimals (1.50 after 1.5): keep
		// that one, so the price kept does not depend on the lines' order
		// (a close feeds them in API order, a report in ledger order).
		lc.setPrice(e, i, price)
	}
}

// setPrice stores price as entry i's unit price.
func (lc *LicenceCollector) setPrice(e *licenceEntry, i int32, price decimal.Decimal) {
	delete(lc.bigP, i)
	e.flags &^= licBigP
	v := valueOf(price)
	if v.fixed && v.exp >= math.MinInt8 && v.exp <= math.MaxInt8 {
		e.p, e.pExp = v.coef, int8(v.exp)
	} else {
		e.flags |= licBigP
		lc.bigP[i] = price
	}
}

func (lc *LicenceCollector) currency(c string) uint16 {
	for i, s := range lc.curs {
		if s == c {
			return uint16(i)
		}
	}
	if len(lc.curs) > math.MaxUint16 {
		return 0 // not reached: a run has a handful of currencies
	}
	lc.curs = append(lc.curs, c)
	return uint16(len(lc.curs) - 1)
}

func (lc *LicenceCollector) price(e *licenceEntry, i int32) decimal.Decimal {
	if e.flags&licBigP != 0 {
		return lc.bigP[i]
	}
	return decimal.New(e.p, int32(e.pExp))
}

// addReceivable adds one receivable line of a customer to B.
func (lc *LicenceCollector) addReceivable(customerID string, r *billing.ReceivableCharge) {
	if r.ChargeType != "Recurring" || r.PeriodFrom > lc.end || r.PeriodTo < lc.end || !r.Quantity.Valid {
		return
	}
	if customerID != lc.lastRec || len(lc.custIDs) == 0 {
		lc.lastRec, lc.lastCus = customerID, lc.customer(customerID)
	}
	i := lc.entry(lc.lastCus, lc.sku(r.SKU), true)
	e := lc.entries.at(i)
	e.flags |= licBilled
	if e.flags&licBigB != 0 {
		lc.bigB[i] = lc.bigB[i].Add(r.Quantity.Decimal)
		return
	}
	if v := valueOf(r.Quantity.Decimal); v.fixed {
		if c, x, ok := fixedAdd(e.b, int32(e.bExp), v.coef, v.exp); ok && x >= math.MinInt8 && x <= math.MaxInt8 {
			e.b, e.bExp = c, int8(x)
			return
		}
	}
	e.flags |= licBigB
	lc.bigB[i] = fixedDecimal(e.b, int32(e.bExp)).Add(r.Quantity.Decimal)
}

// billed returns B of an entry and whether a line in force was added.
func (lc *LicenceCollector) billed(e *licenceEntry, i int32) (decimal.Decimal, bool) {
	if e == nil || e.flags&licBilled == 0 {
		return decimal.Decimal{}, false
	}
	if e.flags&licBigB != 0 {
		return lc.bigB[i], true
	}
	return fixedDecimal(e.b, int32(e.bExp)), true
}

// unit is UnitPrices.unit from the entry.
func (lc *LicenceCollector) unit(e *licenceEntry, i int32) (price decimal.Decimal, currency string, n int) {
	switch {
	case e == nil || e.flags&(licPrice|licSeveral) == 0:
		return decimal.Decimal{}, "", 0
	case e.flags&licSeveral != 0:
		return decimal.Decimal{}, "", 2
	}
	return lc.price(e, i), lc.curs[e.cur], 1
}

// customerSeats is S, B and the product of one customer's seat
// subscriptions, by SKU (reused from customer to customer).
type customerSeats struct {
	skus  []string
	seats map[string]*seatScratch
	pool  []seatScratch
}

type seatScratch struct {
	SeatCount
	part  bool
	entry *licenceEntry
	index int32
}

// seatsOf computes S (and B, from the lines) of one customer's seat
// subscriptions, as LicenceAccumulator does for a whole run.
func (lc *LicenceCollector) seatsOf(cs *customerSeats, customerID string, subs []billing.Subscription) {
	if cs.seats == nil {
		cs.seats = map[string]*seatScratch{}
	}
	clear(cs.seats)
	cs.skus = cs.skus[:0]
	n := 0
	for i := range subs {
		s := &subs[i]
		if s.Fees != nil || len(s.CommitmentTerm) != 0 {
			n++
		}
	}
	if cap(cs.pool) < n {
		cs.pool = make([]seatScratch, 0, n)
	}
	cs.pool = cs.pool[:0]
	for i := range subs {
		s := &subs[i]
		if s.Fees == nil && len(s.CommitmentTerm) == 0 {
			continue
		}
		sc := cs.seats[s.SKU]
		if sc == nil {
			cs.pool = append(cs.pool, seatScratch{SeatCount: SeatCount{Product: s.ProductName}})
			sc = &cs.pool[len(cs.pool)-1]
			cs.seats[s.SKU] = sc
			cs.skus = append(cs.skus, s.SKU)
			sc.entry, sc.index = lc.lookup(customerID, s.SKU)
		}
		sc.Subscribed = sc.Subscribed.Add(s.Quantity.Decimal)
		if strings.EqualFold(s.BillingCycle, "monthly") {
			sc.part = true
		}
	}
	for _, sc := range cs.seats {
		if b, ok := lc.billed(sc.entry, sc.index); ok {
			sc.Billed, sc.part = b, true
		}
	}
}

// CustomerRows appends to rows the Commitments rows of one customer's
// subscriptions (read after every line was fed), sorted in the report
// order. Once the subscriptions pass is done it only reads the collector,
// so concurrent calls are safe.
func (lc *LicenceCollector) CustomerRows(rows []CommitmentRow, customerID string, subs []billing.Subscription) []CommitmentRow {
	return lc.customerRows(&customerSeats{}, rows, customerID, subs)
}

func (lc *LicenceCollector) customerRows(cs *customerSeats, rows []CommitmentRow, customerID string, subs []billing.Subscription) []CommitmentRow {
	lc.seatsOf(cs, customerID, subs)
	start := len(rows)
	for i := range subs {
		s := &subs[i]
		if len(s.CommitmentTerm) == 0 {
			continue
		}
		stranded := false
		var e *licenceEntry
		idx := int32(-1)
		if sc := cs.seats[s.SKU]; sc != nil {
			stranded = sc.part && sc.Subscribed.GreaterThan(sc.Billed)
			e, idx = sc.entry, sc.index
		}
		price, cur, n := lc.unit(e, idx)
		rows = append(rows, commitmentRow(lc.end, customerID, s, stranded, price, cur, n))
	}
	SortCommitmentRows(rows[start:])
	return rows
}

// AddCustomer is the one pass of the subscriptions: it adds one customer's
// findings and Commitments rows, and returns the rows (in the report order,
// valid until the next call), for the Commitments sheet. Customers may come
// in any order (the close adds them as they commit), each once, after every
// payable line and the customer's receivable lines were fed.
func (lc *LicenceCollector) AddCustomer(customerID string, subs []billing.Subscription) []CommitmentRow {
	lc.any = lc.any || len(subs) > 0
	lc.rows = lc.customerRows(&lc.scratch, lc.rows[:0], customerID, subs)
	for i := range lc.rows {
		lc.com.Add(&lc.rows[i])
	}
	cs := &lc.scratch
	start := len(lc.findings)
	for _, sku := range cs.skus {
		sc := cs.seats[sku]
		if !sc.part || sc.Subscribed.Equal(sc.Billed) {
			continue
		}
		lc.findings = append(lc.findings, LicenceFinding{CustomerID: customerID, SKU: sku, Product: sc.Product,
			Subscribed: sc.Subscribed, Billed: sc.Billed, Excess: sc.Subscribed.Sub(sc.Billed)})
	}
	slices.SortFunc(lc.findings[start:], func(a, b LicenceFinding) int { return strings.Compare(a.SKU, b.SKU) })
	return lc.rows
}

// Findings returns the licence_mismatch findings of the customers added,
// sorted by customer and SKU.
func (lc *LicenceCollector) Findings() []LicenceFinding {
	slices.SortStableFunc(lc.findings, func(a, b LicenceFinding) int {
		if c := strings.Compare(a.CustomerID, b.CustomerID); c != 0 {
			return c
		}
		return strings.Compare(a.SKU, b.SKU)
	})
	return lc.findings
}

// Commitments returns the Commitments summary of the customers added, whose
// rows stream from rows; Any reports whether some customer had
// subscriptions.
func (lc *LicenceCollector) Commitments(rows CommitmentRows) Commitments {
	SortCommitmentRows(lc.com.Stranded) // each customer's are in order; the customers may not be
	c := lc.com
	c.Rows = rows
	return c
}

// Any reports whether some customer added had subscriptions.
func (lc *LicenceCollector) Any() bool { return lc.any }
