package xlsx

import (
	"testing"
	"unsafe"

	"github.com/xuri/excelize/v2"
)

// TestMoneyStyleKeepsItsCurrency: a money style looked up with a currency
// that is a view of a buffer (a lent line's, ViewDetail) keeps a copy of
// it: once the buffer holds another line, the same currency finds the same
// style, alone and through the detail producers' shared styles.
func TestMoneyStyleKeepsItsCurrency(t *testing.T) {
	for _, shared := range []bool{false, true} {
		f := excelize.NewFile()
		s, err := newStyles(f)
		if err != nil {
			t.Fatal(err)
		}
		st := s
		if shared {
			views, m := s.shareMoney(2)
			st = views[0]
			defer m.stageDone(1)
			defer m.stageDone(0)
		}
		buf := []byte("ZZZ")
		lent := unsafe.String(&buf[0], len(buf))
		first, err := st.money(lent, moneyUnit)
		if err != nil {
			t.Fatal(err)
		}
		copy(buf, "USD") // the buffer is reused for the next line
		for _, m := range []map[moneyKey]int{st.moneyBy, s.moneyBy} {
			for k, id := range m {
				if k.currency != "ZZZ" || id != first {
					t.Errorf("shared %v: after the buffer was reused, a money style is keyed %q (id %d), want ZZZ (id %d)", shared, k.currency, id, first)
				}
			}
		}
		if again, err := st.money("ZZZ", moneyUnit); err != nil || again != first {
			t.Errorf("shared %v: ZZZ's unit style is %d (%v), want %d", shared, again, err, first)
		}
		_ = f.Close()
	}
}
