package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/msp-reconcile/reconcile/internal/job"
)

// termProgress draws a close's phases on a terminal with mpb: one line per
// phase, with what is done (of the total when known), the rate, the ETA and,
// for the API phases, the bytes received, retries and 429s. The job only
// stores numbers (job.Progress must be cheap); a ticker copies them to the
// bar, and mpb redraws on its own, so a long step never freezes the screen.
type termProgress struct {
	p      *mpb.Progress
	stats  func() string // API counters for the fetch phases; nil for none
	bytes  *atomic.Int64 // response bytes received, when counted
	done   atomic.Int64
	mu     sync.Mutex
	bar    *mpb.Bar
	start  time.Time
	stop   chan struct{}
	ticker sync.WaitGroup
}

var _ job.Progress = (*termProgress)(nil)

// progressRefresh is how often the numbers reach the bar.
const progressRefresh = 150 * time.Millisecond

// newProgress returns the progress display for stderr: nil (none) unless
// stderr is a terminal.
func newProgress(stderr io.Writer) *termProgress {
	if !isTerminal(stderr) {
		return nil
	}
	// A terminal that reports no size (a bare pty) would swallow every line.
	if w, h, err := cupwriter.New(stderr, false).GetTermSize(); err != nil || w < 40 || h < 4 {
		return nil
	}
	return newTermProgress(stderr, false)
}

// newTermProgress draws on w; autoRefresh draws on a writer that is not a
// terminal (tests).
func newTermProgress(w io.Writer, autoRefresh bool) *termProgress {
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(100), mpb.WithRefreshRate(progressRefresh)}
	if autoRefresh {
		opts = append(opts, mpb.WithAutoRefresh())
	}
	return &termProgress{p: mpb.New(opts...)}
}

// Phase implements job.Progress.
func (t *termProgress) Phase(name, unit string, total int64) {
	t.Done()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done.Store(0)
	t.start = time.Now()
	start := t.start
	stats := t.stats
	label := decor.Name(fmt.Sprintf("%-16s", name))
	count := decor.Any(func(s decor.Statistics) string {
		if total > 0 {
			return fmt.Sprintf("%d/%d %s", s.Current, total, unit)
		}
		return fmt.Sprintf("%d %s", s.Current, unit)
	})
	rate := decor.Any(func(s decor.Statistics) string {
		el := time.Since(start)
		out := fmt.Sprintf("  %s", el.Round(time.Second))
		if sec := el.Seconds(); sec >= 0.5 && s.Current > 0 {
			r := float64(s.Current) / sec
			out += fmt.Sprintf("  %.0f %s/s", r, unit)
			if total > 0 && s.Current < total {
				eta := time.Duration(float64(total-s.Current) / r * float64(time.Second))
				out += fmt.Sprintf("  ETA %s", eta.Round(time.Second))
			}
		}
		if stats != nil && (unit == "lines" || unit == "customers") {
			out += "  " + stats()
		}
		return out
	})
	opts := []mpb.BarOption{mpb.PrependDecorators(label), mpb.AppendDecorators(count, rate)}
	if total > 0 {
		t.bar = t.p.AddBar(total, opts...)
	} else {
		t.bar = t.p.AddSpinner(0, opts...)
	}
	t.stop = make(chan struct{})
	bar, stop := t.bar, t.stop
	t.ticker.Add(1)
	go func() {
		defer t.ticker.Done()
		tk := time.NewTicker(progressRefresh)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				bar.SetCurrent(t.done.Load())
			}
		}
	}()
}

// Rows implements job.Progress.
func (t *termProgress) Rows(done int64) { t.done.Store(done) }

// Done implements job.Progress: the phase's line stays, complete.
func (t *termProgress) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar == nil {
		return
	}
	close(t.stop)
	t.ticker.Wait()
	n := t.done.Load()
	t.bar.SetCurrent(n)
	t.bar.SetTotal(n, true) // complete at what was done (an unknown total, or a shorter end)
	t.bar.Wait()
	t.bar = nil
}

// Close ends the display.
func (t *termProgress) Close() {
	t.Done()
	t.p.Wait()
}

// orNone turns a nil *termProgress into a nil job.Progress (no display).
func (t *termProgress) orNone() job.Progress {
	if t == nil {
		return nil
	}
	return t
}

// countingTransport counts the response bytes read, for the progress display.
type countingTransport struct {
	base  http.RoundTripper
	bytes *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if resp != nil && resp.Body != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: c.bytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// humanBytes renders a byte count as KiB/MiB/GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
