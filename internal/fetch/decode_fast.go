package fetch

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// This file is the fast path of decodeReceivables and decodeSubscriptions:
// one validity pass (json.Valid) and one hand-written pass over the body,
// decoding straight into the result slice, instead of encoding/json's
// envelope → RawMessage → record passes. It gives up (ok=false) on anything
// that is not the plain happy path: a key that only matches a field
// case-insensitively, a duplicate field, a value of the wrong type, a record
// that does not validate. The caller then runs the encoding/json path, which
// produces the result or the precise error; so the fast path never changes
// what is decoded, only how fast.

// jscan walks a body known to be valid JSON (json.Valid).
type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *jscan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value skips one value and returns its raw bytes.
func (s *jscan) value() []byte {
	s.ws()
	start := s.i
	switch s.b[s.i] {
	case '"':
		s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return s.b[start:s.i]
				}
			}
			s.i++
		}
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return s.b[start:s.i]
			}
			s.i++
		}
	}
	return s.b[start:s.i]
}

// skipString moves past the string starting at s.i.
func (s *jscan) skipString() {
	if q := closingQuote(s.b, s.i+1); q >= 0 {
		s.i = q + 1
	} else {
		s.i = len(s.b)
	}
}

// str decodes a raw JSON string value as encoding/json would.
func str(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	plain := true
	for _, c := range in {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(in), true
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	return v, true
}

// object calls fn for each member of the object at s.i whose key is one of
// names (see fields for when it gives up).
func (s *jscan) object(names []string, fn func(field int) bool) bool {
	return s.fields(names, nil, fn)
}

// array calls fn for each element of the array at s.i; fn reads the element.
func (s *jscan) array(fn func() bool) bool {
	if s.peek() != '[' {
		return false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if !fn() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// stringField stores a string member (null leaves dst as is, like
// encoding/json).
func (s *jscan) stringField(dst *string) bool {
	raw := s.value()
	if raw[0] == 'n' {
		return true
	}
	v, ok := str(raw)
	*dst = v
	return ok
}

func (s *jscan) dateField(dst *billing.Date) bool {
	raw := s.value()
	if raw[0] == '"' && len(raw) >= 2 {
		if v, ok := str(raw); ok && v != "" {
			d, err := billing.ParseDate(v)
			*dst = d
			return err == nil
		}
	}
	return dst.UnmarshalJSON(raw) == nil
}

func (s *jscan) boolPtrField(dst **bool) bool {
	switch raw := s.value(); string(raw) {
	case "null":
		*dst = nil
	case "true", "false":
		v := raw[0] == 't'
		*dst = &v
	default:
		return false
	}
	return true
}

var receivableEnvNames = []string{"periodFrom", "periodTo", "charges"}

var receivableNames = []string{"productName", "sku", "chargeId", "chargeName", "chargeType", "billingCycleType",
	"periodFrom", "periodTo", "quantity", "costPrice", "costPriceProrated", "currency", "isProratable"}

// fastReceivables is the fast path of decodeReceivables.
func fastReceivables(body []byte) (period billing.Period, out []billing.ReceivableCharge, ok bool) {
	if !json.Valid(body) {
		return period, nil, false
	}
	s := &jscan{b: body}
	haveCharges := false
	ok = s.object(receivableEnvNames, func(f int) bool {
		switch f {
		case 0, 1:
			dst := &period.From
			if f == 1 {
				dst = &period.To
			}
			if s.peek() != '"' {
				return false
			}
			return s.dateField(dst) && *dst != ""
		default:
			if s.peek() == 'n' {
				s.value()
				return true
			}
			haveCharges = true
			out = make([]billing.ReceivableCharge, 0, 128)
			return s.array(func() bool {
				out = append(out, billing.ReceivableCharge{})
				c := &out[len(out)-1]
				if !s.object(receivableNames, func(f int) bool { return s.receivableField(c, f) }) {
					return false
				}
				return c.Validate() == nil
			})
		}
	})
	if !ok || period.From == "" || period.To == "" || s.peek() != 0 {
		return billing.Period{}, nil, false
	}
	if !haveCharges {
		out = nil
	}
	return period, out, true
}

func (s *jscan) receivableField(c *billing.ReceivableCharge, f int) bool {
	switch f {
	case 0:
		return s.stringField(&c.ProductName)
	case 1:
		return s.stringField(&c.SKU)
	case 2:
		return s.stringField(&c.ChargeID)
	case 3:
		return s.stringField(&c.ChargeName)
	case 4:
		return s.stringField(&c.ChargeType)
	case 5:
		return s.stringField(&c.BillingCycleType)
	case 6:
		return s.dateField(&c.PeriodFrom)
	case 7:
		return s.dateField(&c.PeriodTo)
	case 8:
		return c.Quantity.UnmarshalJSON(s.value()) == nil
	case 9:
		return c.CostPrice.UnmarshalJSON(s.value()) == nil
	case 10:
		return c.CostPriceProrated.UnmarshalJSON(s.value()) == nil
	case 11:
		return s.stringField(&c.Currency)
	case 12:
		return s.boolPtrField(&c.IsProratable)
	}
	return false
}

var subscriptionEnvNames = []string{"items"}

var subscriptionNames = []string{"id", "productName", "description", "sku", "quantity", "billingCycle",
	"purchaseDate", "fees", "commitmentTerm"}

var feesNames = []string{"recurringFee", "setupFee", "currency"}

// fastSubscriptions is the fast path of decodeSubscriptions.
func fastSubscriptions(body []byte) (out []billing.Subscription, ok bool) {
	if !json.Valid(body) {
		return nil, false
	}
	s := &jscan{b: body}
	items := func() bool {
		if s.peek() == 'n' {
			s.value()
			return true
		}
		out = make([]billing.Subscription, 0, 64)
		return s.array(func() bool {
			out = append(out, billing.Subscription{})
			sub := &out[len(out)-1]
			return s.object(subscriptionNames, func(f int) bool { return s.subscriptionField(sub, f) })
		})
	}
	switch s.peek() {
	case '[':
		ok = items()
	case '{':
		ok = s.object(subscriptionEnvNames, func(int) bool { return items() })
	}
	if !ok || s.peek() != 0 {
		return nil, false
	}
	if out == nil {
		out = []billing.Subscription{} // as decodeSubscriptionsJSON: empty, not nil
	}
	return out, true
}

func (s *jscan) subscriptionField(sub *billing.Subscription, f int) bool {
	switch f {
	case 0:
		return s.stringField(&sub.ID)
	case 1:
		return s.stringField(&sub.ProductName)
	case 2:
		return s.stringField(&sub.Description)
	case 3:
		return s.stringField(&sub.SKU)
	case 4:
		return sub.Quantity.UnmarshalJSON(s.value()) == nil
	case 5:
		return s.stringField(&sub.BillingCycle)
	case 6:
		return sub.PurchaseDate.UnmarshalJSON(s.value()) == nil
	case 7:
		switch s.peek() {
		case 'n':
			s.value()
			sub.Fees = nil
			return true
		case '{':
			fees := &billing.SubscriptionFees{}
			sub.Fees = fees
			return s.object(feesNames, func(f int) bool {
				switch f {
				case 0:
					return fees.RecurringFee.UnmarshalJSON(s.value()) == nil
				case 1:
					return fees.SetupFee.UnmarshalJSON(s.value()) == nil
				default:
					return s.stringField(&fees.Currency)
				}
			})
		}
		return false
	case 8:
		return sub.CommitmentTerm.UnmarshalJSON(s.value()) == nil
	}
	return false
}
