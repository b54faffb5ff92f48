package billing

import (
	"reflect"
	"testing"
)

// ParseCommitment's fast path (decodeCommitment) gives what encoding/json
// gives, result and error alike, and is taken for the shapes the API sends.
func TestParseCommitmentFastEqualsJSON(t *testing.T) {
	plain := []string{
		`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"renewalDate":"2026-11-01","scheduledQuantity":null},"committedMinimalQuantities":[{"committedUntil":"2026-10-08","quantity":12}]}`,
		`{"type":"Annual","termEndDate":"2027-03-31","renewalConfiguration":null,"committedMinimalQuantities":null}`,
		` { "type" : "Annual" , "termEndDate" : "2027-03-31T00:00:00Z" ,
		   "renewalConfiguration" : { "scheduledQuantity" : -3 , "renewalDate" : "2027-04-01" } } `,
		`{"committedMinimalQuantities":[{"committedUntil":"2026-10-08T10:00:00","quantity":0},{"quantity":-0,"committedUntil":"2026-11-08"}]}`,
		`{}`,
		`{"type":null,"termEndDate":null}`,
		`{"renewalConfiguration":{}}`,
		`{"committedMinimalQuantities":[]}`,
		`{"termEndDate":""}`,
		`{"termEndDate":" 2026-10-31 "}`,
		`{"termEndDate":"2026-02-30"}`, // an error, from dateOf
		`{"termEndDate":"31/10/2026"}`, // an error, from dateOf
		`{"committedMinimalQuantities":[{"committedUntil":"2026-10-08"}]}`, // quantity missing
		`{"committedMinimalQuantities":[{"committedUntil":"2026-10-08","quantity":null}]}`,
		`{"renewalConfiguration":{"renewalDate":"2026-11-01","scheduledQuantity":999999999999999999}}`,
	}
	other := []string{ // encoding/json decides
		`{"Type":"Monthly"}`, // keys match case-insensitively
		`{"type":"Monthly","type":"Annual"}`,
		`{"type":"Mon\u0074hly"}`,
		`{"type":"Mönthly"}`,
		"{\"type\":\"bad \xff utf-8\"}",
		`{"type":"Monthly","extra":{"a":[1,2]}}`,
		`{"type":"Monthly"} x`,
		`{"type":"Monthly",}`,
		`{"type":1}`,
		`{"renewalConfiguration":"soon"}`,
		`{"renewalConfiguration":{"scheduledQuantity":1.5}}`,
		`{"renewalConfiguration":{"scheduledQuantity":1e2}}`,
		`{"renewalConfiguration":{"scheduledQuantity":01}}`,
		`{"renewalConfiguration":{"scheduledQuantity":9223372036854775808}}`,
		`{"renewalConfiguration":{"scheduledQuantity":-}}`,
		`{"committedMinimalQuantities":[null]}`,
		`{"committedMinimalQuantities":{}}`,
		`{"renewalConfiguration":{"renewalDate":"2026-11-01"},"renewalConfiguration":{"scheduledQuantity":2}}`,
		`[]`,
		`"Monthly"`,
		` null `,
		`{"type":"Monthly"`,
		`{"termEndDate":"2026-10-31\t"}`,
	}
	for _, fast := range []bool{true, false} {
		cases := plain
		if !fast {
			cases = other
		}
		for _, raw := range cases {
			var w commitmentWire
			if got := decodeCommitment([]byte(raw), &w); got != fast {
				t.Errorf("decodeCommitment(%s) = %v, want %v", raw, got, fast)
			}
			c1, err1 := parseCommitment(RawJSON(raw), true)
			c2, err2 := parseCommitment(RawJSON(raw), false)
			if !reflect.DeepEqual(c1, c2) || errText(err1) != errText(err2) {
				t.Errorf("%s:\n fast %+v, %v\n json %+v, %v", raw, c1, err1, c2, err2)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
