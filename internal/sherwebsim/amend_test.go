package sherwebsim

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// TestAmendmentSettlesOnReadAndCounts: an accepted amendment still Pending
// is processed by the time the customer's subscriptions are read again (the
// new quantity shows, the status is then terminal); Failure and Canceled
// apply nothing; the counters say what was posted, accepted and applied.
func TestAmendmentSettlesOnReadAndCounts(t *testing.T) {
	e := newEnv(t, Config{Seed: 9, Customers: 10})
	tok := e.token("service-provider")
	var cust string
	var subs []SubscriptionTruth
	for _, c := range e.sim.Customers() {
		if s := e.sim.Subscriptions(c.ID); len(s) >= 3 {
			cust, subs = c.ID, s
			break
		}
	}
	if cust == "" {
		t.Fatal("no customer with 3 subscriptions")
	}
	e.sim.SetAmendOutcomes([]string{subs[1].ID}, []string{subs[2].ID})
	post := func(sub SubscriptionTruth, qty int64) string {
		r := e.call(http.MethodPost, PathAmendments+"?customerId="+cust, tok, strings.NewReader(
			`{"subscriptionAmendmentParameters":[{"subscriptionId":"`+sub.ID+`","newQuantity":`+itoa(qty)+`}]}`))
		return decode[struct {
			ID string `json:"subscriptionsAmendmentId"`
		}](t, r).ID
	}
	ok, failed, canceled := post(subs[0], subs[0].Quantity+5), post(subs[1], 1), post(subs[2], 1)
	read := decode[struct{ Items []billing.Subscription }](t, e.get(PathSubs+"?customerId="+cust, tok))
	q := map[string]int64{}
	for _, s := range read.Items {
		q[s.ID] = s.Quantity.Decimal.IntPart()
	}
	if q[subs[0].ID] != subs[0].Quantity+5 || q[subs[1].ID] != subs[1].Quantity || q[subs[2].ID] != subs[2].Quantity {
		t.Errorf("quantities after the read: %v", q)
	}
	for id, want := range map[string]string{ok: "Success", failed: "Failure", canceled: "Canceled"} {
		if got := decode[string](t, e.get(PathAmendments+"/"+id+"/status", tok)); got != want {
			t.Errorf("status %s, want %s", got, want)
		}
	}
	st := e.sim.AmendStats()
	if st.Posts != 3 || st.Accepted != 3 || st.Applied[subs[0].ID] != 1 || st.Applied[subs[1].ID] != 0 || st.Entries[subs[2].ID] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
