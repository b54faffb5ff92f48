package sherwebsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/testkit"
	"github.com/shopspring/decimal"
)

type env struct {
	t     *testing.T
	sim   *Server
	url   string
	clock *testkit.Clock // token expiry and storm windows
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC))
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	sim := New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &env{t: t, sim: sim, url: srv.URL, clock: clock}
}

type response struct {
	status  int
	header  http.Header
	body    []byte
	readErr error
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// tokenResp asks for a token with the given form and subscription key.
func (e *env) tokenResp(form url.Values, key string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+PathToken, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("Ocp-Apim-Subscription-Key", key)
	}
	return e.send(req)
}

func goodForm(scope string) url.Values {
	return url.Values{"client_id": {"sim-client"}, "client_secret": {"sim-secret"}, "scope": {scope}, "grant_type": {"client_credentials"}}
}

// token returns an access token for scope or fails the test.
func (e *env) token(scope string) string {
	e.t.Helper()
	r := e.tokenResp(goodForm(scope), "sim-key")
	if r.status != 200 {
		e.t.Fatalf("token: %s", r)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &tok); err != nil || tok.AccessToken == "" {
		e.t.Fatalf("token body %s: %v", r.body, err)
	}
	return tok.AccessToken
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: body, readErr: rerr}
}

// call sends an API request with the subscription key and a bearer token.
func (e *env) call(method, pathQuery, tok string, body io.Reader) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+pathQuery, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Ocp-Apim-Subscription-Key", "sim-key")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	return e.send(req)
}

func (e *env) get(pathQuery, tok string) response {
	e.t.Helper()
	return e.call(http.MethodGet, pathQuery, tok, nil)
}

type payableBody struct {
	PeriodFrom billing.Date             `json:"periodFrom"`
	PeriodTo   billing.Date             `json:"periodTo"`
	Charges    []*billing.PayableCharge `json:"charges"`
}

type receivableBody struct {
	PeriodFrom billing.Date               `json:"periodFrom"`
	PeriodTo   billing.Date               `json:"periodTo"`
	Charges    []billing.ReceivableCharge `json:"charges"`
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if r.status != 200 || r.readErr != nil {
		t.Fatalf("response %d (read error %v): %.300s", r.status, r.readErr, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}

func payablePath(date string) string { return PathPayable + "?date=" + date }

func receivablePath(id, date string) string {
	return PathReceivable + "?customerId=" + url.QueryEscape(id) + "&date=" + date
}

// ---------------------------------------------------------------------------
// Canonical text of decoded values (decimals with their scale).

func nd(d decimal.NullDecimal) string {
	if !d.Valid {
		return "null"
	}
	return billing.Text(d.Decimal)
}

func pb(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

func canonPayable(c *billing.PayableCharge) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s|%s|%s|%s|%s|%s|%s|%s|%s|", c.ProductID, c.ProductName, c.SKU, c.ChargeID, c.ChargeName,
		c.ChargeType, c.BillingCycleType, c.PeriodFrom, c.PeriodTo)
	fmt.Fprintf(&sb, "%s|%s|%s|%s|%s|%s|%s|%s|", nd(c.Quantity), nd(c.ListPrice), nd(c.NetPrice), nd(c.NetPriceProrated),
		nd(c.SubTotal), c.Currency, pb(c.IsBilled), pb(c.IsProratable))
	fmt.Fprintf(&sb, "d%v:", c.Deductions == nil)
	for _, d := range c.Deductions {
		fmt.Fprintf(&sb, "%s,%s,%s,%s,%s,%s;", d.Code, d.Name, d.DeductionType, nd(d.Value), nd(d.UnitValue), nd(d.TotalValue))
	}
	fmt.Fprintf(&sb, "|f%v:", c.Fees == nil)
	for _, f := range c.Fees {
		fmt.Fprintf(&sb, "%s,%s,%s,%s;", f.Name, nd(f.UnitValue), nd(f.TotalValue), pb(f.IsTaxable))
	}
	if c.Invoice != nil {
		fmt.Fprintf(&sb, "|inv:%+v", *c.Invoice)
	}
	fmt.Fprintf(&sb, "|t%v:", c.Taxes == nil)
	for _, x := range c.Taxes {
		fmt.Fprintf(&sb, "%s,%s;", x.Name, nd(x.AppliedRate))
	}
	fmt.Fprintf(&sb, "|g%v:", c.Tags == nil)
	for _, x := range c.Tags {
		fmt.Fprintf(&sb, "%q=%q;", x.Name, x.Value)
	}
	return sb.String()
}

func canonReceivable(c *billing.ReceivableCharge) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", c.ProductName, c.SKU, c.ChargeID, c.ChargeName, c.ChargeType,
		c.BillingCycleType, c.PeriodFrom, c.PeriodTo, nd(c.Quantity), nd(c.CostPrice), nd(c.CostPriceProrated), c.Currency,
		pb(c.IsProratable))
}

// ---------------------------------------------------------------------------
// A reference reconciliation written from reconciliation-rules.md, used only
// to check that the Truth recorded by the generator is what the rules give
// for the data served over HTTP.

type refKey struct{ id, sku, ct, from, to, cur string }

type refAgg struct {
	payQty, recQty, pay, rec decimal.Decimal
	hasPay, hasRec           bool
}

func refAttribute(customers []billing.Customer, c *billing.PayableCharge) (string, string) {
	seen := false
	var byID []string
	for _, t := range c.Tags {
		if strings.EqualFold(t.Name, "CustomerId") && strings.TrimSpace(t.Value) != "" {
			seen = true
			for _, cu := range customers {
				if strings.EqualFold(cu.ID, strings.TrimSpace(t.Value)) && !slices.Contains(byID, cu.ID) {
					byID = append(byID, cu.ID)
				}
			}
		}
	}
	if len(byID) == 1 {
		return byID[0], ""
	}
	var byName []string
	for _, t := range c.Tags {
		if strings.EqualFold(t.Name, "CustomerDisplayName") && strings.TrimSpace(t.Value) != "" {
			seen = true
			for _, cu := range customers {
				if cu.DisplayName == strings.TrimSpace(t.Value) && !slices.Contains(byName, cu.ID) {
					byName = append(byName, cu.ID)
				}
			}
		}
	}
	switch {
	case len(byName) == 1:
		return byName[0], ""
	case len(byName) > 1 || len(byID) > 1:
		return "", reasonAmbiguousName
	case seen:
		return "", reasonUnknownCustomer
	}
	return "", reasonNoCustomerTag
}

type refResult struct {
	findings, rows []string
	payTotals      map[string]decimal.Decimal
	recTotals      map[string]decimal.Decimal
}

func findingString(kind, id, sku, ct string, from, to billing.Date, cur string, pq, rq, pa, ra decimal.Decimal, reason string) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", kind, id, sku, ct, from, to, cur, pq, rq, pa, ra, reason)
}

// reference reconciles payables and the receivables of the customers listed
// in available; missing maps the other customers to their reason.
func reference(customers []billing.Customer, pays []*billing.PayableCharge, recs map[string][]billing.ReceivableCharge, missing map[string]string) refResult {
	res := refResult{payTotals: map[string]decimal.Decimal{}, recTotals: map[string]decimal.Decimal{}}
	keys := map[refKey]*refAgg{}
	type rk struct{ id, cur string }
	rows := map[rk]*refAgg{}
	agg := func(k refKey) *refAgg {
		if keys[k] == nil {
			keys[k] = &refAgg{}
		}
		return keys[k]
	}
	row := func(k rk) *refAgg {
		if rows[k] == nil {
			rows[k] = &refAgg{}
		}
		return rows[k]
	}
	z := decimal.Zero
	for _, c := range pays {
		res.payTotals[c.Currency] = res.payTotals[c.Currency].Add(c.SubTotal.Decimal)
		if _, ok := res.recTotals[c.Currency]; !ok {
			res.recTotals[c.Currency] = z
		}
		id, reason := refAttribute(customers, c)
		if id == "" {
			res.findings = append(res.findings, findingString(KindUnattributed, "", c.SKU, c.ChargeType, c.PeriodFrom, c.PeriodTo,
				c.Currency, c.Quantity.Decimal, z, c.SubTotal.Decimal, z, reason))
			continue
		}
		r := row(rk{id, c.Currency})
		r.pay, r.hasPay = r.pay.Add(c.SubTotal.Decimal), true
		a := agg(refKey{id, c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), c.Currency})
		a.hasPay, a.payQty, a.pay = true, a.payQty.Add(c.Quantity.Decimal), a.pay.Add(c.SubTotal.Decimal)
	}
	for id, lines := range recs {
		if _, ok := missing[id]; ok {
			continue
		}
		for i := range lines {
			c := &lines[i]
			amt := c.Amount()
			res.recTotals[c.Currency] = res.recTotals[c.Currency].Add(amt)
			if _, ok := res.payTotals[c.Currency]; !ok {
				res.payTotals[c.Currency] = z
			}
			r := row(rk{id, c.Currency})
			r.rec, r.hasRec = r.rec.Add(amt), true
			a := agg(refKey{id, c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), c.Currency})
			a.hasRec, a.recQty, a.rec = true, a.recQty.Add(c.Quantity.Decimal), a.rec.Add(amt)
		}
	}
	tol := decimal.RequireFromString("-0.01")
	for k, a := range keys {
		if _, ok := missing[k.id]; ok {
			continue
		}
		add := func(kind string) {
			res.findings = append(res.findings, findingString(kind, k.id, k.sku, k.ct, billing.Date(k.from), billing.Date(k.to), k.cur,
				a.payQty, a.recQty, a.pay, a.rec, ""))
		}
		switch {
		case a.hasPay && !a.hasRec:
			add(KindUnbilled)
		case a.hasRec && !a.hasPay:
			add(KindUnexpectedReceivable)
		default:
			if !a.payQty.Equal(a.recQty) {
				add(KindQuantityMismatch)
			}
			if a.rec.Sub(a.pay).LessThan(tol) {
				add(KindNegativeMargin)
			}
		}
	}
	for id, reason := range missing {
		n := 0
		for k, r := range rows {
			if k.id == id && r.hasPay {
				n++
				res.findings = append(res.findings, findingString(KindMissingReceivables, id, "", "", "", "", k.cur, z, z, r.pay, z, reason))
			}
		}
		if n == 0 {
			res.findings = append(res.findings, findingString(KindMissingReceivables, id, "", "", "", "", "", z, z, z, z, reason))
		}
	}
	for k, r := range rows {
		res.rows = append(res.rows, fmt.Sprintf("%s|%s|%s|%s", k.id, k.cur, r.pay, r.rec))
	}
	slices.Sort(res.findings)
	slices.Sort(res.rows)
	return res
}

func truthStrings(tr *Truth) (findings, rows []string) {
	for _, f := range tr.Findings {
		findings = append(findings, findingString(f.Kind, f.CustomerID, f.SKU, f.ChargeType, f.PeriodFrom, f.PeriodTo, f.Currency,
			f.PayableQty, f.ReceivableQty, f.PayableAmount, f.ReceivableAmount, f.Reason))
	}
	for _, r := range tr.CustomerRows {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s", r.CustomerID, r.Currency, r.Payable, r.Receivable))
	}
	slices.Sort(findings)
	slices.Sort(rows)
	return findings, rows
}
