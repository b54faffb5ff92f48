package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
	"github.com/msp-reconcile/reconcile/internal/testkit"
)

const (
	smtpUser     = "reconcile-bot"
	smtpPassword = "Sm7p-pa55-never-shown"
)

// mailEnv points the mail settings at an SMTP server on loopback (no TLS,
// which only loopback allows) with fast retries.
func mailEnv(t *testing.T, host string, port int) {
	t.Helper()
	t.Setenv("RECONCILE_SMTP_HOST", host)
	t.Setenv("RECONCILE_SMTP_PORT", strconv.Itoa(port))
	t.Setenv("RECONCILE_SMTP_TLS", "none")
	t.Setenv("RECONCILE_SMTP_USER", smtpUser)
	t.Setenv("RECONCILE_SMTP_PASSWORD", smtpPassword)
	t.Setenv("RECONCILE_SMTP_PASSWORD_FILE", "")
	t.Setenv("RECONCILE_MAIL_FROM", "Reconcile <reconcile@msp.example>")
	t.Setenv("RECONCILE_MAIL_TO", "finance@msp.example, controller@msp.example")
	t.Setenv("RECONCILE_MAIL_CC", "")
	t.Setenv("RECONCILE_MAIL_BCC", "")
	t.Setenv("RECONCILE_MAIL_SUBJECT", "")
	t.Setenv("RECONCILE_MAIL_MAX_BYTES", "")
	t.Setenv("RECONCILE_SMTP_RETRIES", "3")
	t.Setenv("RECONCILE_SMTP_RETRY_DELAY", "10ms")
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func deliveries(t *testing.T, db string, runID int64) []ledger.Delivery {
	t.Helper()
	s, err := ledger.Open(context.Background(), db, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ds, err := s.Deliveries(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

type jsonTotals struct {
	Totals []struct {
		Currency, Payable, Receivable, Margin string
	} `json:"totals"`
}

func TestRunEmailDeliversTheWorkbookOnDisk(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 12, Charges: 120})
	mp := testkit.StartMailpit(t, testkit.MailpitOptions{User: smtpUser, Password: smtpPassword})
	mailEnv(t, mp.SMTPHost, mp.SMTPPort)
	dir := t.TempDir()
	db, out, js := dbtest.DB(t), filepath.Join(dir, "close.xlsx"), filepath.Join(dir, "close.json")
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out, "--json", js, "--email")
	if code != exitOK {
		t.Fatalf("run --email: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, smtpPassword) {
		t.Error("stderr shows the SMTP password")
	}
	book, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("mailpit has %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "Reconciliation 2026-10: COMPLETE" {
		t.Errorf("Subject = %q", m.Subject)
	}
	var to []string
	for _, a := range m.To {
		to = append(to, a.Address)
	}
	if strings.Join(to, ",") != "finance@msp.example,controller@msp.example" {
		t.Errorf("To = %v", to)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].FileName != "reconciliation-2026-10-01_2026-10-31.xlsx" {
		t.Fatalf("attachments %+v, want the workbook named after the period", m.Attachments)
	}
	if got := sha(mp.Part(t, m.ID, m.Attachments[0].PartID)); got != sha(book) {
		t.Errorf("attachment sha256 %s, the workbook on disk %s", got, sha(book))
	}
	if m.Text == "" || !strings.Contains(m.HTML, ">COMPLETE</div>") {
		t.Errorf("no text part, or the HTML lacks the COMPLETE banner:\n%s", m.HTML)
	}
	var tot jsonTotals
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &tot); err != nil || len(tot.Totals) == 0 {
		t.Fatalf("JSON totals: %v", err)
	}
	for _, c := range tot.Totals {
		for _, v := range []string{c.Payable, c.Receivable, c.Margin} {
			if !strings.Contains(m.HTML, ">"+v+"<") {
				t.Errorf("HTML lacks the exact %s total %s", c.Currency, v)
			}
		}
	}
	ds := deliveries(t, db, 1)
	if len(ds) != 1 || ds[0].Outcome != ledger.DeliveryDelivered || ds[0].Attempts != 1 ||
		len(ds[0].Attachments) != 1 || ds[0].Attachments[0].SHA256 != sha(book) ||
		"<"+m.MessageID+">" != ds[0].MessageID || len(ds[0].Recipients) != 2 {
		t.Errorf("ledger deliveries %+v, want one delivered with the workbook's sha256 and message id <%s>", ds, m.MessageID)
	}
	if ledgerContains(t, db, smtpPassword) {
		t.Error("the ledger contains the SMTP password")
	}
}

func TestEmailServerDownThenCronDeliversOnce(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 5, Customers: 10, Charges: 100})
	dir := t.TempDir()
	db, out := dbtest.DB(t), filepath.Join(dir, "close.xlsx")
	// The server is down: nothing listens on the port.
	mailEnv(t, "127.0.0.1", testkit.FreePort(t))
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out, "--email", "-v")
	if strings.Contains(stderr, smtpPassword) {
		t.Error("the verbose log shows the SMTP password")
	}
	if !strings.Contains(stderr, "mail: transient failure, retrying") {
		t.Error("the verbose log does not show the retries")
	}
	if code != exitMailFailed {
		t.Fatalf("run --email with the server down: exit %d, want %d: %s", code, exitMailFailed, stderr)
	}
	if !strings.Contains(stderr, "written, but the mail was not delivered") || !strings.Contains(stderr, "3 attempts") {
		t.Errorf("stderr does not say the report was written and the mail failed after 3 attempts:\n%s", stderr)
	}
	book, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the report is gone after the mail failed: %v", err)
	}
	st, _ := os.Stat(out)
	ds := deliveries(t, db, 1)
	if len(ds) != 1 || ds[0].Outcome != ledger.DeliveryFailed || ds[0].Attempts != 3 || ds[0].Error == "" {
		t.Fatalf("deliveries %+v, want one failed after 3 attempts", ds)
	}

	// The cron job runs `email` again once the server is up: delivered once.
	mp := testkit.StartMailpit(t, testkit.MailpitOptions{User: smtpUser, Password: smtpPassword})
	mailEnv(t, mp.SMTPHost, mp.SMTPPort)
	for i := range 3 {
		code, _, stderr := runCLI(t, "email", "--period", "2026-10", "--db", db, "--out", out)
		if code != exitOK {
			t.Fatalf("email (cron run %d): exit %d: %s", i+1, code, stderr)
		}
		if i > 0 && !strings.Contains(stderr, "already delivered") {
			t.Errorf("cron run %d: stderr does not say the run was already delivered:\n%s", i+1, stderr)
		}
	}
	if n := len(mp.Messages(t)); n != 1 {
		t.Fatalf("after three cron runs mailpit has %d messages, want exactly 1", n)
	}
	after, _ := os.ReadFile(out)
	st2, _ := os.Stat(out)
	if !bytes.Equal(book, after) || !st.ModTime().Equal(st2.ModTime()) {
		t.Error("mailing rewrote the workbook on disk")
	}
	// --resend sends again, and is recorded.
	code, _, stderr = runCLI(t, "email", "--period", "2026-10", "--db", db, "--out", out, "--resend", "--to", "auditor@msp.example")
	if code != exitOK {
		t.Fatalf("email --resend: exit %d: %s", code, stderr)
	}
	msgs := mp.Messages(t)
	if len(msgs) != 2 || len(msgs[0].To) != 1 || msgs[0].To[0].Address != "auditor@msp.example" {
		t.Fatalf("after --resend --to: %d messages, newest to %+v", len(msgs), msgs[0].To)
	}
	ds = deliveries(t, db, 1)
	if len(ds) != 3 || ds[1].Outcome != ledger.DeliveryDelivered || ds[2].Outcome != ledger.DeliveryDelivered {
		t.Errorf("deliveries %+v, want failed, delivered, delivered", ds)
	}
	for _, m := range msgs {
		if got := sha(mp.Part(t, m.ID, m.Attachments[0].PartID)); got != sha(book) {
			t.Errorf("message %s: attachment differs from the workbook on disk", m.ID)
		}
	}
}

func TestEmailWrongPasswordFailsAtOnce(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 60})
	mp := testkit.StartMailpit(t, testkit.MailpitOptions{User: smtpUser, Password: smtpPassword})
	dir := t.TempDir()
	db, out := dbtest.DB(t), filepath.Join(dir, "close.xlsx")
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out)
	if code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	mailEnv(t, mp.SMTPHost, mp.SMTPPort)
	wrong := "not-" + smtpPassword
	t.Setenv("RECONCILE_SMTP_PASSWORD", wrong)
	code, _, stderr = runCLI(t, "email", "--run", "1", "--db", db, "--out", out)
	if code != exitMailFailed {
		t.Fatalf("email with a wrong password: exit %d, want %d: %s", code, exitMailFailed, stderr)
	}
	if !strings.Contains(stderr, "permanent failure, not retried") || !strings.Contains(strings.ToLower(stderr), "auth") {
		t.Errorf("stderr does not say authentication failed, not retried:\n%s", stderr)
	}
	if strings.Contains(stderr, wrong) {
		t.Error("stderr shows the password")
	}
	ds := deliveries(t, db, 1)
	if len(ds) != 1 || ds[0].Outcome != ledger.DeliveryFailed || ds[0].Attempts != 1 || strings.Contains(ds[0].Error, wrong) {
		t.Errorf("deliveries %+v, want one failed after one attempt, without the password", ds)
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("mailpit has %d messages, want 0", n)
	}
}

func TestEmailTransientRepliesDeliverOnce(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 60})
	mp := testkit.StartMailpit(t, testkit.MailpitOptions{User: smtpUser, Password: smtpPassword})
	front := testkit.StartFlakySMTP(t, mp.SMTPAddr(), 2, "421 4.7.0 Try again later, closing connection")
	host, port, _ := strings.Cut(front.Addr, ":")
	p, _ := strconv.Atoi(port)
	mailEnv(t, host, p)
	dir, db := t.TempDir(), dbtest.DB(t)
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "c.xlsx"), "--email")
	if code != exitOK {
		t.Fatalf("run --email through a front answering 421 twice: exit %d: %s", code, stderr)
	}
	if n := len(mp.Messages(t)); n != 1 || front.Connections() != 3 {
		t.Errorf("%d messages after %d connections, want 1 after 3", n, front.Connections())
	}
	if ds := deliveries(t, db, 1); len(ds) != 1 || ds[0].Attempts != 3 || ds[0].Outcome != ledger.DeliveryDelivered {
		t.Errorf("deliveries %+v, want one delivered on attempt 3", ds)
	}
}

func TestEmailConfigurationIsCheckedBeforeTheRun(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 60})
	dir := t.TempDir()
	db := dbtest.DB(t)
	mailEnv(t, "smtp.example.com", 25)
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "c.xlsx"), "--email")
	if code != exitUsage || !strings.Contains(stderr, "only allowed to a loopback host") {
		t.Fatalf("RECONCILE_SMTP_TLS=none to a remote host: exit %d, want %d naming loopback: %s", code, exitUsage, stderr)
	}
	if ledgerExists(t, db) {
		t.Error("the run started although the mail settings were refused")
	}
	t.Setenv("RECONCILE_SMTP_TLS", "starttls")
	t.Setenv("RECONCILE_MAIL_TO", "")
	code, _, stderr = runCLI(t, "email", "--period", "2026-10", "--db", db)
	if code != exitUsage || !strings.Contains(stderr, "no recipients") {
		t.Errorf("no recipients: exit %d: %s", code, stderr)
	}
	// A bad --compare-base is refused before the ledger is even opened.
	code, _, stderr = runCLI(t, "email", "--period", "2026-10", "--db", db, "--to", "a@msp.example", "--compare-base", "2026-13")
	if code != exitUsage || !strings.Contains(stderr, "--compare-base") || !strings.Contains(stderr, "YYYY-MM") {
		t.Errorf("--compare-base 2026-13: exit %d: %s", code, stderr)
	}
}

func TestEmailDryRunWritesTheExactMessage(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 60})
	dir := t.TempDir()
	db, out, eml := dbtest.DB(t), filepath.Join(dir, "c.xlsx"), filepath.Join(dir, "m.eml")
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "run.xlsx")); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	mailEnv(t, "smtp.example.com", 587)
	t.Setenv("RECONCILE_SMTP_TLS", "starttls")
	t.Setenv("RECONCILE_MAIL_SUBJECT", "{{.Status}} close {{.Period}} (run {{.RunID}})")
	// No workbook yet at --out: it is written first, then the message.
	code, _, stderr := runCLI(t, "email", "--period", "2026-10", "--db", db, "--out", out, "--dry-run", eml)
	if code != exitOK {
		t.Fatalf("email --dry-run: exit %d: %s", code, stderr)
	}
	book, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the workbook was not written before the message: %v", err)
	}
	raw, err := os.ReadFile(eml)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject: COMPLETE close 2026-10 (run 1)", "multipart/alternative", "text/plain", "text/html",
		`application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name="reconciliation-2026-10-01_2026-10-31.xlsx"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the .eml lacks %q", want)
		}
	}
	if bytes.Contains(raw, []byte(smtpPassword)) || bytes.Contains(raw, []byte(smtpUser)) {
		t.Error("the .eml contains SMTP credentials")
	}
	if !bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte(b64(book[:300]))) {
		t.Error("the .eml does not carry the workbook's bytes")
	}
	if ds := deliveries(t, db, 1); len(ds) != 0 {
		t.Errorf("a dry run recorded deliveries: %+v", ds)
	}
}

func TestEmailOverTheSizeLimit(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 9, Customers: 20, Charges: 1500})
	mp := testkit.StartMailpit(t, testkit.MailpitOptions{User: smtpUser, Password: smtpPassword})
	mailEnv(t, mp.SMTPHost, mp.SMTPPort)
	dir := t.TempDir()
	db, out := dbtest.DB(t), filepath.Join(dir, "c.xlsx")
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	// The full workbook does not fit (base64 makes it a third larger); the
	// one without detail does.
	t.Setenv("RECONCILE_MAIL_MAX_BYTES", strconv.FormatInt(st.Size(), 10))
	code, _, stderr := runCLI(t, "email", "--run", "1", "--db", db, "--out", out)
	if code != exitOK {
		t.Fatalf("email over the limit: exit %d: %s", code, stderr)
	}
	msgs := mp.Messages(t)
	if len(msgs) != 1 || len(msgs[0].Attachments) != 1 {
		t.Fatalf("%d messages, want 1 with one attachment", len(msgs))
	}
	m := msgs[0]
	a := m.Attachments[0]
	if a.FileName != "reconciliation-2026-10-01_2026-10-31-without-detail.xlsx" || m.Size > st.Size() {
		t.Errorf("attachment %s, message %d bytes (limit %d)", a.FileName, m.Size, st.Size())
	}
	if !strings.Contains(m.HTML, "leaves out the Payable and Receivable detail sheets") || !strings.Contains(m.Text, "detail sheets") {
		t.Error("the message does not say the detail was left out")
	}
	f, err := excelize.OpenReader(bytes.NewReader(mp.Part(t, m.ID, a.PartID)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.GetSheetList(), ","); strings.Contains(got, "Payable") || strings.Contains(got, "Receivable") || !strings.HasPrefix(got, "Summary,") {
		t.Errorf("sheets of the attached workbook %v, want those of --detail csv (no Payable or Receivable sheet)", got)
	}

	// Too large even without the detail: nothing is sent, exit 5, recorded.
	t.Setenv("RECONCILE_MAIL_MAX_BYTES", "2000")
	code, _, stderr = runCLI(t, "email", "--run", "1", "--db", db, "--out", out, "--resend")
	if code != exitMailFailed || !strings.Contains(stderr, "over the size limit") {
		t.Fatalf("email far over the limit: exit %d, want %d: %s", code, exitMailFailed, stderr)
	}
	if n := len(mp.Messages(t)); n != 1 {
		t.Errorf("mailpit has %d messages, want still 1: no half message", n)
	}
	ds := deliveries(t, db, 1)
	if len(ds) != 2 || ds[1].Outcome != ledger.DeliveryFailed || !strings.Contains(ds[1].Error, "size limit") {
		t.Errorf("deliveries %+v, want the second failed for its size", ds)
	}
}

func b64(b []byte) string {
	// Whole 3-byte groups, so the text matches inside a longer encoding.
	return base64Std(b[:len(b)/3*3])
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestEmailHelpAndExitTableShowCode5(t *testing.T) {
	dbtest.NoLedger(t)
	code, _, stderr := runCLI(t, "email", "-h")
	if code != exitOK || !strings.Contains(stderr, "--resend") || !strings.Contains(stderr, "--dry-run") || !strings.Contains(stderr, "--compare-base") {
		t.Errorf("email -h: exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(exitTable, "\n  5    mail failed: the report was written") {
		t.Error("the exit table lacks code 5")
	}
	_, stdout, _ := runCLI(t, "-h")
	for _, v := range []string{"RECONCILE_SMTP_HOST", "RECONCILE_SMTP_TLS", "RECONCILE_SMTP_PASSWORD", "RECONCILE_MAIL_TO", "email "} {
		if !strings.Contains(stdout, v) {
			t.Errorf("reconcile -h does not mention %s", v)
		}
	}
}

func TestRunEmailIncompleteSaysWhoIsMissing(t *testing.T) {
	cfg := sherwebsim.Config{Seed: 3, Customers: 8, Charges: 60}
	bad := sherwebsim.New(cfg).Customers()[2]
	cfg.Faults.FailCustomerAlways = []string{bad.ID}
	simEnv(t, cfg)
	mp := testkit.StartMailpit(t, testkit.MailpitOptions{User: smtpUser, Password: smtpPassword})
	mailEnv(t, mp.SMTPHost, mp.SMTPPort)
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", dbtest.DB(t), "--out", filepath.Join(dir, "c.xlsx"), "--email", "--max-attempts", "2")
	if code != exitIncomplete {
		t.Fatalf("run --email, one customer failing: exit %d, want %d (incomplete, mailed): %s", code, exitIncomplete, stderr)
	}
	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "Reconciliation 2026-10: INCOMPLETE" || !strings.Contains(m.HTML, ">INCOMPLETE</div>") ||
		!strings.Contains(m.HTML, bad.ID) || !strings.Contains(m.Text, bad.ID) {
		t.Errorf("subject %q; the message does not show the INCOMPLETE banner and the missing customer %s:\n%s", m.Subject, bad.ID, m.HTML)
	}
}
