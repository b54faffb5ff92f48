package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

// dialect is everything the store knows about one database backend: the one
// seam between SQLite and PostgreSQL. Statements differ only through the
// override folder of queries.FS, migrations through the migrations folder;
// the Go code asks the dialect (never the driver name) where behaviour
// differs: bulk insert (COPY), the run's write transaction isolation, locks.
type dialect struct {
	name       string // "sqlite" or "postgres", as shown to the user
	overrides  string // folder of queries.FS whose statements replace the shared ones; "" for none
	migrations string // folder of queries.FS holding this dialect's migrations
	// txOpts are the options of writeTx transactions (SQLite: the DSN's
	// _txlock=immediate makes every write transaction serialisable).
	txOpts *sql.TxOptions
}

var (
	sqliteDialect   = &dialect{name: "sqlite", migrations: "migrations"}
	postgresDialect = &dialect{name: "postgres", overrides: "postgres", migrations: "migrations/postgres",
		txOpts: &sql.TxOptions{Isolation: sql.LevelSerializable}}
)

func (d *dialect) postgres() bool { return d == postgresDialect }

// IsPostgres reports whether a --db value names a PostgreSQL ledger
// (postgres:// or postgresql:// URL).
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// SQLitePath returns the file path of a SQLite --db value: the value itself,
// or what follows "sqlite:". ok is false for a PostgreSQL URL.
func SQLitePath(target string) (path string, ok bool) {
	if IsPostgres(target) {
		return "", false
	}
	if p, cut := strings.CutPrefix(target, "sqlite://"); cut {
		return p, true
	}
	if p, cut := strings.CutPrefix(target, "sqlite:"); cut {
		return p, true
	}
	return target, true
}

// Redact returns target with any password replaced, for messages and logs.
func Redact(target string) string {
	if !IsPostgres(target) {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// openPostgres opens the pool of a PostgreSQL ledger. A read-only store sets
// default_transaction_read_only, so every write fails in the server too.
func openPostgres(target string, readOnly bool) (*sqlx.DB, error) {
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		// pgx's parse errors may quote the connection string: never show it.
		return nil, errors.New("invalid PostgreSQL connection URL")
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "reconcile"
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	return sqlx.NewDb(db, "pgx"), nil
}

// loadDialectStatements loads the shared statements and, for a dialect with
// an override folder, replaces those it redefines.
func loadDialectStatements(fsys fs.FS, d *dialect, rebind func(string) string) (map[string]string, error) {
	q, err := loadStatements(fsys, rebind)
	if err != nil {
		return nil, err
	}
	if d.overrides == "" {
		return q, nil
	}
	sub, err := fs.Sub(fsys, d.overrides)
	if err != nil {
		return nil, fmt.Errorf("load %s statements: %w", d.name, err)
	}
	over, err := loadStatements(sub, rebind)
	if err != nil {
		return nil, fmt.Errorf("%s statements: %w", d.name, err)
	}
	for name, stmt := range over {
		if _, ok := q[name]; !ok {
			return nil, fmt.Errorf("load %s statements: %s/ redefines %q, which no shared file defines", d.name, d.overrides, name)
		}
		q[name] = stmt
	}
	return q, nil
}

// retryable reports whether err is a PostgreSQL serialization failure or
// deadlock: the transaction did nothing and may run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// withPgConn runs fn with the pgx connection under a database/sql connection.
func withPgConn(conn interface{ Raw(func(any) error) error }, fn func(*pgx.Conn) error) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection %T is not a pgx connection", dc)
		}
		return fn(c.Conn())
	})
}

var _ = context.Background
