// Package sherwebsim is a built-in simulator of the Sherweb partner APIs
// (sherweb-api.md §1 auth, §2 endpoints, §4 errors, §6 payloads), served by an
// http.Handler, for the demo, the integration tests and the benchmarks.
//
// Endpoints (relative to the server root, which is the client's base URL):
//
//	POST /auth/oidc/connect/token                                  client credentials → bearer token
//	GET  /distributor/v1/billing/payable-charges?date=             scope distributor, streamed
//	GET  /service-provider/v1/customers                            scope service-provider
//	GET  /service-provider/v1/billing/receivable-charges?customerId=&date=
//	GET  /service-provider/v1/billing/subscriptions?customerId=
//	POST /service-provider/v1/billing/subscriptions/amendments?customerId=
//	GET  /service-provider/v1/billing/subscriptions/amendments/{id}/status
//
// Every API call needs the Ocp-Apim-Subscription-Key header (or the
// subscription-key query parameter) and a bearer token with the right scope.
// Errors are ProblemDetails (application/problem+json) or the APIM gateway
// shape {statusCode,message}, as the real gateway sends them.
//
// # Data
//
// The data is a pure function of (seed, month, customer index): the
// customers are fixed for a seed, and the lines of a customer for a month
// come from a generator seeded with (seed, month, customer index). Each
// customer's lines are grouped by line key (sku, chargeType, periodFrom,
// periodTo, currency); keys are unique per customer, and every key carries
// one scenario: normal (receivable lines mirror the payable ones at a markup
// of 1.10–1.25, costPriceProrated rounded to 4 decimals), or a planted
// unbilled, unexpected_receivable, quantity_mismatch, negative_margin, both,
// or aggregation (two payable lines on one key) scenario. Customer i gets the
// planted scenarios i%6 and (i+3)%6 of that list. Partner-level lines
// (untagged, tags [], an unknown customer name or id, a credit with every
// nullable field null) sit in the middle of the payable array.
//
// Special customers (when there are enough customers): index 2 is suspended,
// index 3 is named "=1+1", index 5 "@SUM(A1)", the last one has no charges,
// and the two before it share a display name (their name-tagged lines are
// ambiguous; their planted keys are tagged with CustomerId).
//
// Truth recomputes, from the scenario record of every key, what a correct
// reconciliation of a period must report, with the current faults applied.
//
// Amounts are computed in exact fixed point and written as JSON number
// literals with the scale kept (the text billing.Text gives). The payable
// body is generated and written line by line, so its size is not bounded by
// memory. A payable line is about 700 bytes of JSON (every field of §2.1,
// decorations included), so 100,000 lines are about 71 MB and 1,000,000 about
// 710 MB; BenchmarkServePayable measures the speed (about 780 MB/s for the
// handler alone and 500 MB/s over loopback HTTP on the project machine).
package sherwebsim
