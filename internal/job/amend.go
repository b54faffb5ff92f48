package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/msp-reconcile/reconcile/internal/amend"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// AmendLedger is what planning, applying and tracking amendments need of the
// ledger. *ledger.Store implements it.
type AmendLedger interface {
	RunReader
	Run(ctx context.Context, id int64) (ledger.Run, error)
	Subscriptions(ctx context.Context, runID int64, customerID string) ([]billing.Subscription, error)
	SubscriptionsMissing(ctx context.Context, runID int64) (map[string]bool, error)
	AppendAmendmentEvents(ctx context.Context, events []ledger.AmendmentEvent) error
	AmendmentLog(ctx context.Context, periodFrom string) ([]ledger.AmendmentEvent, error)
}

// AmendClient is what applying and tracking amendments need of the Sherweb
// client. *fetch.Client implements it. CreateAmendment is the only write
// the tool ever makes to Sherweb, and only this file calls it.
type AmendClient interface {
	Subscriptions(ctx context.Context, customerID string) ([]billing.Subscription, error)
	CreateAmendment(ctx context.Context, customerID string, params []fetch.AmendmentParam) (string, error)
	AmendmentStatus(ctx context.Context, amendmentID string) (string, error)
}

var (
	_ AmendLedger = (*ledger.Store)(nil)
	_ AmendClient = (*fetch.Client)(nil)
)

// LicenceInput reads a run's available customers whose subscriptions were
// fetched, with their subscriptions and their Recurring receivable lines in
// force at the period end (the only lines the check reads).
func LicenceInput(ctx context.Context, l AmendLedger, run ledger.Run) ([]report.LicenceCustomer, error) {
	cov, err := l.Coverage(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	missing, err := l.SubscriptionsMissing(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	var out []report.LicenceCustomer
	for _, c := range cov {
		if c.Coverage != billing.CoverageAvailable || missing[c.CustomerID] {
			continue
		}
		subs, err := l.Subscriptions(ctx, run.ID, c.CustomerID)
		if err != nil {
			return nil, err
		}
		if len(subs) == 0 {
			continue
		}
		idx[c.CustomerID] = len(out)
		out = append(out, report.LicenceCustomer{ID: c.CustomerID, Subs: subs})
	}
	end := run.Period.To
	err = l.EachReceivable(ctx, run.ID, func(customerID string, c *billing.ReceivableCharge) error {
		if c.ChargeType != "Recurring" || c.PeriodFrom > end || c.PeriodTo < end {
			return nil
		}
		if i, ok := idx[customerID]; ok {
			out[i].Receivables = append(out[i].Receivables, *c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AmendPlan builds the amendment plan of a stored run (see amend.Build).
func AmendPlan(ctx context.Context, l AmendLedger, run ledger.Run, today billing.Date, only []string) (amend.Plan, error) {
	in, err := LicenceInput(ctx, l, run)
	if err != nil {
		return amend.Plan{}, fmt.Errorf("plan amendments from run %d: %w", run.ID, err)
	}
	p, err := amend.Build(run.ID, run.Period, today, in, only)
	if err != nil {
		return amend.Plan{}, fmt.Errorf("plan amendments from run %d: %w", run.ID, err)
	}
	return p, nil
}

// Entry states reported by apply and status.
const (
	StateApplied  = "applied"  // the new quantity is in force (seen in the subscriptions)
	StatePending  = "pending"  // submitted; no terminal status yet (resume with `amend status`)
	StateUnknown  = "unknown"  // the POST's outcome is unknown: a person must check in Sherweb
	StateRefused  = "refused"  // a guard refused it; nothing sent
	StateRejected = "rejected" // the API refused the POST; nothing applied
	StateDryRun   = "dry-run"  // would be sent
)

// EntryResult is what happened to one plan entry.
type EntryResult struct {
	Entry       amend.Entry
	State       string // a State* word or a terminal status (Success, Failure, Canceled, PartialSuccess)
	AmendmentID string
	Detail      string
}

// ApplyOptions configure AmendApply.
type ApplyOptions struct {
	Ledger AmendLedger
	Client AmendClient
	Plan   amend.Plan
	Today  billing.Date // the committed minimums in force on this day apply
	Actor  string       // who runs it (recorded in the log)
	Now    func() time.Time
	DryRun bool
	// Confirm is shown the entries about to be sent; false sends nothing.
	// It is required unless DryRun.
	Confirm func(entries []amend.Entry) (bool, error)
	Out     io.Writer // progress and the dry run's requests
	// PollInterval is the first wait between status polls (doubling up to
	// 8×); PollDeadline how long to poll before leaving an amendment pending.
	PollInterval, PollDeadline time.Duration
	Sleep                      func(ctx context.Context, d time.Duration) error
}

func (o *ApplyOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.PollDeadline <= 0 {
		o.PollDeadline = 2 * time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = sleepFor
	}
	if o.Actor == "" {
		o.Actor = "unknown"
	}
}

func sleepFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ErrNotConfirmed is returned when the person (or the missing --yes) did not
// confirm the changes: nothing was sent.
var ErrNotConfirmed = errors.New("the changes were not confirmed: nothing was sent")

// entryKey identifies a plan entry in the log: the plan's entries hash and
// the run it was planned from (a new plan from a new fetch is a new plan,
// even with the same quantities), and the subscription.
type entryKey struct {
	plan string
	run  int64
	sub  string
}

// logState is the state of one plan entry in the log: its latest event.
type logState struct {
	last    ledger.AmendmentEvent // the latest event (a template for new ones)
	state   string                // "intent", "submitted", "unknown", "done", "" (refused/rejected: may be tried again)
	id      string                // amendment id, when submitted
	status  string                // latest status seen
	outcome string
}

func readLog(events []ledger.AmendmentEvent) (map[entryKey]*logState, []entryKey) {
	m := map[entryKey]*logState{}
	var order []entryKey
	for _, e := range events {
		k := entryKey{e.PlanHash, e.RunID, strings.ToLower(e.SubscriptionID)}
		st := m[k]
		if st == nil {
			st = &logState{}
			m[k] = st
			order = append(order, k)
		}
		st.last = e
		switch e.Event {
		case ledger.EventIntent:
			st.state = "intent"
		case ledger.EventSubmitted:
			st.state, st.id = "submitted", e.AmendmentID
		case ledger.EventUnknown:
			if st.state != "submitted" {
				st.state = "unknown"
			}
		case ledger.EventRejected, ledger.EventRefused:
			st.state = ""
		case ledger.EventStatus:
			st.status = e.Status
		case ledger.EventOutcome:
			st.state, st.outcome = "done", e.Status
		}
	}
	return m, order
}

// unresolved reports whether a state blocks any other amendment of the same
// subscription.
func unresolved(state string) bool {
	return state == "intent" || state == "submitted" || state == "unknown"
}

type applyRun struct {
	o      *ApplyOptions
	log    map[entryKey]*logState
	events []ledger.AmendmentEvent // appended by this run (for the caller's report)
}

func (a *applyRun) event(tmpl ledger.AmendmentEvent, kind, id, status, detail string) ledger.AmendmentEvent {
	tmpl.Seq = 0
	tmpl.At = a.o.Now()
	tmpl.Actor = a.o.Actor
	tmpl.Event, tmpl.AmendmentID, tmpl.Status, tmpl.Detail = kind, id, status, detail
	return tmpl
}

func (a *applyRun) append(ctx context.Context, evs ...ledger.AmendmentEvent) error {
	if err := a.o.Ledger.AppendAmendmentEvents(ctx, evs); err != nil {
		return err
	}
	a.events = append(a.events, evs...)
	return nil
}

func entryEvent(p *amend.Plan, e amend.Entry) ledger.AmendmentEvent {
	return ledger.AmendmentEvent{PlanHash: p.Hash, RunID: p.RunID, PeriodFrom: string(p.PeriodFrom), PeriodTo: string(p.PeriodTo),
		CustomerID: e.CustomerID, SubscriptionID: e.SubscriptionID, SKU: e.SKU, Product: e.Product,
		CurrentQuantity: e.CurrentQuantity, NewQuantity: e.NewQuantity}
}

func entryOf(e ledger.AmendmentEvent) amend.Entry {
	return amend.Entry{CustomerID: e.CustomerID, SubscriptionID: e.SubscriptionID, SKU: e.SKU, Product: e.Product,
		CurrentQuantity: e.CurrentQuantity, NewQuantity: e.NewQuantity}
}

// AmendApply applies a plan, exactly once per entry:
//
//  1. The plan's hash is recomputed from its entries (an edited plan is a
//     new plan). Entries already submitted under this plan are not sent
//     again: their tracking resumes. An entry whose intent was recorded but
//     whose POST outcome is unknown (the process died, a 5xx, a timeout) is
//     never re-posted: the subscription is re-read and the entry is marked
//     applied when the new quantity is in force, else `unknown` for a person.
//  2. The subscriptions of each customer are re-fetched; entries that are
//     stale, below the committed minimum in force today, or whose
//     subscription has an unresolved amendment of another plan are refused.
//  3. The remaining entries are confirmed (Confirm), then per customer: the
//     intent is recorded durably, then one POST, then its answer recorded.
//  4. Every amendment is polled to a terminal status or the deadline.
func AmendApply(ctx context.Context, o ApplyOptions) ([]EntryResult, error) {
	o.defaults()
	p := o.Plan
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.Hash = amend.Hash(p.Entries)
	events, err := o.Ledger.AmendmentLog(ctx, "")
	if err != nil {
		return nil, err
	}
	logm, _ := readLog(events)
	blocked := map[string]string{} // subscription -> plan hash of an unresolved entry
	for k, st := range logm {
		if unresolved(st.state) && (k.plan != p.Hash || k.run != p.RunID) {
			blocked[k.sub] = k.plan
		}
	}
	a := &applyRun{o: &o, log: logm}

	results := make([]EntryResult, len(p.Entries))
	byCustomer := map[string][]int{}
	var customers []string
	for i, e := range p.Entries {
		results[i] = EntryResult{Entry: e}
		c := strings.ToLower(e.CustomerID)
		if _, ok := byCustomer[c]; !ok {
			customers = append(customers, c)
		}
		byCustomer[c] = append(byCustomer[c], i)
	}
	sort.Strings(customers)

	// Re-fetch and guard.
	current := map[string]map[string]*billing.Subscription{}
	send := map[string][]int{}
	var toConfirm []amend.Entry
	var refusals []ledger.AmendmentEvent
	for _, c := range customers {
		idxs := byCustomer[c]
		subs, err := o.Client.Subscriptions(ctx, p.Entries[idxs[0]].CustomerID)
		if err != nil {
			if ctx.Err() != nil {
				return results, err
			}
			for _, i := range idxs {
				sid := strings.ToLower(p.Entries[i].SubscriptionID)
				switch st := logm[entryKey{p.Hash, p.RunID, sid}]; {
				case st != nil && (st.state == "done" || st.state == "submitted"):
					results[i] = a.resume(ctx, st, nil, results[i])
				case st != nil && unresolved(st.state):
					results[i].State, results[i].AmendmentID = StateUnknown, st.id
					results[i].Detail = "could not re-read the subscriptions to decide: " + err.Error()
				default:
					results[i].State, results[i].Detail = StateRefused, "could not re-read the subscriptions: "+err.Error()
				}
			}
			continue
		}
		cur := map[string]*billing.Subscription{}
		for j := range subs {
			cur[strings.ToLower(subs[j].ID)] = &subs[j]
		}
		current[c] = cur
		for _, i := range idxs {
			e := p.Entries[i]
			sid := strings.ToLower(e.SubscriptionID)
			if st := logm[entryKey{p.Hash, p.RunID, sid}]; st != nil && st.state != "" {
				results[i] = a.resume(ctx, st, cur[sid], results[i])
				continue
			}
			why := amend.Refusal(e, cur[sid], o.Today)
			if other, ok := blocked[sid]; ok && why == "" {
				why = "an amendment of this subscription from another plan (" + short(other) + ") is unresolved"
			}
			if why != "" {
				results[i].State, results[i].Detail = StateRefused, why
				refusals = append(refusals, a.event(entryEvent(&p, e), ledger.EventRefused, "", "", why))
				continue
			}
			send[c] = append(send[c], i)
			toConfirm = append(toConfirm, e)
		}
	}

	if o.DryRun {
		for _, c := range customers {
			if len(send[c]) == 0 {
				continue
			}
			body, _ := fetch.AmendmentRequestBody(params(p.Entries, send[c]))
			fmt.Fprintf(o.Out, "POST /service-provider/v1/billing/subscriptions/amendments?customerId=%s\n%s\n", p.Entries[send[c][0]].CustomerID, body)
			for _, i := range send[c] {
				results[i].State = StateDryRun
			}
		}
		return results, nil
	}
	if err := a.append(ctx, refusals...); err != nil {
		return results, err
	}
	if len(toConfirm) == 0 {
		return a.pollAll(ctx, results)
	}
	if o.Confirm == nil {
		return results, ErrNotConfirmed
	}
	ok, err := o.Confirm(toConfirm)
	if err != nil {
		return results, err
	}
	if !ok {
		return results, ErrNotConfirmed
	}

	for _, c := range customers {
		idxs := send[c]
		if len(idxs) == 0 {
			continue
		}
		body, err := fetch.AmendmentRequestBody(params(p.Entries, idxs))
		if err != nil {
			return results, err
		}
		intents := make([]ledger.AmendmentEvent, len(idxs))
		for j, i := range idxs {
			intents[j] = a.event(entryEvent(&p, p.Entries[i]), ledger.EventIntent, "", "", string(body))
		}
		// The intent is durable before the request leaves.
		if err := a.append(ctx, intents...); err != nil {
			return results, fmt.Errorf("record the intent of customer %s (nothing sent): %w", c, err)
		}
		id, postErr := o.Client.CreateAmendment(ctx, p.Entries[idxs[0]].CustomerID, params(p.Entries, idxs))
		kind, state, detail := ledger.EventSubmitted, StatePending, ""
		var unknown *fetch.OutcomeUnknownError
		switch {
		case postErr == nil:
		case errors.As(postErr, &unknown) || ctx.Err() != nil:
			kind, state, detail = ledger.EventUnknown, StateUnknown, postErr.Error()
		default:
			kind, state, detail = ledger.EventRejected, StateRejected, postErr.Error()
		}
		evs := make([]ledger.AmendmentEvent, len(idxs))
		for j, i := range idxs {
			evs[j] = a.event(intents[j], kind, id, "", detail)
			results[i].State, results[i].AmendmentID, results[i].Detail = state, id, detail
			logm[entryKey{p.Hash, p.RunID, strings.ToLower(p.Entries[i].SubscriptionID)}] = &logState{last: evs[j], state: map[string]string{
				ledger.EventSubmitted: "submitted", ledger.EventUnknown: "unknown", ledger.EventRejected: ""}[kind], id: id}
		}
		if err := a.append(context.WithoutCancel(ctx), evs...); err != nil {
			return results, fmt.Errorf("record the answer of customer %s's amendment %s: %w", c, id, err)
		}
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
	}
	return a.pollAll(ctx, results)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func params(entries []amend.Entry, idxs []int) []fetch.AmendmentParam {
	out := make([]fetch.AmendmentParam, len(idxs))
	for j, i := range idxs {
		out[j] = fetch.AmendmentParam{SubscriptionID: entries[i].SubscriptionID, NewQuantity: int32(entries[i].NewQuantity)}
	}
	return out
}

// resume handles an entry the log already knows under this plan: done →
// reported; submitted → polled later; intent or unknown → decided by the
// subscription as re-read (never re-posted).
func (a *applyRun) resume(ctx context.Context, st *logState, sub *billing.Subscription, r EntryResult) EntryResult {
	r.AmendmentID = st.id
	switch st.state {
	case "done":
		r.State, r.Detail = st.outcome, "already recorded"
	case "submitted":
		r.State = StatePending
	default: // intent, unknown
		r.State, r.Detail = a.decide(ctx, st, sub)
	}
	return r
}

// decide resolves an entry whose POST outcome is unknown from the
// subscription as re-read: the new quantity in force → applied; otherwise
// unknown, for a person (it is never re-posted).
func (a *applyRun) decide(ctx context.Context, st *logState, sub *billing.Subscription) (string, string) {
	e := st.last
	if sub != nil && sub.Quantity.Valid && sub.Quantity.Decimal.IsInteger() && sub.Quantity.Decimal.IntPart() == e.NewQuantity {
		detail := fmt.Sprintf("quantity %d is in force (seen in the subscriptions after an unknown outcome)", e.NewQuantity)
		if err := a.append(ctx, a.event(e, ledger.EventOutcome, st.id, StateApplied, detail)); err != nil {
			return StateUnknown, err.Error()
		}
		st.state, st.outcome = "done", StateApplied
		return StateApplied, detail
	}
	now := "gone"
	if sub != nil {
		now = sub.Quantity.Decimal.String()
	}
	detail := fmt.Sprintf("the POST may or may not have been applied (quantity is now %s, planned %d): check in Sherweb; it is never re-sent", now, e.NewQuantity)
	if st.state == "intent" {
		if err := a.append(ctx, a.event(e, ledger.EventUnknown, st.id, "", "interrupted after the intent was recorded: "+detail)); err != nil {
			return StateUnknown, err.Error()
		}
		st.state = "unknown"
	}
	return StateUnknown, detail
}

func terminal(status string) bool {
	switch status {
	case "Success", "Failure", "Canceled", "PartialSuccess":
		return true
	}
	return false
}

// pollAll polls every pending amendment of results to a terminal status or
// the deadline, recording each status seen and the final outcome.
func (a *applyRun) pollAll(ctx context.Context, results []EntryResult) ([]EntryResult, error) {
	byID := map[string][]int{}
	var ids []string
	for i, r := range results {
		if r.State == StatePending && r.AmendmentID != "" {
			if _, ok := byID[r.AmendmentID]; !ok {
				ids = append(ids, r.AmendmentID)
			}
			byID[r.AmendmentID] = append(byID[r.AmendmentID], i)
		}
	}
	for _, id := range ids {
		var keys []*logState
		for _, i := range byID[id] {
			keys = append(keys, a.logOf(results[i]))
		}
		status, err := a.poll(ctx, id, keys)
		if err != nil {
			return results, err
		}
		for j, i := range byID[id] {
			results[i].State = status
			if keys[j] != nil && keys[j].state == "done" {
				results[i].State, results[i].Detail = keys[j].outcome, keys[j].last.Detail
			}
		}
	}
	return results, nil
}

// logOf finds the log state of a submitted entry by its amendment id.
func (a *applyRun) logOf(r EntryResult) *logState {
	for k, st := range a.log {
		if st.id == r.AmendmentID && k.sub == strings.ToLower(r.Entry.SubscriptionID) {
			return st
		}
	}
	return nil
}

// poll tracks one amendment; it returns its terminal status, or pending at
// the deadline.
func (a *applyRun) poll(ctx context.Context, id string, keys []*logState) (string, error) {
	deadline := a.o.Now().Add(a.o.PollDeadline)
	wait := a.o.PollInterval
	last := ""
	for _, k := range keys {
		if k != nil && k.status != "" {
			last = k.status
		}
	}
	for {
		status, err := a.o.Client.AmendmentStatus(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return StatePending, ctx.Err()
			}
			fmt.Fprintf(a.o.Out, "amendment %s: status: %v\n", id, err)
		} else if status != last {
			last = status
			var evs []ledger.AmendmentEvent
			for _, k := range keys {
				if k != nil {
					evs = append(evs, a.event(k.last, ledger.EventStatus, id, status, ""))
					k.status = status
				}
			}
			if err := a.append(ctx, evs...); err != nil {
				return StatePending, err
			}
		}
		if terminal(last) {
			return last, a.finish(ctx, id, last, keys)
		}
		if !a.o.Now().Add(wait).Before(deadline) {
			return StatePending, nil
		}
		if err := a.o.Sleep(ctx, wait); err != nil {
			return StatePending, err
		}
		wait = min(wait*2, a.o.PollInterval*8)
	}
}

// finish records the final outcome of each entry of a terminal amendment;
// for PartialSuccess it re-reads the subscriptions to say which applied.
func (a *applyRun) finish(ctx context.Context, id, status string, keys []*logState) error {
	var cur map[string]*billing.Subscription
	if status == "PartialSuccess" && len(keys) > 0 && keys[0] != nil {
		subs, err := a.o.Client.Subscriptions(ctx, keys[0].last.CustomerID)
		if err == nil {
			cur = map[string]*billing.Subscription{}
			for j := range subs {
				cur[strings.ToLower(subs[j].ID)] = &subs[j]
			}
		}
	}
	var evs []ledger.AmendmentEvent
	for _, k := range keys {
		if k == nil {
			continue
		}
		detail := ""
		if cur != nil {
			if s := cur[strings.ToLower(k.last.SubscriptionID)]; s != nil {
				applied := s.Quantity.Decimal.IntPart() == k.last.NewQuantity
				detail = fmt.Sprintf("quantity now %s (this entry %s)", s.Quantity.Decimal, map[bool]string{true: "applied", false: "not applied"}[applied])
			}
		}
		evs = append(evs, a.event(k.last, ledger.EventOutcome, id, status, detail))
		k.state, k.outcome = "done", status
		k.last.Detail = detail
	}
	return a.append(ctx, evs...)
}

// StatusOptions configure AmendStatus.
type StatusOptions struct {
	Ledger                     AmendLedger
	Client                     AmendClient
	Actor                      string
	Now                        func() time.Time
	Out                        io.Writer
	PollInterval, PollDeadline time.Duration
	Sleep                      func(ctx context.Context, d time.Duration) error
}

// AmendStatus resumes every unresolved entry of the log: submitted ones are
// polled to a terminal status; those with an unknown outcome are decided by
// re-reading their subscription (applied) or left unknown for a person.
func AmendStatus(ctx context.Context, so StatusOptions) ([]EntryResult, error) {
	o := ApplyOptions{Ledger: so.Ledger, Client: so.Client, Actor: so.Actor, Now: so.Now, Out: so.Out,
		PollInterval: so.PollInterval, PollDeadline: so.PollDeadline, Sleep: so.Sleep}
	o.defaults()
	events, err := o.Ledger.AmendmentLog(ctx, "")
	if err != nil {
		return nil, err
	}
	logm, order := readLog(events)
	a := &applyRun{o: &o, log: logm}
	var results []EntryResult
	subsOf := map[string]map[string]*billing.Subscription{}
	for _, k := range order {
		st := logm[k]
		if !unresolved(st.state) {
			continue
		}
		r := EntryResult{Entry: entryOf(st.last), AmendmentID: st.id}
		if st.state == "submitted" {
			r.State = StatePending
			results = append(results, r)
			continue
		}
		c := strings.ToLower(st.last.CustomerID)
		if _, ok := subsOf[c]; !ok {
			subs, err := o.Client.Subscriptions(ctx, st.last.CustomerID)
			if err != nil {
				r.State, r.Detail = StateUnknown, "could not re-read the subscriptions: "+err.Error()
				results = append(results, r)
				continue
			}
			m := map[string]*billing.Subscription{}
			for j := range subs {
				m[strings.ToLower(subs[j].ID)] = &subs[j]
			}
			subsOf[c] = m
		}
		r.State, r.Detail = a.decide(ctx, st, subsOf[c][k.sub])
		results = append(results, r)
	}
	return a.pollAll(ctx, results)
}
