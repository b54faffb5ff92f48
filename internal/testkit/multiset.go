package testkit

import (
	"slices"
	"testing"
)

// MultisetDiff compares got and want as multisets (order ignored, repeats
// counted) and returns what want has more of (missing) and what got has more
// of (unexpected), each sorted; both are empty when they are equal.
func MultisetDiff(got, want []string) (missing, unexpected []string) {
	n := make(map[string]int, len(got))
	for _, s := range got {
		n[s]++
	}
	for _, s := range want {
		if n[s] == 0 {
			missing = append(missing, s)
			continue
		}
		n[s]--
	}
	for s, k := range n {
		for ; k > 0; k-- {
			unexpected = append(unexpected, s)
		}
	}
	slices.Sort(missing)
	slices.Sort(unexpected)
	return missing, unexpected
}

// ErrorMultisetDiff reports through t every element that want has and got
// lacks ("what: missing x") and every one got has beyond want ("what:
// unexpected x"), in sorted order.
func ErrorMultisetDiff(t testing.TB, what string, got, want []string) {
	t.Helper()
	missing, unexpected := MultisetDiff(got, want)
	for _, s := range missing {
		t.Errorf("%s: missing %s", what, s)
	}
	for _, s := range unexpected {
		t.Errorf("%s: unexpected %s", what, s)
	}
}
