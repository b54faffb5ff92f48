package job_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// Field completeness: every field the API sends (every JSON-tagged field of
// the billing types, found by reflection) must reach the ledger and come
// back out equal, through both payable decoders (the fast path and
// encoding/json), and the detail fields must have a column on the detail
// sheets / CSV. A field added to a billing type and not carried all the way
// fails here: the filler sets it, so the value read back differs.

// filler sets every JSON field of a value to a distinct non-zero value.
type filler struct {
	t *testing.T
	n int
}

var (
	dateType        = reflect.TypeFor[billing.Date]()
	timestampType   = reflect.TypeFor[billing.Timestamp]()
	nullDecimalType = reflect.TypeFor[decimal.NullDecimal]()
	rawJSONType     = reflect.TypeFor[billing.RawJSON]()
)

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	n := f.n
	switch v.Type() {
	case dateType:
		v.SetString(fmt.Sprintf("2026-%02d-%02d", 1+n/28%12, 1+n%28))
		return
	case timestampType:
		v.SetString(fmt.Sprintf("2026-10-01T%02d:%02d:%02d.5Z", n/3600%24, n/60%60, n%60))
		return
	case nullDecimalType:
		// n*100+7: never a trailing zero, so the text form is unique.
		v.Set(reflect.ValueOf(decimal.NullDecimal{Decimal: decimal.New(int64(n)*100+7, -3), Valid: true}))
		return
	case rawJSONType:
		v.SetBytes([]byte(fmt.Sprintf(`{"k":%d}`, n)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d é", path, n))
	case reflect.Bool:
		v.SetBool(true) // the non-zero bool; *bool fields are also checked for presence
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		f.fill(v.Index(0), path+"[0]")
		f.fill(v.Index(1), path+"[1]")
	case reflect.Struct:
		for _, fld := range reflect.VisibleFields(v.Type()) {
			name := jsonName(fld)
			if name == "" {
				f.t.Fatalf("%s.%s has no JSON name: every field of a billing type is an API field", path, fld.Name)
			}
			f.fill(v.FieldByIndex(fld.Index), path+"."+name)
		}
	default:
		f.t.Fatalf("%s: kind %s not handled by the completeness test: extend filler", path, v.Kind())
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if !f.IsExported() || name == "-" {
		return ""
	}
	return name
}

// jsonFields is the JSON names of t's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for _, f := range reflect.VisibleFields(t) {
		out = append(out, jsonName(f))
	}
	return out
}

func full[T any](t *testing.T, f *filler, name string) T {
	var v T
	f.fill(reflect.ValueOf(&v).Elem(), name)
	return v
}

// apiServer serves one response per endpoint, with a token endpoint.
func apiServer(t *testing.T, bodies map[string]any) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/oidc/connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"tok","token_type":"Bearer","expires_in":3600}`)
	})
	for path, body := range bodies {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

type collect []*billing.PayableCharge

func (c *collect) Reset() error                           { *c = nil; return nil }
func (c *collect) Charge(ch *billing.PayableCharge) error { *c = append(*c, ch); return nil }

func TestEveryAPIFieldReachesTheLedger(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("PlainDecoder=%v", plain), func(t *testing.T) {
			f := &filler{t: t}
			pay := full[billing.PayableCharge](t, f, "payable")
			rc := full[billing.ReceivableCharge](t, f, "receivable")
			sub := full[billing.Subscription](t, f, "subscription")
			cu := full[billing.Customer](t, f, "customer")
			period := billing.Period{From: "2026-10-01", To: "2026-10-31"}
			url := apiServer(t, map[string]any{
				"/distributor/v1/billing/payable-charges":         map[string]any{"periodFrom": period.From, "periodTo": period.To, "charges": []any{pay}},
				"/service-provider/v1/customers":                  map[string]any{"items": []any{cu}},
				"/service-provider/v1/billing/receivable-charges": map[string]any{"periodFrom": period.From, "periodTo": period.To, "charges": []any{rc}},
				"/service-provider/v1/billing/subscriptions":      map[string]any{"items": []any{sub}},
			})
			ctx := context.Background()
			client, err := fetch.New(ctx, fetch.Config{BaseURL: url, ClientID: "id", ClientSecret: "secret",
				SubscriptionKey: "key", MaxAttempts: 1, PlainDecoder: plain})
			if err != nil {
				t.Fatal(err)
			}

			// Decode: fetch must carry every field.
			var got collect
			if _, err := client.PayableCharges(ctx, "2026-10-15", &got); err != nil {
				t.Fatal(err)
			}
			customers, err := client.Customers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, rcs, err := client.ReceivableCharges(ctx, cu.ID, "2026-10-15")
			if err != nil {
				t.Fatal(err)
			}
			subs, err := client.Subscriptions(ctx, cu.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || len(customers) != 1 || len(rcs) != 1 || len(subs) != 1 {
				t.Fatalf("decoded %d payable, %d customers, %d receivable, %d subscriptions; want 1 each", len(got), len(customers), len(rcs), len(subs))
			}
			equal(t, "fetch: payable charge", &pay, got[0])
			equal(t, "fetch: customer", &cu, &customers[0])
			equal(t, "fetch: receivable charge", &rc, &rcs[0])
			equal(t, "fetch: subscription", &sub, &subs[0])

			// Store in a real ledger and read back.
			store := openStore(t)
			id, err := store.BeginRun(ctx, ledger.Run{RequestedDate: "2026-10-15", StartedAt: fixedNow(),
				BaseURL: "http://api.test", ToolVersion: "test", Settings: `{}`})
			if err != nil {
				t.Fatal(err)
			}
			batch, err := store.NewPayableBatch(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := batch.Add(got[0]); err != nil {
				t.Fatal(err)
			}
			if err := batch.Commit(period); err != nil {
				t.Fatal(err)
			}
			if err := store.SaveCustomers(ctx, id, customers); err != nil {
				t.Fatal(err)
			}
			if err := store.SaveCustomerData(ctx, id, ledger.CustomerData{CustomerID: cu.ID, Coverage: billing.CoverageAvailable,
				Period: period, Receivables: rcs, Subscriptions: subs}); err != nil {
				t.Fatal(err)
			}
			if err := store.FinishRun(ctx, id, billing.RunComplete, ledger.RunStats{}, "", fixedNow().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			var back []*billing.PayableCharge
			if err := store.EachPayable(ctx, id, func(c *billing.PayableCharge) error { back = append(back, c); return nil }); err != nil {
				t.Fatal(err)
			}
			var backRC []billing.ReceivableCharge
			if err := store.EachReceivable(ctx, id, func(_ string, c *billing.ReceivableCharge) error {
				backRC = append(backRC, *c)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			backCu, err := store.Customers(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			backSubs, err := store.Subscriptions(ctx, id, cu.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != 1 || len(backRC) != 1 || len(backCu) != 1 || len(backSubs) != 1 {
				t.Fatalf("read back %d payable, %d receivable, %d customers, %d subscriptions; want 1 each", len(back), len(backRC), len(backCu), len(backSubs))
			}
			equal(t, "ledger: payable charge", &pay, back[0])
			equal(t, "ledger: receivable charge", &rc, &backRC[0])
			equal(t, "ledger: customer", &cu, &backCu[0])
			equal(t, "ledger: subscription", &sub, &backSubs[0])

			detailColumns(t, ledgerDetail{store, id}, back[0], &backRC[0])
		})
	}
}

// equal compares field by field and names the JSON fields that differ.
func equal[T any](t *testing.T, what string, want, got *T) {
	t.Helper()
	wv, gv := reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem()
	for _, f := range reflect.VisibleFields(wv.Type()) {
		w, g := wv.FieldByIndex(f.Index).Interface(), gv.FieldByIndex(f.Index).Interface()
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(g)
		if !bytes.Equal(wj, gj) {
			t.Errorf("%s: field %q not carried: got %s, want %s", what, jsonName(f), gj, wj)
		}
	}
}

// ledgerDetail is the report.Detail of one stored run.
type ledgerDetail struct {
	s  *ledger.Store
	id int64
}

func (d ledgerDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	return d.s.EachPayable(ctx, d.id, fn)
}

func (d ledgerDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	return d.s.EachReceivable(ctx, d.id, fn)
}

// checkColumns checks that every JSON field of t has a column in mapping,
// that the column is in the CSV header, and that its cell in the one data
// row is not empty.
func checkColumns(t *testing.T, what string, typ reflect.Type, mapping map[string]string, csvText string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%s CSV: %d records, want header + 1 line", what, len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, name := range jsonFields(typ) {
		h, ok := mapping[name]
		if !ok {
			t.Errorf("%s: JSON field %q has no detail column (add it to the sheet/CSV and to the mapping)", what, name)
			continue
		}
		i, ok := col[h]
		if !ok {
			t.Errorf("%s: JSON field %q maps to column %q, not in the CSV header %q", what, name, h, recs[0])
			continue
		}
		if recs[1][i] == "" {
			t.Errorf("%s: column %q (JSON field %q) is empty for a line with every field set", what, h, name)
		}
	}
}
