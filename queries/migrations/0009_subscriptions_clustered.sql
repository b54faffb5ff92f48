-- 0009_subscriptions_clustered: a run's subscriptions are stored in their
-- read order, as 0006 did for the charge lines. The table becomes a WITHOUT
-- ROWID table whose primary key is its ORDER BY (run_id, customer_id, id,
-- content_hash) plus line_no, which keeps the key unique; the separate order
-- index subscriptions_order is dropped.
--
-- Why: the index repeated the customer id, the subscription id and the content
-- hash of every subscription (≈ 150 bytes each, a quarter of the table), and
-- every insert updated two B-trees at a random place instead of one. A read
-- (list_subscriptions, each_subscription) now walks one contiguous range of
-- the table in order, with no lookup into a table stored in API order.
-- Subscriptions equal up to content_hash are equal in every column the reads
-- return, so ordering them by line_no changes nothing anyone sees.
--
-- The columns, their meaning and their values are unchanged (see 0001_init),
-- and so is the foreign key to customer_coverage; existing rows are copied as
-- they are.

CREATE TABLE subscriptions_0009 (
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
    PRIMARY KEY (run_id, customer_id, id, content_hash, line_no),
    FOREIGN KEY (run_id, customer_id) REFERENCES customer_coverage (run_id, customer_id)
) WITHOUT ROWID;

INSERT INTO subscriptions_0009 (
    run_id, customer_id, line_no, id, product_name, description, sku, quantity, billing_cycle,
    purchase_date, fees, commitment_term, content_hash
)
SELECT run_id, customer_id, line_no, id, product_name, description, sku, quantity, billing_cycle,
       purchase_date, fees, commitment_term, content_hash
FROM subscriptions
ORDER BY run_id, customer_id, id, content_hash, line_no;

DROP TABLE subscriptions; -- and its index subscriptions_order
ALTER TABLE subscriptions_0009 RENAME TO subscriptions;
