// Package ledger stores fetch runs in a SQLite file: the payable charges, the
// customers, each customer's receivables coverage, receivable charges and
// subscriptions of one billing period, exactly as the Sherweb APIs sent them.
//
// # Runs
//
// Every fetch is a new run (table runs) and a run is immutable: all rows carry
// its run_id, and re-fetching a period makes a new run rather than updating the
// old one. A run is "running" until FinishRun writes its final status
// ("complete", "partial" or "failed": billing.RunStatus, as a customer's
// receivables coverage is billing.Coverage); a process killed mid-fetch leaves it
// "running", and FindRun never returns such a run. The payable charges of a run
// are written in one transaction (PayableBatch) together with the run's period,
// so a run either has all its payable lines and its period, or none.
//
// # Representation
//
//   - Money and quantities are TEXT columns holding the exact canonical decimal
//     text of billing.Text: the value with the scale it arrived with ("1843.275",
//     "0.000123", "-12.00", "45.00"). A NULL column means the API sent null or
//     nothing: it reads back as decimal.NullDecimal{Valid: false}, never as zero.
//     Reading a value back gives a decimal that is Equal to the one stored and has
//     the same billing.Text. No money column has REAL, NUMERIC or DECIMAL
//     affinity (NUMERIC affinity would turn '12.30' into the float 12.3), and
//     money is never summed in SQL (SUM over text goes through floating point):
//     aggregates are computed in Go with decimal arithmetic.
//   - Dates are TEXT "yyyy-MM-dd" ("" when the API sent null); instants are TEXT
//     RFC 3339 UTC with nine fractional digits, so they sort as text.
//   - Booleans are INTEGER 0/1, NULL when the API sent null.
//   - Nested lists (deductions, fees, taxes, tags, invoice, subscription fees, a
//     customer's path) are JSON TEXT. Decimals inside are JSON strings in
//     billing.Text form, so they are as exact as the columns. NULL means the API
//     sent null; "[]" means an empty list (the distinction survives a round trip).
//   - Subscription commitment terms are the raw JSON the API sent, kept byte
//     for byte. Since migration 0011 a subscription's fees and a commitment
//     term of the documented shape are stored as positional JSON arrays led
//     by a format number ([1, recurringFee, setupFee, currency]; [1, type,
//     termEndDate, renewal, minimums], rendered back to the very text the API
//     sent; subscriptionarray.go); older rows hold the objects, told apart by
//     the first character.
//   - A payable line keeps as columns only what is ordered on (customer key,
//     sku, charge type, period, currency, charge id, subTotal, quantity); every
//     other field and list is the detail column, written and read by hand, with
//     the same rules for decimals, null and []. Since migration 0008 it is a
//     positional JSON array led by a format number ([1, productId, ...];
//     detailarray.go has the field order); lines written before hold a JSON
//     object with the field names (payablerow.go), never rewritten, and the
//     reader tells the two apart by the first character. A receivable line
//     likewise keeps as columns what is ordered on and its money (quantity,
//     costPrice, costPriceProrated); productName, chargeName, billingCycleType
//     and isProratable are its detail ([1, productName, chargeName,
//     billingCycleType, isProratable], or the object of older lines).
//
// # Order and digest
//
// Reads stream rows (rows.Next; nothing is loaded whole) in an order that does
// not depend on the order the API sent the lines in: the business columns
// (customer, sku, charge type, period, currency, charge id, amount, quantity)
// and finally content_hash, a hash of every business column of the line.
// On SQLite the charge tables are stored in that order (migration 0006:
// WITHOUT ROWID tables keyed by the order columns up to charge id, then
// line_no), so a run's lines are read as stored, and the few lines equal up
// to charge id are ordered by the reader (ties.go); on PostgreSQL the
// statements sort. Since migration 0010 the payable table's key starts with
// customer_ord instead of the customer key: payable_customers numbers a
// run's customer keys in the order the stream first sent them, so a stream
// that sends each customer's lines together is appended, and each_payable
// walks payable_customers in key order and each customer's range of lines
// as stored (a nested loop, still no sort); a foreign key keeps every line's
// number that of its own key (the payable batch numbers the keys itself and
// skips SQLite's row-by-row check of it: references.go). Digest hashes a run's business data in that
// order, so the same data fetched twice, in any order, has the same digest.
// Neither content_hash nor Digest depends on how the detail column is stored:
// both are computed from the decoded fields (the payable detail is hashed as
// the object of the first layouts), so a line has the same hash, and a run
// the same digest, in either detail form and on either backend.
//
// # Concurrency and durability
//
// SQLite has one writer: the Store serialises its write transactions, and a
// PayableBatch holds the write lock from NewPayableBatch until Commit or
// Rollback (do not call other write methods while a batch is open; they wait
// for it); a goroutine of the batch writes the lines on its own connection
// while the caller decodes the next ones. CustomerWriter stores customers'
// data from a goroutine that commits several customers per transaction (each
// customer still all or nothing); the rows are encoded by the goroutines that
// save them, and the committed customers are handed to OnCommit's function
// from another goroutine, so the writer goroutine only binds, steps and
// commits. Readers run concurrently (WAL). The journal is WAL with
// synchronous=NORMAL: every commit survives a crash of the process, and the
// run's final status is committed with synchronous=FULL, which makes everything
// before it durable across power loss too.
//
// The SQL lives in the queries package (named statements and numbered
// migrations).
//
// # Backends
//
// A Store is a SQLite file or a PostgreSQL database (Open takes a path,
// "sqlite:PATH" or a postgres:// URL; driver pgx through database/sql and
// sqlx). Everything backend-specific goes through one seam, the dialect
// (dialect.go): statements in queries/postgres/*.sql replace the shared
// statement of the same name; migrations/postgres/ holds the PostgreSQL
// version of each migration; Go code asks s.d (never the driver) where
// behaviour differs: COPY for the payable batch and for the rows of a
// customer transaction (one COPY per table per group of customers), the
// isolation of writeTx, the read-only session. Adding a table is:
// one migration file per folder (same name), its statements written portably
// with "?" placeholders in queries/*.sql (an override only where the SQL must
// differ), its name in copyTables (ledger copy) and, if it refers to runs, in
// RunReferences. Its writes go through writeTx: serialisable on both backends
// (PostgreSQL SERIALIZABLE, retried after a random, growing wait on a
// serialization failure), so two machines writing at once lose nothing. The
// function given to writeTx may run more than once: it must start from
// scratch each time (no results appended across attempts).
//
// On PostgreSQL money is NUMERIC (scale kept, read back as text), text
// columns are COLLATE "C" and money is ordered as its text, NULL first: the
// canonical order, and so Digest, are SQLite's, byte for byte. The references
// of the bulk-loaded tables (payable_charges -> runs, receivable_charges and
// subscriptions -> customer_coverage) are checked by statement-level triggers
// (migration 0007: once per COPY, not once per row; SQLSTATE 23503 as a
// foreign key; since 0012 each customer of a statement is looked up by the
// coverage table's primary key), the other references by foreign keys. On
// SQLite the two bulk writers (the payable batch, the customer writer) make
// those references themselves and insert with SQLite's row-by-row foreign
// key check switched off on their own connections (references.go); the
// coverage row still checks that its customer is in the run's list, and
// every other write and delete is checked row by row.
//
// Runs hold a heartbeat lease (lease.go); BeginRun marks abandoned the
// running runs whose lease expired or whose process (on this host) is gone.
// LockPeriod serialises two closes of one period (a row in period_locks with
// the same kind of lease), on both backends.
package ledger
