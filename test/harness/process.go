package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a component gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// spawner starts child processes from one goroutine locked to its OS
// thread. The kernel sends a child's parent-death signal (Pdeathsig) when
// the thread that forked it exits, not when the process does, and the Go
// runtime ends threads at will; a thread that stays locked never goes back
// to the runtime's pool, so the children die exactly when the test binary
// does, however it ends. The thread ends after stop, when the children
// are gone.
type spawner struct {
	reqs     chan spawnReq
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		// Never unlocked: when this goroutine returns, its thread exits.
		runtime.LockOSThread()
		defer close(s.done)
		for {
			select {
			case r := <-s.reqs:
				r.err <- r.cmd.Start()
			case <-s.quit:
				return
			}
		}
	}()
	return s
}

// start starts cmd in its own process group, killed when this process
// dies.
func (s *spawner) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	select {
	case s.reqs <- r:
		return <-r.err
	case <-s.done:
		return errors.New("the cluster is stopped")
	}
}

// stop ends the spawner's thread; call it when no child is left.
func (s *spawner) stop() {
	s.stopOnce.Do(func() { close(s.quit) })
	<-s.done
}

// proc is a started component with its log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// startProc starts a component with its output in <dir>/<name>.log.
func (c *Cluster) startProc(name string, args, env []string) (*proc, error) {
	logPath := filepath.Join(c.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), env...)
	if err := c.spawner.start(cmd); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, log: f, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// waits for the process to be gone.
func (p *proc) stop(grace time.Duration) {
	if p.running() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
		}
	}
	// Kill the group in any case: what the component started (kwok's exec
	// shells) may outlive it.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	_ = p.log.Close()
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// logTailLines is how much of a component's log an error carries.
const logTailLines = 30

// tail returns the last lines of the process's log, for error messages.
func (p *proc) tail() string {
	return fileTail(p.logPath, logTailLines)
}

// fileTail returns the last n lines of a file, under a header naming it.
func fileTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const window = 32 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	data, err := io.ReadAll(io.LimitReader(f, window))
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s", path, strings.Join(lines, "\n"))
}

// freePorts finds n distinct free loopback ports. They are released before
// the components bind them, so another process could take one meanwhile;
// the component then fails to start and says so in the error.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
