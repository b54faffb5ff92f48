package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/mail"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// DeliveryLedger is what delivering a report needs of the ledger: the
// record of every delivery. *ledger.Store implements it.
type DeliveryLedger interface {
	BeginDelivery(ctx context.Context, d ledger.Delivery) (int64, error)
	FinishDelivery(ctx context.Context, id int64, outcome string, attempts int, errText string, finishedAt time.Time) error
	LastDelivered(ctx context.Context, runID int64, channel string) (ledger.Delivery, error)
}

var _ DeliveryLedger = (*ledger.Store)(nil)

// Mailer sends a built message and returns the attempts it made; mail.Send
// is the SMTP one.
type Mailer func(ctx context.Context, s mail.Settings, m *mail.Message, log *slog.Logger) (int, error)

// ChannelEmail is the ledger's channel of e-mailed reports.
const ChannelEmail = "email"

// MailError is a delivery that failed after the report was written: the
// workbook is on disk, untouched; the delivery is recorded as failed.
type MailError struct {
	RunID int64
	Err   error
}

func (e *MailError) Error() string {
	return fmt.Sprintf("report of run %d written, but the mail was not delivered: %v", e.RunID, e.Err)
}

func (e *MailError) Unwrap() error { return e.Err }

// DeliverOptions configure the delivery of one written report.
type DeliverOptions struct {
	Ledger DeliveryLedger
	Rec    *Reconciliation
	// Workbook is the path of the workbook already written (durably) for
	// Rec; its bytes are attached as they are on disk.
	Workbook string
	// Detail is where the workbook's detail went (xlsx.DetailXLSX or
	// xlsx.DetailCSV): an oversized message drops the detail sheets only
	// when the workbook has them.
	Detail   string
	Settings mail.Settings
	// Resend sends even when the run was already delivered.
	Resend bool
	// DryRun, when set, is a .eml path: the exact message is written there
	// instead of being sent, and nothing is recorded.
	DryRun string
	// Extra are more attachments (the comparison workbook), and Bridge and
	// BasePeriod the margin bridge shown in the message (--compare-base).
	Extra      []mail.Attachment
	BasePeriod string
	Bridge     []mail.Bridge
	// Notes are more sentences for the message (see WithComparison).
	Notes []string
	// Send sends the message; nil is mail.Send.
	Send   Mailer
	Now    func() time.Time
	Logger *slog.Logger
	// Messages, when set, receives the one-line outcome.
	Messages io.Writer
}

// Deliver mails a written report. The workbook on disk is only read, never
// rewritten: a mail failure loses nothing. Unless Resend, a run already
// delivered by e-mail is not sent again (a cron retry never spams). Every
// attempt is recorded in the ledger before the first connection and
// finished with its outcome; a failure is a *MailError.
func Deliver(ctx context.Context, o DeliverOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Send == nil {
		o.Send = mail.Send
	}
	run := o.Rec.Run
	if o.DryRun == "" {
		if err := o.Settings.Validate(true); err != nil {
			return err
		}
		if !o.Resend {
			d, err := o.Ledger.LastDelivered(ctx, run.ID, ChannelEmail)
			switch {
			case err == nil:
				say(o.Messages, "run %d was already delivered on %s to %s (message %s): nothing sent; give --resend to send it again\n",
					run.ID, d.FinishedAt.Format(time.RFC3339), strings.Join(d.Recipients, ", "), d.MessageID)
				return nil
			case !errors.Is(err, ledger.ErrNotFound):
				return fmt.Errorf("read deliveries of run %d: %w", run.ID, err)
			}
		}
	} else if err := o.Settings.Validate(false); err != nil {
		return err
	}

	msg, err := buildDelivery(ctx, o)
	if err != nil {
		var tooBig *tooLargeError
		if errors.As(err, &tooBig) && o.DryRun == "" {
			return o.record(ctx, nil, err)
		}
		if errors.As(err, &tooBig) {
			return &MailError{RunID: run.ID, Err: err}
		}
		return err
	}
	if o.DryRun != "" {
		if err := atomicfile.Write(o.DryRun, func(w io.Writer) error {
			_, err := msg.WriteTo(w)
			return err
		}); err != nil {
			return fmt.Errorf("write message %s: %w", o.DryRun, err)
		}
		say(o.Messages, "run %d: message written to %s (%d bytes, not sent)\n", run.ID, o.DryRun, msg.Size)
		return nil
	}
	return o.record(ctx, msg, nil)
}

// record sends msg (unless buildErr) and records the delivery.
func (o DeliverOptions) record(ctx context.Context, msg *mail.Message, buildErr error) error {
	run := o.Rec.Run
	d := ledger.Delivery{RunID: run.ID, Channel: ChannelEmail, Recipients: o.Settings.Recipients(), StartedAt: o.Now()}
	if msg != nil {
		d.Subject, d.MessageID = msg.Subject, msg.MessageID
		for _, a := range msg.Attachments {
			d.Attachments = append(d.Attachments, ledger.DeliveryAttachment{Name: a.Name, Bytes: int64(len(a.Data)), SHA256: a.SHA256()})
		}
	}
	id, err := o.Ledger.BeginDelivery(ctx, d)
	if err != nil {
		return fmt.Errorf("record delivery of run %d: %w", run.ID, err)
	}
	attempts, sendErr := 0, buildErr
	if sendErr == nil {
		attempts, sendErr = o.Send(ctx, o.Settings, msg, o.Logger)
	}
	outcome, errText := ledger.DeliveryDelivered, ""
	if sendErr != nil {
		outcome, errText = ledger.DeliveryFailed, sendErr.Error()
	}
	// The outcome is recorded even when ctx was cancelled mid-send.
	if err := o.Ledger.FinishDelivery(context.WithoutCancel(ctx), id, outcome, attempts, errText, o.Now()); err != nil {
		err = fmt.Errorf("record outcome (%s) of delivery %d of run %d: %w", outcome, id, run.ID, err)
		if sendErr != nil {
			return &MailError{RunID: run.ID, Err: errors.Join(sendErr, err)}
		}
		return err
	}
	if sendErr != nil {
		return &MailError{RunID: run.ID, Err: sendErr}
	}
	say(o.Messages, "run %d: mailed to %s (message %s, %d bytes, %d attempt(s))\n",
		run.ID, strings.Join(d.Recipients, ", "), msg.MessageID, msg.Size, attempts)
	return nil
}

type tooLargeError struct{ size, limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the message would be %d bytes, over the size limit of %d bytes (RECONCILE_MAIL_MAX_BYTES), even without the detail sheets: nothing was sent", e.size, e.limit)
}

// buildDelivery builds the message with the workbook as it is on disk, or,
// when that is over the size limit, with the workbook re-rendered without
// its detail sheets, saying so. Over the limit even then, it fails: no half
// message is ever sent.
func buildDelivery(ctx context.Context, o DeliverOptions) (*mail.Message, error) {
	rec := o.Rec
	data, err := os.ReadFile(o.Workbook)
	if err != nil {
		return nil, fmt.Errorf("read workbook %s: %w", o.Workbook, err)
	}
	sum := MailSummaryOf(rec.Result)
	sum.BasePeriod, sum.Bridge = o.BasePeriod, o.Bridge
	sum.Notes = append(sum.Notes, o.Notes...)
	name := DefaultWorkbookName(rec.Run)
	atts := append([]mail.Attachment{{Name: name, ContentType: mail.ContentTypeXLSX, Data: data}}, o.Extra...)
	msg, err := mail.Build(o.Settings, &sum, atts, o.Now())
	if err != nil {
		return nil, err
	}
	limit := o.Settings.MaxBytes
	if limit <= 0 {
		limit = mail.DefaultMaxBytes
	}
	if msg.Size <= limit {
		return msg, nil
	}
	if o.Settings.OversizeFail || o.Detail == xlsx.DetailCSV {
		return nil, &tooLargeError{size: msg.Size, limit: limit}
	}
	var buf bytes.Buffer
	if err := xlsx.RenderWorkbook(ctx, &buf, rec.Result, rec.Attributor, rec.Info, rec.Detail, xlsx.WorkbookOptions{Detail: xlsx.DetailCSV}); err != nil {
		return nil, fmt.Errorf("render the workbook without detail: %w", err)
	}
	small := strings.TrimSuffix(name, ".xlsx") + "-without-detail.xlsx"
	sum.Notes = append(sum.Notes, fmt.Sprintf(
		"The full workbook (%d bytes) is over this message's size limit of %d bytes, so the attached %s leaves out the Payable and Receivable detail sheets. The full workbook is %s.",
		len(data), limit, small, o.Workbook))
	atts[0] = mail.Attachment{Name: small, ContentType: mail.ContentTypeXLSX, Data: buf.Bytes()}
	msg, err = mail.Build(o.Settings, &sum, atts, o.Now())
	if err != nil {
		return nil, err
	}
	if msg.Size > limit {
		return nil, &tooLargeError{size: msg.Size, limit: limit}
	}
	if o.Logger != nil {
		o.Logger.Warn("mail: workbook over the size limit, detail sheets left out", "workbook_bytes", len(data), "limit", limit, "message_bytes", msg.Size)
	}
	return msg, nil
}

// largestFindings is how many open findings the message lists.
const largestFindings = 10

// kindOrder is the order of the finding kinds in the message.
var kindOrder = []string{
	report.KindMissingReceivables, report.KindUnbilled, report.KindUnexpectedReceivable,
	report.KindQuantityMismatch, report.KindNegativeMargin, report.KindUnattributed,
}

// MailSummaryOf is the message's summary of a reconciliation: exact amounts as
// text, margin % as on the workbook, findings per kind and the largest
// open findings by the size of their difference. When an exceptions register
// was applied (res.Exceptions not nil) every kind is split into open (open or
// reopened: they need attention) and accepted; without one every finding is
// open. Accepted findings are never among the largest.
func MailSummaryOf(res *report.Result) mail.Summary {
	s := mail.Summary{
		RunID:      res.RunID,
		PeriodFrom: string(res.Period.From),
		PeriodTo:   string(res.Period.To),
		Complete:   res.Complete,
		Customers:  res.Coverage.Customers,
		Available:  res.Coverage.Available,
		HasStatus:  res.Exceptions != nil,
	}
	names := map[string]string{}
	for _, c := range res.Customers {
		if c.CustomerName != "" {
			names[c.CustomerID] = c.CustomerName
		}
	}
	for _, m := range res.Coverage.Missing {
		s.Missing = append(s.Missing, mail.MissingCustomer{ID: m.CustomerID, Name: names[m.CustomerID], Reason: string(m.Reason)})
	}
	for _, t := range res.Totals {
		row := mail.Total{Currency: t.Currency, Payable: billing.Text(t.Payable), Receivable: billing.Text(t.Receivable), Margin: billing.Text(t.Margin)}
		if pct, ok := report.MarginPercent(t.Margin, t.Receivable); ok {
			row.MarginPct = billing.Text(pct)
		}
		s.Totals = append(s.Totals, row)
	}
	counts, accepted := map[string]int{}, map[string]int{}
	for i := range res.Mismatches {
		f := &res.Mismatches[i]
		counts[f.Kind]++
		if !f.Actionable() {
			accepted[f.Kind]++
		}
	}
	var other []string
	for k := range counts {
		if !slices.Contains(kindOrder, k) {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	for _, k := range slices.Concat(kindOrder, other) {
		if n := counts[k]; n > 0 {
			s.Findings = append(s.Findings, mail.KindCount{Kind: k, Label: report.KindLabel(k), Count: n, Open: n - accepted[k], Accepted: accepted[k]})
		}
	}
	idx := make([]int, 0, len(res.Mismatches))
	for i := range res.Mismatches {
		if res.Mismatches[i].Actionable() {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		da, db := res.Mismatches[idx[a]].Difference().Abs(), res.Mismatches[idx[b]].Difference().Abs()
		return da.GreaterThan(db)
	})
	for _, i := range idx[:min(len(idx), largestFindings)] {
		f := &res.Mismatches[i]
		s.Largest = append(s.Largest, mail.Finding{
			Kind: f.Kind, Label: report.KindLabel(f.Kind), CustomerID: f.CustomerID, Customer: f.CustomerName, SKU: f.SKU, Product: f.Product,
			Currency: f.Currency, Amount: billing.Text(f.Difference()),
		})
	}
	return s
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// RecordingSink wraps a Sink and keeps what it published, so that a close
// can mail its report after the report was written.
type RecordingSink struct {
	Sink
	Rec  *Reconciliation
	Path string
}

// Publish publishes through the wrapped sink and records the result.
func (r *RecordingSink) Publish(ctx context.Context, rec *Reconciliation) (string, error) {
	where, err := r.Sink.Publish(ctx, rec)
	if err == nil {
		r.Rec, r.Path = rec, where
	}
	return where, err
}
