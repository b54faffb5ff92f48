package fetch

import (
	"unsafe"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// This file is the fast path of decodeReceivables and decodeSubscriptions:
// one hand-written pass over the body with the shared scanner (jsonscan,
// which checks the JSON as it goes), decoding straight into the result
// slice, instead of encoding/json's envelope → RawMessage → record passes.
// It gives up (ok=false) on anything that is not the plain happy path: a
// key that only matches a field case-insensitively, a duplicate field, a
// value of the wrong type, a record that does not validate. The caller then
// runs the encoding/json path, which produces the result or the precise
// error; so the fast path never changes what is decoded, only how fast.
// BENCHMARKS.md ("Decoders: fast path vs encoding/json") has the figures
// that keep it.

var receivableEnvFields = newFieldSet(nil, "periodFrom", "periodTo", "charges")

var receivableFields = newFieldSet(nil, "productName", "sku", "chargeId", "chargeName", "chargeType",
	"billingCycleType", "periodFrom", "periodTo", "quantity", "costPrice", "costPriceProrated", "currency",
	"isProratable")

// fastReceivables is the fast path of decodeReceivables.
func fastReceivables(body []byte) (period billing.Period, out []billing.ReceivableCharge, ok bool) {
	if len(body) == 0 {
		return period, nil, false
	}
	s := jsonscan.New(unsafe.String(&body[0], len(body)))
	vc := getValueCache()
	defer putValueCache(vc)
	haveCharges := false
	ok = fields(s, receivableEnvFields, func(f int) bool {
		switch f {
		case 0, 1:
			dst := &period.From
			if f == 1 {
				dst = &period.To
			}
			if s.Peek() != '"' {
				return false
			}
			return dateField(s, vc, dst) && *dst != ""
		default:
			if s.Peek() == 'n' {
				return s.Null()
			}
			haveCharges = true
			out = receivableArray()
			return array(s, func() bool {
				out = append(out, billing.ReceivableCharge{})
				c := &out[len(out)-1]
				if !fields(s, receivableFields, func(f int) bool { return receivableField(s, vc, c, f) }) {
					return false
				}
				return c.Validate() == nil
			})
		}
	})
	if !ok || period.From == "" || period.To == "" || s.End() != nil {
		return billing.Period{}, nil, false
	}
	if !haveCharges {
		out = nil
	}
	return period, out, true
}

func receivableField(s *jsonscan.Scanner, vc *valueCache, c *billing.ReceivableCharge, f int) bool {
	switch f {
	case 0:
		return stringField(s, vc, &c.ProductName)
	case 1:
		return stringField(s, vc, &c.SKU)
	case 2:
		return stringField(s, nil, &c.ChargeID)
	case 3:
		return stringField(s, vc, &c.ChargeName)
	case 4:
		return stringField(s, vc, &c.ChargeType)
	case 5:
		return stringField(s, vc, &c.BillingCycleType)
	case 6:
		return dateField(s, vc, &c.PeriodFrom)
	case 7:
		return dateField(s, vc, &c.PeriodTo)
	case 8:
		return moneyField(s, vc, &c.Quantity)
	case 9:
		return moneyField(s, vc, &c.CostPrice)
	case 10:
		return moneyField(s, vc, &c.CostPriceProrated)
	case 11:
		return stringField(s, vc, &c.Currency)
	case 12:
		return boolPtrField(s, vc, &c.IsProratable)
	}
	return false
}

var subscriptionEnvFields = newFieldSet(nil, "items")

var subscriptionFields = newFieldSet(nil, "id", "productName", "description", "sku", "quantity",
	"billingCycle", "purchaseDate", "fees", "commitmentTerm")

var feesFields = newFieldSet(nil, "recurringFee", "setupFee", "currency")

// fastSubscriptions is the fast path of decodeSubscriptions.
func fastSubscriptions(body []byte) (out []billing.Subscription, ok bool) {
	if len(body) == 0 {
		return nil, false
	}
	s := jsonscan.New(unsafe.String(&body[0], len(body)))
	vc := getValueCache()
	defer putValueCache(vc)
	items := func() bool {
		if s.Peek() == 'n' {
			return s.Null()
		}
		out = subscriptionArray()
		return array(s, func() bool {
			out = append(out, billing.Subscription{})
			sub := &out[len(out)-1]
			return fields(s, subscriptionFields, func(f int) bool { return subscriptionField(s, vc, sub, f) })
		})
	}
	switch s.Peek() {
	case '[':
		ok = items()
	case '{':
		ok = fields(s, subscriptionEnvFields, func(int) bool { return items() })
	}
	if !ok || s.End() != nil {
		return nil, false
	}
	if out == nil {
		out = []billing.Subscription{} // as decodeSubscriptionsJSON: empty, not nil
	}
	return out, true
}

func subscriptionField(s *jsonscan.Scanner, vc *valueCache, sub *billing.Subscription, f int) bool {
	switch f {
	case 0:
		return stringField(s, nil, &sub.ID)
	case 1:
		return stringField(s, vc, &sub.ProductName)
	case 2:
		return stringField(s, vc, &sub.Description)
	case 3:
		return stringField(s, vc, &sub.SKU)
	case 4:
		return moneyField(s, vc, &sub.Quantity)
	case 5:
		return stringField(s, vc, &sub.BillingCycle)
	case 6:
		return timestampField(s, &sub.PurchaseDate)
	case 7:
		switch s.Peek() {
		case 'n':
			sub.Fees = nil
			return s.Null()
		case '{':
			fees := &billing.SubscriptionFees{}
			sub.Fees = fees
			return fields(s, feesFields, func(f int) bool {
				switch f {
				case 0:
					return moneyField(s, vc, &fees.RecurringFee)
				case 1:
					return moneyField(s, vc, &fees.SetupFee)
				default:
					return stringField(s, vc, &fees.Currency)
				}
			})
		}
		return false
	case 8:
		return rawJSONField(s, &sub.CommitmentTerm)
	}
	return false
}

// array calls fn for each element of the array at s; fn reads the element.
func array(s *jsonscan.Scanner, fn func() bool) bool {
	s.Array(func() {
		if !fn() {
			s.Fail(notPlain)
		}
	})
	return s.Err() == nil
}

// timestampField decodes a timestamp member as billing.Timestamp's decoder
// does, the plain forms by plainTimestamp.
func timestampField(s *jsonscan.Scanner, dst *billing.Timestamp) bool {
	if s.Peek() == '"' {
		raw, plain := s.RawString()
		if plain {
			if v, ok := plainTimestamp(raw[1 : len(raw)-1]); ok {
				*dst = billing.Timestamp(v)
				return true
			}
		}
		return raw != "" && dst.UnmarshalJSON([]byte(raw)) == nil
	}
	return unmarshalRaw(s, dst)
}

// rawJSONField decodes a member kept verbatim as billing.RawJSON's decoder
// does: null is nil, a value without whitespace is its own compact form.
func rawJSONField(s *jsonscan.Scanner, dst *billing.RawJSON) bool {
	raw := s.Raw()
	switch {
	case raw == "":
		return false
	case raw == "null":
		*dst = nil
		return true
	case compactJSON(raw):
		*dst = billing.RawJSON(raw)
		return true
	}
	return dst.UnmarshalJSON([]byte(raw)) == nil
}

// unmarshalRaw decodes the next value with v's own UnmarshalJSON.
func unmarshalRaw(s *jsonscan.Scanner, v interface{ UnmarshalJSON([]byte) error }) bool {
	raw := s.Raw()
	return raw != "" && v.UnmarshalJSON([]byte(raw)) == nil
}
