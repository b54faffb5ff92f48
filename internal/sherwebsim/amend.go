package sherwebsim

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// AmendConfig configures CreateSubscriptionsAmendment and its status call.
// The zero value is a healthy server on which every amendment succeeds.
//
// An amendment is accepted by the POST (it answers its id) and then walks
// Pending → Processing → a terminal status, one step per status poll
// (PendingPolls and ProcessingPolls polls in each, default 1 each). Its
// outcome is decided per entry: an entry whose subscription id is in Fail
// fails; if any entry's subscription is in Cancel the whole amendment is
// Canceled and nothing is applied. All entries applied → Success, none →
// Failure, some → PartialSuccess. The quantity changes of the applied
// entries show in every later GetSubscriptions; they are applied when the
// amendment reaches its terminal status, or earlier when the customer's
// subscriptions are read or amended again (processing finished meanwhile).
type AmendConfig struct {
	PendingPolls    int
	ProcessingPolls int
	Fail            []string // subscription ids whose entries fail
	Cancel          []string // subscription ids whose amendments are canceled
	Faults          AmendFaults
}

// AmendFaults are the failure knobs of the amendment endpoints. Each count
// applies to the first N POSTs (or status calls) after the knobs are set.
type AmendFaults struct {
	// PostRateLimited: the POST answers 429 (Retry-After: RetryAfter, default
	// "1") before anything is accepted.
	PostRateLimited int
	RetryAfter      string
	// Post5xxBefore: the POST answers 503 and nothing is accepted.
	Post5xxBefore int
	// Post5xxAfter: the POST accepts the amendment, then answers 500.
	Post5xxAfter int
	// PostCutAfter: the POST accepts the amendment, then the connection is
	// closed without an answer.
	PostCutAfter int
	// StatusFailures: the status call answers 503.
	StatusFailures int
	// OnPost, when set, is called on every POST that reaches the amendment
	// handler: with "received" before anything is decided, and with
	// "accepted" after the amendment was accepted, before the answer is
	// written (tests use it to kill a client at a precise point).
	OnPost func(stage string)
}

// AmendStats counts what the amendment endpoints saw.
type AmendStats struct {
	Posts    int            // POSTs that reached the amendment handler (faulted ones included)
	Accepted int            // amendments accepted (given an id)
	Statuses int            // status calls
	Entries  map[string]int // accepted entries per subscription id (lower case)
	Applied  map[string]int // quantity changes applied per subscription id
}

type amendEntry struct {
	sub string // lower case
	qty int64
}

type amendment struct {
	id       string
	customer int
	entries  []amendEntry
	polls    int
	outcome  string // terminal status, decided at acceptance
	applied  bool   // quantity changes applied
}

// amendBook is the simulator's amendment state (guarded by Server.mu).
type amendBook struct {
	cfg       AmendConfig
	faults    AmendFaults
	byID      map[string]*amendment
	order     []*amendment
	quantity  map[string]int64 // subscription id -> quantity set by an amendment
	stats     AmendStats
	statusErr int
}

func newAmendBook(cfg AmendConfig) amendBook {
	return amendBook{cfg: cfg, faults: cfg.Faults, byID: map[string]*amendment{}, quantity: map[string]int64{},
		stats: AmendStats{Entries: map[string]int{}, Applied: map[string]int{}}}
}

// SetAmendFaults replaces the amendment fault knobs (their counts restart).
func (s *Server) SetAmendFaults(f AmendFaults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.amend.faults = f
	s.amend.statusErr = 0
}

// SetAmendOutcomes replaces the per-subscription outcomes of later amendments.
func (s *Server) SetAmendOutcomes(fail, cancel []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.amend.cfg.Fail, s.amend.cfg.Cancel = fail, cancel
}

// AmendStats returns a snapshot of the amendment counters.
func (s *Server) AmendStats() AmendStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.amend.stats
	st.Entries, st.Applied = map[string]int{}, map[string]int{}
	for k, v := range s.amend.stats.Entries {
		st.Entries[k] = v
	}
	for k, v := range s.amend.stats.Applied {
		st.Applied[k] = v
	}
	return st
}

// Subscriptions returns a customer's subscriptions as a client decodes them
// now (amendments applied so far included); nil for an unknown customer.
func (s *Server) Subscriptions(customerID string) []SubscriptionTruth {
	ci, ok := s.gen.customerIndex(customerID)
	if !ok {
		return nil
	}
	subs := s.currentSubscriptions(ci)
	out := make([]SubscriptionTruth, len(subs))
	for i := range subs {
		out[i] = SubscriptionTruth{ID: subs[i].id.String(), SKU: subs[i].sku, Quantity: subs[i].quantity}
	}
	return out
}

// SubscriptionTruth is a subscription as the simulator holds it now.
type SubscriptionTruth struct {
	ID       string
	SKU      string
	Quantity int64
}

// currentSubscriptions is the customer's subscriptions of the default period
// with the amendments applied (pending ones of the customer are settled
// first: their processing finished by the time of this read).
func (s *Server) currentSubscriptions(ci int) []subscription {
	subs := s.gen.subscriptions(s.defaultPeriod(), ci)
	s.licence.apply(ci, subs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleCustomerLocked(ci)
	for i := range subs {
		if q, ok := s.amend.quantity[subs[i].id.String()]; ok {
			subs[i].quantity = q
		}
	}
	return subs
}

func (s *Server) settleCustomerLocked(ci int) {
	for _, a := range s.amend.order {
		if a.customer == ci {
			s.settleLocked(a)
		}
	}
}

// settleLocked applies an amendment's successful entries once.
func (s *Server) settleLocked(a *amendment) {
	if a.applied {
		return
	}
	a.applied = true
	if a.outcome == "Canceled" {
		return
	}
	fail := set(s.amend.cfg.Fail)
	for _, e := range a.entries {
		if fail[e.sub] {
			continue
		}
		s.amend.quantity[e.sub] = e.qty
		s.amend.stats.Applied[e.sub]++
	}
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[strings.ToLower(id)] = true
	}
	return m
}

// serveAmend is POST /service-provider/v1/billing/subscriptions/amendments.
func (s *Server) serveAmend(w http.ResponseWriter, r *http.Request, _ *Faults) {
	s.mu.Lock()
	s.amend.stats.Posts++
	ff := &s.amend.faults
	hook := ff.OnPost
	var limited, before, after, cut bool
	switch {
	case ff.PostRateLimited > 0:
		ff.PostRateLimited--
		limited = true
	case ff.Post5xxBefore > 0:
		ff.Post5xxBefore--
		before = true
	case ff.Post5xxAfter > 0:
		ff.Post5xxAfter--
		after = true
	case ff.PostCutAfter > 0:
		ff.PostCutAfter--
		cut = true
	}
	retryAfter := ff.RetryAfter
	s.mu.Unlock()
	if hook != nil {
		hook("received")
	}
	switch {
	case limited:
		if retryAfter == "" {
			retryAfter = "1"
		}
		s.tooMany(w, r, limitDecision{limited: true, header: retryAfter, seconds: 1})
		return
	case before:
		s.problem(w, r, http.StatusServiceUnavailable, "The service is temporarily unavailable.")
		return
	}
	ci, id, ok := s.customerParam(w, r)
	if !ok {
		return
	}
	var body struct {
		Params []struct {
			SubscriptionID string `json:"subscriptionId"`
			NewQuantity    *int32 `json:"newQuantity"`
		} `json:"subscriptionAmendmentParameters"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		s.problem(w, r, http.StatusBadRequest, "The request body is not valid JSON: "+err.Error())
		return
	}
	if len(body.Params) == 0 {
		s.problem(w, r, http.StatusBadRequest, "subscriptionAmendmentParameters must not be empty.")
		return
	}
	known := map[string]bool{}
	for _, sub := range s.gen.subscriptions(s.defaultPeriod(), ci) {
		known[sub.id.String()] = true
	}
	a := &amendment{customer: ci}
	seen := map[string]bool{}
	for _, p := range body.Params {
		sid := strings.ToLower(p.SubscriptionID)
		if p.NewQuantity == nil || *p.NewQuantity < 0 {
			s.problem(w, r, http.StatusBadRequest, "newQuantity is required and must not be negative.")
			return
		}
		if !known[sid] {
			s.problem(w, r, http.StatusBadRequest, "Subscription "+p.SubscriptionID+" does not belong to customer "+id+".")
			return
		}
		if seen[sid] {
			s.problem(w, r, http.StatusBadRequest, "Subscription "+p.SubscriptionID+" appears twice.")
			return
		}
		seen[sid] = true
		a.entries = append(a.entries, amendEntry{sub: sid, qty: int64(*p.NewQuantity)})
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	a.id = newUUID(beUint64(raw[:8]), beUint64(raw[8:])).String()

	s.mu.Lock()
	s.settleCustomerLocked(ci) // earlier amendments of the customer are processed first
	a.outcome = s.outcomeLocked(a)
	s.amend.byID[a.id] = a
	s.amend.order = append(s.amend.order, a)
	s.amend.stats.Accepted++
	for _, e := range a.entries {
		s.amend.stats.Entries[e.sub]++
	}
	s.mu.Unlock()
	if hook != nil {
		hook("accepted")
	}
	switch {
	case after:
		s.problem(w, r, http.StatusInternalServerError, "An unexpected error occurred. Please retry later.")
		return
	case cut:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close() // the cut is the fault
				return
			}
		}
		panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream
	}
	setJSON(w)
	w.Write([]byte(`{"subscriptionsAmendmentId":"` + a.id + `"}`))
}

func (s *Server) outcomeLocked(a *amendment) string {
	cancel, fail := set(s.amend.cfg.Cancel), set(s.amend.cfg.Fail)
	failed := 0
	for _, e := range a.entries {
		if cancel[e.sub] {
			return "Canceled"
		}
		if fail[e.sub] {
			failed++
		}
	}
	switch failed {
	case 0:
		return "Success"
	case len(a.entries):
		return "Failure"
	}
	return "PartialSuccess"
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// serveAmendStatus is GET …/amendments/{id}/status: a bare JSON string.
func (s *Server) serveAmendStatus(w http.ResponseWriter, r *http.Request, _ *Faults) {
	id := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, amendmentsSlash), "/status"))
	s.mu.Lock()
	s.amend.stats.Statuses++
	if s.amend.statusErr < s.amend.faults.StatusFailures {
		s.amend.statusErr++
		s.mu.Unlock()
		s.problem(w, r, http.StatusServiceUnavailable, "The service is temporarily unavailable.")
		return
	}
	a, ok := s.amend.byID[id]
	status := ""
	if ok {
		pend, proc := s.amend.cfg.PendingPolls, s.amend.cfg.ProcessingPolls
		if pend <= 0 {
			pend = 1
		}
		if proc <= 0 {
			proc = 1
		}
		switch {
		case a.applied:
			status = a.outcome
		case a.polls < pend:
			status = "Pending"
		case a.polls < pend+proc:
			status = "Processing"
		default:
			status = a.outcome
			s.settleLocked(a)
		}
		a.polls++
	}
	s.mu.Unlock()
	if !ok {
		s.problem(w, r, http.StatusNotFound, "Subscriptions amendment "+id+" was not found.")
		return
	}
	setJSON(w)
	w.Write([]byte(`"` + status + `"`))
}

// AmendmentIDs returns the ids of the accepted amendments, sorted.
func (s *Server) AmendmentIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.amend.byID))
	for id := range s.amend.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
