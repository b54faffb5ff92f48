package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// KindSubtotalIdentity is an extra data-quality finding, outside the six kinds
// of the rules: a payable line whose subTotal differs from
// quantity × netPriceProrated by more than 0.01. It never changes an amount,
// a total or one of the six kinds.
const KindSubtotalIdentity = "subtotal_identity"

// KindLowMargin is the finding of workflow-rules.md's low-margin threshold
// (Options.LowMarginPercent): a customer × currency row whose margin % is
// below it. Off unless the threshold is set.
const KindLowMargin = "low_margin"

var hundred = decimal.NewFromInt(100)

// Tag names the attribution rules look for (compared case-insensitively).
const (
	TagCustomerID          = "CustomerId"
	TagCustomerDisplayName = "CustomerDisplayName"
)

// findingKindOrder is the order of finding kinds in Result.Mismatches. Kinds
// not listed (data-quality kinds) sort after these, by name.
var findingKindOrder = []string{
	KindMissingReceivables,
	KindUnattributed,
	KindUnbilled,
	KindUnexpectedReceivable,
	KindQuantityMismatch,
	KindNegativeMargin,
}

// FindingKinds returns the six finding kinds of the rules in report order.
func FindingKinds() []string { return slices.Clone(findingKindOrder) }

// notFetchedError is the MissingCustomer.Error of a customer that has no
// coverage entry at all.
const notFetchedError = "receivables were not fetched"

// ---------------------------------------------------------------------------
// Attribution

// Attributor applies the rules' attribution of a payable charge to a customer
// (see the package documentation). It is safe for concurrent use once built.
//
// Customers are numbered by their position in ids (sorted), and the engine
// keys its aggregates by that index rather than by the id text.
type Attributor struct {
	index  map[string]int32   // exact id → customer index
	byFold map[string][]int32 // lower-cased id → customer indices
	byName map[string][]int32 // trimmed displayName → customer indices, ascending
	ids    []string           // distinct ids, sorted
	names  []string           // display names, by customer index

	// Rule 0 (workflow-rules.md, "Customer mapping"): the user's mapping
	// and internal-use entries, by lower-cased tag name and trimmed value.
	rules       map[ruleKey][]int // → indices in ruleEntries
	ruleEntries []ruleEntry
}

// ruleKey is a (lower-cased tag name, trimmed value) pair.
type ruleKey struct{ tag, value string }

// ruleEntry is one mapping (customer ≥ 0, or -1 when its customer id is
// not a known customer) or internal entry (internal true).
type ruleEntry struct {
	internal bool
	customer int32
	src      MapEntry
	matched  int // payable lines it decided
}

// NewAttributor indexes the known customers. A customer listed twice (same
// id) counts once; the first entry's display name is used.
func NewAttributor(customers []billing.Customer) *Attributor {
	first := make(map[string]string, len(customers)) // id → display name
	var ids []string
	for i := range customers {
		c := &customers[i]
		if c.ID == "" {
			continue
		}
		if _, dup := first[c.ID]; dup {
			continue
		}
		first[c.ID] = c.DisplayName
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	a := &Attributor{
		index:  make(map[string]int32, len(ids)),
		byFold: make(map[string][]int32, len(ids)),
		byName: make(map[string][]int32, len(ids)),
		ids:    ids,
		names:  make([]string, len(ids)),
	}
	for i, id := range ids { // ascending, so every list below is ascending
		x := int32(i)
		a.index[id] = x
		a.names[i] = first[id]
		fold := strings.ToLower(id)
		a.byFold[fold] = append(a.byFold[fold], x)
		if n := strings.TrimSpace(first[id]); n != "" {
			a.byName[n] = append(a.byName[n], x)
		}
	}
	return a
}

// setRules indexes the mapping and internal entries of rule 0.
func (a *Attributor) setRules(mapping []MapEntry, internal []MapEntry) {
	a.rules = map[ruleKey][]int{}
	a.ruleEntries = nil
	add := func(e MapEntry, isInternal bool) {
		re := ruleEntry{internal: isInternal, customer: -1, src: e}
		if !isInternal {
			re.customer = a.canonical(strings.TrimSpace(e.CustomerID))
		}
		k := ruleKey{strings.ToLower(strings.TrimSpace(e.Tag)), strings.TrimSpace(e.Value)}
		a.rules[k] = append(a.rules[k], len(a.ruleEntries))
		a.ruleEntries = append(a.ruleEntries, re)
	}
	for _, e := range mapping {
		add(e, false)
	}
	for _, e := range internal {
		add(e, true)
	}
}

// rule0 applies the mapping entries, then the internal ones: the customer
// of the single known customer the line's tags map to, internalUse for a
// line an internal entry matches, or -1 with the entries decided nothing.
func (a *Attributor) rule0(c *billing.PayableCharge) (customer int32, entry int) {
	if len(a.rules) == 0 {
		return -1, -1
	}
	var mapped distinct
	mappedEntry, internalEntry := -1, -1
	for _, t := range c.Tags {
		for _, i := range a.rules[ruleKey{strings.ToLower(strings.TrimSpace(t.Name)), strings.TrimSpace(t.Value)}] {
			e := &a.ruleEntries[i]
			switch {
			case e.internal:
				if internalEntry < 0 {
					internalEntry = i
				}
			case e.customer >= 0:
				mapped.add(e.customer)
				if mappedEntry < 0 {
					mappedEntry = i
				}
			}
		}
	}
	switch {
	case mapped.n == 1:
		return mapped.x, mappedEntry
	case mapped.n == 0 && internalEntry >= 0:
		return internalUse, internalEntry
	}
	return -1, -1
}

// internalUse is the customer index of a line rule 0 marks as internal use.
const internalUse int32 = -2

// Attribution rules, as the Payable sheet names them.
const (
	RuleMapping        = "mapping"
	RuleCustomerIDTag  = "customer_id_tag"
	RuleDisplayNameTag = "display_name_tag"
	RuleInternal       = "internal"
)

// AttributeRule returns the customer a payable charge belongs to and the rule
// that decided it (RuleMapping, RuleCustomerIDTag, RuleDisplayNameTag), or
// "", "" and RuleInternal or the unattributed reason. It does not count
// rule-0 matches (the Reconciler does).
func (a *Attributor) AttributeRule(c *billing.PayableCharge) (customerID, customerName, rule string) {
	x, rule, _ := a.attributeRule(c)
	if x < 0 {
		return "", "", rule
	}
	return a.ids[x], a.names[x], rule
}

// lookup returns the known customers whose id equals v, case-insensitively:
// an exact (case-sensitive) match wins over case-insensitive ones, and is
// returned as exact (else exact is -1).
func (a *Attributor) lookup(v string) (exact int32, fold []int32) {
	if x, ok := a.index[v]; ok {
		return x, nil
	}
	return -1, a.byFold[strings.ToLower(v)]
}

// canonical maps an id to the known customer's index (exact, else the single
// case-insensitive match), or -1 when it is not a known customer.
func (a *Attributor) canonical(v string) int32 {
	exact, fold := a.lookup(v)
	switch {
	case exact >= 0:
		return exact
	case len(fold) == 1:
		return fold[0]
	}
	return -1
}

// distinct counts distinct customer indices, up to "more than one".
type distinct struct {
	x int32
	n int // 0, 1, or 2 for more than one
}

func (d *distinct) add(x int32) {
	switch {
	case d.n == 0:
		d.x, d.n = x, 1
	case x != d.x:
		d.n = 2
	}
}

// Attribute returns the customer a payable charge belongs to: its id and
// display name, or "", "" and the reason it is unattributed
// (ReasonNoCustomerTag, ReasonUnknownCustomer or ReasonAmbiguousName).
func (a *Attributor) Attribute(c *billing.PayableCharge) (customerID, customerName, reason string) {
	x, rule, _ := a.attributeRule(c)
	if x < 0 {
		return "", "", rule
	}
	return a.ids[x], a.names[x], ""
}

// attributeRule is AttributeRule returning the customer index (-1 when
// unattributed, internalUse for internal use) and the rule-0 entry that
// decided it (-1 for none).
func (a *Attributor) attributeRule(c *billing.PayableCharge) (customer int32, rule string, entry int) {
	if x, e := a.rule0(c); e >= 0 {
		if x == internalUse {
			return x, RuleInternal, e
		}
		return x, RuleMapping, e
	}
	x, reason := a.attribute(c)
	if x >= 0 {
		return x, reason, -1
	}
	return x, reason, -1
}

// attribute applies rules 1–3: the customer index and the rule
// (RuleCustomerIDTag, RuleDisplayNameTag), or -1 and the unattributed reason.
func (a *Attributor) attribute(c *billing.PayableCharge) (customer int32, reason string) {
	var tagSeen bool
	// Rule 1: a CustomerId tag whose value is a known customer id.
	var byID distinct
	for _, t := range c.Tags {
		if !strings.EqualFold(t.Name, TagCustomerID) || strings.TrimSpace(t.Value) == "" {
			continue
		}
		tagSeen = true
		exact, fold := a.lookup(t.Value)
		if exact >= 0 {
			byID.add(exact)
		}
		for _, x := range fold {
			byID.add(x)
		}
	}
	if byID.n == 1 {
		return byID.x, RuleCustomerIDTag
	}
	// Rule 2: a CustomerDisplayName tag whose trimmed value is the display
	// name of exactly one known customer.
	var byName distinct
	for _, t := range c.Tags {
		if !strings.EqualFold(t.Name, TagCustomerDisplayName) {
			continue
		}
		v := strings.TrimSpace(t.Value)
		if v == "" {
			continue
		}
		tagSeen = true
		for _, x := range a.byName[v] {
			byName.add(x)
		}
	}
	if byName.n == 1 {
		return byName.x, RuleDisplayNameTag
	}
	// Rule 3: unattributed.
	switch {
	case byID.n > 1 || byName.n > 1:
		return -1, ReasonAmbiguousName
	case tagSeen:
		return -1, ReasonUnknownCustomer
	default:
		return -1, ReasonNoCustomerTag
	}
}

// ---------------------------------------------------------------------------
// Aggregates
//
// Memory layout. W1M has about as many line keys as lines (≈ 1M), so the
// per-key state is kept small:
//
//   - Every text field of a key (SKU, charge type, period dates, currency,
//     product name) is interned once in Reconciler.strs and referred to by a
//     uint32 (dates too: interning keeps their text exactly, and a period
//     has few distinct dates); a customer is its index in the Attributor.
//     The charge type, dates and currency of a key are numbered together
//     as its shape (a period has few), so a line key is a 12-byte struct of
//     three numbers (lineKey), and lineIndex numbers the keys.
//   - The aggregates of a key (lineAgg, 40 bytes) live in fixed-size chunks,
//     so the store never copies itself while it grows. Its four sums are
//     exact int64 coefficients with a 7-bit scale (see engine_sum.go); a
//     key whose sums do not fit moves, all four sums at once, to
//     decimal.Decimal in Reconciler.bigLines.
//   - Findings and rows are built only in Result, from these numbers.
//
// Measured (BenchmarkEngineMemory): ≈ 60 B of heap per key at 200k keys
// (32 aggregates, 12 key, the index's slots and the interned strings),
// against ≈ 900 B with joined-string keys and decimal.Decimal sums.

// Sum slots of a lineAgg.
const (
	slotPayQty = iota
	slotRecQty
	slotPay
	slotRec
	numSlots
)

// lineAgg flags (numbers of lineAgg.meta bytes whose top bit is the flag).
const (
	lineHasPay = iota
	lineHasRec
	lineBig // the sums are in Reconciler.bigLines, not in amt/qty/meta
)

// lineKey is a line key as the engine keeps it (12 bytes): customer index,
// interned SKU and the number of its shape (charge type, period dates and
// currency) in Reconciler.shapes. A period's lines have few distinct shapes
// (a handful of charge types and currencies, dates inside one period), so
// numbering them once keeps a key at half the 24 bytes of six numbers.
type lineKey struct {
	customer, sku, shape uint32
}

// lineShape is the rest of a line key: interned charge type, period dates
// and currency.
type lineShape struct {
	chargeType, from, to, cur uint32
}

// wideKey is a line key with its shape spelled out.
type wideKey struct {
	customer                       uint32
	sku, chargeType, from, to, cur uint32
}

// wide spells out the shape of k.
func (r *Reconciler) wide(k lineKey) wideKey {
	s := r.shapes[k.shape]
	return wideKey{k.customer, k.sku, s.chargeType, s.from, s.to, s.cur}
}

// shapeOf returns the number of shape s, numbering it next when it is new
// (the last shape is remembered: lines in a row mostly share theirs).
func (r *Reconciler) shapeOf(s lineShape) uint32 {
	if r.lastShapeOK && s == r.lastShape {
		return r.lastShapeID
	}
	id, ok := r.shapeIDs[s]
	if !ok {
		id = uint32(len(r.shapes))
		r.shapes = append(r.shapes, s)
		r.shapeIDs[s] = id
	}
	r.lastShape, r.lastShapeID, r.lastShapeOK = s, id, true
	return id
}

// lineAgg is the side-by-side aggregate of one line key: slot i holds the sum
// get(i) × 10^exp(i), unless the lineBig flag is set. It is 32 bytes: the
// amount sums take 8-byte coefficients and the quantity sums 4-byte ones
// (quantities are counts of licences or units with few decimals; a quantity
// sum whose coefficient does not fit an int32 moves its key to the decimal
// fallback, like any sum that outgrows the fast path); a sum's exponent is
// never positive (sums start at 10^0) and the fast path keeps it ≥
// −maxLineScale, so −exponent takes the low 7 bits of a meta byte and the
// top bits of meta[0..2] are the three flags.
type lineAgg struct {
	amt     [2]int64        // slotPay, slotRec
	qty     [2]int32        // slotPayQty, slotRecQty
	meta    [numSlots]uint8 // low 7 bits: −exponent of slot i; top bit of meta[f]: flag f
	product uint32          // interned smallest non-empty product name; 0 is ""
}

// maxLineScale is the most decimal places a lineAgg sum keeps on the fast
// path; a sum with more moves the key to Reconciler.bigLines.
const maxLineScale = 127

const (
	lineScaleBits = 0x7f
	lineFlagBit   = 0x80
)

// exp is the exponent of slot s (fast path).
func (l *lineAgg) exp(s int) int32 { return -int32(l.meta[s] & lineScaleBits) }

// get is the coefficient of slot s (fast path).
func (l *lineAgg) get(s int) int64 {
	if s < slotPay {
		return int64(l.qty[s])
	}
	return l.amt[s-slotPay]
}

// fits reports whether slot s can hold coefficient coef.
func fits(s int, coef int64) bool { return s >= slotPay || coef == int64(int32(coef)) }

// set stores coef × 10^exp in slot s; −maxLineScale ≤ exp ≤ 0 and
// fits(s, coef).
func (l *lineAgg) set(s int, coef int64, exp int32) {
	if s < slotPay {
		l.qty[s] = int32(coef)
	} else {
		l.amt[s-slotPay] = coef
	}
	l.meta[s] = l.meta[s]&lineFlagBit | uint8(-exp)
}

// has reports flag f (lineHasPay, lineHasRec, lineBig).
func (l *lineAgg) has(f int) bool { return l.meta[f]&lineFlagBit != 0 }

// mark sets flag f.
func (l *lineAgg) mark(f int) { l.meta[f] |= lineFlagBit }

// lineChunkSize is the number of entries per chunk of a chunkStore (32 KiB
// of lineAgg).
const lineChunkSize = 1024

// chunkStore holds entries addressed by a dense index, in fixed-size chunks:
// growing never copies what is stored, and the chunks hold no pointers
// when T has none (nothing for the collector to scan).
type chunkStore[T any] struct {
	chunks []*[lineChunkSize]T
	n      int32
}

func (s *chunkStore[T]) at(i int32) *T { return &s.chunks[i/lineChunkSize][i%lineChunkSize] }

func (s *chunkStore[T]) add() int32 {
	if s.n%lineChunkSize == 0 {
		s.chunks = append(s.chunks, new([lineChunkSize]T))
	}
	s.n++
	return s.n - 1
}

// pairKey is a (customer index, currency) or (SKU, currency) pair.
type pairKey struct{ a, cur uint32 }

// productAgg is one SKU × currency aggregate.
type productAgg struct {
	key                      pairKey
	payQty, recQty, pay, rec sum
}

// customerAgg is one customer × currency aggregate.
type customerAgg struct {
	key      pairKey
	pay, rec sum
}

// currencyAgg is one per-currency total.
type currencyAgg struct {
	pay, rec sum
}

// lineFinding is a per-line finding (unattributed or data quality), kept with
// interned fields until Result builds the Finding.
type lineFinding struct {
	kind                                    string
	customer                                int32 // -1: none
	sku, product, chargeType, from, to, cur uint32
	qty, amount                             decimal.Decimal // as sent
	reason                                  string
	chargeID, invoice, tags                 string
}

// invoiceKey is an (interned invoice number, currency) pair; number 0 is
// "no invoice".
type invoiceKey struct{ number, cur uint32 }

// invoiceAgg is the payable side of one invoice × currency.
type invoiceAgg struct {
	date  uint32 // interned smallest non-empty invoice date
	lines int
	pay   sum
}

// coverageState is what the engine decided about one customer's receivables.
type coverageState struct {
	status billing.Coverage // billing.CoverageAvailable, billing.CoverageFetchFailed or billing.CoveragePeriodDiffers
	err    string
	seen   bool // a coverage entry was given
}

func coverageRank(s billing.Coverage) int {
	switch s {
	case billing.CoverageAvailable:
		return 0
	case billing.CoveragePeriodDiffers:
		return 1
	default:
		return 2
	}
}

// ---------------------------------------------------------------------------
// Reconciler

// Reconciler computes a Result from charge lines fed one at a time. It keeps
// one aggregate per line key, per currency, per customer × currency and per
// SKU × currency, plus one finding per unattributed (or data-quality flagged)
// payable line; it does not keep the lines. It is not safe for concurrent use.
type Reconciler struct {
	in        Input
	tolerance decimal.Decimal
	negTol    value // −tolerance
	attr      *Attributor
	coverage  []coverageState // by customer index

	strs    []string          // interned strings; strs[0] is ""
	strIDs  map[string]uint32 // string → index in strs
	curIDs  map[string]uint32 // currency as sent → interned NormalizeCurrency
	lastRec string            // customer id of the last AddReceivable
	lastIdx int32             // its customer index

	shapes      []lineShape          // line key shapes by number
	shapeIDs    map[lineShape]uint32 // shape → number
	lastShape   lineShape            // the shape shapeOf returned last
	lastShapeID uint32
	lastShapeOK bool

	lineIDs       lineIndex                            // line key → index in lines
	lines         chunkStore[lineAgg]                  // the lineAgg of every key
	bigLines      map[int32]*[numSlots]decimal.Decimal // sums of keys flagged lineBig
	totals        map[uint32]*currencyAgg              // by currency
	custIDs       map[pairKey]int32                    // → index in customers
	customers     []customerAgg
	prodIDs       map[pairKey]int32 // → index in products
	products      []productAgg
	skuNames      map[uint32]uint32 // SKU → smallest non-empty product name of counted lines
	lineFinds     []lineFinding     // unattributed and data-quality findings, one per line
	lowMargin     decimal.NullDecimal
	internals     map[uint32]*sum // internal-use payable per currency
	internalLines map[uint32]int
	invoices      map[invoiceKey]*invoiceAgg

	payableLines, receivableLines int

	lic *LicenceCollector // CollectLicences; nil when not collecting
}

// NewReconciler starts a reconciliation of one period. Input.Customers are the
// known customers; Input.Coverage says whose receivables were fetched. A known
// customer without a coverage entry is missing with reason fetch_failed.
func NewReconciler(in Input, opts Options) *Reconciler {
	r := &Reconciler{
		in:            in,
		tolerance:     effectiveTolerance(opts),
		attr:          NewAttributor(in.Customers),
		strs:          []string{""},
		strIDs:        map[string]uint32{"": 0},
		curIDs:        make(map[string]uint32),
		lastIdx:       -1,
		shapeIDs:      make(map[lineShape]uint32),
		bigLines:      make(map[int32]*[numSlots]decimal.Decimal),
		totals:        make(map[uint32]*currencyAgg),
		custIDs:       make(map[pairKey]int32),
		prodIDs:       make(map[pairKey]int32),
		skuNames:      make(map[uint32]uint32),
		internals:     make(map[uint32]*sum),
		internalLines: make(map[uint32]int),
		invoices:      make(map[invoiceKey]*invoiceAgg),
	}
	r.attr.setRules(opts.Mapping, opts.Internal)
	r.lowMargin = opts.LowMarginPercent
	r.negTol = valueOf(r.tolerance.Neg())
	r.coverage = make([]coverageState, len(r.attr.ids))
	for i := range r.coverage {
		r.coverage[i] = coverageState{status: billing.CoverageFetchFailed, err: notFetchedError}
	}
	for _, cv := range in.Coverage {
		r.addCoverage(cv)
	}
	return r
}

// SetPeriod sets Input.Period, for a reconciliation started before the
// period was known (the close feeds the payable lines as they stream, and
// the period comes with the end of the stream). Call it before AddCoverage.
func (r *Reconciler) SetPeriod(p billing.Period) { r.in.Period = p }

// AddCoverage adds one coverage entry, as if it had been given in
// Input.Coverage. A customer's entry must be added before its receivable
// lines: AddReceivable ignores the lines of a customer whose receivables are
// not (yet) available.
func (r *Reconciler) AddCoverage(cv Coverage) {
	r.addCoverage(cv)
}

func (r *Reconciler) addCoverage(cv Coverage) {
	x := r.attr.canonical(cv.CustomerID)
	if x < 0 {
		return // not a known customer: nothing of it is counted
	}
	next := classifyCoverage(cv, r.in.Period)
	st := &r.coverage[x]
	if !st.seen {
		*st = next
		return
	}
	// Several entries for one customer: the worst one wins; ties keep the
	// smaller error text, so the order of entries does not matter.
	switch rn, rs := coverageRank(next.status), coverageRank(st.status); {
	case rn > rs, rn == rs && next.err < st.err:
		*st = next
	}
}

func classifyCoverage(cv Coverage, period billing.Period) coverageState {
	switch {
	case cv.Status == billing.CoverageAvailable && cv.Period.Equal(period):
		return coverageState{status: billing.CoverageAvailable, seen: true}
	case cv.Status == billing.CoverageAvailable || cv.Status == billing.CoveragePeriodDiffers:
		msg := cv.Error
		if msg == "" {
			msg = fmt.Sprintf("receivables period %s differs from payable period %s", cv.Period, period)
		}
		return coverageState{status: billing.CoveragePeriodDiffers, err: msg, seen: true}
	default:
		msg := cv.Error
		if msg == "" {
			msg = "receivables fetch failed"
		}
		return coverageState{status: billing.CoverageFetchFailed, err: msg, seen: true}
	}
}

func (r *Reconciler) available(x int32) bool {
	return x >= 0 && r.coverage[x].status == billing.CoverageAvailable
}

// intern returns the number of s, adding a copy of it (so that a string
// sliced from a large buffer does not keep the buffer alive) when it is new.
func (r *Reconciler) intern(s string) uint32 {
	if id, ok := r.strIDs[s]; ok {
		return id
	}
	s = strings.Clone(s)
	id := uint32(len(r.strs))
	r.strs = append(r.strs, s)
	r.strIDs[s] = id
	return id
}

// currency interns NormalizeCurrency(c).
func (r *Reconciler) currency(c string) uint32 {
	if id, ok := r.curIDs[c]; ok {
		return id
	}
	id := r.intern(NormalizeCurrency(c))
	r.curIDs[strings.Clone(c)] = id
	return id
}

// smaller keeps the smallest non-empty product name, so that the name shown
// for a key or SKU does not depend on the order the lines arrived in.
func (r *Reconciler) smaller(cur, candidate uint32) uint32 {
	if candidate == 0 {
		return cur
	}
	if cur == 0 || r.strs[candidate] < r.strs[cur] {
		return candidate
	}
	return cur
}

func (r *Reconciler) internal(cur uint32) *sum {
	t, ok := r.internals[cur]
	if !ok {
		t = new(sum)
		r.internals[cur] = t
	}
	return t
}

func (r *Reconciler) total(cur uint32) *currencyAgg {
	t, ok := r.totals[cur]
	if !ok {
		t = &currencyAgg{}
		r.totals[cur] = t
	}
	return t
}

func (r *Reconciler) customer(x int32, cur uint32) *customerAgg {
	k := pairKey{uint32(x), cur}
	i, ok := r.custIDs[k]
	if !ok {
		i = int32(len(r.customers))
		r.customers = append(r.customers, customerAgg{key: k})
		r.custIDs[k] = i
	}
	return &r.customers[i]
}

func (r *Reconciler) product(sku, cur uint32) *productAgg {
	k := pairKey{sku, cur}
	i, ok := r.prodIDs[k]
	if !ok {
		i = int32(len(r.products))
		r.products = append(r.products, productAgg{key: k})
		r.prodIDs[k] = i
	}
	return &r.products[i]
}

func (r *Reconciler) line(k lineKey) (int32, *lineAgg) {
	i, added := r.lineIDs.index(k)
	if added {
		r.lines.add() // numbered alike: i
	}
	return i, r.lines.at(i)
}

// addLine adds v to sum slot of line i.
func (r *Reconciler) addLine(i int32, l *lineAgg, slot int, v value) {
	if !l.has(lineBig) {
		if v.fixed {
			c, e, ok := fixedAdd(l.get(slot), l.exp(slot), v.coef, v.exp)
			if ok && e >= -maxLineScale && fits(slot, c) { // e ≤ 0 always: sums start at 10^0
				l.set(slot, c, e)
				return
			}
		}
		// Move this key's sums to decimals for good.
		big := new([numSlots]decimal.Decimal)
		for s := range big {
			big[s] = fixedDecimal(l.get(s), l.exp(s))
		}
		r.bigLines[i] = big
		for s := range numSlots {
			l.set(s, 0, 0)
		}
		l.mark(lineBig)
	}
	big := r.bigLines[i]
	big[slot] = big[slot].Add(v.decimal())
}

// lineSums returns the four sums of line i as decimals.
func (r *Reconciler) lineSums(i int32, l *lineAgg) [numSlots]decimal.Decimal {
	if l.has(lineBig) {
		return *r.bigLines[i]
	}
	var d [numSlots]decimal.Decimal
	for s := range d {
		d[s] = fixedDecimal(l.get(s), l.exp(s))
	}
	return d
}

// AddPayable counts one payable charge line. Its amount is subTotal as sent.
// The caller is expected to have validated the line (billing.PayableCharge.Validate).
func (r *Reconciler) AddPayable(c *billing.PayableCharge) {
	r.payableLines++
	cur := r.currency(c.Currency)
	amt := valueOf(c.Amount())
	qty := valueOf(c.Quantity.Decimal)

	r.total(cur).pay.add(amt)
	r.invoice(c, cur, amt)

	x, reason, entry := r.attr.attributeRule(c)
	if entry >= 0 {
		r.attr.ruleEntries[entry].matched++
	}
	if r.lic != nil {
		r.lic.addPayable(c, x, entry)
	}
	if x == internalUse {
		r.internal(cur).add(amt)
		r.internalLines[cur]++
	}
	if x != internalUse && c.Quantity.Valid && c.NetPriceProrated.Valid && c.SubTotal.Valid && !r.subtotalWithin(c, qty, amt) {
		expected := c.Quantity.Decimal.Mul(c.NetPriceProrated.Decimal)
		if diff := c.SubTotal.Decimal.Sub(expected); diff.Abs().Cmp(subtotalTolerance) > 0 {
			r.lineFinds = append(r.lineFinds, r.payableFinding(KindSubtotalIdentity, c, cur, max(x, -1), fmt.Sprintf(
				"subTotal %s differs from quantity × netPriceProrated = %s by %s",
				billing.Text(c.SubTotal.Decimal), billing.Text(expected), billing.Text(diff))))
		}
	}
	if x == internalUse {
		return // internal use: in the totals and the Internal use block, never a finding
	}
	if x < 0 {
		r.lineFinds = append(r.lineFinds, r.payableFinding(KindUnattributed, c, cur, -1, reason))
		return
	}

	r.customer(x, cur).pay.add(amt)

	sku, name := r.intern(c.SKU), r.intern(c.ProductName)
	p := r.product(sku, cur)
	p.payQty.add(qty)
	p.pay.add(amt)
	r.skuNames[sku] = r.smaller(r.skuNames[sku], name)

	i, l := r.line(lineKey{uint32(x), sku, r.shapeOf(lineShape{r.intern(c.ChargeType), r.intern(string(c.PeriodFrom)), r.intern(string(c.PeriodTo)), cur})})
	l.mark(lineHasPay)
	r.addLine(i, l, slotPayQty, qty)
	r.addLine(i, l, slotPay, amt)
	l.product = r.smaller(l.product, name)
}

// invoice counts a payable line on its invoice (or on "no invoice").
func (r *Reconciler) invoice(c *billing.PayableCharge, cur uint32, amt value) {
	k := invoiceKey{cur: cur}
	var date uint32
	if c.Invoice != nil {
		k.number = r.intern(strings.TrimSpace(c.Invoice.Number))
		date = r.intern(string(c.Invoice.Date))
	}
	a, ok := r.invoices[k]
	if !ok {
		a = &invoiceAgg{}
		r.invoices[k] = a
	}
	a.lines++
	a.pay.add(amt)
	a.date = r.smaller(a.date, date)
}

// subtotalWithin reports whether |subTotal − quantity × netPriceProrated| ≤
// 0.01 is certain from int64 arithmetic alone. false means "flagged or not
// decidable here": the caller then checks with decimals.
func (r *Reconciler) subtotalWithin(c *billing.PayableCharge, qty, sub value) bool {
	if !qty.fixed || !sub.fixed {
		return false
	}
	expected := mulValue(c.Quantity.Decimal, c.NetPriceProrated.Decimal)
	tol := subtotalToleranceValue
	if !expected.fixed || expected.coef == math.MinInt64 || !tol.fixed {
		return false
	}
	d, e, ok := fixedAdd(sub.coef, sub.exp, -expected.coef, expected.exp)
	if !ok || d == math.MinInt64 {
		return false
	}
	if d < 0 {
		d = -d
	}
	n, ok := fixedCmp(d, e, tol.coef, tol.exp)
	return ok && n <= 0
}

var subtotalToleranceValue = valueOf(subtotalTolerance)

// payableFinding is a per-line finding of one payable line (unattributed or
// data quality); customer is -1 for none.
func (r *Reconciler) payableFinding(kind string, c *billing.PayableCharge, cur uint32, customer int32, reason string) lineFinding {
	return lineFinding{
		kind:       kind,
		customer:   customer,
		sku:        r.intern(c.SKU),
		product:    r.intern(c.ProductName),
		chargeType: r.intern(c.ChargeType),
		from:       r.intern(string(c.PeriodFrom)),
		to:         r.intern(string(c.PeriodTo)),
		cur:        cur,
		qty:        c.Quantity.Decimal,
		amount:     c.Amount(),
		reason:     reason,
		chargeID:   c.ChargeID,
		invoice:    invoiceNumber(c.Invoice),
		tags:       TagsText(c.Tags),
	}
}

func invoiceNumber(inv *billing.Invoice) string {
	if inv == nil {
		return ""
	}
	return strings.TrimSpace(inv.Number)
}

// TagsText renders tags as "Name=Value; Name=Value", in the order sent.
func TagsText(tags []billing.Tag) string {
	var b strings.Builder
	for i, t := range tags {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(t.Name)
		b.WriteByte('=')
		b.WriteString(t.Value)
	}
	return b.String()
}

// AddReceivable counts one receivable charge line of a customer. Lines of a
// customer that is not known, or whose receivables are not available for the
// period, are ignored (they are still counted in Result.ReceivableLines).
// The amount is quantity × costPriceProrated, exactly.
func (r *Reconciler) AddReceivable(customerID string, c *billing.ReceivableCharge) {
	r.receivableLines++
	if r.lic != nil {
		r.lic.addReceivable(customerID, c)
	}
	if customerID != r.lastRec || r.lastIdx < 0 {
		r.lastRec, r.lastIdx = customerID, r.attr.canonical(customerID)
	}
	x := r.lastIdx
	if !r.available(x) {
		return
	}
	cur := r.currency(c.Currency)
	amt := mulValue(c.Quantity.Decimal, c.CostPriceProrated.Decimal) // c.Amount()
	qty := valueOf(c.Quantity.Decimal)

	r.total(cur).rec.add(amt)

	r.customer(x, cur).rec.add(amt)

	sku, name := r.intern(c.SKU), r.intern(c.ProductName)
	p := r.product(sku, cur)
	p.recQty.add(qty)
	p.rec.add(amt)
	r.skuNames[sku] = r.smaller(r.skuNames[sku], name)

	i, l := r.line(lineKey{uint32(x), sku, r.shapeOf(lineShape{r.intern(c.ChargeType), r.intern(string(c.PeriodFrom)), r.intern(string(c.PeriodTo)), cur})})
	l.mark(lineHasRec)
	r.addLine(i, l, slotRecQty, qty)
	r.addLine(i, l, slotRec, amt)
	l.product = r.smaller(l.product, name)
}

// lineKinds decides the findings of a key that has both sides: quantity
// mismatch (payable and receivable quantities differ) and negative margin
// (receivable − payable < −tolerance).
func (r *Reconciler) lineKinds(i int32, l *lineAgg) (qtyMismatch, negMargin bool) {
	if !l.has(lineBig) && r.negTol.fixed {
		q, ok1 := fixedCmp(l.get(slotPayQty), l.exp(slotPayQty), l.get(slotRecQty), l.exp(slotRecQty))
		pay := l.get(slotPay)
		if pay != math.MinInt64 {
			m, me, ok2 := fixedAdd(l.get(slotRec), l.exp(slotRec), -pay, l.exp(slotPay))
			if ok2 {
				n, ok3 := fixedCmp(m, me, r.negTol.coef, r.negTol.exp)
				if ok1 && ok3 {
					return q != 0, n < 0
				}
			}
		}
	}
	d := r.lineSums(i, l)
	return d[slotPayQty].Cmp(d[slotRecQty]) != 0, d[slotRec].Sub(d[slotPay]).Cmp(r.negTol.decimal()) < 0
}

// Attributor returns the attribution the Reconciler applies to payable
// lines, for the Payable detail of the workbook and CSV.
func (r *Reconciler) Attributor() *Attributor { return r.attr }

// Result returns the reconciliation so far, sorted deterministically. It does
// not change the Reconciler and may be called more than once.
func (r *Reconciler) Result() *Result { return r.result(false) }

// FinalResult is Result for the last use of the Reconciler: it frees the
// per-key state (line keys and aggregates, the bulk of the engine's memory)
// chunk by chunk while it builds the findings from it, so that the findings
// and the state are not held together at their full sizes. Nothing may be
// fed to the Reconciler afterwards, nor another Result asked of it.
func (r *Reconciler) FinalResult() *Result { return r.result(true) }

func (r *Reconciler) result(release bool) *Result {
	// No key is looked up from here on (a line added later rebuilds the
	// table): its slots are garbage while the findings are built.
	r.lineIDs.release()
	res := &Result{
		RunID:           r.in.RunID,
		Period:          r.in.Period,
		PayableLines:    r.payableLines,
		ReceivableLines: r.receivableLines,
		Tolerance:       r.tolerance,
		Totals:          []CurrencyTotal{},
		Customers:       []CustomerRow{},
		Products:        []ProductRow{},
		Mismatches:      []Finding{},
	}

	// Coverage.
	res.Complete = r.in.PayableOK
	res.Coverage.Customers = len(r.attr.ids)
	res.Coverage.Missing = []MissingCustomer{}
	for x, id := range r.attr.ids { // sorted
		st := r.coverage[x]
		if st.status == billing.CoverageAvailable {
			res.Coverage.Available++
			continue
		}
		if st.status == billing.CoverageFetchFailed {
			res.Complete = false
		}
		res.Coverage.Missing = append(res.Coverage.Missing, MissingCustomer{CustomerID: id, Reason: st.status, Error: st.err})
	}

	// Totals per currency.
	for cur, t := range r.totals {
		pay, rec := t.pay.decimal(), t.rec.decimal()
		res.Totals = append(res.Totals, CurrencyTotal{
			Currency: r.strs[cur], Payable: pay, Receivable: rec, Margin: rec.Sub(pay),
		})
	}
	slices.SortFunc(res.Totals, func(a, b CurrencyTotal) int { return cmp.Compare(a.Currency, b.Currency) })

	// Internal use and the mapping's warnings (rule 0).
	res.InternalUse = []CurrencyAmount{}
	for cur, t := range r.internals {
		res.InternalUse = append(res.InternalUse, CurrencyAmount{Currency: r.strs[cur], Count: r.internalLines[cur], Amount: t.decimal()})
	}
	slices.SortFunc(res.InternalUse, func(a, b CurrencyAmount) int { return cmp.Compare(a.Currency, b.Currency) })
	res.MappingWarnings = []MappingWarning{}
	for _, e := range r.attr.ruleEntries {
		kind := "mapping"
		if e.internal {
			kind = "internal"
		}
		if !e.internal && e.customer < 0 {
			res.MappingWarnings = append(res.MappingWarnings, MappingWarning{Entry: kind, MapEntry: e.src, Problem: MappingUnknownCustomer})
			continue
		}
		if e.matched == 0 {
			res.MappingWarnings = append(res.MappingWarnings, MappingWarning{Entry: kind, MapEntry: e.src, Problem: MappingNoMatch})
		}
	}

	// Customer rows, and the per-currency payable sums of missing customers.
	missingPay := map[string][]CustomerRow{}
	res.Customers = slices.Grow(res.Customers, len(r.customers))
	for i := range r.customers {
		c := &r.customers[i]
		x := int32(c.key.a)
		pay, rec := c.pay.decimal(), c.rec.decimal()
		row := CustomerRow{
			CustomerID:   r.attr.ids[x],
			CustomerName: r.attr.names[x],
			Currency:     r.strs[c.key.cur],
			Payable:      pay,
			Receivable:   rec,
			Margin:       rec.Sub(pay),
			Available:    r.available(x),
		}
		res.Customers = append(res.Customers, row)
		if !row.Available {
			missingPay[row.CustomerID] = append(missingPay[row.CustomerID], row)
		}
	}
	slices.SortFunc(res.Customers, func(a, b CustomerRow) int {
		return cmp.Or(cmp.Compare(a.CustomerName, b.CustomerName),
			cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.Currency, b.Currency))
	})
	for _, m := range missingPay {
		slices.SortFunc(m, func(a, b CustomerRow) int { return cmp.Compare(a.Currency, b.Currency) })
	}

	// Invoices.
	res.Invoices = make([]InvoiceRow, 0, len(r.invoices))
	for k, a := range r.invoices {
		res.Invoices = append(res.Invoices, InvoiceRow{
			Number: r.strs[k.number], Date: billing.Date(r.strs[a.date]), Currency: r.strs[k.cur],
			Lines: a.lines, Payable: a.pay.decimal(),
		})
	}
	slices.SortFunc(res.Invoices, func(a, b InvoiceRow) int {
		return cmp.Or(cmp.Compare(a.Currency, b.Currency),
			cmp.Compare(noInvoiceRank(a.Number), noInvoiceRank(b.Number)), cmp.Compare(a.Number, b.Number))
	})

	// Product rows.
	for i := range r.products {
		p := &r.products[i]
		pay, rec := p.pay.decimal(), p.rec.decimal()
		res.Products = append(res.Products, ProductRow{
			SKU: r.strs[p.key.a], Product: r.strs[r.skuNames[p.key.a]], Currency: r.strs[p.key.cur],
			PayableQty: p.payQty.decimal(), ReceivableQty: p.recQty.decimal(),
			Payable: pay, Receivable: rec, Margin: rec.Sub(pay),
		})
	}
	slices.SortFunc(res.Products, func(a, b ProductRow) int {
		return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Currency, b.Currency))
	})

	// Findings: low margin (workflow rules), per customer × currency row.
	if r.lowMargin.Valid {
		for _, c := range res.Customers {
			if !c.Available || c.Receivable.IsZero() {
				continue
			}
			pct := c.Margin.Mul(hundred).DivRound(c.Receivable, 16)
			if pct.Cmp(r.lowMargin.Decimal) >= 0 {
				continue
			}
			res.Mismatches = append(res.Mismatches, Finding{
				Kind: KindLowMargin, CustomerID: c.CustomerID, CustomerName: c.CustomerName, Currency: c.Currency,
				PayableQty: decimal.Zero, ReceivableQty: decimal.Zero,
				PayableAmount: c.Payable, ReceivableAmount: c.Receivable,
				Reason: fmt.Sprintf("margin %s%% is below %s%%", pct.Round(2).StringFixed(2), billing.Text(r.lowMargin.Decimal)),
			})
		}
	}

	// Findings: missing receivables.
	for _, m := range res.Coverage.Missing {
		rows := missingPay[m.CustomerID]
		if len(rows) == 0 {
			res.Mismatches = append(res.Mismatches, Finding{
				Kind: KindMissingReceivables, CustomerID: m.CustomerID, CustomerName: r.attr.names[r.attr.index[m.CustomerID]],
				PayableQty: decimal.Zero, ReceivableQty: decimal.Zero,
				PayableAmount: decimal.Zero, ReceivableAmount: decimal.Zero, Reason: string(m.Reason),
			})
			continue
		}
		for _, row := range rows {
			res.Mismatches = append(res.Mismatches, Finding{
				Kind: KindMissingReceivables, CustomerID: m.CustomerID, CustomerName: row.CustomerName,
				Currency: row.Currency, PayableQty: decimal.Zero, ReceivableQty: decimal.Zero,
				PayableAmount: row.Payable, ReceivableAmount: decimal.Zero, Reason: string(m.Reason),
			})
		}
	}

	// The findings' slice is allocated once at its size: the line keys'
	// findings are counted first. Grown by append, its earlier arrays (of
	// 296-byte findings, up to 4 times the final one's 15 MB at W1M's 50,000
	// findings) were garbage made while the engine's state was still held,
	// the close's peak of the Go heap (BENCHMARKS.md, "Peak RSS round three").
	res.Mismatches = slices.Grow(res.Mismatches, len(r.lineFinds)+r.keyFindings())

	// Findings: per line (unattributed, data quality).
	for i := range r.lineFinds {
		lf := &r.lineFinds[i]
		f := Finding{
			Kind:       lf.kind,
			SKU:        r.strs[lf.sku],
			Product:    r.strs[lf.product],
			ChargeType: r.strs[lf.chargeType],
			PeriodFrom: billing.Date(r.strs[lf.from]), PeriodTo: billing.Date(r.strs[lf.to]),
			Currency:         r.strs[lf.cur],
			PayableQty:       lf.qty,
			ReceivableQty:    decimal.Zero,
			PayableAmount:    lf.amount,
			ReceivableAmount: decimal.Zero,
			Reason:           lf.reason,
			ChargeID:         lf.chargeID,
			Invoice:          lf.invoice,
			Tags:             lf.tags,
		}
		if lf.customer >= 0 {
			f.CustomerID, f.CustomerName = r.attr.ids[lf.customer], r.attr.names[lf.customer]
		}
		res.Mismatches = append(res.Mismatches, f)
	}

	// Findings: per line key, available customers only.
	n := int32(r.lineIDs.len())
	for i := range n {
		if release && i%lineChunkSize == 0 && i > 0 {
			r.releaseLineChunk(i/lineChunkSize - 1)
		}
		k := r.lineIDs.key(i)
		x := int32(k.customer)
		if !r.available(x) {
			continue
		}
		sh := &r.shapes[k.shape]
		l := r.lines.at(i)
		kinds := r.keyKinds(i, l)
		if kinds == [2]string{} {
			continue
		}
		d := r.lineSums(i, l)
		for _, kind := range kinds {
			if kind == "" {
				continue
			}
			res.Mismatches = append(res.Mismatches, Finding{
				Kind:       kind,
				CustomerID: r.attr.ids[x], CustomerName: r.attr.names[x],
				SKU: r.strs[k.sku], Product: r.strs[l.product], ChargeType: r.strs[sh.chargeType],
				PeriodFrom: billing.Date(r.strs[sh.from]), PeriodTo: billing.Date(r.strs[sh.to]), Currency: r.strs[sh.cur],
				PayableQty: d[slotPayQty], ReceivableQty: d[slotRecQty],
				PayableAmount: d[slotPay], ReceivableAmount: d[slotRec],
			})
		}
	}
	if release {
		r.lineIDs, r.lines, r.bigLines = lineIndex{}, chunkStore[lineAgg]{}, nil
	}
	sortFindings(res.Mismatches)
	return res
}

// keyKinds returns the finding kinds of line key i, whose aggregate is l
// ("" where none).
func (r *Reconciler) keyKinds(i int32, l *lineAgg) [2]string {
	var kinds [2]string
	switch {
	case !l.has(lineHasRec):
		kinds[0] = KindUnbilled
	case !l.has(lineHasPay):
		kinds[0] = KindUnexpectedReceivable
	default:
		qm, nm := r.lineKinds(i, l)
		if qm {
			kinds[0] = KindQuantityMismatch
		}
		if nm {
			kinds[1] = KindNegativeMargin
		}
	}
	return kinds
}

// keyFindings counts the findings of the line keys (available customers
// only), as result builds them.
func (r *Reconciler) keyFindings() int {
	n := 0
	for i := range int32(r.lineIDs.len()) {
		if !r.available(int32(r.lineIDs.key(i).customer)) {
			continue
		}
		for _, kind := range r.keyKinds(i, r.lines.at(i)) {
			if kind != "" {
				n++
			}
		}
	}
	return n
}

// releaseLineChunk frees chunk c of the line keys and aggregates (and the
// decimal sums of its keys) once the findings of its keys are built.
func (r *Reconciler) releaseLineChunk(c int32) {
	r.lineIDs.keys[c], r.lines.chunks[c] = nil, nil
	if len(r.bigLines) == 0 {
		return
	}
	for i := c * lineChunkSize; i < (c+1)*lineChunkSize; i++ {
		delete(r.bigLines, i)
	}
}

// noInvoiceRank sorts the no-invoice row after the invoices.
func noInvoiceRank(number string) int {
	if number == "" {
		return 1
	}
	return 0
}

// sortFindings orders findings by kind (rules order, then extra kinds by
// name), then by absolute difference (receivable − payable), largest first,
// then by compareFindings. The absolute differences are computed once.
func sortFindings(fs []Finding) {
	s := findingSorter{fs: fs, abs: make([]decimal.Decimal, len(fs))}
	for i := range fs {
		s.abs[i] = fs[i].Difference().Abs()
	}
	sort.Sort(s)
}

type findingSorter struct {
	fs  []Finding
	abs []decimal.Decimal
}

func (s findingSorter) Len() int { return len(s.fs) }

func (s findingSorter) Swap(i, j int) {
	s.fs[i], s.fs[j] = s.fs[j], s.fs[i]
	s.abs[i], s.abs[j] = s.abs[j], s.abs[i]
}

func (s findingSorter) Less(i, j int) bool {
	a, b := &s.fs[i], &s.fs[j]
	if c := cmp.Or(
		cmp.Compare(findingKindRank(a.Kind), findingKindRank(b.Kind)),
		cmp.Compare(a.Kind, b.Kind),
		s.abs[j].Cmp(s.abs[i]), // larger first
	); c != 0 {
		return c < 0
	}
	return compareFindings(*a, *b) < 0
}

func findingKindRank(kind string) int {
	if i := slices.Index(findingKindOrder, kind); i >= 0 {
		return i
	}
	return len(findingKindOrder)
}

// compareFindings orders findings by kind (rules order, then extra kinds by
// name), customer id, SKU, charge type, period from, period to, currency, then
// by amounts and the remaining fields, so that the order is total. The text
// comparisons of the amounts (which allocate) only run on a tie.
func compareFindings(a, b Finding) int {
	if c := cmp.Or(
		cmp.Compare(findingKindRank(a.Kind), findingKindRank(b.Kind)),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.CustomerID, b.CustomerID),
		cmp.Compare(a.SKU, b.SKU),
		cmp.Compare(a.ChargeType, b.ChargeType),
		cmp.Compare(a.PeriodFrom, b.PeriodFrom),
		cmp.Compare(a.PeriodTo, b.PeriodTo),
		cmp.Compare(a.Currency, b.Currency),
	); c != 0 {
		return c
	}
	if c := cmp.Or(
		a.PayableAmount.Cmp(b.PayableAmount),
		a.PayableQty.Cmp(b.PayableQty),
		a.ReceivableAmount.Cmp(b.ReceivableAmount),
		a.ReceivableQty.Cmp(b.ReceivableQty),
	); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(billing.Text(a.PayableAmount), billing.Text(b.PayableAmount)),
		cmp.Compare(a.ChargeID, b.ChargeID),
		cmp.Compare(a.Invoice, b.Invoice),
		cmp.Compare(a.Tags, b.Tags),
		cmp.Compare(billing.Text(a.PayableQty), billing.Text(b.PayableQty)),
		cmp.Compare(billing.Text(a.ReceivableAmount), billing.Text(b.ReceivableAmount)),
		cmp.Compare(billing.Text(a.ReceivableQty), billing.Text(b.ReceivableQty)),
		cmp.Compare(a.Reason, b.Reason),
		cmp.Compare(a.Product, b.Product),
		cmp.Compare(a.CustomerName, b.CustomerName),
	)
}

// Reconcile is the convenience form of Reconciler: payables in the given
// order, receivables by customer id in sorted order.
func Reconcile(in Input, payables []billing.PayableCharge, receivables map[string][]billing.ReceivableCharge, opts Options) *Result {
	r := NewReconciler(in, opts)
	for i := range payables {
		r.AddPayable(&payables[i])
	}
	ids := make([]string, 0, len(receivables))
	for id := range receivables {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		lines := receivables[id]
		for i := range lines {
			r.AddReceivable(id, &lines[i])
		}
	}
	return r.Result()
}
