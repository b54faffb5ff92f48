-- 0001_init: the ledger of fetch runs.
--
-- Representation (see internal/ledger/doc.go):
--   * money and quantities are TEXT holding the exact canonical decimal text
--     (billing.Text: "1843.275", "45.00", "-12.00"); NULL means the API sent no
--     value. Never REAL, NUMERIC or DECIMAL: NUMERIC affinity would silently turn
--     '12.30' into the float 12.3. Never SUM() them in SQL; totals are computed in Go.
--   * dates are TEXT 'yyyy-MM-dd' ('' when the API sent null); instants are TEXT
--     RFC 3339 UTC with 9 fractional digits (fixed width, so they sort).
--   * booleans are INTEGER 0/1, NULL when the API sent null.
--   * nested lists (deductions, fees, taxes, tags, invoice, subscription fees,
--     customer path) are JSON TEXT; decimals inside are JSON strings in
--     billing.Text form. NULL means the API sent null; '[]' an empty list. A
--     payable or receivable line keeps as columns only what is ordered or
--     filtered on and its money; its other fields and lists are one JSON object
--     (the detail column), where null and [] keep the same meaning.
--   * content_hash is a hash of every business column of the row; it is the last
--     ORDER BY key, so reads have a total order that does not depend on the order
--     the API sent the lines in.
-- A run is immutable: every row is keyed by run_id; fetching again makes a new run.

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    requested_date TEXT    NOT NULL,
    period_from    TEXT,             -- NULL until the payable charges are committed
    period_to      TEXT,
    status         TEXT    NOT NULL CHECK (status IN ('running', 'complete', 'partial', 'failed')),
    started_at     TEXT    NOT NULL,
    finished_at    TEXT,             -- NULL while running
    base_url       TEXT    NOT NULL,
    tool_version   TEXT    NOT NULL,
    calls          INTEGER NOT NULL DEFAULT 0,
    retries        INTEGER NOT NULL DEFAULT 0,
    token_requests INTEGER NOT NULL DEFAULT 0,
    settings       TEXT    NOT NULL, -- JSON object
    error          TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX runs_status_period ON runs (status, period_from, period_to);

CREATE TABLE payable_charges (
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    line_no      INTEGER NOT NULL, -- position in the API stream (audit only; not an order key)
    customer_key TEXT    NOT NULL, -- CustomerId tag value, else CustomerDisplayName tag value, else ''
    sku          TEXT    NOT NULL,
    charge_type  TEXT    NOT NULL,
    period_from  TEXT    NOT NULL,
    period_to    TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    charge_id    TEXT    NOT NULL,
    sub_total    TEXT,
    quantity     TEXT,
    -- Every other field of the line, as one JSON object written by the ledger
    -- (keys in a fixed order; decimals as JSON strings in billing.Text form;
    -- null for an absent value or a null list, [] for an empty list):
    -- productId, productName, chargeName, billingCycleType, listPrice, netPrice,
    -- netPriceProrated, isBilled, isProratable, deductions, fees, taxes, tags, invoice.
    detail       TEXT    NOT NULL,
    content_hash TEXT    NOT NULL
);

-- Supports the ORDER BY of EachPayable (and the run_id lookups).
CREATE INDEX payable_charges_order ON payable_charges (
    run_id, customer_key, sku, charge_type, period_from, period_to, currency,
    charge_id, sub_total, quantity, content_hash
);

CREATE TABLE customers (
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    id           TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    path         TEXT,             -- JSON array of strings; NULL when the API sent null
    suspended_on TEXT    NOT NULL, -- RFC 3339 UTC, '' when active
    PRIMARY KEY (run_id, id)
);

CREATE TABLE customer_coverage (
    run_id              INTEGER NOT NULL,
    customer_id         TEXT    NOT NULL,
    coverage            TEXT    NOT NULL CHECK (coverage IN ('available', 'fetch_failed', 'period_differs')),
    error               TEXT    NOT NULL,
    period_from         TEXT    NOT NULL, -- the receivables response's period; '' when the fetch failed
    period_to           TEXT    NOT NULL,
    subscriptions_error TEXT    NOT NULL,
    PRIMARY KEY (run_id, customer_id),
    FOREIGN KEY (run_id, customer_id) REFERENCES customers (run_id, id)
);

CREATE TABLE receivable_charges (
    run_id              INTEGER NOT NULL,
    customer_id         TEXT    NOT NULL,
    line_no             INTEGER NOT NULL,
    sku                 TEXT    NOT NULL,
    charge_id           TEXT    NOT NULL,
    charge_type         TEXT    NOT NULL,
    period_from         TEXT    NOT NULL,
    period_to           TEXT    NOT NULL,
    quantity            TEXT,
    cost_price          TEXT,
    cost_price_prorated TEXT,
    currency            TEXT    NOT NULL,
    -- Every other field of the line, as one JSON object written by the ledger
    -- (keys in a fixed order; null for an absent boolean):
    -- productName, chargeName, billingCycleType, isProratable.
    detail              TEXT    NOT NULL,
    content_hash        TEXT    NOT NULL,
    FOREIGN KEY (run_id, customer_id) REFERENCES customer_coverage (run_id, customer_id)
);

-- Supports the ORDER BY of EachReceivable.
CREATE INDEX receivable_charges_order ON receivable_charges (
    run_id, customer_id, sku, charge_type, period_from, period_to, currency,
    charge_id, cost_price_prorated, quantity, content_hash
);

CREATE TABLE subscriptions (
    run_id          INTEGER NOT NULL,
    customer_id     TEXT    NOT NULL,
    line_no         INTEGER NOT NULL,
    id              TEXT    NOT NULL,
    product_name    TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    sku             TEXT    NOT NULL,
    quantity        TEXT,
    billing_cycle   TEXT    NOT NULL,
    purchase_date   TEXT    NOT NULL,
    fees            TEXT,  -- JSON object; NULL when the API sent null
    commitment_term TEXT,  -- the raw JSON the API sent; NULL for null
    content_hash    TEXT    NOT NULL,
    FOREIGN KEY (run_id, customer_id) REFERENCES customer_coverage (run_id, customer_id)
);

CREATE INDEX subscriptions_order ON subscriptions (run_id, customer_id, id, content_hash);
