package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

func TestAmendmentLogIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.DB(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	ev := AmendmentEvent{At: at, Actor: "me", PlanHash: "h", RunID: 1, PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31",
		CustomerID: "c", SubscriptionID: "s", SKU: "K", Product: "P", CurrentQuantity: 5, NewQuantity: 3, Event: EventIntent, Detail: `{"x":1}`}
	ev2 := ev
	ev2.Event, ev2.AmendmentID = EventSubmitted, "a1"
	if err := s.AppendAmendmentEvents(ctx, []AmendmentEvent{ev, ev2}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AmendmentLog(ctx, "2026-10-01")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != 1 || got[1].AmendmentID != "a1" || !got[0].At.Equal(at) || got[0].Detail != `{"x":1}` {
		t.Fatalf("log read back: %+v", got)
	}
	if other, _ := s.AmendmentLog(ctx, "2026-09-01"); len(other) != 0 {
		t.Errorf("period filter: %+v", other)
	}
	for _, q := range []string{"UPDATE amendment_log SET status = 'x'", "DELETE FROM amendment_log"} {
		if _, err := s.db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
	bad := ev
	bad.Event = "oops"
	if err := s.AppendAmendmentEvents(ctx, []AmendmentEvent{bad}); err == nil {
		t.Error("an unknown event kind was accepted")
	}
}
