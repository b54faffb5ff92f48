package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is a built message, ready to be sent or written as .eml.
type Message struct {
	Subject     string
	MessageID   string
	From        string
	Recipients  []string // envelope recipients: to, cc and bcc
	Attachments []Attachment
	// Size is the whole message's size in bytes, as sent.
	Size int64

	msg *gomail.Msg
}

// WriteTo writes the message as sent (RFC 5322, the .eml format). Bcc
// recipients are not in the headers.
func (m *Message) WriteTo(w io.Writer) (int64, error) { return m.msg.WriteTo(w) }

// subjectData is what the subject template sees.
type subjectData struct {
	Period, From, To, Status, RunID string
}

func subjectTemplate(text string) (*texttemplate.Template, error) {
	return texttemplate.New("subject").Option("missingkey=error").Parse(text)
}

// Subject renders the subject template for sum, on one line.
func Subject(tmpl string, sum *Summary) (string, error) {
	if tmpl == "" {
		tmpl = DefaultSubject
	}
	t, err := subjectTemplate(tmpl)
	if err != nil {
		return "", fmt.Errorf("subject template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, subjectData{Period: sum.Period(), From: sum.PeriodFrom, To: sum.PeriodTo, Status: sum.Status(), RunID: sum.RunID}); err != nil {
		return "", fmt.Errorf("subject template: %w", err)
	}
	return strings.Join(strings.Fields(b.String()), " "), nil
}

// Build builds the message: the plain-text and HTML summary of sum with the
// attachments. now is the Date header.
func Build(s Settings, sum *Summary, atts []Attachment, now time.Time) (*Message, error) {
	s = s.withDefaults()
	if err := s.Validate(false); err != nil {
		return nil, err
	}
	subject, err := Subject(s.Subject, sum)
	if err != nil {
		return nil, err
	}
	text, html, err := Render(sum)
	if err != nil {
		return nil, err
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(s.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", s.From, err)
	}
	if len(s.To) > 0 {
		if err := m.To(s.To...); err != nil {
			return nil, fmt.Errorf("to: %w", err)
		}
	}
	if len(s.Cc) > 0 {
		if err := m.Cc(s.Cc...); err != nil {
			return nil, fmt.Errorf("cc: %w", err)
		}
	}
	if len(s.Bcc) > 0 {
		if err := m.Bcc(s.Bcc...); err != nil {
			return nil, fmt.Errorf("bcc: %w", err)
		}
	}
	m.Subject(subject)
	m.SetDateWithValue(now)
	m.SetMessageID()
	m.SetUserAgent("reconcile")
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, html)
	for _, a := range atts {
		if err := m.AttachReader(a.Name, bytes.NewReader(a.Data), gomail.WithFileContentType(gomail.ContentType(a.ContentType))); err != nil {
			return nil, fmt.Errorf("attach %s: %w", a.Name, err)
		}
	}
	var size countWriter
	if _, err := m.WriteTo(&size); err != nil {
		return nil, fmt.Errorf("render message: %w", err)
	}
	return &Message{
		Subject:     subject,
		MessageID:   m.GetMessageID(),
		From:        s.From,
		Recipients:  s.Recipients(),
		Attachments: atts,
		Size:        int64(size),
		msg:         m,
	}, nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// Render renders the plain-text and the HTML part of the summary. The HTML
// goes through html/template: every value (customer names included) is
// escaped.
func Render(sum *Summary) (text, html string, err error) {
	var tb, hb strings.Builder
	if err := textTmpl.Execute(&tb, sum); err != nil {
		return "", "", fmt.Errorf("render text part: %w", err)
	}
	if err := htmlTmpl.Execute(&hb, sum); err != nil {
		return "", "", fmt.Errorf("render HTML part: %w", err)
	}
	return tb.String(), hb.String(), nil
}

var funcs = map[string]any{
	"label": kindLabel,
	"name": func(id, name string) string {
		if id == "" && name == "" {
			return "(no customer)"
		}
		if name == "" || name == id {
			return id
		}
		return name + " (" + id + ")"
	},
}

// kindLabel is a finding kind in words: the label the caller gave (the
// workbook's, so that the message and the workbook say the same), else the
// kind itself.
func kindLabel(kind, label string) string {
	if label != "" {
		return label
	}
	return kind
}

var textTmpl = texttemplate.Must(texttemplate.New("text").Funcs(funcs).Parse(`Reconciliation {{.Period}} ({{.PeriodFrom}} to {{.PeriodTo}}), run {{.RunID}}

{{.Status}}{{if .Complete}}: receivables of all {{.Customers}} customers were fetched.{{else}}: receivables are missing for {{len .Missing}} of {{.Customers}} customers:
{{range .Missing}}  - {{name .ID .Name}}: {{.Reason}}
{{end}}{{end}}
{{range .Notes}}Note: {{.}}
{{end}}
TOTALS
{{range .Totals}}  {{.Currency}}: payable {{.Payable}}, receivable {{.Receivable}}, margin {{.Margin}}{{if .MarginPct}} ({{.MarginPct}} %){{end}}
{{else}}  no charges
{{end}}
FINDINGS
{{range .Findings}}  {{label .Kind .Label}}: {{.Count}}{{if $.HasStatus}} ({{.Open}} open, {{.Accepted}} accepted){{end}}
{{else}}  none
{{end}}{{if .Largest}}
LARGEST OPEN FINDINGS
{{range .Largest}}  {{.Currency}} {{.Amount}}  {{label .Kind .Label}}  {{name .CustomerID .Customer}}{{if .SKU}}  {{.SKU}}{{end}}
{{end}}{{end}}{{if .Bridge}}
MARGIN BRIDGE FROM {{.BasePeriod}}
{{range .Bridge}}  {{.Currency}}: start {{.Start}}{{range .Steps}}, {{.Label}} {{.Amount}}{{end}}, end {{.End}}
{{end}}{{end}}
{{if .Bridge}}The workbook and the comparison workbook are attached.{{else}}The workbook is attached.{{end}}
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reconciliation {{.Period}}</title>
</head>
<body style="margin:0;padding:12px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:15px;color:#1a1a1a;background:#ffffff">
<div style="max-width:640px;margin:0 auto">
<h1 style="font-size:20px;margin:0 0 4px">Reconciliation {{.Period}}</h1>
<p style="margin:0 0 12px;color:#555">{{.PeriodFrom}} to {{.PeriodTo}} &middot; run {{.RunID}}</p>
{{if .Complete}}<div id="banner" style="padding:12px;border-radius:6px;background:#e3f4e6;border:2px solid #2e7d32;color:#1b5e20;font-weight:bold;font-size:18px">COMPLETE</div>
<p style="margin:6px 0 12px">Receivables of all {{.Customers}} customers were fetched.</p>
{{else}}<div id="banner" style="padding:12px;border-radius:6px;background:#fdecea;border:2px solid #c62828;color:#b71c1c;font-weight:bold;font-size:18px">INCOMPLETE</div>
<p style="margin:6px 0 4px">Receivables are missing for {{len .Missing}} of {{.Customers}} customers; their margins are not final:</p>
<ul style="margin:0 0 12px;padding-left:20px">{{range .Missing}}<li>{{name .ID .Name}}: {{.Reason}}</li>{{end}}</ul>
{{end}}{{range .Notes}}<p style="margin:6px 0;padding:8px;background:#fff8e1;border-left:4px solid #f9a825">{{.}}</p>
{{end}}
<h2 style="font-size:17px;margin:16px 0 6px">Totals</h2>
<table style="border-collapse:collapse;width:100%">
<tr style="text-align:right;color:#555"><th style="text-align:left;padding:4px">Currency</th><th style="padding:4px">Payable</th><th style="padding:4px">Receivable</th><th style="padding:4px">Margin</th><th style="padding:4px">Margin %</th></tr>
{{range .Totals}}<tr style="text-align:right;border-top:1px solid #ddd"><td style="text-align:left;padding:4px">{{.Currency}}</td><td style="padding:4px">{{.Payable}}</td><td style="padding:4px">{{.Receivable}}</td><td style="padding:4px">{{.Margin}}</td><td style="padding:4px">{{if .MarginPct}}{{.MarginPct}}&nbsp;%{{else}}&ndash;{{end}}</td></tr>
{{else}}<tr><td colspan="5" style="padding:4px">No charges.</td></tr>
{{end}}</table>
<h2 style="font-size:17px;margin:16px 0 6px">Findings</h2>
<table style="border-collapse:collapse;width:100%">
<tr style="color:#555"><th style="text-align:left;padding:4px">Kind</th><th style="text-align:right;padding:4px">Count</th>{{if .HasStatus}}<th style="text-align:right;padding:4px">Open</th><th style="text-align:right;padding:4px">Accepted</th>{{end}}</tr>
{{range .Findings}}<tr style="border-top:1px solid #ddd"><td style="padding:4px">{{label .Kind .Label}}</td><td style="text-align:right;padding:4px">{{.Count}}</td>{{if $.HasStatus}}<td style="text-align:right;padding:4px">{{.Open}}</td><td style="text-align:right;padding:4px">{{.Accepted}}</td>{{end}}</tr>
{{else}}<tr><td colspan="2" style="padding:4px">No findings.</td></tr>
{{end}}</table>
{{if .Largest}}<h2 style="font-size:17px;margin:16px 0 6px">Largest open findings</h2>
<table style="border-collapse:collapse;width:100%">
<tr style="color:#555"><th style="text-align:left;padding:4px">Customer / product</th><th style="text-align:right;padding:4px">Amount</th></tr>
{{range .Largest}}<tr style="border-top:1px solid #ddd"><td style="padding:4px">{{name .CustomerID .Customer}}{{if .SKU}}<br><span style="color:#555">{{.SKU}}{{if .Product}} {{.Product}}{{end}}</span>{{end}}<br><span style="color:#555">{{label .Kind .Label}}</span></td><td style="text-align:right;padding:4px;white-space:nowrap">{{.Currency}} {{.Amount}}</td></tr>
{{end}}</table>
{{end}}{{if .Bridge}}<h2 style="font-size:17px;margin:16px 0 6px">Margin bridge from {{.BasePeriod}}</h2>
{{range .Bridge}}<table style="border-collapse:collapse;width:100%;margin-bottom:8px">
<tr style="font-weight:bold"><td style="padding:4px">{{.Currency}} margin {{$.BasePeriod}}</td><td style="text-align:right;padding:4px">{{.Start}}</td></tr>
{{range .Steps}}<tr style="border-top:1px solid #ddd"><td style="padding:4px">{{.Label}}</td><td style="text-align:right;padding:4px">{{.Amount}}</td></tr>
{{end}}<tr style="font-weight:bold;border-top:2px solid #555"><td style="padding:4px">{{.Currency}} margin {{$.Period}}</td><td style="text-align:right;padding:4px">{{.End}}</td></tr>
</table>
{{end}}{{end}}<p style="margin:16px 0 0;color:#555">{{if .Bridge}}The workbook and the comparison workbook are attached.{{else}}The workbook is attached.{{end}}</p>
</div>
</body>
</html>
`))
