package report

// skuTable maps one customer's SKU numbers to values: open addressing with
// linear probing over parallel arrays of keys (SKU + 1, 0 empty) and values,
// at most 3/4 full. A customer has tens of SKUs, so a table is a few hundred
// bytes, and dropping it frees all the collector keeps of the customer.
type skuTable[V any] struct {
	keys []uint32
	vals []V
	n    int32
}

// find returns the value of sku, adding a zero value when add is set (else
// nil when there is none).
func (t *skuTable[V]) find(sku uint32, add bool) *V {
	if add && 4*(int(t.n)+1) > 3*len(t.keys) {
		t.grow()
	}
	if len(t.keys) == 0 {
		return nil
	}
	mask := uint32(len(t.keys) - 1)
	k := sku + 1
	for p := hashSKU(k) & mask; ; p = (p + 1) & mask {
		switch t.keys[p] {
		case k:
			return &t.vals[p]
		case 0:
			if !add {
				return nil
			}
			t.keys[p] = k
			t.n++
			return &t.vals[p]
		}
	}
}

func hashSKU(k uint32) uint32 { return (k * 0x9e3779b1) ^ (k * 0x9e3779b1 >> 16) }

func (t *skuTable[V]) grow() {
	n := max(8, 2*len(t.keys))
	keys, vals := t.keys, t.vals
	t.keys, t.vals = make([]uint32, n), make([]V, n)
	mask := uint32(n - 1)
	for i, k := range keys {
		if k == 0 {
			continue
		}
		p := hashSKU(k) & mask
		for t.keys[p] != 0 {
			p = (p + 1) & mask
		}
		t.keys[p], t.vals[p] = k, vals[i]
	}
}
