package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

func simClient(t *testing.T, sim *sherwebsim.Server, s *sleeps) *Client {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return newTestClient(t, Config{BaseURL: srv.URL, ClientID: "sim-client", ClientSecret: "sim-secret", SubscriptionKey: "sim-key",
		RequestTimeout: 5 * time.Second, MaxAttempts: 4, BaseBackoff: time.Millisecond, MaxWait: 10 * time.Second, Sleep: s.sleep})
}

func firstSub(t *testing.T, sim *sherwebsim.Server) (string, sherwebsim.SubscriptionTruth) {
	t.Helper()
	for _, c := range sim.Customers() {
		if subs := sim.Subscriptions(c.ID); len(subs) > 0 {
			return c.ID, subs[0]
		}
	}
	t.Fatal("no subscription")
	return "", sherwebsim.SubscriptionTruth{}
}

// TestCreateAmendmentRetryRules: a 429 is retried after its Retry-After; a
// 5xx (before or after the server applied it) or a connection cut after the
// request was sent is an OutcomeUnknownError and is never re-posted; a 400
// is a plain refusal.
func TestCreateAmendmentRetryRules(t *testing.T) {
	for _, tc := range []struct {
		name      string
		faults    sherwebsim.AmendFaults
		unknown   bool
		posts     int
		accepted  int
		wantSleep time.Duration
	}{
		{"429 then accepted", sherwebsim.AmendFaults{PostRateLimited: 2, RetryAfter: "3"}, false, 3, 1, 3 * time.Second},
		{"5xx before applying", sherwebsim.AmendFaults{Post5xxBefore: 1}, true, 1, 0, 0},
		{"5xx after applying", sherwebsim.AmendFaults{Post5xxAfter: 1}, true, 1, 1, 0},
		{"cut after applying", sherwebsim.AmendFaults{PostCutAfter: 1}, true, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := sherwebsim.New(sherwebsim.Config{Seed: 5, Customers: 4, Charges: 32})
			var s sleeps
			c := simClient(t, sim, &s)
			cust, sub := firstSub(t, sim)
			sim.SetAmendFaults(tc.faults)
			id, err := c.CreateAmendment(context.Background(), cust, []AmendmentParam{{SubscriptionID: sub.ID, NewQuantity: int32(sub.Quantity + 1)}})
			var unk *OutcomeUnknownError
			if got := errors.As(err, &unk); got != tc.unknown {
				t.Fatalf("outcome unknown = %v (err %v), want %v", got, err, tc.unknown)
			}
			if !tc.unknown && (err != nil || id == "") {
				t.Fatalf("id %q, err %v", id, err)
			}
			st := sim.AmendStats()
			if st.Posts != tc.posts || st.Accepted != tc.accepted {
				t.Errorf("posts %d accepted %d, want %d and %d", st.Posts, st.Accepted, tc.posts, tc.accepted)
			}
			if tc.wantSleep > 0 {
				var waited bool
				for _, d := range s.list() {
					waited = waited || d >= tc.wantSleep
				}
				if !waited {
					t.Errorf("did not wait the Retry-After: %v", s.list())
				}
			}
		})
	}
	sim := sherwebsim.New(sherwebsim.Config{Seed: 5, Customers: 4, Charges: 32})
	var s sleeps
	c := simClient(t, sim, &s)
	cust, _ := firstSub(t, sim)
	_, err := c.CreateAmendment(context.Background(), cust, []AmendmentParam{{SubscriptionID: "00000000-0000-4000-8000-000000000000", NewQuantity: 1}})
	var api *APIError
	var unk *OutcomeUnknownError
	if !errors.As(err, &api) || api.StatusCode != http.StatusBadRequest || errors.As(err, &unk) || api.Method != "POST" {
		t.Errorf("foreign subscription: %v", err)
	}
}

func TestAmendmentStatusPolls(t *testing.T) {
	sim := sherwebsim.New(sherwebsim.Config{Seed: 5, Customers: 4, Charges: 32,
		Amend: sherwebsim.AmendConfig{PendingPolls: 2, Faults: sherwebsim.AmendFaults{StatusFailures: 1}}})
	var s sleeps
	c := simClient(t, sim, &s)
	cust, sub := firstSub(t, sim)
	id, err := c.CreateAmendment(context.Background(), cust, []AmendmentParam{{SubscriptionID: sub.ID, NewQuantity: int32(sub.Quantity + 2)}})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for range 4 {
		st, err := c.AmendmentStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, st)
	}
	if got := strings.Join(seen, ","); got != "Pending,Pending,Processing,Success" {
		t.Errorf("statuses %s", got)
	}
	if q := sim.Subscriptions(cust)[0].Quantity; q != sub.Quantity+2 {
		t.Errorf("quantity after Success: %d, want %d", q, sub.Quantity+2)
	}
	subs, err := c.Subscriptions(context.Background(), cust)
	if err != nil || subs[0].Quantity.Decimal.IntPart() != sub.Quantity+2 {
		t.Errorf("the next subscriptions read: %v %v", err, subs)
	}
	if _, err := c.AmendmentStatus(context.Background(), "a/b"); err == nil {
		t.Error("an id with a slash was accepted")
	}
}
