package ledger

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// The fees and commitment_term columns of subscriptions are written, since
// migration 0011 (queries/migrations/0011_subscription_positional.sql), as
// positional JSON arrays led by the format number 1, like the charges'
// detail since 0008 (detailarray.go), instead of objects that repeat their
// key names on every row (on average ≈ 125 of a subscription record's ≈ 430
// bytes at W100k):
//
//	fees:            [1, recurringFee, setupFee, currency]
//	commitment_term: [1, type, termEndDate, renewalConfiguration, committedMinimalQuantities]
//	                 renewalConfiguration:       null | [renewalDate, scheduledQuantity]
//	                 committedMinimalQuantities: null | [[committedUntil, quantity], ...]
//
// fees' amounts are JSON strings holding the exact text (or null), its
// currency a JSON string. commitment_term is the API's raw JSON, kept byte for
// byte: each value of the array is the value's text as the API sent it, and
// the array is written only when the object it renders back to
// (commitmentTokens.appendObject) is the very text the API sent (the
// documented keys, in the documented order, without spaces). Any other text
// — other keys, another order, spaces, a value that is not an object — is
// stored as it came, and a raw text that is itself an array is stored
// wrapped as [0, raw] so that the first element tells the forms apart. Rows
// written before 0011 hold the objects and are read as they are (their first
// byte is not '['; migration 0011 wrapped the old array-valued terms).
// content_hash and Digest do not depend on the stored form.

// appendFeesArray appends the positional fees column of f.
func appendFeesArray(b []byte, f *billing.SubscriptionFees) []byte {
	b = append(b, '[', '1', ',')
	b = appendJSONDecimal(b, f.RecurringFee)
	b = append(b, ',')
	b = appendJSONDecimal(b, f.SetupFee)
	b = append(b, ',')
	b = billing.AppendJSONString(b, f.Currency)
	return append(b, ']')
}

// subscriptionFees decodes a stored fees column: the positional array, or
// the object of the rows written before 0011.
func subscriptionFees(s string) (jsonSubscriptionFees, error) {
	if isDetailArray(s) {
		return feesArray(s)
	}
	var f jsonSubscriptionFees
	err := json.Unmarshal([]byte(s), &f)
	return f, err
}

// feesArray decodes a positional fees column.
func feesArray(s string) (jsonSubscriptionFees, error) {
	var f jsonSubscriptionFees
	r := jsonscan.New(s)
	openArray(r, "fees")
	next(r)
	f.RecurringFee = optStr(r)
	next(r)
	f.SetupFee = optStr(r)
	next(r)
	f.Currency = r.Str()
	r.Expect(']')
	if err := r.End(); err != nil {
		return f, err
	}
	return f, nil
}

// optStr reads a string or null (nil).
func optStr(r *jsonscan.Scanner) *string {
	if r.Null() {
		return nil
	}
	s := r.Str()
	return &s
}

// commitmentTokens is a commitment term's values as the API wrote them.
type commitmentTokens struct {
	typ, end     string
	renewal      bool // renewalConfiguration is an object (false: null)
	date, sched  string
	minimums     bool // committedMinimalQuantities is an array (false: null)
	until, quant []string
}

// appendCommitmentColumn appends the stored commitment_term of raw (not
// empty): the positional array when it renders back to raw exactly, raw
// wrapped as [0,raw] when raw is an array, else raw itself. scratch is a
// buffer for the check, returned for reuse.
func appendCommitmentColumn(b, scratch []byte, raw []byte, t *commitmentTokens) (_, _ []byte) {
	if raw[0] == '[' {
		b = append(b, "[0,"...)
		b = append(b, raw...)
		return append(b, ']'), scratch
	}
	if t.parse(view(raw)) {
		scratch = t.appendObject(scratch[:0])
		if string(scratch) == view(raw) {
			return t.appendArray(b), scratch
		}
	}
	return append(b, raw...), scratch
}

// parse reads raw as a commitment term object with the documented members in
// the documented order: type, termEndDate, renewalConfiguration (null or an
// object of renewalDate and scheduledQuantity), committedMinimalQuantities
// (null or an array of objects of committedUntil and quantity). false for
// anything else. Spaces are allowed here; the caller's comparison of the
// rendering with raw rejects them.
func (t *commitmentTokens) parse(raw string) bool {
	*t = commitmentTokens{until: t.until[:0], quant: t.quant[:0]}
	r := jsonscan.New(raw)
	if r.Peek() != '{' || !r.ObjectStart() || !r.KeyIs(`"type"`) {
		return false
	}
	t.typ = r.Raw()
	if !r.ObjectNext() || !r.KeyIs(`"termEndDate"`) {
		return false
	}
	t.end = r.Raw()
	if !r.ObjectNext() || !r.KeyIs(`"renewalConfiguration"`) {
		return false
	}
	if !r.Null() {
		if r.Peek() != '{' || !r.ObjectStart() || !r.KeyIs(`"renewalDate"`) {
			return false
		}
		t.date = r.Raw()
		if !r.ObjectNext() || !r.KeyIs(`"scheduledQuantity"`) {
			return false
		}
		t.sched = r.Raw()
		if r.ObjectNext() {
			return false // another member
		}
		t.renewal = true
	}
	if !r.ObjectNext() || !r.KeyIs(`"committedMinimalQuantities"`) {
		return false
	}
	if !r.Null() {
		if r.Peek() != '[' {
			return false
		}
		r.Expect('[')
		t.minimums = true
		for more := r.Peek() != ']'; more; {
			if r.Peek() != '{' || !r.ObjectStart() || !r.KeyIs(`"committedUntil"`) {
				return false
			}
			t.until = append(t.until, r.Raw())
			if !r.ObjectNext() || !r.KeyIs(`"quantity"`) {
				return false
			}
			t.quant = append(t.quant, r.Raw())
			if r.ObjectNext() {
				return false // another member
			}
			if more = r.Peek() == ','; more {
				r.Expect(',')
			}
		}
		r.Expect(']')
	}
	return !r.ObjectNext() && r.End() == nil
}

// appendObject appends the object t renders to: the keys in the documented
// order, without spaces.
func (t *commitmentTokens) appendObject(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = append(b, t.typ...)
	b = append(b, `,"termEndDate":`...)
	b = append(b, t.end...)
	b = append(b, `,"renewalConfiguration":`...)
	if t.renewal {
		b = append(b, `{"renewalDate":`...)
		b = append(b, t.date...)
		b = append(b, `,"scheduledQuantity":`...)
		b = append(b, t.sched...)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"committedMinimalQuantities":`...)
	if t.minimums {
		b = append(b, '[')
		for i := range t.until {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"committedUntil":`...)
			b = append(b, t.until[i]...)
			b = append(b, `,"quantity":`...)
			b = append(b, t.quant[i]...)
			b = append(b, '}')
		}
		b = append(b, ']')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// appendArray appends the positional form of t.
func (t *commitmentTokens) appendArray(b []byte) []byte {
	b = append(b, '[', '1', ',')
	b = append(b, t.typ...)
	b = append(b, ',')
	b = append(b, t.end...)
	b = append(b, ',')
	if t.renewal {
		b = append(b, '[')
		b = append(b, t.date...)
		b = append(b, ',')
		b = append(b, t.sched...)
		b = append(b, ']')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	if t.minimums {
		b = append(b, '[')
		for i := range t.until {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = append(b, t.until[i]...)
			b = append(b, ',')
			b = append(b, t.quant[i]...)
			b = append(b, ']')
		}
		b = append(b, ']')
	} else {
		b = append(b, "null"...)
	}
	return append(b, ']')
}

// commitmentColumn returns the API's raw commitment term of a stored
// commitment_term column (appendCommitmentColumn's inverse).
func commitmentColumn(s string) (billing.RawJSON, error) {
	if len(s) == 0 || s[0] != '[' {
		return billing.RawJSON(s), nil
	}
	r := jsonscan.New(s)
	r.Expect('[')
	switch f := r.Number(); {
	case r.Err() != nil:
	case f == "0":
		next(r)
		r.Raw()
		r.Expect(']')
		if err := r.End(); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(s, "[0,") || s[len(s)-1] != ']' {
			return nil, errors.New("a wrapped text must be stored as [0,text]")
		}
		// The text between, spaces included.
		return billing.RawJSON(s[len("[0,") : len(s)-1]), nil
	case f != detailFormat:
		r.Fail("commitment term format %s is unknown to this version of reconcile", f)
	default:
		var t commitmentTokens
		next(r)
		t.typ = r.Raw()
		next(r)
		t.end = r.Raw()
		next(r)
		if t.renewal = !r.Null(); t.renewal {
			r.Expect('[')
			t.date = r.Raw()
			next(r)
			t.sched = r.Raw()
			r.Expect(']')
		}
		next(r)
		if t.minimums = openList(r); t.minimums {
			for i := 0; item(r, i); i++ {
				r.Expect('[')
				t.until = append(t.until, r.Raw())
				next(r)
				t.quant = append(t.quant, r.Raw())
				r.Expect(']')
			}
		}
		r.Expect(']')
		if err := r.End(); err != nil {
			return nil, err
		}
		return billing.RawJSON(t.appendObject(make([]byte, 0, len(s)+160))), nil
	}
	return nil, r.Err()
}
