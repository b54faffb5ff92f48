package report

import (
	"cmp"
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
// Memory: per customer, two small open-addressing tables over its SKU
// numbers (skuTable): the unit prices of its Recurring payable lines (8
// bytes a slot: the SKU and a reference to the price, prices being interned
// once for the run: a catalog has few), and B of its Recurring receivable
// lines in force (20 bytes a slot, only for customers with such lines). B
// is an int64 coefficient with the exponent of decimal.Decimal
// (engine_sum.go), with a decimal fallback in a side map for the rare sums
// that do not fit. A customer's tables can be dropped once it was added
// (Release), which the close does as it goes, so they do not outlive the
// fetch. AddCustomer keeps the fields of the commitment texts it read
// (termCache: at most termCacheMax texts; a run has few distinct ones).
type LicenceCollector struct {
	end  billing.Date
	attr *Attributor

	custIDs map[string]uint32 // customer id (exact) → number
	byAttr  []int32           // Attributor index → customer number, -1 not yet looked up
	skuIDs  map[string]uint32
	curs    []string // currencies of the unit prices, by number
	lastRec string
	lastCus uint32

	cust     []licCustomer              // by customer number
	prices   []licPrice                 // interned unit prices: reference priceFirst+i
	priceIDs map[licPrice]uint32        // fixed prices → reference
	bigP     map[uint32]decimal.Decimal // prices that do not fit a licPrice, by reference
	bigB     map[uint64]decimal.Decimal // billed sums that do not fit, by customer << 32 | SKU

	// Results of the subscriptions pass.
	findings []LicenceFinding
	com      Commitments
	any      bool
	scratch  customerSeats
	rows     []CommitmentRow
}

// licCustomer is what the collector keeps of one customer's lines.
type licCustomer struct {
	prices skuTable[uint32]    // SKU → price reference
	billed skuTable[licBilled] // SKU → B, for SKUs with a Recurring receivable line in force
}

// Price references.
const (
	priceNone    uint32 = iota // no unit price
	priceSeveral               // several unit prices (or currencies)
	priceFirst                 // priceFirst+i: lc.prices[i]
)

// licPrice is one unit price: coef × 10^exp in currency curs[cur], or (big)
// the decimal in bigP.
type licPrice struct {
	coef int64
	exp  int32
	cur  uint16
	big  bool
}

// licBilled is B of one customer × SKU: b × 10^exp, or (big) the decimal in
// bigB.
type licBilled struct {
	b   int64
	exp int32
	big bool
}

// licInfo is what the check reads of one customer × SKU.
type licInfo struct {
	price  uint32 // price reference
	b      decimal.Decimal
	billed bool // a Recurring receivable line in force was added
}

// NewLicenceCollector starts the licence check of a period ending on
// periodEnd.
func NewLicenceCollector(periodEnd billing.Date) *LicenceCollector {
	return &LicenceCollector{end: periodEnd, custIDs: map[string]uint32{}, skuIDs: map[string]uint32{},
		priceIDs: map[licPrice]uint32{}, bigB: map[uint64]decimal.Decimal{}, bigP: map[uint32]decimal.Decimal{},
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
	lc.cust = append(lc.cust, licCustomer{})
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

// lookup returns what the collector has of (customer, SKU).
func (lc *LicenceCollector) lookup(customerID, sku string) licInfo {
	c, ok := lc.custIDs[customerID]
	if !ok {
		return licInfo{}
	}
	s, ok := lc.skuIDs[sku]
	if !ok {
		return licInfo{}
	}
	cu := &lc.cust[c]
	var in licInfo
	if p := cu.prices.find(s, false); p != nil {
		in.price = *p
	}
	if b := cu.billed.find(s, false); b != nil {
		in.billed = true
		if b.big {
			in.b = lc.bigB[uint64(c)<<32|uint64(s)]
		} else {
			in.b = fixedDecimal(b.b, b.exp)
		}
	}
	return in
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
	ref := lc.cust[cn].prices.find(lc.sku(c.SKU), true)
	price := c.NetPrice.Decimal
	switch cur := *ref; {
	case cur == priceSeveral:
	case cur == priceNone:
		*ref = lc.internPrice(price, lc.currency(c.Currency))
	case lc.curs[lc.prices[cur-priceFirst].cur] != c.Currency || !lc.price(cur).Equal(price):
		*ref = priceSeveral
	case price.Exponent() < lc.price(cur).Exponent():
		// The same price written with more decimals (1.50 after 1.5): keep
		// that one, so the price kept does not depend on the lines' order
		// (a close feeds them in API order, a report in ledger order).
		*ref = lc.internPrice(price, lc.prices[cur-priceFirst].cur)
	}
}

// internPrice returns the reference of price in currency cur.
func (lc *LicenceCollector) internPrice(price decimal.Decimal, cur uint16) uint32 {
	v := valueOf(price)
	if !v.fixed {
		ref := priceFirst + uint32(len(lc.prices))
		lc.prices = append(lc.prices, licPrice{cur: cur, big: true})
		lc.bigP[ref] = price
		return ref
	}
	p := licPrice{coef: v.coef, exp: v.exp, cur: cur}
	if ref, ok := lc.priceIDs[p]; ok {
		return ref
	}
	ref := priceFirst + uint32(len(lc.prices))
	lc.prices = append(lc.prices, p)
	lc.priceIDs[p] = ref
	return ref
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

// price returns the unit price of a reference ≥ priceFirst.
func (lc *LicenceCollector) price(ref uint32) decimal.Decimal {
	p := &lc.prices[ref-priceFirst]
	if p.big {
		return lc.bigP[ref]
	}
	return decimal.New(p.coef, p.exp)
}

// addReceivable adds one receivable line of a customer to B.
func (lc *LicenceCollector) addReceivable(customerID string, r *billing.ReceivableCharge) {
	if r.ChargeType != "Recurring" || r.PeriodFrom > lc.end || r.PeriodTo < lc.end || !r.Quantity.Valid {
		return
	}
	if customerID != lc.lastRec || len(lc.custIDs) == 0 {
		lc.lastRec, lc.lastCus = customerID, lc.customer(customerID)
	}
	s := lc.sku(r.SKU)
	e := lc.cust[lc.lastCus].billed.find(s, true)
	if e.big {
		k := uint64(lc.lastCus)<<32 | uint64(s)
		lc.bigB[k] = lc.bigB[k].Add(r.Quantity.Decimal)
		return
	}
	if v := valueOf(r.Quantity.Decimal); v.fixed {
		if c, x, ok := fixedAdd(e.b, e.exp, v.coef, v.exp); ok {
			e.b, e.exp = c, x
			return
		}
	}
	e.big = true
	lc.bigB[uint64(lc.lastCus)<<32|uint64(s)] = fixedDecimal(e.b, e.exp).Add(r.Quantity.Decimal)
}

// unit is UnitPrices.unit from a price reference.
func (lc *LicenceCollector) unit(ref uint32) (price decimal.Decimal, currency string, n int) {
	switch ref {
	case priceNone:
		return decimal.Decimal{}, "", 0
	case priceSeveral:
		return decimal.Decimal{}, "", 2
	}
	return lc.price(ref), lc.curs[lc.prices[ref-priceFirst].cur], 1
}

// Release frees what the collector keeps of one customer's lines, once
// AddCustomer added it and its Commitments rows are kept elsewhere:
// CustomerRows must not be asked for it afterwards.
func (lc *LicenceCollector) Release(customerID string) {
	c, ok := lc.custIDs[customerID]
	if !ok {
		return
	}
	cu := &lc.cust[c]
	for i := range cu.billed.vals {
		if cu.billed.keys[i] != 0 && cu.billed.vals[i].big {
			delete(lc.bigB, uint64(c)<<32|uint64(cu.billed.keys[i]-1))
		}
	}
	*cu = licCustomer{}
}

// customerSeats is S, B and the product of one customer's seat
// subscriptions, by SKU (reused from customer to customer).
type customerSeats struct {
	skus  []string
	seats map[string]*seatScratch
	pool  []seatScratch
	order []int32   // customerRows: the subscriptions with a term, in the report order
	terms termCache // customerRows: the terms read lately
}

type seatScratch struct {
	SeatCount
	part bool
	info licInfo
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
			sc.info = lc.lookup(customerID, s.SKU)
		}
		sc.Subscribed = sc.Subscribed.Add(s.Quantity.Decimal)
		if strings.EqualFold(s.BillingCycle, "monthly") {
			sc.part = true
		}
	}
	for _, sc := range cs.seats {
		if sc.info.billed {
			sc.Billed, sc.part = sc.info.b, true
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
	// The rows in the report order (SortCommitmentRows: one customer's by
	// SKU and subscription id, stable): the subscriptions' indexes sorted,
	// ties in their order, rather than the rows.
	cs.order = cs.order[:0]
	for i := range subs {
		if len(subs[i].CommitmentTerm) != 0 {
			cs.order = append(cs.order, int32(i))
		}
	}
	slices.SortFunc(cs.order, func(i, j int32) int {
		a, b := &subs[i], &subs[j]
		if c := strings.Compare(a.SKU, b.SKU); c != 0 {
			return c
		}
		if c := compareFolded(a.ID, b.ID); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	for _, i := range cs.order {
		s := &subs[i]
		stranded := false
		ref := priceNone
		if sc := cs.seats[s.SKU]; sc != nil {
			stranded = sc.part && sc.Subscribed.GreaterThan(sc.Billed)
			ref = sc.info.price
		}
		price, cur, n := lc.unit(ref)
		t := cs.terms.of(lc.end, s.CommitmentTerm)
		rows = append(rows, t.row(customerID, s, stranded, price, cur, n))
	}
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
