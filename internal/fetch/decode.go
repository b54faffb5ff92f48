package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// This file decodes the bodies that are read whole (customers, receivables,
// subscriptions) and holds the error-path helpers shared with the payable
// stream decoder: when a record fails to decode, each member is decoded on
// its own to name the culprit field.

// fieldProblem is a bad value found inside one record.
type fieldProblem struct {
	field string // JSON path inside the record, e.g. "subTotal" or "deductions[0].value"
	value string // raw JSON, shortened
	err   error
}

// decodeRecord unmarshals raw into v, a pointer to a struct. The happy path is
// one json.Unmarshal; only on failure is the record taken apart to find the
// field at fault.
func decodeRecord(raw []byte, v any) *fieldProblem {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	rv := reflect.ValueOf(v).Elem()
	rv.SetZero()
	if p := locate(raw, rv.Type(), "", err); p != nil {
		fillPartial(raw, rv)
		return p
	}
	return &fieldProblem{err: err}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// locate finds the innermost value of raw that does not decode as type t.
// cause is the error decoding raw as a whole produced.
func locate(raw []byte, t reflect.Type, path string, cause error) *fieldProblem {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	leaf := func() *fieldProblem {
		return &fieldProblem{field: path, value: snippet(string(raw), 80), err: &invalidValueError{kind: kindOf(t), value: snippet(string(raw), 80), err: cause}}
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return leaf()
	}
	switch t.Kind() {
	case reflect.Struct:
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return leaf()
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name := jsonName(f)
			if name == "" {
				continue
			}
			val, ok := member(members, name)
			if !ok {
				continue
			}
			if err := json.Unmarshal(val, reflect.New(f.Type).Interface()); err != nil {
				return locate(val, f.Type, joinPath(path, name), err)
			}
		}
		return leaf()
	case reflect.Slice:
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return leaf()
		}
		for i, e := range elems {
			if err := json.Unmarshal(e, reflect.New(t.Elem()).Interface()); err != nil {
				return locate(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), err)
			}
		}
		return leaf()
	}
	return leaf()
}

// fillPartial decodes every member of raw that decodes on its own into the
// struct rv, so a bad record can still be described (chargeId, sku, period).
func fillPartial(raw []byte, rv reflect.Value) {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return
	}
	t := rv.Type()
	for i := range t.NumField() {
		name := jsonName(t.Field(i))
		if name == "" {
			continue
		}
		val, ok := member(members, name)
		if !ok {
			continue
		}
		p := reflect.New(t.Field(i).Type)
		if json.Unmarshal(val, p.Interface()) == nil {
			rv.Field(i).Set(p.Elem())
		}
	}
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name
}

// member finds a JSON member the way encoding/json does: exact name first,
// else a case-insensitive match.
func member(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	decimalType     = reflect.TypeFor[decimal.Decimal]()
	nullDecimalType = reflect.TypeFor[decimal.NullDecimal]()
	dateType        = reflect.TypeFor[billing.Date]()
	timestampType   = reflect.TypeFor[billing.Timestamp]()
)

func kindOf(t reflect.Type) string {
	switch t {
	case decimalType, nullDecimalType:
		return "decimal"
	case dateType:
		return "date"
	case timestampType:
		return "timestamp"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
}

// bodyError turns a json.Unmarshal error of a whole body into the right
// error: a body that ends early is truncated (retryable), anything else is
// bad data.
func bodyError(path string, body []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end of JSON input") {
		return fmt.Errorf("%w (%d bytes): %w", errTruncated, len(body), err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: empty body", errTruncated)
	}
	return &DecodeError{Endpoint: path, Err: fmt.Errorf("malformed JSON: %w", err)}
}

// problemError turns a fieldProblem into a DecodeError.
func problemError(path, record string, p *fieldProblem) *DecodeError {
	return &DecodeError{Endpoint: path, Record: record, Field: p.field, Value: p.value, Err: p.err}
}

// validationError turns a billing.FieldError into a DecodeError.
func validationError(path, record string, err error) *DecodeError {
	var fe *billing.FieldError
	if errors.As(err, &fe) {
		return &DecodeError{Endpoint: path, Record: record, Field: strings.Join(fe.Fields, ", "), Err: &missingError{fe: fe}}
	}
	return &DecodeError{Endpoint: path, Record: record, Err: err}
}

// decodeCustomers reads GetCustomers: {"items": [...]} (items may be null),
// or the bare array of the 2021 alpha/beta versions.
func decodeCustomers(body []byte) ([]billing.Customer, error) {
	items, err := itemsOf(pathCustomers, body)
	if err != nil {
		return nil, err
	}
	out := make([]billing.Customer, 0, len(items))
	for i, raw := range items {
		var cu billing.Customer
		if p := decodeRecord(raw, &cu); p != nil {
			return nil, problemError(pathCustomers, describeCustomer(i, &cu), p)
		}
		if err := cu.Validate(); err != nil {
			return nil, validationError(pathCustomers, describeCustomer(i, &cu), err)
		}
		out = append(out, cu)
	}
	return out, nil
}

func describeCustomer(i int, c *billing.Customer) string {
	if c.ID != "" {
		return fmt.Sprintf("customer #%d %s (%q)", i, c.ID, c.DisplayName)
	}
	return fmt.Sprintf("customer #%d (no id, %q)", i, c.DisplayName)
}

// decodeSubscriptions reads GetSubscriptions: {"items": [...]} (or a bare
// array); fast tries the fast path first (decode_fast.go).
func decodeSubscriptions(body []byte, customerID string, fast bool) ([]billing.Subscription, error) {
	if fast {
		if out, ok := fastSubscriptions(body); ok {
			return out, nil
		}
	}
	return decodeSubscriptionsJSON(body, customerID)
}

// decodeSubscriptionsJSON is decodeSubscriptions with encoding/json: the
// reference the fast path must agree with, and the path that names errors.
func decodeSubscriptionsJSON(body []byte, customerID string) ([]billing.Subscription, error) {
	items, err := itemsOf(pathSubs, body)
	if err != nil {
		return nil, err
	}
	out := make([]billing.Subscription, 0, len(items))
	for i, raw := range items {
		var s billing.Subscription
		if p := decodeRecord(raw, &s); p != nil {
			return nil, problemError(pathSubs, fmt.Sprintf("customer %s: subscription #%d %s (sku %q)", customerID, i, s.ID, s.SKU), p)
		}
		out = append(out, s)
	}
	return out, nil
}

// itemsOf returns the elements of {"items": [...]} or of a bare array.
func itemsOf(path string, body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, bodyError(path, body, err)
		}
		return items, nil
	}
	var env struct {
		Items json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, bodyError(path, body, err)
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &DecodeError{Endpoint: path, Err: fmt.Errorf("response is not a JSON object: %s", snippet(string(trimmed), 40))}
	}
	if len(env.Items) == 0 || string(env.Items) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(env.Items, &items); err != nil {
		return nil, &DecodeError{Endpoint: path, Field: "items", Value: snippet(string(env.Items), 80), Err: errors.New("not an array")}
	}
	return items, nil
}

// decodeReceivables reads GetReceivableCharges: {"periodFrom", "periodTo",
// "charges"}. Both period ends are required; null charges means none. fast
// tries the fast path first (decode_fast.go).
func decodeReceivables(body []byte, customerID string, fast bool) (billing.Period, []billing.ReceivableCharge, error) {
	if fast {
		if period, out, ok := fastReceivables(body); ok {
			return period, out, nil
		}
	}
	return decodeReceivablesJSON(body, customerID)
}

// decodeReceivablesJSON is decodeReceivables with encoding/json: the
// reference the fast path must agree with, and the path that names errors.
func decodeReceivablesJSON(body []byte, customerID string) (billing.Period, []billing.ReceivableCharge, error) {
	var env struct {
		PeriodFrom json.RawMessage `json:"periodFrom"`
		PeriodTo   json.RawMessage `json:"periodTo"`
		Charges    json.RawMessage `json:"charges"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return billing.Period{}, nil, bodyError(pathReceivables, body, err)
	}
	record := "customer " + customerID
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return billing.Period{}, nil, &DecodeError{Endpoint: pathReceivables, Record: record, Err: fmt.Errorf("response is not a JSON object: %s", snippet(string(t), 40))}
	}
	var period billing.Period
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *billing.Date
	}{{"periodFrom", env.PeriodFrom, &period.From}, {"periodTo", env.PeriodTo, &period.To}} {
		if err := decodePeriodEnd(f.raw, f.dst); err != nil {
			return billing.Period{}, nil, &DecodeError{Endpoint: pathReceivables, Record: record, Field: f.name, Value: snippet(string(f.raw), 80), Err: err}
		}
	}
	if len(env.Charges) == 0 || string(env.Charges) == "null" {
		return period, nil, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(env.Charges, &raws); err != nil {
		return billing.Period{}, nil, &DecodeError{Endpoint: pathReceivables, Record: record, Field: "charges", Value: snippet(string(env.Charges), 80), Err: errors.New("not an array")}
	}
	out := make([]billing.ReceivableCharge, 0, len(raws))
	for i, raw := range raws {
		var ch billing.ReceivableCharge
		if p := decodeRecord(raw, &ch); p != nil {
			return billing.Period{}, nil, problemError(pathReceivables, fmt.Sprintf("%s: charge #%d %s", record, i, ch.Describe()), p)
		}
		if err := ch.Validate(); err != nil {
			return billing.Period{}, nil, validationError(pathReceivables, fmt.Sprintf("%s: charge #%d %s", record, i, ch.Describe()), err)
		}
		out = append(out, ch)
	}
	return period, out, nil
}

// decodePeriodEnd decodes a required date.
func decodePeriodEnd(raw json.RawMessage, dst *billing.Date) error {
	if len(raw) == 0 || string(raw) == "null" {
		return errors.New("required value is null or missing")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return &invalidValueError{kind: "date", value: snippet(string(raw), 80), err: err}
	}
	if *dst == "" {
		return errors.New("required value is empty")
	}
	return nil
}
