// Package report turns the charge lines of one billing period into a
// reconciliation (Result): pure computation, no file I/O.
//
// It owns the reconciliation rules (reconciliation rules version 1, see
// docs/reconciliation-rules.md): attribution of payable charges to customers
// (Attributor), receivables coverage, line matching and findings, totals per
// currency, customer and SKU; and the JSON summary (Result.WriteJSON). It
// does no I/O of its own besides writing to the io.Writer it is given: the
// caller feeds lines to a Reconciler (NewReconciler, AddPayable,
// AddReceivable, Result) or calls Reconcile with slices. A Result is a plain
// value (no functions, no handles): two of them can be held and compared.
// The attribution of each payable line, which the detail of the workbook
// shows, is the Reconciler's Attributor, handed to the writer beside the
// Result. The words shared with the ledger (billing.Coverage) are typed in
// package billing. The workbook and the CSV detail are in package
// report/xlsx; writing files atomically is package atomicfile.
//
// # Money and rounding policy
//
//   - Every amount and quantity is a decimal.Decimal; nothing is a float. Sums
//     are exact and keep the largest scale of their terms (45.00 + 3 = 48.00).
//   - Payable amount of a line = its subTotal, exactly as sent.
//     Receivable amount of a line = quantity × costPriceProrated, the exact
//     product (its scale is the sum of both scales: 4 × 10.00 = 40.00,
//     2 × 7.125 = 14.250). Margin = receivable − payable. None of these is ever
//     rounded.
//   - Margin % (MarginPercent) = margin ÷ receivable × 100, computed exactly and
//     then rounded once to 2 decimals, half away from zero (12.345 → 12.35,
//     −12.345 → −12.35). It is empty when the receivable is zero. It is the
//     only rounded value and is for display only; it is never summed.
//   - Amounts in different currencies are never added. A currency code is
//     grouped on its trimmed, upper-cased form (NormalizeCurrency: " usd" and
//     "USD" are one currency, shown as "USD").
//   - Decimals are compared with Cmp/Equal, never ==, and are never map keys.
//     Text output uses billing.Text (exact, keeps the scale: "45.00", not "45").
//
// # Rules in plain words
//
// Which customer a payable line belongs to. A payable line has no customer
// field; its tags say who it is for. In this order:
//
//  1. A tag named CustomerId (any letter case) whose value is the id of a
//     known customer (any letter case; the value is not trimmed) → that
//     customer. If several CustomerId tags name different customers, rule 1
//     does not decide.
//  2. Otherwise a tag named CustomerDisplayName (any letter case) whose value,
//     with surrounding white space removed, is the display name of exactly one
//     known customer → that customer. The display names are compared exactly
//     (letter case matters) after trimming both sides. A line whose CustomerId
//     matches nobody but whose display name matches one customer goes to that
//     customer.
//  3. Otherwise the line is unattributed, with a reason: no_customer_tag (no
//     CustomerId or CustomerDisplayName tag with a non-blank value),
//     unknown_customer (such a tag, but it names no known customer) or
//     ambiguous_name (the name is shared by several customers, or the tags
//     name several different customers).
//
// Whose receivables count. A customer's receivables are available when they
// were fetched and the response's period equals the payable period. Otherwise
// the customer is missing: fetch_failed (the call failed, or no receivables
// were fetched for it at all) or period_differs (the response covered another
// period). For a missing customer:
//   - there is one missing_receivables finding per currency in which it has
//     attributed payable lines, with the sum of those payable amounts, or one
//     finding without currency and with zero amounts when it has none;
//   - its receivable lines are ignored;
//   - its payable lines produce no unbilled, quantity_mismatch or
//     negative_margin finding (missing data is never reported as leakage);
//   - its payable amounts still count in the totals, its customer row and the
//     product rows.
//
// Receivable lines of a customer that is not in the customer list are ignored.
//
// Complete. A run is complete when the payable charges were fetched and no
// customer's receivables fetch failed. A period_differs customer produces its
// finding but does not by itself make the run incomplete (the contract's
// condition is "no receivables fetch failed").
//
// Matching. Lines are grouped by key: customer, SKU, charge type, the line's
// own period from and to dates, and currency (SKU and charge type exactly as
// sent). Each side's quantities and amounts are summed per key, so two lines
// with the same key are one aggregate, and a line covering 16–31 October is a
// different key from one covering the whole month. For each key of an
// available customer:
//   - payable only → unbilled (the partner pays Sherweb but does not bill the
//     customer);
//   - receivable only → unexpected_receivable;
//   - both, and the summed quantities differ (as numbers: 3 equals 3.00) →
//     quantity_mismatch;
//   - both, and receivable − payable is below −tolerance → negative_margin.
//     The tolerance is 0.01 unless configured; a difference of exactly −0.01
//     is not flagged, −0.011 is.
//
// A key can have both quantity_mismatch and negative_margin. Every
// unattributed payable line is its own unattributed finding, with an empty
// customer id and the reason; unattributed lines take no part in matching.
//
// Totals. Per currency: payable = all payable lines, attributed or not;
// receivable = the lines of available customers; margin = receivable −
// payable. Per customer and currency (a row when the pair has any counted
// line): its attributed payable amounts, its available receivable amounts, the
// margin. Per SKU and currency: the same sums over attributed payable lines
// and available receivable lines, plus the summed quantities. So for every
// currency, the customer rows' payable plus the unattributed findings' payable
// is exactly the total payable.
//
// Data-quality findings. Besides the six kinds of the rules, a payable line
// whose subTotal differs from quantity × netPriceProrated by more than 0.01
// gets a subtotal_identity finding. It changes no amount, total or other
// finding.
//
// # Order
//
// Every list is sorted: totals by currency; customer rows by customer id, then
// currency; product rows by SKU, then currency (the product name shown is the
// smallest non-empty name seen for the SKU, so it does not depend on input
// order); findings by kind (missing_receivables, unattributed, unbilled,
// unexpected_receivable, quantity_mismatch, negative_margin, then extra kinds
// by name), customer id, SKU, charge type, period from, period to, currency,
// then amounts. The same lines in any order give the same Result and the same
// JSON bytes.
//
// # Memory
//
// A Reconciler keeps one aggregate per line key, per currency, per customer ×
// currency and per SKU × currency, plus one finding per unattributed (or
// data-quality flagged) payable line; it does not keep the lines themselves.
package report
