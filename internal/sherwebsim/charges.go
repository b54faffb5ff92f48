package sherwebsim

import (
	"math/rand/v2"
	"net/http"
)

// requestRand is a generator seeded per request (for Shuffle).
func (s *Server) requestRand() *rand.Rand {
	s.mu.Lock()
	s.shuffles++
	n := s.shuffles
	s.mu.Unlock()
	return rand.New(rand.NewPCG(uint64(s.cfg.Seed), splitmix64(n^0x5AFF1E)))
}

// order is the order customers are served in.
func (s *Server) order(f *Faults) []int {
	if f.Shuffle {
		return s.requestRand().Perm(len(s.gen.customers))
	}
	return s.gen.naturalOrder()
}

var malformModes = map[string]int{"bad_money": malformBadMoney, "null_money": malformNullMoney, "bad_json": malformBadJSON}

// abort cuts the response: what was written is flushed, then the connection
// is closed without completing the body (the client reads an unexpected EOF).
func (s *Server) abort(bw *bodyWriter) {
	_ = bw.flushHTTP() // the connection is cut next anyway
	s.mu.Lock()
	s.stats.Truncated++
	s.mu.Unlock()
	panic(http.ErrAbortHandler)
}

type pendingLine struct {
	gr group
	li int
}

// servePayable is GET /distributor/v1/billing/payable-charges. The body is
// generated and written line by line.
func (s *Server) servePayable(w http.ResponseWriter, r *http.Request, f *Faults) {
	pi, ok := s.month(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	s.fst.payables++
	first := s.fst.payables == 1
	s.mu.Unlock()
	truncate := f.TruncatePayable == "always" || (f.TruncatePayable == "once" && first)
	stallMid := f.StallMidBody > 0 && first
	var rng *rand.Rand
	if f.Shuffle {
		rng = s.requestRand()
	}
	order := s.gen.naturalOrder()
	if rng != nil {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}

	bw := newBodyWriter(w)
	defer bw.release()
	setJSON(w)
	bw.b = appendPeriodOpen(bw.b, pi.p)
	n, next := 0, malformNone
	write := func(gr *group, pl *payLine) error {
		if n > 0 {
			bw.b = append(bw.b, ',')
		}
		n++
		bw.b = s.gen.appendPayable(bw.b, pi, gr, pl, next)
		next = malformNone
		return bw.maybeFlush()
	}

	var pending []pendingLine
	flushPending := func() error {
		rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
		for i := range pending {
			if err := write(&pending[i].gr, &pending[i].gr.pay[pending[i].li]); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return nil
	}
	fn := func(gr *group) error {
		for i := 0; i < gr.npay; i++ {
			if err := write(gr, &gr.pay[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if rng != nil {
		fn = func(gr *group) error {
			if len(pending) > 0 && pending[0].gr.ci != gr.ci {
				if err := flushPending(); err != nil {
					return err
				}
			}
			for i := 0; i < gr.npay; i++ {
				pending = append(pending, pendingLine{*gr, i})
			}
			return nil
		}
	}
	mid := func() error {
		if rng != nil {
			if err := flushPending(); err != nil {
				return err
			}
		}
		if stallMid {
			if err := bw.flushHTTP(); err != nil {
				return err
			}
			if !sleep(r.Context(), f.StallMidBody) {
				return r.Context().Err()
			}
		}
		if truncate {
			if n > 0 {
				bw.b = append(bw.b, ',')
			}
			bw.b = append(bw.b, `{"productId":"`...)
			s.abort(bw)
		}
		next = malformModes[f.MalformedPayable]
		return nil
	}
	err := s.gen.eachPayableGroup(pi, order, f.MalformedPayable == "unknown_enum", mid, fn)
	if err == nil && rng != nil {
		err = flushPending()
	}
	if err != nil {
		return // the client went away
	}
	bw.b = append(bw.b, "]}"...)
	_ = bw.flush() // a failed write means the client went away
}

// serveReceivables is GET /service-provider/v1/billing/receivable-charges.
func (s *Server) serveReceivables(w http.ResponseWriter, r *http.Request, f *Faults) {
	ci, id, ok := s.customerParam(w, r)
	if !ok {
		return
	}
	pi, ok := s.month(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	always := contains(f.FailCustomerAlways, id) || s.gen.failsIn(pi) == ci
	once := !always && contains(f.FailCustomerOnce, id) && !s.fst.failedOnce[id]
	if once {
		s.fst.failedOnce[id] = true
	}
	truncate := !always && !once && contains(f.TruncateReceivable, id) && !s.fst.truncatedRecv[id]
	if truncate {
		s.fst.truncatedRecv[id] = true
	}
	s.mu.Unlock()
	switch {
	case always:
		s.problem(w, r, http.StatusServiceUnavailable, "The receivable charges of customer "+id+" are temporarily unavailable.")
		return
	case once:
		s.problem(w, r, http.StatusInternalServerError, "An unexpected error occurred while reading the receivable charges.")
		return
	}
	if contains(f.PeriodDiffersFor, id) {
		pi = pi.previous()
	}
	bw := newBodyWriter(w)
	defer bw.release()
	setJSON(w)
	bw.b = appendPeriodOpen(bw.b, pi.p)
	n := 0
	write := func(gr *group, rl *recLine) error {
		if n > 0 {
			bw.b = append(bw.b, ',')
		}
		n++
		bw.b = appendReceivable(bw.b, gr, rl)
		return bw.maybeFlush()
	}
	// Written as generated, except where a fault knob needs the whole list
	// first (a shuffled order, a body cut halfway): then copied, then written.
	listed := f.Shuffle || truncate
	var lines []pendingLine
	if s.gen.eachGroup(pi, ci, func(gr *group) error {
		for i := 0; i < gr.nrec; i++ {
			if listed {
				lines = append(lines, pendingLine{*gr, i})
			} else if err := write(gr, &gr.rec[i]); err != nil {
				return err
			}
		}
		return nil
	}) != nil {
		return // the client went away
	}
	if f.Shuffle {
		s.requestRand().Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	}
	for i := range lines {
		if truncate && i == len(lines)/2 {
			break
		}
		if write(&lines[i].gr, &lines[i].gr.rec[lines[i].li]) != nil {
			return
		}
	}
	if truncate {
		if len(lines) > 1 {
			bw.b = append(bw.b, ',')
		}
		bw.b = append(bw.b, `{"productName":`...)
		s.abort(bw)
	}
	bw.b = append(bw.b, "]}"...)
	_ = bw.flush() // a failed write means the client went away
}
