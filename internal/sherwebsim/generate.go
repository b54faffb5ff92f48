package sherwebsim

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// Scenarios planted on line keys. Every group of lines the generator emits is
// one line key of one customer (or a partner-level line) with one scenario.
const (
	scNormal               = iota // payable lines mirrored by receivable lines at a markup
	scUnbilled                    // payable line, no receivable counterpart
	scUnexpectedReceivable        // receivable line, no payable counterpart
	scQuantityMismatch            // receivable quantity = payable quantity + 2
	scNegativeMargin              // receivable price = payable price × 0.90
	scQuantityAndMargin           // receivable quantity − 2 and price × 0.90
	scAggregation                 // two payable lines on one key, matched by one or two receivable lines
	scPartner                     // partner-level payable line: untagged or tagged with an unknown customer
)

// planted is the cycle of planted scenarios: customer i gets planted[i%6]
// and planted[(i+3)%6].
var planted = [...]int{scUnbilled, scUnexpectedReceivable, scQuantityMismatch, scNegativeMargin, scQuantityAndMargin, scAggregation}

// Tag modes of a payable group.
const (
	tagName        = iota // [{"name":"CustomerDisplayName","value":name}]
	tagNameSpaces         // the same with surrounding spaces in the value
	tagNameLower          // tag name "customerdisplayname"
	tagID                 // [{"name":"CustomerId","value":id}]
	tagIDUpper            // CustomerId with the id upper-cased
	tagIDAndName          // both tags (the id rule wins)
	tagNull               // tags: null
	tagEmpty              // tags: []
	tagUnknownName        // CustomerDisplayName of no known customer
	tagUnknownID          // CustomerId of no known customer
)

// unknownCustomerName is used in tags of partner-level lines; the name
// generator never produces it.
const unknownCustomerName = "Legacy Holdings Ltd"

const mspName = "Acme MSP"

// Product kinds.
const (
	kMonthly = iota
	kUsage
	kSetup
	kYearly
)

type product struct {
	sku, name, charge string
	kind              int
	lo, hi            int64 // price range in cents (usage: ignored)
	fee               bool  // setup: may carry a provisioning fee
	id                uuid
	nameJSON          []byte
	chargeJSON        []byte
}

var catalog = []*product{
	{sku: "NCE-M365-BSTD-P1M", name: "Microsoft 365 Business Standard (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 1250, hi: 1690},
	{sku: "NCE-M365-BBAS-P1M", name: "Microsoft 365 Business Basic (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 600, hi: 720},
	{sku: "NCE-M365-BPRE-P1M", name: "Microsoft 365 Business Premium (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 2200, hi: 2640},
	{sku: "NCE-M365-E3-P1M", name: "Microsoft 365 E3 (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 3600, hi: 4320},
	{sku: "NCE-EXO-P1-P1M", name: "Exchange Online (Plan 1) (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 400, hi: 480},
	{sku: "NCE-TEAMS-ESS-P1M", name: "Microsoft Teams Essentials (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 400, hi: 480},
	{sku: "NCE-VISIO-P2-P1M", name: "Visio Plan 2 (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 1500, hi: 1800},
	{sku: "NCE-PBI-PRO-P1M", name: "Power BI Pro (NCE, monthly)", charge: "Monthly subscription", kind: kMonthly, lo: 1000, hi: 1400},
	{sku: "ACR-CYB-PROT-STD", name: "Acronis Cyber Protect Cloud – Standard", charge: "Per workload", kind: kMonthly, lo: 300, hi: 900},
	{sku: "KEEPER-BUS-P1M", name: "Keeper Business \"Plus\"", charge: "Per user", kind: kMonthly, lo: 375, hi: 500},
	{sku: "BKP-M365-SEAT", name: "Cloud backup for Microsoft 365 (per seat)", charge: "Seat", kind: kMonthly, lo: 300, hi: 450},
	{sku: "DNS-FLT-SEAT", name: "DNS filtering (per seat)", charge: "Seat", kind: kMonthly, lo: 300, hi: 400},
	{sku: "AZURE-PLAN-STG-HOT", name: "Azure plan", charge: "Storage - Hot LRS data stored (GB/month)", kind: kUsage},
	{sku: "AZURE-PLAN-VM-D2SV5", name: "Azure plan", charge: "Virtual Machines Dsv5 Series - D2s v5 (hours)", kind: kUsage},
	{sku: "AZURE-PLAN-BW-OUT", name: "Azure plan", charge: "Bandwidth - Data transfer out (GB)", kind: kUsage},
	{sku: "AWS-EC2-USAGE", name: "Amazon Web Services", charge: "EC2 compute (hours)", kind: kUsage},
	{sku: "FW-MGD-SETUP", name: "Managed firewall", charge: "Activation", kind: kSetup, lo: 15000, hi: 30000, fee: true},
	{sku: "M365-MIGR-SETUP", name: "Mailbox migration", charge: "Setup fee", kind: kSetup, lo: 2500, hi: 9900},
	{sku: "BKP-ANNUAL-100GB", name: "Cloud backup (annual)", charge: "Annual licence", kind: kYearly, lo: 4000, hi: 6000},
	{sku: "NCE-M365-BSTD-P1Y", name: "Microsoft 365 Business Standard (NCE, annual)", charge: "Annual subscription", kind: kYearly, lo: 14000, hi: 16500},
}

var byKind [4][]int // catalog indexes per kind

func init() {
	for i, p := range catalog {
		h := splitmix64(uint64(len(p.sku)))
		for _, c := range []byte(p.sku) {
			h = splitmix64(h ^ uint64(c))
		}
		p.id = newUUID(h, splitmix64(h))
		p.nameJSON = billing.AppendJSONString(nil, p.name)
		p.chargeJSON = billing.AppendJSONString(nil, p.charge)
		byKind[p.kind] = append(byKind[p.kind], i)
	}
}

var (
	namePrefixes = []string{"Contoso", "Fabrikam", "Northwind Traders", "Tailspin Toys", "Wide World Importers",
		"Adventure Works", "Litware", "Proseware", "Woodgrove Bank", "Coho Winery", "Alpine Ski House",
		"Blue Yonder Airlines", "Fourth Coffee", "Lamna Healthcare", "Margie's Travel", "Trey Research",
		"Wingtip Toys", "Café Olé", "Humongous Insurance", "Relecloud", "Bellows College", "Datum Corporation",
		"Graphic Design Institute", "Southridge Video"}
	nameSuffixes = []string{"Ltd", "Inc.", "LLC", "Group", "& Co"}
)

// baseName is unique per index.
func baseName(i int) string {
	p, s := len(namePrefixes), len(nameSuffixes)
	// (i%p, (i/p+i%p)%s, i/(p*s)) determines i, so names never repeat.
	n := namePrefixes[i%p] + " " + nameSuffixes[(i/p+i%p)%s]
	if k := i / (p * s); k > 0 {
		n += " " + strconv.Itoa(k+1)
	}
	return n
}

// customer is a generated customer and its billing traits.
type customer struct {
	billing.Customer
	index         int
	nameJSON      []byte
	idUpper       string
	primary       string // billing currency
	secondary     string // second currency, or ""
	noCharges     bool
	shared        bool   // shares its display name with another customer
	omitSuspended bool   // suspendedOn absent from the customers body
	suspendedWire string // suspendedOn as served: 7 fractional digits, no zone
}

var currencies = [...]string{"USD", "CAD", "EUR"}

// generator holds what is fixed for a seed: the customers and the sizing.
// Everything else is a pure function of (seed, month, customer index).
type generator struct {
	seed         int64
	history      bool        // Config.History: months other than the anchor evolve from it
	restated     atomic.Bool // Server.SetRestated: serve every month restated
	customers    []customer
	byID         map[string]int // lower-cased id → index
	perCustomer  int            // target payable lines per customer with charges
	partnerLines int
}

func newGenerator(seed int64, n, charges int) *generator {
	g := &generator{seed: seed, byID: make(map[string]int, n)}
	g.customers = make([]customer, n)
	idr := rand.New(rand.NewPCG(uint64(seed), 0xC0570E11))
	for i := range g.customers {
		c := &g.customers[i]
		c.index = i
		c.ID = newUUID(idr.Uint64(), idr.Uint64()).String()
		c.idUpper = strings.ToUpper(c.ID)
		c.DisplayName = baseName(i)
		c.primary = currencies[[...]int{0, 1, 0, 2, 1, 0, 0, 1}[i%8]]
		if i%5 == 4 {
			c.secondary = currencies[(i/5)%3]
			if c.secondary == c.primary {
				c.secondary = currencies[(i/5+1)%3]
			}
		}
		c.omitSuspended = i%4 == 1
	}
	// Special customers.
	if n >= 3 {
		c := &g.customers[2]
		c.suspendedWire = "2026-08-14T18:03:11.1234567"
		c.SuspendedOn = billing.Timestamp("2026-08-14T18:03:11.1234567Z") // as a client normalises it
		c.omitSuspended = false
	}
	if n >= 5 {
		g.customers[3].DisplayName = "=1+1"
	}
	if n >= 10 {
		g.customers[5].DisplayName = "@SUM(A1)"
	}
	if n >= 4 {
		g.customers[n-1].noCharges = true
	}
	if n >= 8 {
		a, b := &g.customers[n-3], &g.customers[n-2]
		b.DisplayName = a.DisplayName
		a.shared, b.shared = true, true
	}
	withCharges := 0
	for i := range g.customers {
		c := &g.customers[i]
		c.Path = []string{mspName, c.DisplayName}
		c.nameJSON = billing.AppendJSONString(nil, c.DisplayName)
		g.byID[strings.ToLower(c.ID)] = i
		if !c.noCharges {
			withCharges++
		}
	}
	g.partnerLines = max(5, charges/50)
	if withCharges > 0 {
		g.perCustomer = max(1, (charges-g.partnerLines)/withCharges)
	}
	return g
}

// periodInfo is a calendar month with its dates pre-rendered.
type periodInfo struct {
	p       billing.Period
	first   time.Time
	dim     int
	key     uint64 // year*12 + month-1
	days    [32]billing.Date
	invDate billing.Date
}

// monthOf returns the calendar month containing t (UTC).
func monthOf(t time.Time) *periodInfo {
	t = t.UTC()
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	next := first.AddDate(0, 1, 0)
	pi := &periodInfo{first: first, dim: next.AddDate(0, 0, -1).Day(), key: uint64(t.Year())*12 + uint64(t.Month()-1)}
	for d := 1; d <= pi.dim; d++ {
		pi.days[d] = billing.Date(first.AddDate(0, 0, d-1).Format("2006-01-02"))
	}
	pi.p = billing.Period{From: pi.days[1], To: pi.days[pi.dim]}
	pi.invDate = billing.Date(next.Format("2006-01-02"))
	return pi
}

func periodOf(p billing.Period) *periodInfo { return monthOf(p.From.Time()) }

func (pi *periodInfo) previous() *periodInfo { return monthOf(pi.first.AddDate(0, -1, 0)) }

func (g *generator) rng(pi *periodInfo, ci int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(g.seed), splitmix64(pi.key<<32|uint64(uint32(ci)))))
}

// payLine is one payable charge line.
type payLine struct {
	chargeID                 uuid
	qty, list, net, npp, sub fx
	billed                   bool
	ded                      int // 0 null, 1 [], 2 promotional percentage
	dedUnit                  fx
	fees                     int // 0 null, 1 [], 2 provisioning fee
	feeUnit                  fx
	taxes                    int // 0 null, 1 [], 2.. currency-specific
	nullIDs                  bool
}

// recLine is one receivable charge line.
type recLine struct {
	chargeID  uuid
	qty       fx
	cost, cpp fx
	omitCycle bool
}

// group is one line key of one customer: the payable and receivable lines
// that share (sku, chargeType, periodFrom, periodTo, currency), and the
// scenario that was planted on it.
type group struct {
	ci         int // customer index, -1 for partner-level lines
	scenario   int
	tag        int
	prod       *product
	sku        string
	chargeType string
	cycle      string
	from, to   billing.Date
	currency   string
	proratable bool
	markup     fx
	pay        [2]payLine
	npay       int
	rec        [2]recLine
	nrec       int
	unknownID  uuid // tagUnknownID value
}

// attributed reports whether the payable lines of the group resolve to their
// customer under the attribution rules, and the reason when they do not.
func (g *generator) attribution(gr *group) (ok bool, reason string) {
	switch gr.tag {
	case tagNull, tagEmpty:
		return false, reasonNoCustomerTag
	case tagUnknownName, tagUnknownID:
		return false, reasonUnknownCustomer
	case tagName, tagNameSpaces, tagNameLower:
		if g.customers[gr.ci].shared {
			return false, reasonAmbiguousName
		}
	}
	return true, ""
}

var markups = [...]fx{{110, 2}, {115, 2}, {120, 2}, {125, 2}}

func cents(r *rand.Rand, lo, hi int64) fx { return fx{v: lo + r.Int64N(hi-lo+1), s: 2} }

// customerGen emits the groups of one customer for one month.
type customerGen struct {
	g     *generator
	pi    *periodInfo
	c     *customer
	r     *rand.Rand
	used  []int // uses per catalog index (SKU suffixes keep keys unique)
	gr    group
	lines int
}

// eachGroup calls fn for every group of customer ci in month pi, in served
// order. The group passed to fn is reused: copy what you keep.
func (g *generator) eachGroupBase(pi *periodInfo, ci int, withCharges bool, fn func(*group) error) error {
	c := &g.customers[ci]
	if c.noCharges && !withCharges {
		return nil
	}
	cg := &customerGen{g: g, pi: pi, c: c, r: g.rng(pi, ci), used: make([]int, len(catalog))}
	r := cg.r
	base := g.perCustomer
	target := base*3/4 + r.IntN(base/2+1)
	target = max(target, 1)
	sc := [2]int{planted[ci%6], planted[(ci+3)%6]}
	pos1 := r.IntN(3)
	pos2 := pos1 + 1 + r.IntN(3)
	for i, done := 0, 0; done < 2 || cg.lines < target; i++ {
		var err error
		switch {
		case i == pos1:
			err = cg.scenarioGroup(sc[0], fn)
			done++
		case i == pos2:
			err = cg.scenarioGroup(sc[1], fn)
			done++
		default:
			err = cg.normalGroup(fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (cg *customerGen) currency() string {
	if cg.c.secondary != "" && cg.r.IntN(10) < 3 {
		return cg.c.secondary
	}
	return cg.c.primary
}

func (cg *customerGen) pick(kind int) (*product, string) {
	idx := byKind[kind][cg.r.IntN(len(byKind[kind]))]
	p := catalog[idx]
	n := cg.used[idx]
	cg.used[idx]++
	if n == 0 {
		return p, p.sku
	}
	return p, p.sku + "-" + strconv.Itoa(n+1)
}

func (cg *customerGen) tagMode(planted bool) int {
	x := cg.r.IntN(100)
	if cg.c.shared {
		if planted || x >= 60 {
			if x%2 == 0 {
				return tagID
			}
			return tagIDAndName
		}
		return tagName
	}
	switch {
	case x < 70:
		return tagName
	case x < 78:
		return tagNameSpaces
	case x < 85:
		return tagNameLower
	case x < 93:
		return tagID
	case x < 96:
		return tagIDUpper
	default:
		return tagIDAndName
	}
}

func (cg *customerGen) newID() uuid { return newUUID(cg.r.Uint64(), cg.r.Uint64()) }

// start resets the group for a new key.
func (cg *customerGen) start(scenario int, p *product, sku string) *group {
	gr := &cg.gr
	*gr = group{ci: cg.c.index, scenario: scenario, prod: p, sku: sku, currency: cg.currency(),
		markup: markups[cg.r.IntN(len(markups))]}
	gr.tag = cg.tagMode(scenario != scNormal)
	return gr
}

// fillCommon draws the decorations of a payable line: billed, taxes.
func (cg *customerGen) fillCommon(pl *payLine) {
	pl.chargeID = cg.newID()
	pl.billed = cg.r.IntN(100) < 85
	pl.taxes = cg.r.IntN(4)
}

// monthlyLine fills a full-month recurring payable line.
func (cg *customerGen) monthlyLine(gr *group, pl *payLine, qty int64) {
	r := cg.r
	cg.fillCommon(pl)
	pl.qty = fxInt(qty)
	pl.list = cents(r, gr.prod.lo, gr.prod.hi)
	pl.net = pl.list
	pl.ded = r.IntN(2)
	if r.IntN(4) == 0 {
		pl.ded = 2
		pl.dedUnit = fx{v: (pl.list.v*10 + 50) / 100, s: 2}
		pl.net = pl.list.sub(pl.dedUnit)
	}
	pl.fees = r.IntN(2)
	pl.npp = pl.net
	pl.sub = pl.qty.mul(pl.npp)
}

func (cg *customerGen) monthlyKey(gr *group) {
	gr.chargeType, gr.cycle, gr.proratable = "Recurring", "Monthly", true
	gr.from, gr.to = cg.pi.days[1], cg.pi.days[cg.pi.dim]
}

// mirror adds one receivable line per payable line at the group's markup.
func (gr *group) mirror(r *rand.Rand) {
	for i := 0; i < gr.npay; i++ {
		pl := &gr.pay[i]
		gr.rec[gr.nrec] = recLine{chargeID: pl.chargeID, qty: pl.qty,
			cost: pl.net.mul(gr.markup).round(4), cpp: pl.npp.mul(gr.markup).round(4), omitCycle: r.IntN(10) == 0}
		gr.nrec++
	}
}

func (cg *customerGen) emit(gr *group, fn func(*group) error) error {
	cg.lines += gr.npay
	return fn(gr)
}

// normalGroup emits one regular key (and maybe a prorated seat add after it).
func (cg *customerGen) normalGroup(fn func(*group) error) error {
	r := cg.r
	pi := cg.pi
	x := r.IntN(100)
	switch {
	case x < 55: // monthly recurring, maybe followed by a mid-month seat add
		p, sku := cg.pick(kMonthly)
		gr := cg.start(scNormal, p, sku)
		cg.monthlyKey(gr)
		cg.monthlyLine(gr, &gr.pay[0], 1+r.Int64N(40))
		gr.npay = 1
		gr.mirror(r)
		parent := gr.pay[0]
		if err := cg.emit(gr, fn); err != nil {
			return err
		}
		if r.IntN(4) != 0 || pi.dim < 2 {
			return nil
		}
		gr = cg.start(scNormal, p, sku)
		gr.chargeType, gr.cycle, gr.proratable = "Recurring", "Monthly", true
		d := 2 + r.IntN(pi.dim-1)
		gr.from, gr.to = pi.days[d], pi.days[pi.dim]
		pl := &gr.pay[0]
		*pl = parent
		pl.billed = r.IntN(100) < 85
		pl.qty = fxInt(1 + r.Int64N(5))
		days := int64(pi.dim - d + 1)
		pl.npp = fx{v: pl.net.mul(fxInt(days)).v, s: 2}.divRound(int64(pi.dim))
		pl.sub = pl.qty.mul(pl.npp)
		gr.npay = 1
		gr.mirror(r)
		return cg.emit(gr, fn)
	case x < 80: // usage: fractional quantity, 4–6 decimal price
		p, sku := cg.pick(kUsage)
		gr := cg.start(scNormal, p, sku)
		cg.monthlyKey(gr)
		gr.chargeType, gr.proratable = "Usage", false
		pl := &gr.pay[0]
		cg.fillCommon(pl)
		pl.qty = fx{v: 500 + r.Int64N(5_000_000), s: 3}
		s := int8(4 + r.IntN(3))
		pl.list = fx{v: pow10[s-2] + r.Int64N(2*pow10[s]-pow10[s-2]), s: s}
		pl.net, pl.npp = pl.list, pl.list
		pl.sub = pl.qty.mul(pl.npp)
		pl.ded, pl.fees = 1, 1
		gr.npay = 1
		gr.mirror(r)
		return cg.emit(gr, fn)
	case x < 90: // setup (one-time)
		p, sku := cg.pick(kSetup)
		gr := cg.start(scNormal, p, sku)
		gr.chargeType, gr.cycle, gr.proratable = "Setup", "OneTime", false
		d := 1 + r.IntN(pi.dim)
		gr.from, gr.to = pi.days[d], pi.days[d]
		pl := &gr.pay[0]
		cg.fillCommon(pl)
		pl.qty = fxInt(1)
		pl.list = cents(r, p.lo, p.hi)
		pl.net = pl.list
		pl.ded = r.IntN(2)
		pl.fees = r.IntN(2)
		if p.fee && r.IntN(2) == 0 {
			pl.fees = 2
			pl.feeUnit = fx{v: 500, s: 2}
			pl.net = pl.list.sub(pl.feeUnit)
		}
		pl.npp = pl.net
		pl.sub = pl.qty.mul(pl.npp)
		gr.npay = 1
		gr.mirror(r)
		return cg.emit(gr, fn)
	default: // yearly recurring starting this month
		p, sku := cg.pick(kYearly)
		gr := cg.start(scNormal, p, sku)
		gr.chargeType, gr.cycle, gr.proratable = "Recurring", "Yearly", true
		d := 1 + r.IntN(pi.dim)
		gr.from = pi.days[d]
		gr.to = billing.Date(pi.first.AddDate(1, 0, d-2).Format("2006-01-02"))
		pl := &gr.pay[0]
		cg.fillCommon(pl)
		pl.qty = fxInt(1 + r.Int64N(30))
		pl.list = cents(r, p.lo, p.hi)
		pl.net, pl.npp = pl.list, pl.list
		pl.ded, pl.fees = 0, 0
		pl.sub = pl.qty.mul(pl.npp)
		gr.npay = 1
		gr.mirror(r)
		return cg.emit(gr, fn)
	}
}

// divRound divides by n, rounding half away from zero, keeping the scale.
func (a fx) divRound(n int64) fx {
	q, rem := a.v/n, a.v%n
	if rem < 0 {
		rem = -rem
	}
	if 2*rem >= n {
		if a.v < 0 {
			q--
		} else {
			q++
		}
	}
	return fx{v: q, s: a.s}
}

var lowPrice = fx{v: 90, s: 2} // receivable price factor of the negative-margin scenarios

// scenarioGroup emits one planted key (always a full-month monthly SKU).
func (cg *customerGen) scenarioGroup(sc int, fn func(*group) error) error {
	r := cg.r
	p, sku := cg.pick(kMonthly)
	gr := cg.start(sc, p, sku)
	cg.monthlyKey(gr)
	qty := 3 + r.Int64N(20)
	cg.monthlyLine(gr, &gr.pay[0], qty)
	gr.npay = 1
	switch sc {
	case scUnbilled:
	case scUnexpectedReceivable:
		gr.npay = 0
		pl := &gr.pay[0]
		gr.rec[0] = recLine{chargeID: pl.chargeID, qty: pl.qty, cost: pl.net.mul(gr.markup).round(4), cpp: pl.npp.mul(gr.markup).round(4)}
		gr.nrec = 1
	case scQuantityMismatch:
		gr.mirror(r)
		gr.rec[0].qty = fxInt(qty + 2)
	case scNegativeMargin:
		gr.mirror(r)
		gr.rec[0].cost = gr.pay[0].net.mul(lowPrice).round(4)
		gr.rec[0].cpp = gr.pay[0].npp.mul(lowPrice).round(4)
	case scQuantityAndMargin:
		gr.mirror(r)
		gr.rec[0].qty = fxInt(qty - 2)
		gr.rec[0].cost = gr.pay[0].net.mul(lowPrice).round(4)
		gr.rec[0].cpp = gr.pay[0].npp.mul(lowPrice).round(4)
	case scAggregation:
		// A second subscription of the same SKU: same key, same price.
		second := gr.pay[0]
		second.chargeID = cg.newID()
		second.qty = fxInt(1 + r.Int64N(10))
		second.sub = second.qty.mul(second.npp)
		gr.pay[1] = second
		gr.npay = 2
		gr.mirror(r)
		if r.IntN(2) == 0 { // one receivable line for both
			gr.rec[0].qty = gr.pay[0].qty.add(gr.pay[1].qty)
			gr.nrec = 1
		}
	}
	return cg.emit(gr, fn)
}

// eachPartnerGroup emits the partner-level lines of a month (untagged, or
// tagged with an unknown customer). promo turns the first line's chargeType
// into "Promotion" (the unknown_enum fault).
func (g *generator) eachPartnerGroupBase(pi *periodInfo, promo bool, lines int, fn func(*group) error) error {
	r := g.rng(pi, -1)
	var gr group
	for j := 0; j < lines; j++ {
		gr = group{ci: -1, scenario: scPartner, chargeType: "Recurring", cycle: "Monthly", proratable: true,
			from: pi.days[1], to: pi.days[pi.dim], currency: currencies[j%3]}
		pl := &gr.pay[0]
		gr.npay = 1
		pl.chargeID = newUUID(r.Uint64(), r.Uint64())
		pl.billed = r.IntN(100) < 85
		pl.taxes = r.IntN(4)
		pl.ded, pl.fees = r.IntN(2), r.IntN(2)
		switch j % 5 {
		case 0, 1, 2, 4:
			gr.tag = [...]int{tagNull, tagEmpty, tagUnknownName, 0, tagUnknownID}[j%5]
			idx := byKind[kMonthly][r.IntN(len(byKind[kMonthly]))]
			gr.prod = catalog[idx]
			gr.sku = gr.prod.sku
			pl.qty = fxInt(1 + r.Int64N(10))
			pl.list = cents(r, gr.prod.lo, gr.prod.hi)
			pl.net, pl.npp = pl.list, pl.list
			if j%5 == 4 {
				gr.unknownID = newUUID(r.Uint64(), r.Uint64())
			}
		case 3: // a credit with every nullable field null (§6.2)
			gr.tag = tagNull
			gr.chargeType, gr.proratable, gr.currency = "Unknown", false, "CAD"
			pl.nullIDs = true
			pl.qty = fxInt(1)
			pl.list = fx{v: -(500 + r.Int64N(4500)), s: 2}
			pl.net, pl.npp = pl.list, pl.list
			pl.billed = false
			pl.ded, pl.fees, pl.taxes = 0, 0, 0
		}
		pl.sub = pl.qty.mul(pl.npp)
		if j == 0 && promo {
			gr.chargeType = "Promotion"
		}
		if err := fn(&gr); err != nil {
			return err
		}
	}
	return nil
}

// eachPayableGroup calls fn for every group with payable lines, in served
// order: the first half of the customers, the partner-level lines, the rest.
// mid is called once, just before the partner-level lines (the point where
// the mid-body faults act).
func (g *generator) eachPayableGroup(pi *periodInfo, order []int, promo bool, mid func() error, fn func(*group) error) error {
	half := len(order) / 2
	for _, ci := range order[:half] {
		if err := g.eachGroup(pi, ci, fn); err != nil {
			return err
		}
	}
	if mid != nil {
		if err := mid(); err != nil {
			return err
		}
	}
	if err := g.eachPartnerGroup(pi, promo, fn); err != nil {
		return err
	}
	for _, ci := range order[half:] {
		if err := g.eachGroup(pi, ci, fn); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) naturalOrder() []int {
	o := make([]int, len(g.customers))
	for i := range o {
		o[i] = i
	}
	return o
}
