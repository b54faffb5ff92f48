package sherwebsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/testkit"
	"github.com/shopspring/decimal"
)

func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Customers: 10})
	without := func(k string) url.Values {
		f := goodForm("distributor")
		f.Del(k)
		return f
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		key    string
		status int
		want   string
	}{
		{"good", goodForm("distributor"), "sim-key", 200, `"token_type":"Bearer"`},
		{"two scopes", goodForm("distributor service-provider"), "sim-key", 200, `"expires_in":3600`},
		{"bad secret", url.Values{"client_id": {"sim-client"}, "client_secret": {"nope"}, "scope": {"distributor"}, "grant_type": {"client_credentials"}}, "sim-key", 401, `"error":"invalid_client"`},
		{"bad client", url.Values{"client_id": {"x"}, "client_secret": {"sim-secret"}, "scope": {"distributor"}, "grant_type": {"client_credentials"}}, "sim-key", 401, `"error":"invalid_client"`},
		{"missing key", goodForm("distributor"), "", 401, `missing subscription key`},
		{"wrong key", goodForm("distributor"), "other", 401, `invalid subscription key`},
		{"no scope", without("scope"), "sim-key", 400, `"error":"invalid_request"`},
		{"no secret", without("client_secret"), "sim-key", 400, `"error":"invalid_request"`},
		{"unknown scope", goodForm("reseller"), "sim-key", 400, `"error":"invalid_scope"`},
		{"password grant", url.Values{"client_id": {"sim-client"}, "client_secret": {"sim-secret"}, "scope": {"distributor"}, "grant_type": {"password"}}, "sim-key", 400, `unsupported_grant_type`},
	} {
		r := e.tokenResp(tc.form, tc.key)
		if r.status != tc.status || !bytes.Contains(r.body, []byte(tc.want)) {
			t.Errorf("%s: got %s, want %d with %s", tc.name, r, tc.status, tc.want)
		}
	}
	// The secret may also come as HTTP Basic (what oauth2's auto-detection tries first).
	req, _ := http.NewRequest(http.MethodPost, e.url+PathToken, strings.NewReader("grant_type=client_credentials&scope=distributor"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Ocp-Apim-Subscription-Key", "sim-key")
	req.SetBasicAuth("sim-client", "sim-secret")
	if r := e.send(req); r.status != 200 {
		t.Errorf("basic auth: %s", r)
	}
	if st := e.sim.Stats(); st.TokenRequests != 11 || st.Calls != 0 {
		t.Errorf("stats %+v: want 11 token requests, 0 API calls", st)
	}
}

func TestAPIAuthAndErrors(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Customers: 10, TokenTTL: time.Minute})
	dist, sp, both := e.token("distributor"), e.token("service-provider"), e.token("distributor service-provider")
	cust := e.sim.Customers()[0].ID
	for _, tc := range []struct {
		name, path, tok string
		noKey           bool
		status          int
		ctype, want     string
	}{
		{"no key", PathCustomers, sp, true, 401, "application/json", `"statusCode":401,"message":"Access denied due to missing subscription key`},
		{"no bearer", PathCustomers, "", false, 401, "application/problem+json", `"status":401`},
		{"bad bearer", PathCustomers, "garbage", false, 401, "application/problem+json", `"title":"Unauthorized"`},
		{"distributor token on SP", PathCustomers, dist, false, 403, "application/problem+json", `"status":403`},
		{"SP token on distributor", payablePath("2026-10-01"), sp, false, 403, "application/problem+json", `"status":403`},
		{"unknown path", "/distributor/v1/billing/nope", dist, false, 404, "application/json", `"statusCode":404`},
		{"bad date", payablePath("2026-13-01"), dist, false, 400, "application/problem+json", `"detail":"The value '2026-13-01' is not valid`},
		{"unknown customer", receivablePath("00000000-0000-0000-0000-000000000000", "2026-10-01"), sp, false, 404, "application/problem+json", `"instance":"/service-provider/v1/billing/receivable-charges"`},
		{"missing customerId", PathReceivable, sp, false, 400, "application/problem+json", `customerId`},
		{"both scopes payable", payablePath("2026-10-01"), both, false, 200, "application/json", `"periodFrom":"2026-10-01"`},
		{"both scopes customers", PathCustomers, both, false, 200, "application/json", `"items":[`},
		{"upper-case customer id", receivablePath(strings.ToUpper(cust), "2026-10-01"), sp, false, 200, "application/json", `"charges":[`},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.url+tc.path, nil)
		if !tc.noKey {
			req.Header.Set("Ocp-Apim-Subscription-Key", "sim-key")
		}
		if tc.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		r := e.send(req)
		if r.status != tc.status || !strings.HasPrefix(r.header.Get("Content-Type"), tc.ctype) || !bytes.Contains(r.body, []byte(tc.want)) {
			t.Errorf("%s: got %d %s %.200s; want %d %s with %s", tc.name, r.status, r.header.Get("Content-Type"), r.body, tc.status, tc.ctype, tc.want)
		}
		if r.status >= 400 && strings.HasPrefix(tc.ctype, "application/problem") {
			var pd map[string]any
			if err := json.Unmarshal(r.body, &pd); err != nil {
				t.Errorf("%s: problem body: %v", tc.name, err)
			}
			for _, k := range []string{"type", "title", "status", "detail", "instance", "traceId"} {
				if _, ok := pd[k]; !ok {
					t.Errorf("%s: ProblemDetails lacks %q: %s", tc.name, k, r.body)
				}
			}
		}
	}
	// The key may also be a query parameter.
	req, _ := http.NewRequest(http.MethodGet, e.url+PathCustomers+"?subscription-key=sim-key", nil)
	req.Header.Set("Authorization", "Bearer "+sp)
	if r := e.send(req); r.status != 200 {
		t.Errorf("subscription-key query: %s", r)
	}
	// Expired tokens get 401; a new one works.
	e.clock.Advance(time.Minute)
	if r := e.get(PathCustomers, sp); r.status != 401 || !bytes.Contains(r.body, []byte("expired")) {
		t.Errorf("expired token: %s", r)
	}
	if r := e.get(PathCustomers, e.token("service-provider")); r.status != 200 {
		t.Errorf("fresh token after expiry: %s", r)
	}
	st := e.sim.Stats()
	if st.Unauthorized < 4 || st.Forbidden != 2 || st.NotFound != 2 || st.Paths[PathCustomers] == 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestPayableBodyDecodesExactly(t *testing.T) {
	e := newEnv(t, Config{Seed: 42, Customers: 24, Charges: 400})
	r := e.get(payablePath("2026-10-17"), e.token("distributor"))
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	body := decode[payableBody](t, r)
	p := e.sim.DefaultPeriod()
	if body.PeriodFrom != p.From || body.PeriodTo != p.To {
		t.Fatalf("period %s..%s, want %s", body.PeriodFrom, body.PeriodTo, p)
	}
	var want []string
	if err := e.sim.EachPayable(p, func(c *billing.PayableCharge) error {
		want = append(want, canonPayable(c))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(body.Charges) != len(want) {
		t.Fatalf("%d charges served, EachPayable gives %d", len(body.Charges), len(want))
	}
	seen := map[string]bool{}
	for i, c := range body.Charges {
		if got := canonPayable(c); got != want[i] {
			t.Fatalf("charge %d:\n got %s\nwant %s", i, got, want[i])
		}
		// subTotal = quantity × netPriceProrated, exactly.
		if !c.SubTotal.Decimal.Equal(c.Quantity.Decimal.Mul(c.NetPriceProrated.Decimal)) {
			t.Errorf("charge %d: subTotal %s ≠ %s × %s", i, nd(c.SubTotal), nd(c.Quantity), nd(c.NetPriceProrated))
		}
		// netPrice = listPrice − deductions − fees (per unit).
		net := c.ListPrice.Decimal
		for _, d := range c.Deductions {
			net = net.Sub(d.UnitValue.Decimal)
		}
		for _, f := range c.Fees {
			net = net.Sub(f.UnitValue.Decimal)
		}
		if !net.Equal(c.NetPrice.Decimal) {
			t.Errorf("charge %d: netPrice %s ≠ list − deductions − fees %s", i, nd(c.NetPrice), net)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("charge %d: %v", i, err)
		}
		// Prorated seat adds: netPriceProrated = netPrice × days/dim rounded to 2.
		if c.ChargeType == "Recurring" && c.BillingCycleType == "Monthly" && c.PeriodFrom != p.From {
			seen["prorated"] = true
			days := int64(c.PeriodTo.Time().Sub(c.PeriodFrom.Time())/(24*time.Hour)) + 1
			exp := c.NetPrice.Decimal.Mul(decimal.NewFromInt(days)).Div(decimal.NewFromInt(31)).Round(2)
			if !exp.Equal(c.NetPriceProrated.Decimal) {
				t.Errorf("charge %d: prorated %s, want %s", i, nd(c.NetPriceProrated), exp)
			}
		}
		if c.ChargeType == "Usage" && c.Quantity.Decimal.Exponent() == -3 && c.NetPrice.Decimal.Exponent() <= -4 {
			seen["usage"] = true
		}
		if c.ChargeType == "Setup" && c.BillingCycleType == "OneTime" {
			seen["setup"] = true
		}
		if c.Invoice == nil {
			seen["unbilled"] = true
		}
		if c.Tags == nil {
			seen["tags null"] = true
		} else if len(c.Tags) == 0 {
			seen["tags []"] = true
		}
		for _, tg := range c.Tags {
			switch {
			case tg.Name == "customerdisplayname":
				seen["lower tag"] = true
			case tg.Name == "CustomerId":
				seen["id tag"] = true
			case tg.Value != strings.TrimSpace(tg.Value):
				seen["spaces"] = true
			}
		}
		if c.Deductions == nil || c.Fees == nil || c.Taxes == nil {
			seen["null arrays"] = true
		}
		seen[c.Currency] = true
	}
	for _, k := range []string{"prorated", "usage", "setup", "unbilled", "tags null", "tags []", "lower tag", "id tag", "spaces", "null arrays", "USD", "CAD", "EUR"} {
		if !seen[k] {
			t.Errorf("no %s line in the payable body", k)
		}
	}
	// Money keeps its scale on the wire (15.20 stays 15.20), as JSON numbers.
	if !bytes.Contains(r.body, []byte(`0,"netPrice":`)) && !bytes.Contains(r.body, []byte(`0,"subTotal":`)) {
		t.Errorf("no amount with a trailing zero found: scale not kept?")
	}
	if bytes.Contains(r.body, []byte(`"subTotal":"`)) || bytes.Contains(r.body, []byte("e+")) {
		t.Errorf("amounts must be plain JSON number literals")
	}
}

func TestCustomersAndReceivablesDecode(t *testing.T) {
	e := newEnv(t, Config{Seed: 5, Customers: 12})
	tok := e.token("service-provider")
	r := e.get(PathCustomers, tok)
	got := decode[struct{ Items []billing.Customer }](t, r)
	want := e.sim.Customers()
	if len(got.Items) != len(want) {
		t.Fatalf("%d customers, want %d", len(got.Items), len(want))
	}
	names := map[string]int{}
	for i, c := range got.Items {
		if c.ID != want[i].ID || c.DisplayName != want[i].DisplayName || c.SuspendedOn != want[i].SuspendedOn || !slices.Equal(c.Path, want[i].Path) {
			t.Errorf("customer %d = %+v, want %+v", i, c, want[i])
		}
		names[c.DisplayName]++
	}
	if !bytes.Contains(r.body, []byte(`"suspendedOn":"2026-08-14T18:03:11.1234567"`)) {
		t.Errorf("no suspended customer with a zone-less 7-digit timestamp")
	}
	if names["=1+1"] != 1 || names["@SUM(A1)"] != 1 {
		t.Errorf("formula-like names missing: %v", names)
	}
	shared := 0
	for _, n := range names {
		if n > 1 {
			shared++
		}
	}
	if shared != 1 {
		t.Errorf("%d shared display names, want 1", shared)
	}

	p := e.sim.DefaultPeriod()
	for i, c := range want {
		rb := decode[receivableBody](t, e.get(receivablePath(c.ID, "2026-10-31"), tok))
		if rb.PeriodFrom != p.From || rb.PeriodTo != p.To {
			t.Errorf("customer %s: period %s..%s", c.ID, rb.PeriodFrom, rb.PeriodTo)
		}
		exp := e.sim.Receivables(c.ID, p)
		if len(rb.Charges) != len(exp) {
			t.Fatalf("customer %s: %d lines, want %d", c.ID, len(rb.Charges), len(exp))
		}
		for j := range exp {
			if a, b := canonReceivable(&rb.Charges[j]), canonReceivable(&exp[j]); a != b {
				t.Errorf("customer %s line %d:\n got %s\nwant %s", c.ID, j, a, b)
			}
			if err := rb.Charges[j].Validate(); err != nil {
				t.Error(err)
			}
		}
		if i == len(want)-1 && (len(exp) != 0 || !bytes.Contains(e.get(receivablePath(c.ID, "2026-10-31"), tok).body, []byte(`"charges":[]`))) {
			t.Errorf("the last customer should have no charges (charges: [])")
		}
	}
}

func TestSubscriptionsAndAmendments(t *testing.T) {
	e := newEnv(t, Config{Seed: 9, Customers: 10})
	tok := e.token("service-provider")
	id := e.sim.Customers()[1].ID
	r := e.get(PathSubs+"?customerId="+id, tok)
	subs := decode[struct{ Items []billing.Subscription }](t, r)
	if len(subs.Items) == 0 {
		t.Fatal("no subscriptions")
	}
	var withFees, nullFees, withTerm, nullTerm int
	for _, s := range subs.Items {
		if s.ID == "" || s.SKU == "" || !s.Quantity.Valid || s.PurchaseDate == "" {
			t.Errorf("incomplete subscription %+v", s)
		}
		if s.Fees != nil {
			withFees++
			if s.Fees.Currency != "Usd" && s.Fees.Currency != "Cad" && s.Fees.Currency != "Eur" {
				t.Errorf("fees currency %q, want title case", s.Fees.Currency)
			}
		} else {
			nullFees++
		}
		if s.CommitmentTerm != nil {
			withTerm++
		} else {
			nullTerm++
		}
	}
	if withFees == 0 || withTerm == 0 || !bytes.Contains(r.body, []byte(`"scheduledQuantity":null`)) {
		t.Errorf("subscriptions lack fees/commitment terms: %s", r.body)
	}
	_ = nullFees + nullTerm

	post := func(body string) response {
		return e.call(http.MethodPost, PathAmendments+"?customerId="+id, tok, strings.NewReader(body))
	}
	if r := post(`{"subscriptionAmendmentParameters":[{"subscriptionId":"00000000-0000-4000-8000-000000000000","newQuantity":3}]}`); r.status != 400 {
		t.Errorf("amend a foreign subscription: %s", r)
	}
	if r := post(`{"subscriptionAmendmentParameters":[]}`); r.status != 400 {
		t.Errorf("empty amendment: %s", r)
	}
	r = post(`{"subscriptionAmendmentParameters":[{"subscriptionId":"` + subs.Items[0].ID + `","newQuantity":14}]}`)
	am := decode[struct {
		ID string `json:"subscriptionsAmendmentId"`
	}](t, r)
	var states []string
	for i := 0; i < 4; i++ {
		states = append(states, decode[string](t, e.get(PathAmendments+"/"+am.ID+"/status", tok)))
	}
	if !slices.Equal(states, []string{"Pending", "Processing", "Success", "Success"}) {
		t.Errorf("status sequence %v", states)
	}
	if r := e.get(PathAmendments+"/"+am.ID+"/status", ""); r.status != 401 {
		t.Errorf("status without a token: %s", r)
	}
	if r := e.get(PathAmendments+"/00000000-0000-4000-8000-000000000000/status", tok); r.status != 404 {
		t.Errorf("unknown amendment: %s", r)
	}
	if r := e.get(PathAmendments+"?customerId="+id, tok); r.status != 405 {
		t.Errorf("GET amendments: %s", r)
	}
}

func TestDeterminismAndShuffle(t *testing.T) {
	cfg := Config{Seed: 11, Customers: 16, Charges: 200}
	a, b := newEnv(t, cfg), newEnv(t, cfg)
	ra := a.get(payablePath("2026-10-01"), a.token("distributor"))
	rb := b.get(payablePath("2026-10-20"), b.token("distributor"))
	if !bytes.Equal(ra.body, rb.body) || len(ra.body) == 0 {
		t.Fatal("same seed gave different payable bodies")
	}
	cfg.Seed = 12
	c := newEnv(t, cfg)
	if rc := c.get(payablePath("2026-10-01"), c.token("distributor")); bytes.Equal(ra.body, rc.body) {
		t.Error("another seed gave the same body")
	}
	// Another month differs; the same month twice does not.
	if rn := a.get(payablePath("2026-11-01"), a.token("distributor")); bytes.Equal(ra.body, rn.body) {
		t.Error("November equals October")
	}

	cfg.Seed = 11
	cfg.Faults.Shuffle = true
	s := newEnv(t, cfg)
	rs := s.get(payablePath("2026-10-01"), s.token("distributor"))
	rs2 := s.get(payablePath("2026-10-01"), s.token("distributor"))
	if bytes.Equal(ra.body, rs.body) || bytes.Equal(rs.body, rs2.body) {
		t.Error("Shuffle did not change the order (or shuffled two requests alike)")
	}
	multiset := func(r response) []string {
		var out []string
		for _, c := range decode[payableBody](t, r).Charges {
			out = append(out, canonPayable(c))
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(multiset(ra), multiset(rs)) {
		t.Error("Shuffle changed the multiset of charges")
	}
	sp := s.token("service-provider")
	c1, c2 := s.get(PathCustomers, sp), a.get(PathCustomers, a.token("service-provider"))
	if bytes.Equal(c1.body, c2.body) {
		t.Error("Shuffle did not change the customers' order")
	}
}

// The Truth recorded while planting equals what the rules give for the data
// served over HTTP, with and without missing customers.
func TestTruthMatchesServedData(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		miss func(cs []billing.Customer) Faults
	}{
		{"small", Config{Seed: 3, Customers: 12, Charges: 120}, nil},
		{"demo", Config{Seed: 20261001, Customers: 24, Charges: 240}, nil},
		{"missing", Config{Seed: 7, Customers: 30, Charges: 300}, func(cs []billing.Customer) Faults {
			return Faults{FailCustomerAlways: []string{cs[1].ID, cs[26].ID}, PeriodDiffersFor: []string{cs[4].ID, cs[29].ID}}
		}},
		{"tiny", Config{Seed: 1, Customers: 3, Charges: 10}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			if tc.miss != nil {
				e.sim.SetFaults(tc.miss(e.sim.Customers()))
			}
			p := e.sim.DefaultPeriod()
			truth := e.sim.Truth(p)
			pays := decode[payableBody](t, e.get(payablePath("2026-10-09"), e.token("distributor"))).Charges
			sp := e.token("service-provider")
			customers := decode[struct{ Items []billing.Customer }](t, e.get(PathCustomers, sp)).Items
			recs := map[string][]billing.ReceivableCharge{}
			missing := map[string]string{}
			recLines := 0
			for _, c := range customers {
				r := e.get(receivablePath(c.ID, "2026-10-09"), sp)
				if r.status != 200 {
					missing[c.ID] = reasonFetchFailed
					continue
				}
				rb := decode[receivableBody](t, r)
				recLines += len(rb.Charges)
				if rb.PeriodFrom != p.From || rb.PeriodTo != p.To {
					missing[c.ID] = reasonPeriodDiffers
					continue
				}
				recs[c.ID] = rb.Charges
			}
			if len(pays) != truth.PayableLines || recLines != truth.ReceivableLines {
				t.Errorf("lines served %d/%d, truth %d/%d", len(pays), recLines, truth.PayableLines, truth.ReceivableLines)
			}
			if len(missing) != len(truth.Missing) {
				t.Errorf("missing %v, truth %v", missing, truth.Missing)
			}
			ref := reference(customers, pays, recs, missing)
			for _, m := range []struct {
				name      string
				got, want map[string]decimal.Decimal
			}{{"payable", ref.payTotals, truth.PayableTotals}, {"receivable", ref.recTotals, truth.ReceivableTotals}} {
				if len(m.got) != len(m.want) {
					t.Errorf("%s totals %v, truth %v", m.name, m.got, m.want)
				}
				for cur, w := range m.want {
					if !m.got[cur].Equal(w) {
						t.Errorf("%s total %s = %s, truth %s", m.name, cur, m.got[cur], w)
					}
				}
			}
			findings, rows := truthStrings(truth)
			testkit.ErrorMultisetDiff(t, "findings", ref.findings, findings)
			testkit.ErrorMultisetDiff(t, "customer rows", ref.rows, rows)
			unattributed := 0
			kinds := map[string]int{}
			for _, f := range truth.Findings {
				kinds[f.Kind]++
				if f.Kind == KindUnattributed {
					unattributed++
				}
			}
			if unattributed != truth.Unattributed {
				t.Errorf("Unattributed = %d, %d findings", truth.Unattributed, unattributed)
			}
			if tc.cfg.Customers >= 8 {
				for _, k := range []string{KindUnbilled, KindUnexpectedReceivable, KindQuantityMismatch, KindNegativeMargin, KindUnattributed} {
					if kinds[k] == 0 {
						t.Errorf("no %s finding planted", k)
					}
				}
				if (tc.miss != nil) != (kinds[KindMissingReceivables] > 0) {
					t.Errorf("missing_receivables findings: %d", kinds[KindMissingReceivables])
				}
				reasons := map[string]bool{}
				for _, f := range truth.Findings {
					reasons[f.Reason] = true
				}
				for _, r := range []string{reasonNoCustomerTag, reasonUnknownCustomer, reasonAmbiguousName} {
					if !reasons[r] {
						t.Errorf("no unattributed line with reason %s", r)
					}
				}
			}
		})
	}
}

// Every customer's lines are a pure function of (seed, month, index): the
// aggregation scenario really puts two payable lines on one key, and keys are
// otherwise unique per customer.
func TestLineKeysUniqueExceptAggregation(t *testing.T) {
	g := newGenerator(7, 30, 300)
	pi := monthOf(time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC))
	aggregated := 0
	for ci := range g.customers {
		keys := map[string]bool{}
		_ = g.eachGroup(pi, ci, func(gr *group) error {
			k := gr.sku + "|" + gr.chargeType + "|" + string(gr.from) + "|" + string(gr.to) + "|" + gr.currency
			if keys[k] {
				t.Errorf("customer %d: key %s emitted twice", ci, k)
			}
			keys[k] = true
			if gr.scenario == scAggregation {
				aggregated++
				if gr.npay != 2 {
					t.Errorf("aggregation group with %d payable lines", gr.npay)
				}
			}
			return nil
		})
	}
	if aggregated == 0 {
		t.Error("no aggregation scenario planted")
	}
}

// Without a date the charge endpoints serve the month of "today" (UTC).
func TestDefaultDateIsToday(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Customers: 6}) // the clock says 2026-11-02
	pb := decode[payableBody](t, e.get(PathPayable, e.token("distributor")))
	rb := decode[receivableBody](t, e.get(PathReceivable+"?customerId="+e.sim.Customers()[0].ID, e.token("service-provider")))
	if pb.PeriodFrom != "2026-11-01" || pb.PeriodTo != "2026-11-30" || rb.PeriodFrom != "2026-11-01" {
		t.Errorf("default periods %s..%s and %s", pb.PeriodFrom, pb.PeriodTo, rb.PeriodFrom)
	}
}
