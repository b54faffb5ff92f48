package report

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// SortCommitmentRows orders rows as the sort by customer, SKU and
// strings.ToLower of the subscription id it replaces (stable), on ids in
// mixed case, of different lengths, with non-ASCII and invalid UTF-8.
func TestSortCommitmentRowsAsToLower(t *testing.T) {
	parts := []string{"a", "A", "b", "B", "z", "Z", "_", "0", "É", "é", "ß", "İ", "\xff", "[", "`"}
	r := rand.New(rand.NewPCG(1, 2))
	id := func() string {
		var b strings.Builder
		for range r.IntN(4) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		return b.String()
	}
	for range 200 {
		rows := make([]CommitmentRow, 40)
		for i := range rows {
			rows[i] = CommitmentRow{CustomerID: []string{"c1", "c2"}[r.IntN(2)], SKU: []string{"S", "s"}[r.IntN(2)],
				SubscriptionID: id(), Quantity: int64(i)}
		}
		want := append([]CommitmentRow(nil), rows...)
		sort.SliceStable(want, func(i, j int) bool {
			a, b := &want[i], &want[j]
			if a.CustomerID != b.CustomerID {
				return a.CustomerID < b.CustomerID
			}
			if a.SKU != b.SKU {
				return a.SKU < b.SKU
			}
			return strings.ToLower(a.SubscriptionID) < strings.ToLower(b.SubscriptionID)
		})
		SortCommitmentRows(rows)
		for i := range rows {
			if rows[i].Quantity != want[i].Quantity {
				t.Fatalf("row %d: %q (%d), want %q (%d)", i, rows[i].SubscriptionID, rows[i].Quantity, want[i].SubscriptionID, want[i].Quantity)
			}
		}
	}
}
