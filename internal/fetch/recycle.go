package fetch

import (
	"sync"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// The arrays of a customer's decoded receivable lines and subscriptions
// (≈ 100 lines and 80 subscriptions, ≈ 50 KB, per customer at W1M) are
// handed back by the caller once it is done with them (Client.Recycle) and
// filled again by a later customer's decode, instead of being allocated
// for each customer. A close allocates them while the customers are fetched,
// when the engine's state leaves the collector the least room: there,
// every byte not allocated is a collection less often (BENCHMARKS.md,
// "Round fifteen results"). The pools hold arrays only between uses, and a
// collection empties them, as sync.Pool does.
var (
	receivableArrays   sync.Pool // *[]billing.ReceivableCharge, length 0
	subscriptionArrays sync.Pool // *[]billing.Subscription, length 0
)

// Initial capacities of a new array (the lists grow as they need).
const (
	receivableArrayCap   = 128
	subscriptionArrayCap = 64
)

// receivableArray returns an empty array for a customer's receivable lines.
func receivableArray() []billing.ReceivableCharge {
	if p, ok := receivableArrays.Get().(*[]billing.ReceivableCharge); ok {
		return *p
	}
	return make([]billing.ReceivableCharge, 0, receivableArrayCap)
}

// subscriptionArray returns an empty array for a customer's subscriptions.
func subscriptionArray() []billing.Subscription {
	if p, ok := subscriptionArrays.Get().(*[]billing.Subscription); ok {
		return *p
	}
	return make([]billing.Subscription, 0, subscriptionArrayCap)
}

// Recycle hands back the arrays of receivable lines and subscriptions that
// ReceivableCharges and Subscriptions returned, for later calls to fill
// again. The caller must hold no reference to either array nor to any of
// their elements afterwards (the values they hold, strings, decimals and
// the lists of a subscription, are not reused and may be kept). Each array
// may be handed back once; nil and empty ones are ignored. They are
// cleared first, so that they keep nothing alive while they wait.
func (c *Client) Recycle(recv []billing.ReceivableCharge, subs []billing.Subscription) {
	if cap(recv) > 0 {
		recv = recv[:cap(recv)]
		clear(recv)
		recv = recv[:0]
		receivableArrays.Put(&recv)
	}
	if cap(subs) > 0 {
		subs = subs[:cap(subs)]
		clear(subs)
		subs = subs[:0]
		subscriptionArrays.Put(&subs)
	}
}
