//go:build linux

package dbtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	serverDirPrefix = "reconcile-pg-" // os.TempDir()/reconcile-pg-*: one server each
	ownerFile       = "owner"         // "pid starttime" of the process that started the server
	// legacyStaleAge is when a folder without an owner file (an older
	// dbtest, which wrote none) counts as left behind: no test binary runs
	// that long.
	legacyStaleAge = 6 * time.Hour
)

// pdeathsig is the postmaster's parent-death signal: SIGQUIT, PostgreSQL's
// immediate shutdown. The sweep's test turns it off to leave a server behind.
var pdeathsig = syscall.SIGQUIT

// server is a running postmaster, a child of this process.
type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited and been reaped
}

// spawner starts processes from one OS thread that stays locked, and alive,
// as long as the process: Linux sends the parent-death signal when the
// thread that forked the child exits, and the Go runtime may end other
// threads.
var spawner struct {
	once sync.Once
	req  chan spawnReq
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func startLocked(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.req = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives until the process ends
			for r := range spawner.req {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawner.req <- r
	return <-r.err
}

func lookupUser(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// startPostmaster runs the server of dir/data as a child of this process
// (as cred's user when set) that gets pdeathsig when this process dies, and
// waits until it accepts connections.
func startPostmaster(bin, dir string, cred *syscall.Credential) (*server, error) {
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() //nolint:errcheck // the child holds its own descriptor
	//nolint:gosec // test helper: a fixed binary
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C of the tests reaches the test binary,
	// whose death then stops the server (pdeathsig).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: pdeathsig, Credential: cred, Setpgid: true}
	if err := startLocked(cmd); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ready(data) {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited at start:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres not ready after 60s:\n%s", log)
		}
	}
}

// ready reports whether the postmaster of data accepts connections: the
// status line (the 8th) of postmaster.pid says "ready".
func ready(data string) bool {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready"
}

// stop shuts the server down at once (SIGQUIT, as pg_ctl -m immediate) and
// waits for it to exit.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// writeOwner records this process as the owner of the server folder dir.
func writeOwner(dir string) error {
	pid := os.Getpid()
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(fmt.Sprintf("%d %s\n", pid, procStart(pid))), 0o644)
}

// procStart is the start time of process pid (field 22 of /proc/pid/stat),
// or "" when there is no such process or it is a zombie: with the pid it
// names one process, even after the pid is reused.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return ""
	}
	return f[19]
}

// stale reports whether the server folder dir was left behind: its owner
// is gone (or, without an owner file, it is older than legacyStaleAge).
func stale(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if errors.Is(err, os.ErrNotExist) {
		fi, err := os.Stat(dir)
		return err == nil && time.Since(fi.ModTime()) > legacyStaleAge
	}
	if err != nil {
		return false
	}
	var pid int
	var start string
	if _, err := fmt.Sscan(string(b), &pid, &start); err != nil {
		return false // being written
	}
	return procStart(pid) != start
}

// sweepStale stops the servers left running by test processes that died
// without their cleanup (e.g. SIGKILLed), and removes their folders.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), serverDirPrefix+"*"))
	for _, dir := range dirs {
		if !stale(dir) {
			continue
		}
		if err := stopOrphan(filepath.Join(dir, "data")); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: left-behind server in %s: %v\n", dir, err)
			continue
		}
		if err := os.RemoveAll(dir); err == nil {
			fmt.Fprintf(os.Stderr, "dbtest: removed the left-behind server folder %s\n", dir)
		}
	}
}

// stopOrphan stops the postmaster of data, if one runs: SIGQUIT, then
// SIGKILL if it has not exited after 10 seconds.
func stopOrphan(data string) error {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return nil // no server was running
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 1 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(data)) {
		return nil // gone, or the pid is now another process's
	}
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGKILL} {
		if err := syscall.Kill(pid, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("signal postmaster %d: %w", pid, err)
		}
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if procStart(pid) == "" {
				return nil
			}
		}
	}
	return fmt.Errorf("postmaster %d still runs after SIGKILL", pid)
}
