package testkit

import (
	"slices"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now() = %v, want %v", got, t0)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), t0.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: Now() = %v, want %v", got, want)
	}
}

func TestMultisetDiff(t *testing.T) {
	for _, tc := range []struct {
		name                string
		got, want           []string
		missing, unexpected []string
	}{
		{"equal, other order", []string{"b", "a", "a"}, []string{"a", "b", "a"}, nil, nil},
		{"both empty", nil, nil, nil, nil},
		{"repeat missing", []string{"a"}, []string{"a", "a"}, []string{"a"}, nil},
		{"repeat unexpected", []string{"c", "a", "c"}, []string{"a"}, nil, []string{"c", "c"}},
		{"both ways", []string{"x", "b"}, []string{"b", "y", "a"}, []string{"a", "y"}, []string{"x"}},
	} {
		m, u := MultisetDiff(tc.got, tc.want)
		if !slices.Equal(m, tc.missing) || !slices.Equal(u, tc.unexpected) {
			t.Errorf("%s: MultisetDiff = missing %q unexpected %q, want %q %q", tc.name, m, u, tc.missing, tc.unexpected)
		}
	}
}
