package report

import (
	"cmp"
	"encoding/binary"
	"math/big"
	"slices"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// lineTable is a Snapshot's compact, sorted table of line keys: the engine's
// line keys (attributed payable lines, receivable lines of available
// customers) and, when the line keys are kept for restatements, the
// unattributed payable lines aggregated per key under customer "".
//
// Records are varint-encoded one after the other in key order (customer id,
// SKU, charge type, period from, period to, currency, as text), so that two
// tables merge in one pass. A record is
//
//	customer slot (0: unattributed, x+1: ids[x]), SKU, charge type, from, to,
//	currency (uvarints; strings are numbers in strs), a flags byte, then the
//	four sums payable qty, receivable qty, payable amount, receivable amount:
//	zigzag coefficient and zigzag exponent when flags is 0 (the engine's
//	int64 fast path), else length-prefixed coefficient text and zigzag
//	exponent (the decimal fallback).
//
// A sum is exact and keeps its exponent, so a decoded sum is bit for bit the
// decimal.Decimal the engine would return; about 20–30 bytes per key in W1M
// instead of the ≈ 280 of BridgeLine/LineKeyTotal structs with decimals.
type lineTable struct {
	ids  []string // customer ids by index, sorted (the Attributor's)
	strs []string // the engine's interned strings
	data []byte
	n    int
}

const lineRecBig = 1 // flags: the sums are decimal text

// lineRec is one decoded record.
type lineRec struct {
	slot                           uint32
	sku, chargeType, from, to, cur uint32
	v                              [numSlots]value
}

// tableEntry is a line key to encode: engine line i (≥ 0), or unattributed
// aggregate -(i+1).
type tableEntry struct {
	k wideKey // customer holds the slot
	i int32
}

// lineTable makes the Snapshot's table from the engine's line keys; with
// unattributed, the unattributed payable lines are added under slot 0. It
// spends the Reconciler: its key map is dropped once read (call Result
// first).
func (r *Reconciler) lineTable(unattributed bool) lineTable {
	t := lineTable{ids: r.attr.ids, strs: r.strs}
	entries := make([]tableEntry, 0, r.lineIDs.len())
	for i := range int32(r.lineIDs.len()) {
		k := r.wide(r.lineIDs.key(i))
		k.customer++
		entries = append(entries, tableEntry{k, i})
	}
	r.lineIDs = lineIndex{} // the largest part of the engine's state; lines stay for the sums
	var un [][numSlots]sum
	if unattributed {
		at := map[wideKey]int32{}
		for j := range r.lineFinds {
			lf := &r.lineFinds[j]
			if lf.kind != KindUnattributed {
				continue
			}
			k := wideKey{0, lf.sku, lf.chargeType, lf.from, lf.to, lf.cur}
			x, ok := at[k]
			if !ok {
				x = int32(len(un))
				at[k] = x
				un = append(un, [numSlots]sum{})
				entries = append(entries, tableEntry{k, -(x + 1)})
			}
			un[x][slotPayQty].add(valueOf(lf.qty))
			un[x][slotPay].add(valueOf(lf.amount))
		}
	}
	// Strings compare by rank: interned strings are distinct.
	order := make([]uint32, len(r.strs))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return strings.Compare(r.strs[a], r.strs[b]) })
	rank := make([]uint32, len(r.strs))
	for pos, id := range order {
		rank[id] = uint32(pos)
	}
	slices.SortFunc(entries, func(a, b tableEntry) int {
		return cmp.Or(cmp.Compare(a.k.customer, b.k.customer), cmp.Compare(rank[a.k.sku], rank[b.k.sku]),
			cmp.Compare(rank[a.k.chargeType], rank[b.k.chargeType]), cmp.Compare(rank[a.k.from], rank[b.k.from]),
			cmp.Compare(rank[a.k.to], rank[b.k.to]), cmp.Compare(rank[a.k.cur], rank[b.k.cur]))
	})
	buf := make([]byte, 0, 24*len(entries))
	for _, e := range entries {
		for _, x := range [...]uint32{e.k.customer, e.k.sku, e.k.chargeType, e.k.from, e.k.to, e.k.cur} {
			buf = binary.AppendUvarint(buf, uint64(x))
		}
		var coef [numSlots]int64
		var exp [numSlots]int32
		fixed := true
		var dec [numSlots]decimal.Decimal
		switch {
		case e.i >= 0:
			l := r.lines.at(e.i)
			if l.has(lineBig) {
				fixed, dec = false, *r.bigLines[e.i]
			} else {
				for s := range coef {
					coef[s], exp[s] = l.get(s), l.exp(s)
				}
			}
		default:
			u := &un[-(e.i + 1)]
			for s := range u {
				if u[s].big != nil {
					fixed = false
				}
				coef[s], exp[s] = u[s].coef, u[s].exp
			}
			if !fixed {
				for s := range u {
					dec[s] = u[s].decimal()
				}
			}
		}
		if fixed {
			buf = append(buf, 0)
			for s := range coef {
				buf = binary.AppendVarint(buf, coef[s])
				buf = binary.AppendVarint(buf, int64(exp[s]))
			}
		} else {
			buf = append(buf, lineRecBig)
			for s := range dec {
				c := dec[s].Coefficient().String()
				buf = binary.AppendUvarint(buf, uint64(len(c)))
				buf = append(buf, c...)
				buf = binary.AppendVarint(buf, int64(dec[s].Exponent()))
			}
		}
	}
	t.data, t.n = slices.Clip(buf), len(entries)
	return t
}

// customer is the customer id of a slot ("" for unattributed).
func (t *lineTable) customer(slot uint32) string {
	if slot == 0 {
		return ""
	}
	return t.ids[slot-1]
}

// lineCursor decodes a lineTable's records in order.
type lineCursor struct {
	t   *lineTable
	off int
	rec lineRec
}

func (t *lineTable) cursor() *lineCursor { return &lineCursor{t: t} }

func (c *lineCursor) uvarint() uint64 {
	v, n := binary.Uvarint(c.t.data[c.off:])
	c.off += n
	return v
}

func (c *lineCursor) varint() int64 {
	v, n := binary.Varint(c.t.data[c.off:])
	c.off += n
	return v
}

// next decodes the next record into c.rec; false at the end.
func (c *lineCursor) next() bool {
	if c.off >= len(c.t.data) {
		return false
	}
	r := &c.rec
	r.slot = uint32(c.uvarint())
	r.sku, r.chargeType = uint32(c.uvarint()), uint32(c.uvarint())
	r.from, r.to, r.cur = uint32(c.uvarint()), uint32(c.uvarint()), uint32(c.uvarint())
	flags := c.t.data[c.off]
	c.off++
	for s := range r.v {
		if flags&lineRecBig == 0 {
			coef := c.varint()
			r.v[s] = value{coef: coef, exp: int32(c.varint()), fixed: true}
			continue
		}
		n := int(c.uvarint())
		text := string(c.t.data[c.off : c.off+n])
		c.off += n
		exp := int32(c.varint())
		coef, ok := new(big.Int).SetString(text, 10)
		if !ok {
			panic("report: corrupt line table coefficient " + text) // written by lineTable above
		}
		r.v[s] = value{d: decimal.NewFromBigInt(coef, exp)}
	}
	return true
}

// decimal returns sum slot s of the current record as the engine would.
func (c *lineCursor) decimal(s int) decimal.Decimal {
	v := c.rec.v[s]
	if v.fixed {
		return fixedDecimal(v.coef, v.exp)
	}
	return v.d
}

// total returns the current record as a LineKeyTotal.
func (c *lineCursor) total() LineKeyTotal {
	r, t := &c.rec, c.t
	return LineKeyTotal{CustomerID: t.customer(r.slot), SKU: t.strs[r.sku], ChargeType: t.strs[r.chargeType],
		PeriodFrom: billing.Date(t.strs[r.from]), PeriodTo: billing.Date(t.strs[r.to]), Currency: t.strs[r.cur],
		PayableQty: c.decimal(slotPayQty), PayableAmount: c.decimal(slotPay),
		ReceivableQty: c.decimal(slotRecQty), ReceivableAmount: c.decimal(slotRec)}
}

// compareKeys orders the current records of two cursors (of two tables) by
// line key text.
func compareKeys(a, b *lineCursor) int {
	ra, rb, ta, tb := &a.rec, &b.rec, a.t, b.t
	return cmp.Or(strings.Compare(ta.customer(ra.slot), tb.customer(rb.slot)),
		strings.Compare(ta.strs[ra.sku], tb.strs[rb.sku]),
		strings.Compare(ta.strs[ra.chargeType], tb.strs[rb.chargeType]),
		strings.Compare(ta.strs[ra.from], tb.strs[rb.from]),
		strings.Compare(ta.strs[ra.to], tb.strs[rb.to]),
		strings.Compare(ta.strs[ra.cur], tb.strs[rb.cur]))
}

// bridgeAgg is one bridge line being summed: the customer slot, SKU and
// currency of the table, and the sums P, R and Q.
type bridgeAgg struct {
	slot, sku, cur uint32
	pay, rec, qty  sum
}

// bridgeIter yields a table's bridge lines in order (customer id, SKU,
// currency): the line keys of one customer and SKU are consecutive, and
// summed per currency. Unattributed records are skipped.
type bridgeIter struct {
	c     *lineCursor
	ok    bool // c.rec holds a record not yet consumed
	group []bridgeAgg
	pos   int
}

func (t *lineTable) bridge() *bridgeIter {
	it := &bridgeIter{c: t.cursor()}
	it.ok = it.c.next()
	return it
}

// next advances to the next bridge line; false at the end.
func (it *bridgeIter) next() bool {
	if it.pos+1 < len(it.group) {
		it.pos++
		return true
	}
	it.group, it.pos = it.group[:0], 0
	for it.ok && it.c.rec.slot == 0 {
		it.ok = it.c.next()
	}
	if !it.ok {
		return false
	}
	slot, sku := it.c.rec.slot, it.c.rec.sku
	for it.ok && it.c.rec.slot == slot && it.c.rec.sku == sku {
		r := &it.c.rec
		j := slices.IndexFunc(it.group, func(g bridgeAgg) bool { return g.cur == r.cur })
		if j < 0 {
			it.group = append(it.group, bridgeAgg{slot: slot, sku: sku, cur: r.cur})
			j = len(it.group) - 1
		}
		g := &it.group[j]
		g.pay.add(r.v[slotPay])
		g.rec.add(r.v[slotRec])
		g.qty.add(r.v[slotPayQty])
		it.ok = it.c.next()
	}
	strs := it.c.t.strs
	slices.SortFunc(it.group, func(a, b bridgeAgg) int { return strings.Compare(strs[a.cur], strs[b.cur]) })
	return true
}

// cur returns the current bridge line's aggregate.
func (it *bridgeIter) cur() *bridgeAgg { return &it.group[it.pos] }

// customerID, sku and currency of the current bridge line.
func (it *bridgeIter) customerID() string { return it.c.t.customer(it.cur().slot) }
func (it *bridgeIter) sku() string        { return it.c.t.strs[it.cur().sku] }
func (it *bridgeIter) currency() string   { return it.c.t.strs[it.cur().cur] }

// line returns the current bridge line.
func (it *bridgeIter) line() BridgeLine {
	g := it.cur()
	return BridgeLine{CustomerID: it.customerID(), SKU: it.sku(), Currency: it.currency(),
		Payable: g.pay.decimal(), Receivable: g.rec.decimal(), PayableQty: g.qty.decimal()}
}

// value is the sum as a value to add.
func (s *sum) value() value {
	if s.big != nil {
		return value{d: *s.big}
	}
	return value{coef: s.coef, exp: s.exp, fixed: true}
}
