package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// TestConcurrentWritersLoseNothing: several stores (as several machines
// would have) write to one ledger at the same time, many times over: each
// accepts a finding, revokes its own acceptance (a transaction that reads
// the whole register, so on PostgreSQL two of them at once make a
// serialization failure) and appends an amendment-log event. Every write is
// there exactly once, no error reaches the caller, and on PostgreSQL the
// retry of writeTx ran (serialization failures happened and were absorbed):
// without the retry loop this test fails.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	path, _, run := openExceptionsLedger(t)
	const writers, iterations = 3, 40
	ctx := context.Background()
	before := serializationRetries.Load()
	fp := func(w, i int) string { return fmt.Sprintf("%02x%014x", w, i) }
	var wg sync.WaitGroup
	errs := make(chan error, writers*iterations*3)
	start := make(chan struct{})
	// The writers revoke in step: every write i starts at the same moment
	// in every writer, so that the transactions do overlap.
	step := make([]sync.WaitGroup, iterations)
	for i := range step {
		step[i].Add(writers)
	}
	for w := 0; w < writers; w++ {
		st, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		wg.Add(1)
		go func(w int, st *Store) {
			defer wg.Done()
			<-start
			for i := 0; i < iterations; i++ {
				ids, err := st.RecordExceptions(ctx, []Exception{acceptance(fp(w, i), run)})
				if err != nil {
					errs <- fmt.Errorf("writer %d: accept %d: %w", w, i, err)
					step[i].Done()
					continue
				}
				step[i].Done()
				step[i].Wait()
				rev := Exception{Action: ActionRevoke, Fingerprint: fp(w, i), Revokes: ids[0], Reason: "revisit",
					By: fmt.Sprintf("writer %d", w), CreatedAt: time.Now()}
				if _, err := st.RecordExceptions(ctx, []Exception{rev}); err != nil {
					errs <- fmt.Errorf("writer %d: revoke %d: %w", w, i, err)
				}
				ev := AmendmentEvent{At: time.Now().UTC(), Actor: fmt.Sprintf("writer %d", w), PlanHash: "h", RunID: run,
					PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31", CustomerID: "c", SubscriptionID: fp(w, i), SKU: "K",
					Product: "P", CurrentQuantity: 1, NewQuantity: 2, Event: EventIntent, Detail: fp(w, i)}
				if err := st.AppendAmendmentEvents(ctx, []AmendmentEvent{ev}); err != nil {
					errs <- fmt.Errorf("writer %d: amendment event %d: %w", w, i, err)
				}
			}
		}(w, st)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err) // an error the retry should have absorbed
	}

	ro := mustOpenPath(t, path, Options{ReadOnly: true})
	all, err := ro.Exceptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ accept, revoke []Exception }
	byFP := map[string]*pair{}
	for _, e := range all {
		p := byFP[e.Fingerprint]
		if p == nil {
			p = &pair{}
			byFP[e.Fingerprint] = p
		}
		if e.Action == ActionAccept {
			p.accept = append(p.accept, e)
		} else {
			p.revoke = append(p.revoke, e)
		}
	}
	if len(all) != 2*writers*iterations || len(byFP) != writers*iterations {
		t.Errorf("register has %d entries for %d fingerprints, want %d for %d", len(all), len(byFP), 2*writers*iterations, writers*iterations)
	}
	log, err := ro.AmendmentLog(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, ev := range log {
		events[ev.Detail]++
	}
	if len(log) != writers*iterations {
		t.Errorf("amendment log has %d events, want %d", len(log), writers*iterations)
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < iterations; i++ {
			f := fp(w, i)
			if p := byFP[f]; p == nil || len(p.accept) != 1 || len(p.revoke) != 1 || p.accept[0].RevokedBy != p.revoke[0].ID || p.revoke[0].Revokes != p.accept[0].ID {
				t.Errorf("writer %d, write %d: register entries %+v, want one acceptance revoked by one revocation", w, i, p)
			}
			if n := events[f]; n != 1 {
				t.Errorf("writer %d, write %d: %d amendment-log events, want 1", w, i, n)
			}
		}
	}
	retries := serializationRetries.Load() - before
	t.Logf("%s: %d serialization failures retried", dbtest.Backend(), retries)
	if dbtest.Backend() == dbtest.Postgres && retries == 0 {
		t.Errorf("no serialization failure happened on PostgreSQL: the test did not exercise the retry")
	}
}
