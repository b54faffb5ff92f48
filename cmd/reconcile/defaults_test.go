package main

import (
	"strconv"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/config"
	"github.com/msp-reconcile/reconcile/internal/job"
)

// The concurrency `reconcile config` and `doctor` show as the default is
// the one a close uses (config cannot import job, so the number is written
// twice).
func TestConcurrencyDefaultsAgree(t *testing.T) {
	k, ok := config.KeyByName("concurrency")
	if !ok {
		t.Fatal("no config key concurrency")
	}
	if want := strconv.Itoa(job.DefaultConcurrency); k.Default != want {
		t.Errorf("config's default concurrency %q, the close's %s", k.Default, want)
	}
}
