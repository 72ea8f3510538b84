package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// term runs a command on a pseudo-terminal, as a person at a shell would,
// so the credential plugin sees an interactive kubectl and prompts.
type term struct {
	t    *testing.T
	cmd  *exec.Cmd
	f    *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	pos  int // how much of out expect has consumed
	done chan struct{}
	err  error
}

func startTerm(t *testing.T, envv []string, name string, args ...string) *term {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = envv
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, cmd: cmd, f: f, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				break
			}
		}
		tm.err = cmd.Wait()
		close(tm.done)
	}()
	t.Cleanup(func() {
		select {
		case <-tm.done:
		default:
			cmd.Process.Kill()
			<-tm.done
		}
		f.Close()
	})
	return tm
}

// output is everything printed so far, with terminal line endings undone.
func (tm *term) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return strings.ReplaceAll(tm.out.String(), "\r\n", "\n")
}

// expect waits for pattern to appear after what earlier expects consumed
// and returns the text up to the end of the match.
func (tm *term) expect(pattern string) string {
	tm.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(60 * time.Second)
	for {
		tm.mu.Lock()
		text := strings.ReplaceAll(tm.out.String(), "\r\n", "\n")
		pos := min(tm.pos, len(text))
		if loc := re.FindStringIndex(text[pos:]); loc != nil {
			tm.pos = pos + loc[1]
			tm.mu.Unlock()
			return text[pos : pos+loc[1]]
		}
		tm.mu.Unlock()
		select {
		case <-tm.done:
			tm.t.Fatalf("%q never appeared; the command ended (%v) after printing:\n%s", pattern, tm.err, tm.output())
		default:
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("%q did not appear within 60s; output so far:\n%s", pattern, tm.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tm *term) send(line string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.f, line+"\n"); err != nil {
		tm.t.Fatalf("type into the terminal: %v", err)
	}
}

// waitNoEcho waits until the program has switched the terminal's echo
// off, as it does before reading a password, so that what the test types
// next is not echoed by the terminal itself before the program is ready.
func (tm *term) waitNoEcho() {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(tm.f.Fd()), unix.TCGETS)
		if err != nil {
			tm.t.Fatalf("read the terminal's settings: %v", err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("echo still on 30s after the password prompt; output:\n%s", tm.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the command to end and returns its output and error.
func (tm *term) wait() (string, error) {
	tm.t.Helper()
	select {
	case <-tm.done:
	case <-time.After(90 * time.Second):
		tm.t.Fatalf("command still running after 90s; output:\n%s", tm.output())
	}
	return tm.output(), tm.err
}

// mustSucceed waits and fails the test if the command failed.
func (tm *term) mustSucceed() string {
	tm.t.Helper()
	out, err := tm.wait()
	if err != nil {
		tm.t.Fatalf("command failed (%v):\n%s", err, out)
	}
	return out
}
