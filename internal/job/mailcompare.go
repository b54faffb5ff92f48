package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/mail"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// MailBridgeOf is the comparison's margin bridge as the message shows it:
// one per currency, every amount the exact decimal text of the comparison
// JSON.
func MailBridgeOf(c *report.Comparison) []mail.Bridge {
	out := make([]mail.Bridge, 0, len(c.Bridge))
	for i := range c.Bridge {
		r := &c.Bridge[i]
		b := mail.Bridge{Currency: r.Currency, Start: billing.Text(r.StartMargin), End: billing.Text(r.EndMargin)}
		for _, s := range report.BridgeSteps {
			b.Steps = append(b.Steps, mail.BridgeStep{Label: s.Label, Amount: billing.Text(s.Get(r))})
		}
		out = append(out, b)
	}
	return out
}

// periodLabel is YYYY-MM for a calendar month, "from to to" otherwise.
func periodLabel(p billing.Period) string {
	s := mail.Summary{PeriodFrom: string(p.From), PeriodTo: string(p.To)}
	return s.Period()
}

// WithComparison runs the comparison co describes (its workbook written
// atomically under its default name in co.Dir unless co.Workbook names it)
// and adds it to the delivery: the workbook as a second attachment and the
// margin bridge per currency in the message. An incomplete comparison is
// still attached, marked INCOMPLETE, and the message says so; any other
// failure is returned and nothing is sent.
func WithComparison(ctx context.Context, o *DeliverOptions, co CompareOptions) error {
	c, err := Compare(ctx, co)
	if err != nil && !errors.Is(err, ErrIncomplete) {
		return fmt.Errorf("comparison for the mail: %w", err)
	}
	path := co.Workbook
	if path == "" {
		path = filepath.Join(co.Dir, DefaultComparisonName(c.Base.Period, c.Current.Period))
	}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return fmt.Errorf("read comparison workbook %s: %w", path, rerr)
	}
	o.Extra = append(o.Extra, mail.Attachment{Name: filepath.Base(path), ContentType: mail.ContentTypeXLSX, Data: data})
	o.BasePeriod = periodLabel(c.Base.Period)
	o.Bridge = MailBridgeOf(c)
	if !c.Complete {
		o.Notes = append(o.Notes, fmt.Sprintf("The comparison with %s is INCOMPLETE (receivables are missing in run %s or run %s): its margin bridge is not final.",
			o.BasePeriod, c.Base.RunID, c.Current.RunID))
	}
	if c.BaseIsNewer {
		o.Notes = append(o.Notes, "The base run is newer than this run: the margin bridge runs backwards in time.")
	}
	return nil
}
