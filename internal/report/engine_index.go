package report

// lineIndex numbers the engine's line keys: key → dense index (the index of
// its lineAgg in lineStore). It replaces a map[lineKey]int32, whose slots
// (28 bytes each, tables grown by splitting) cost ≈ 75 bytes per key on W1M:
// here a key is stored once, 12 bytes in fixed-size chunks, and the hash
// table is open addressing over int32 slots (index + 1, 0 empty, load ≤ 3/4),
// ≈ 8 bytes per key. Keys are numbered in insertion order, so iterating by
// index is deterministic.
type lineIndex struct {
	slots []int32
	keys  []*[lineChunkSize]lineKey
	n     int32
}

func (t *lineIndex) len() int { return int(t.n) }

// key returns the key of index i.
func (t *lineIndex) key(i int32) lineKey { return t.keys[i/lineChunkSize][i%lineChunkSize] }

func hashLineKey(k lineKey) uint64 {
	h := uint64(k.customer) | uint64(k.sku)<<32
	h = (h ^ h>>31) * 0x9e3779b97f4a7c15
	h ^= uint64(k.shape)
	h = (h ^ h>>29) * 0xbf58476d1ce4e5b9
	return h ^ h>>32
}

// index returns the index of k, numbering it next when it is new.
func (t *lineIndex) index(k lineKey) (i int32, added bool) {
	if 4*(int(t.n)+1) > 3*len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for p := hashLineKey(k) & mask; ; p = (p + 1) & mask {
		s := t.slots[p]
		if s == 0 {
			i = t.n
			if i%lineChunkSize == 0 {
				t.keys = append(t.keys, new([lineChunkSize]lineKey))
			}
			t.keys[i/lineChunkSize][i%lineChunkSize] = k
			t.slots[p] = i + 1
			t.n++
			return i, true
		}
		if t.key(s-1) == k {
			return s - 1, false
		}
	}
}

func (t *lineIndex) grow() {
	n := max(1024, 2*len(t.slots))
	for 4*(int(t.n)+1) > 3*n {
		n *= 2
	}
	t.slots = make([]int32, n)
	mask := uint64(n - 1)
	for i := range t.n {
		p := hashLineKey(t.key(i)) & mask
		for t.slots[p] != 0 {
			p = (p + 1) & mask
		}
		t.slots[p] = i + 1
	}
}

// release drops the hash table (the keys stay readable by index; the next
// index call rebuilds it).
func (t *lineIndex) release() { t.slots = nil }
