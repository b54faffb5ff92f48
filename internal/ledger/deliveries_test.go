package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeliveriesRecordEveryAttempt(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	started := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	runID, err := s.BeginRun(ctx, Run{RequestedDate: "2026-10-01", StartedAt: started})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LastDelivered(ctx, runID, "email"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LastDelivered before any delivery: err = %v, want ErrNotFound", err)
	}
	att := []DeliveryAttachment{{Name: "reconciliation-2026-10-01_2026-10-31.xlsx", Bytes: 1234, SHA256: "ab12"}}
	first, err := s.BeginDelivery(ctx, Delivery{RunID: runID, Channel: "email", Recipients: []string{"a@example.com", "b@example.com"},
		Subject: "Reconciliation 2026-10", MessageID: "<1@x>", Attachments: att, StartedAt: started})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, first, DeliveryFailed, 3, "connection refused", started.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A finished delivery cannot be finished again.
	if err := s.FinishDelivery(ctx, first, DeliveryDelivered, 1, "", started); err == nil {
		t.Fatal("FinishDelivery of a failed delivery: want an error")
	}
	if _, err := s.LastDelivered(ctx, runID, "email"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LastDelivered after a failure: err = %v, want ErrNotFound", err)
	}
	second, err := s.BeginDelivery(ctx, Delivery{RunID: runID, Channel: "email", Recipients: []string{"a@example.com"},
		Subject: "Reconciliation 2026-10", MessageID: "<2@x>", Attachments: att, StartedAt: started.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, second, DeliveryDelivered, 1, "", started.Add(time.Hour+time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastDelivered(ctx, runID, "email")
	if err != nil {
		t.Fatal(err)
	}
	want := Delivery{ID: second, RunID: runID, Channel: "email", Recipients: []string{"a@example.com"}, Subject: "Reconciliation 2026-10",
		MessageID: "<2@x>", Attachments: att, StartedAt: started.Add(time.Hour), FinishedAt: started.Add(time.Hour + time.Second),
		Outcome: DeliveryDelivered, Attempts: 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("LastDelivered (-want +got):\n%s", d)
	}
	all, err := s.Deliveries(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Outcome != DeliveryFailed || all[0].Error != "connection refused" || all[0].Attempts != 3 {
		t.Fatalf("Deliveries = %+v, want the failed one first", all)
	}
	// A delivery must belong to a run.
	if _, err := s.BeginDelivery(ctx, Delivery{RunID: 999, Channel: "email", StartedAt: started}); err == nil {
		t.Fatal("BeginDelivery for an unknown run: want an error (foreign key)")
	}
	// A read-only store reads the deliveries back.
	path := s.Path()
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s read-only: %v", filepath.Base(path), err)
	}
	defer ro.Close()
	if _, err := ro.LastDelivered(ctx, runID, "email"); err != nil {
		t.Fatal(err)
	}
}
