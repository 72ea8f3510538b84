package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a process that starts a child
// with the spawner and then waits to be killed.
const helperEnv = "STEPGATE_HARNESS_SPAWN_HELPER"

// TestChildrenDieWithParent kills (SIGKILL, no cleanup) a process that
// started a child through the spawner, and wants the child gone too.
func TestChildrenDieWithParent(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		spawnHelper()
		return
	}
	t.Parallel()
	helper := exec.Command(os.Args[0], "-test.run=^TestChildrenDieWithParent$")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = helper.Process.Kill(); _ = helper.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	if !alive(child) {
		t.Fatalf("child %d not running before its parent died", child)
	}
	_ = helper.Process.Kill()
	_ = helper.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(child) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d still running 10s after its parent was killed", child)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spawnHelper starts `sleep` through a spawner, prints its pid, keeps the
// Go runtime busy on other threads, and waits to be killed.
func spawnHelper() {
	s := newSpawner()
	cmd := exec.Command("sleep", "600")
	if err := s.start(cmd); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(cmd.Process.Pid)
	for {
		done := make(chan struct{})
		go func() { time.Sleep(time.Millisecond); close(done) }()
		<-done
	}
}

// alive says whether pid exists and is not a zombie waiting for a reaper.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces, so split after the ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// TestStartFailureReportsLogAndCleansUp starts a "cluster" whose etcd is a
// shell that rejects etcd's flags, and wants an error with the shell's
// output and no working dir left behind.
func TestStartFailureReportsLogAndCleansUp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	tools := &Tools{Etcd: "/bin/sh", KubeAPIServer: "/bin/false", Kubectl: "/bin/false", Kwok: "/bin/false", KwokStages: tmp}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Tools: tools})
	if err == nil {
		c.Stop()
		t.Fatal("Start with a broken etcd succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"etcd exited before it was ready", "--- last lines of ", "etcd.log ---\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if i := strings.Index(msg, "etcd.log ---\n"); i < 0 || strings.TrimSpace(msg[i+len("etcd.log ---\n"):]) == "" {
		t.Errorf("error %q carries no log lines", msg)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("Start left %v in the temp dir", entries)
	}
}
