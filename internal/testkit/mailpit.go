package testkit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1" // the htpasswd {SHA} format mailpit reads; a test password
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MailpitEnv names the mailpit binary for the tests; without it they look
// for bin/mailpit at the module root (built by `make bin/mailpit` from the
// version pinned in tools/go.mod).
const MailpitEnv = "RECONCILE_MAILPIT"

// MailpitBinary finds the mailpit binary. When it is missing the test
// fails if $CI is set (CI must run the mail tests) and is skipped
// otherwise.
func MailpitBinary(tb testing.TB) string {
	tb.Helper()
	// A relative $RECONCILE_MAILPIT (bin/mailpit) is relative to the module
	// root: go test runs each package in its own folder.
	path := os.Getenv(MailpitEnv)
	if root, err := moduleRoot(); err == nil {
		switch {
		case path == "":
			path = filepath.Join(root, "bin", "mailpit")
		case !filepath.IsAbs(path):
			path = filepath.Join(root, path)
		}
	}
	if path != "" {
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			return path
		}
	}
	msg := fmt.Sprintf("mailpit not found (%s=%q, or bin/mailpit at the module root): run `make bin/mailpit`", MailpitEnv, path)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + " (CI is set: the mail tests must run)")
	}
	tb.Skip(msg)
	return ""
}

// moduleRoot is the folder of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// MailpitOptions configure a mailpit server.
type MailpitOptions struct {
	// User and Password, when set, are the only SMTP credentials accepted
	// (--smtp-auth-file); otherwise any credentials are (--smtp-auth-accept-any).
	User, Password string
}

// Mailpit is a real mailpit server on loopback: SMTP (plain, with AUTH
// allowed without TLS) and its HTTP API.
type Mailpit struct {
	SMTPHost string
	SMTPPort int
	API      string // http://127.0.0.1:port
	cmd      *exec.Cmd
}

// StartMailpit starts mailpit on free loopback ports and stops it when the
// test ends.
func StartMailpit(tb testing.TB, opts MailpitOptions) *Mailpit {
	tb.Helper()
	bin := MailpitBinary(tb)
	dir := tb.TempDir()
	smtpPort, httpPort := FreePort(tb), FreePort(tb)
	args := []string{
		"--smtp", "127.0.0.1:" + strconv.Itoa(smtpPort),
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-auth-allow-insecure",
		"--disable-version-check",
		"--smtp-disable-rdns",
		"--max-message-size", "0",
		"--quiet",
	}
	if opts.User != "" {
		sum := sha1.Sum([]byte(opts.Password))
		auth := filepath.Join(dir, "smtp-auth")
		line := opts.User + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
		if err := os.WriteFile(auth, []byte(line), 0o600); err != nil {
			tb.Fatal(err)
		}
		args = append(args, "--smtp-auth-file", auth)
	} else {
		args = append(args, "--smtp-auth-accept-any")
	}
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start mailpit: %v", err)
	}
	m := &Mailpit{SMTPHost: "127.0.0.1", SMTPPort: smtpPort, API: "http://127.0.0.1:" + strconv.Itoa(httpPort), cmd: cmd}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("mailpit output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(m.API + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", m.SMTPAddr(), time.Second); err == nil {
					line, _ := bufio.NewReader(c).ReadString('\n')
					_ = c.Close()
					if strings.HasPrefix(line, "220") {
						return m
					}
				}
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mailpit did not become ready in 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SMTPAddr is host:port of the SMTP server.
func (m *Mailpit) SMTPAddr() string { return net.JoinHostPort(m.SMTPHost, strconv.Itoa(m.SMTPPort)) }

// Stop stops the server (to test a server that is down).
func (m *Mailpit) Stop() {
	_ = m.cmd.Process.Kill()
	_, _ = m.cmd.Process.Wait()
}

// MailpitAddress is an address in a mailpit message.
type MailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// MailpitAttachment is an attachment in a mailpit message.
type MailpitAttachment struct {
	PartID      string `json:"PartID"`
	FileName    string `json:"FileName"`
	ContentType string `json:"ContentType"`
	Size        int64  `json:"Size"`
}

// MailpitMessage is a message as mailpit's API returns it.
type MailpitMessage struct {
	ID          string              `json:"ID"`
	MessageID   string              `json:"MessageID"`
	From        *MailpitAddress     `json:"From"`
	To          []MailpitAddress    `json:"To"`
	Cc          []MailpitAddress    `json:"Cc"`
	Bcc         []MailpitAddress    `json:"Bcc"`
	Subject     string              `json:"Subject"`
	Text        string              `json:"Text"`
	HTML        string              `json:"HTML"`
	Size        int64               `json:"Size"`
	Attachments []MailpitAttachment `json:"Attachments"`
}

// Messages lists the stored messages (newest first) with their full
// content.
func (m *Mailpit) Messages(tb testing.TB) []MailpitMessage {
	tb.Helper()
	var list struct {
		Messages []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	m.getJSON(tb, "/api/v1/messages?limit=1000", &list)
	out := make([]MailpitMessage, 0, len(list.Messages))
	for _, s := range list.Messages {
		var msg MailpitMessage
		m.getJSON(tb, "/api/v1/message/"+s.ID, &msg)
		out = append(out, msg)
	}
	return out
}

// Part returns the bytes of one part (an attachment) of a message.
func (m *Mailpit) Part(tb testing.TB, id, partID string) []byte {
	tb.Helper()
	return m.get(tb, "/api/v1/message/"+id+"/part/"+partID)
}

// Raw returns the message as received.
func (m *Mailpit) Raw(tb testing.TB, id string) []byte {
	tb.Helper()
	return m.get(tb, "/api/v1/message/"+id+"/raw")
}

func (m *Mailpit) getJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	if err := json.Unmarshal(m.get(tb, path), v); err != nil {
		tb.Fatalf("mailpit %s: %v", path, err)
	}
}

func (m *Mailpit) get(tb testing.TB, path string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.API+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("mailpit %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit %s: status %d, %v: %s", path, resp.StatusCode, err, b)
	}
	return b
}

// FreePort is a TCP port free on loopback a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close() //nolint:errcheck // a probe listener
	return l.Addr().(*net.TCPAddr).Port
}

// FlakySMTP is a TCP front for an SMTP server: it answers the first
// Failures connections itself with Reply (e.g. "421 4.3.2 try again later")
// and closes them, then forwards every later connection to Upstream.
type FlakySMTP struct {
	Addr        string // host:port to connect to
	Connections func() int
}

// StartFlakySMTP starts the front on a loopback port.
func StartFlakySMTP(tb testing.TB, upstream string, failures int, reply string) *FlakySMTP {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	conns := make(chan int, 1)
	conns <- 0
	done := make(chan struct{})
	tb.Cleanup(func() {
		close(done)
		_ = l.Close()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := <-conns + 1
			conns <- n
			if n <= failures {
				_, _ = io.WriteString(c, reply+"\r\n")
				_ = c.Close()
				continue
			}
			go proxy(c, upstream, done)
		}
	}()
	return &FlakySMTP{
		Addr: l.Addr().String(),
		Connections: func() int {
			n := <-conns
			conns <- n
			return n
		},
	}
}

func proxy(c net.Conn, upstream string, done <-chan struct{}) {
	defer c.Close() //nolint:errcheck // a test proxy connection
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close() //nolint:errcheck // a test proxy connection
	finished := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); finished <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); finished <- struct{}{} }()
	select {
	case <-finished:
	case <-done:
	}
}
