package fetch

import (
	"reflect"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// TestRecycledArraysDecodeTheSame: the simulator's customers decoded one
// after the other, each handing its arrays back once compared (as the
// fan-out does once a customer is committed), twice over so that later
// customers fill the arrays of earlier, longer or shorter, ones: every
// decode is exactly what encoding/json decodes, and a handed-back array is
// cleared, keeping nothing of its lines alive.
func TestRecycledArraysDecodeTheSame(t *testing.T) {
	sb := loadSimBodies(t)
	c := &Client{}
	for pass := range 2 {
		for i, body := range sb.receivables {
			p, out, ok := fastReceivables(body)
			wp, wout, werr := decodeReceivablesJSON(body, sb.customers[i])
			if !ok || werr != nil || p != wp || !reflect.DeepEqual(out, wout) {
				t.Fatalf("pass %d: receivables of %s: fast ok=%v, slow err %v, or they differ", pass, sb.customers[i], ok, werr)
			}
			subs, ok := fastSubscriptions(sb.subs[i])
			wsubs, werr := decodeSubscriptionsJSON(sb.subs[i], sb.customers[i])
			if !ok || werr != nil || !reflect.DeepEqual(subs, wsubs) {
				t.Fatalf("pass %d: subscriptions of %s: fast ok=%v, slow err %v, or they differ", pass, sb.customers[i], ok, werr)
			}
			fullR, fullS := out[:cap(out)], subs[:cap(subs)]
			c.Recycle(out, subs)
			for j := range fullR {
				if !reflect.ValueOf(fullR[j]).IsZero() {
					t.Fatalf("pass %d: customer %s: receivable array element %d not cleared when handed back", pass, sb.customers[i], j)
				}
			}
			for j := range fullS {
				if !reflect.ValueOf(fullS[j]).IsZero() {
					t.Fatalf("pass %d: customer %s: subscription array element %d not cleared when handed back", pass, sb.customers[i], j)
				}
			}
		}
	}
	c.Recycle(nil, []billing.Subscription{}) // nothing to hand back: ignored
}
