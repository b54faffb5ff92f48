//go:build linux

package dbtest

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverChildEnv makes TestServerChild (in a re-executed test binary) start
// a server, print its folder and wait to be killed: "1" as the tests do,
// "nodeath" without the parent-death signal (a server left behind).
const serverChildEnv = "DBTEST_SERVER_CHILD"

func TestServerChild(t *testing.T) {
	mode := os.Getenv(serverChildEnv)
	if mode == "" {
		t.Skip("the helper process of TestKilledOwnerLeavesNoServer")
	}
	if mode == "nodeath" {
		pdeathsig = 0
	}
	u, _, err := StartServer()
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	pu, _ := url.Parse(u)
	fmt.Printf("server %s\n", pu.Query().Get("host"))
	time.Sleep(5 * time.Minute) // killed long before
	os.Exit(1)
}

// startServerChild runs TestServerChild in a new process and returns it and
// the folder of its server.
func startServerChild(t *testing.T, mode string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serverChildEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "server ") || strings.HasPrefix(sc.Text(), "error ") {
				line <- sc.Text()
				return
			}
		}
		line <- "error: no output"
	}()
	select {
	case l := <-line:
		dir, ok := strings.CutPrefix(l, "server ")
		if !ok {
			t.Fatalf("child: %s", l)
		}
		return cmd, dir
	case <-time.After(2 * time.Minute):
		t.Fatal("the child did not start its server in 2 minutes")
	}
	return nil, ""
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// gone waits up to d for process pid to end.
func gone(pid int, d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if procStart(pid) == "" {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func killChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// A test binary SIGKILLed while its server runs leaves no server behind:
// the postmaster gets its parent-death signal and shuts down, and the
// folder it leaves is removed by the next StartServer's sweep. A server that
// outlived its owner anyway (here: started without the parent-death signal)
// is stopped by the sweep.
func TestKilledOwnerLeavesNoServer(t *testing.T) {
	if _, err := binDir(); err != nil {
		if required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Run("parent-death signal", func(t *testing.T) {
		cmd, dir := startServerChild(t, "1")
		pid := postmasterPID(t, dir)
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // should it fail
		if gone(pid, 0) {
			t.Fatalf("postmaster %d is not running", pid)
		}
		killChild(t, cmd)
		if !gone(pid, 15*time.Second) {
			t.Fatalf("postmaster %d still runs 15s after its owner was SIGKILLed", pid)
		}
		if !stale(dir) {
			t.Fatalf("the folder %s of a dead owner is not stale", dir)
		}
		sweepStale()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the sweep left the folder %s (%v)", dir, err)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		cmd, dir := startServerChild(t, "nodeath")
		pid := postmasterPID(t, dir)
		killChild(t, cmd)
		if gone(pid, time.Second) {
			t.Fatalf("postmaster %d ended with its owner although started without the parent-death signal: nothing to sweep", pid)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		start := time.Now()
		sweepStale()
		if !gone(pid, 0) {
			t.Fatalf("postmaster %d of a dead owner still runs after the sweep", pid)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the sweep left the folder %s (%v)", dir, err)
		}
		t.Logf("swept in %v", time.Since(start).Round(time.Millisecond))
	})
}

// A live owner's folder is never swept.
func TestSweepKeepsLiveServers(t *testing.T) {
	dir := t.TempDir()
	if err := writeOwner(dir); err != nil {
		t.Fatal(err)
	}
	if stale(dir) {
		t.Fatal("the folder of a live owner (this process) is stale")
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte("1 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !stale(dir) {
		t.Fatal("an owner whose start time does not match (a reused pid) is live")
	}
	if err := os.Remove(filepath.Join(dir, ownerFile)); err != nil {
		t.Fatal(err)
	}
	if stale(dir) {
		t.Fatal("a fresh folder without owner file (a server being started) is stale")
	}
}
