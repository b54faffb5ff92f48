package ledger

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

func openExceptionsLedger(t *testing.T) (string, *Store, int64) {
	t.Helper()
	path := dbtest.DB(t) // a SQLite file, or a PostgreSQL database in that pass
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	id, err := s.BeginRun(context.Background(), Run{RequestedDate: "2026-10-01", StartedAt: time.Now(), BaseURL: "x", ToolVersion: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return path, s, id
}

func acceptance(fp string, run int64) Exception {
	return Exception{Action: ActionAccept, Fingerprint: fp, Reason: "explained", By: "tester", CreatedAt: time.Now(),
		Amount: decimal.RequireFromString("-12.50"), Currency: "USD", Band: decimal.RequireFromString("0.01"), RunID: run}
}

// TestConcurrentAcceptsLoseNothing: two processes' worth of stores accepting
// at once on one ledger; every acceptance is in the register.
func TestConcurrentAcceptsLoseNothing(t *testing.T) {
	path, _, run := openExceptionsLedger(t)
	const perWriter = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*perWriter)
	for w := 0; w < 2; w++ {
		st, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		wg.Add(1)
		go func(w int, st *Store) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				fp := string(rune('a'+w)) + strings.Repeat("0", 14) + string(rune('a'+i%26))
				if _, err := st.RecordExceptions(context.Background(), []Exception{acceptance(fp, run)}); err != nil {
					errs <- err
				}
			}
		}(w, st)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := Open(context.Background(), path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Exceptions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2*perWriter {
		t.Fatalf("register has %d entries, want %d", len(all), 2*perWriter)
	}
	if !all[0].Amount.Equal(decimal.RequireFromString("-12.50")) || billingText(all[0].Amount) != "-12.50" {
		t.Errorf("amount not exact: %s", all[0].Amount)
	}
}

func billingText(d decimal.Decimal) string { return d.StringFixed(2) }

func TestRecordExceptionsAllOrNothing(t *testing.T) {
	_, s, run := openExceptionsLedger(t)
	ctx := context.Background()
	bad := acceptance("ffff", run)
	bad.Reason = ""
	if _, err := s.RecordExceptions(ctx, []Exception{acceptance("aaaa", run), bad}); err == nil {
		t.Fatal("a batch with a reasonless row was accepted")
	}
	// A row failing inside the transaction (unknown run) rolls back the others.
	ghost := acceptance("bbbb", run+99)
	if _, err := s.RecordExceptions(ctx, []Exception{acceptance("aaaa", run), ghost}); err == nil {
		t.Fatal("an acceptance of an unknown run was recorded")
	}
	if all, _ := s.Exceptions(ctx); len(all) != 0 {
		t.Fatalf("a failed batch left %d entries", len(all))
	}
	ids, err := s.RecordExceptions(ctx, []Exception{acceptance("aaaa", run)})
	if err != nil {
		t.Fatal(err)
	}
	rev := Exception{Action: ActionRevoke, Fingerprint: "aaaa", Revokes: ids[0], Reason: "wrong", By: "tester", CreatedAt: time.Now()}
	if _, err := s.RecordExceptions(ctx, []Exception{rev}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordExceptions(ctx, []Exception{rev}); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Fatalf("second revocation: %v", err)
	}
	all, err := s.Exceptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].RevokedBy != all[1].ID {
		t.Fatalf("register: %+v", all)
	}
}
