package job_test

import (
	"testing"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// TestMain runs the job tests on SQLite and, when PostgreSQL is available,
// again on PostgreSQL (see internal/dbtest): fetch, close, idempotency,
// digest and faults all go through openStore (dbtest.DB).
func TestMain(m *testing.M) { dbtest.Main(m) }
