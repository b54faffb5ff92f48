package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
)

// DefaultLeaseTTL is how long a running run's lease, and a period lock, last
// without a heartbeat. A process that dies (SIGKILL, power loss) stops
// renewing them: after this long its run is marked abandoned by the next run
// and its period lock may be taken over.
const DefaultLeaseTTL = 2 * time.Minute

// ErrPeriodLocked is wrapped by LockPeriod's error when another close holds
// the period's lock for longer than the caller would wait.
var ErrPeriodLocked = errors.New("period is locked by another close")

// hostName is this machine's name in holder names.
func hostName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "unknown-host"
	}
	return host
}

// holderGone reports whether holder names a process of this host that no
// longer exists: its run or lock need not wait for the lease to expire (a
// close killed a moment ago is re-run at once). Holders of other hosts are
// judged by their lease only.
func holderGone(holder string) bool {
	var host, nonce string
	var pid int
	if n, err := fmt.Sscanf(holder, "%s pid %d #%s", &host, &pid, &nonce); err != nil || n != 3 {
		return false
	}
	if host != hostName() || pid <= 0 || pid == os.Getpid() {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	err = p.Signal(syscall.Signal(0))
	return errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH)
}

// holderName names this process in leases and locks: host, pid and a random
// nonce (two stores of one process are two holders).
func holderName() string {
	host := hostName()
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%s pid %d #%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Holder is the name this store writes in run leases and period locks.
func (s *Store) Holder() string { return s.holder }

// leases are the heartbeats running for a store: one per running run and
// held period lock.
type leases struct {
	mu   sync.Mutex
	stop map[string]func()
}

func (l *leases) start(key string, stop func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop == nil {
		l.stop = map[string]func(){}
	}
	if old, ok := l.stop[key]; ok {
		old()
	}
	l.stop[key] = stop
}

func (l *leases) end(key string) {
	l.mu.Lock()
	stop, ok := l.stop[key]
	delete(l.stop, key)
	l.mu.Unlock()
	if ok {
		stop()
	}
}

func (l *leases) stopAll() {
	l.mu.Lock()
	all := l.stop
	l.stop = nil
	l.mu.Unlock()
	for _, stop := range all {
		stop()
	}
}

// heartbeat calls renew every ttl/4 until stopped. On SQLite a renewal waits
// for the store's write lock at most one interval (a payable batch holds it
// for the whole stream; it renews the run's lease itself when it commits).
func (s *Store) heartbeat(key string, renew func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		every := s.leaseTTL / 4
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				rctx, rcancel := context.WithTimeout(ctx, every)
				_ = renew(rctx) // a missed beat is retried at the next tick; the lease lasts 4 of them
				rcancel()
			}
		}
	}()
	s.leases.start(key, func() { cancel(); <-done })
}

// leaseWrite runs a small lease update: on PostgreSQL outside the store's
// write lock (the server serialises the row), on SQLite under it.
func (s *Store) leaseWrite(ctx context.Context, name string, args ...any) (int64, error) {
	var n int64
	fn := func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q[name], args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	}
	if s.d.postgres() {
		for attempt := 1; ; attempt++ {
			err := s.writeTxOnce(ctx, fn)
			if err == nil || !retryable(err) || attempt == writeTxAttempts {
				return n, err
			}
			serializationRetries.Add(1)
			if err := retryWait(ctx, attempt); err != nil {
				return n, err
			}
		}
	}
	return n, s.writeTx(ctx, fn)
}

func (s *Store) startRunLease(id int64) {
	s.heartbeat(fmt.Sprintf("run %d", id), func(ctx context.Context) error {
		_, err := s.leaseWrite(ctx, qRenewRunLease, formatTime(time.Now().Add(s.leaseTTL)), id, s.holder)
		return err
	})
}

// abandonExpired marks abandoned, in tx, every running run whose lease
// expired before now, and returns how many.
func (s *Store) abandonExpired(ctx context.Context, tx *sqlx.Tx, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, s.q[qAbandonExpiredRuns], formatTime(now), formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("mark abandoned runs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return n, err
	}
	var running []struct {
		ID     int64  `db:"id"`
		Holder string `db:"holder"`
	}
	if err := sqlx.SelectContext(ctx, tx, &running, s.q[qRunningRunHolders]); err != nil {
		return n, fmt.Errorf("mark abandoned runs: %w", err)
	}
	for _, r := range running {
		if !holderGone(r.Holder) {
			continue
		}
		res, err := tx.ExecContext(ctx, s.q[qAbandonRun], formatTime(now), r.ID, r.Holder)
		if err != nil {
			return n, fmt.Errorf("mark run %d abandoned: %w", r.ID, err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// PeriodLock is a held lock on one period (see LockPeriod).
type PeriodLock struct {
	s      *Store
	period string
	once   sync.Once
}

// LockPeriod takes the lock of a period ("2026-10") for this store, so that
// two closes of the same period at the same moment (two people, two
// machines) queue instead of interleaving. If another holder has it, it
// waits up to wait, then fails with an error wrapping ErrPeriodLocked that
// names the holder and since when. A lock whose holder died is taken over
// once its lease expires (DefaultLeaseTTL). The lock is renewed by a
// heartbeat until Release (or Close).
func (s *Store) LockPeriod(ctx context.Context, period string, wait time.Duration) (*PeriodLock, error) {
	deadline := time.Now().Add(wait)
	for {
		now := time.Now()
		n, err := s.leaseWrite(ctx, qAcquirePeriodLock, period, s.holder, formatTime(now),
			formatTime(now.Add(s.leaseTTL)), formatTime(now))
		if err != nil {
			return nil, fmt.Errorf("lock period %s: %w", period, err)
		}
		if n == 1 {
			l := &PeriodLock{s: s, period: period}
			s.heartbeat("period "+period, func(ctx context.Context) error {
				_, err := s.leaseWrite(ctx, qRenewPeriodLock, formatTime(time.Now().Add(s.leaseTTL)), period, s.holder)
				return err
			})
			return l, nil
		}
		var row struct {
			Holder     string `db:"holder"`
			AcquiredAt string `db:"acquired_at"`
			LeaseUntil string `db:"lease_until"`
		}
		err = sqlx.GetContext(ctx, s.db, &row, s.q[qGetPeriodLock], period)
		if errors.Is(err, sql.ErrNoRows) {
			continue // released meanwhile: try again
		}
		if err != nil {
			return nil, fmt.Errorf("lock period %s: %w", period, err)
		}
		if holderGone(row.Holder) {
			// Its process is gone (killed a moment ago): take it over now.
			if _, err := s.leaseWrite(ctx, qReleasePeriodLock, period, row.Holder); err != nil {
				return nil, fmt.Errorf("lock period %s: %w", period, err)
			}
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s is being closed by %s since %s (lease until %s); waited %s: try again later, or wait longer with --lock-wait",
				ErrPeriodLocked, period, row.Holder, row.AcquiredAt, row.LeaseUntil, wait.Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock period %s: %w", period, ctx.Err())
		case <-time.After(min(250*time.Millisecond, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// Release gives the lock back. It is safe to call more than once.
func (l *PeriodLock) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		l.s.leases.end("period " + l.period)
		_, err = l.s.leaseWrite(context.WithoutCancel(ctx), qReleasePeriodLock, l.period, l.s.holder)
		if err != nil {
			err = fmt.Errorf("release the lock of period %s: %w", l.period, err)
		}
	})
	return err
}
