package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testEnv runs commands in-process with captured output and a private
// environment.
func testEnv(t *testing.T, vars map[string]string) (*env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	home := t.TempDir()
	return &env{stdin: stdin, stdout: &out, stderr: &errb, getenv: func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if k == "HOME" {
			return home
		}
		return ""
	}}, &out, &errb
}

func TestUsageAndUnknownCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Commands:"},
		{[]string{"help"}, 0, "Commands:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"user"}, 2, "usage: stepgate user add|list"},
		{[]string{"user", "add"}, 2, "exactly one NAME"},
		{[]string{"user", "add", "a", "b"}, 2, "exactly one NAME"},
		{[]string{"serve", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"serve", "--help"}, 0, "Runs stepgate"},
		{[]string{"elevate", "--for", "0s", "--server", "https://x", "--user", "a"}, 2, "--for must be"},
		{[]string{"kubeconfig", "--user", "Bad Name"}, 2, "--user"},
		{[]string{"rules", "explain"}, 2, "--user is required"},
		{[]string{"token"}, 2, "usage: stepgate token"},
		{[]string{"version"}, 0, "stepgate dev"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			e, out, errb := testEnv(t, nil)
			code := run(context.Background(), e, tc.args)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Errorf("exit %d (want %d), output:\n%s%s", code, tc.code, out.String(), errb.String())
			}
		})
	}
}

func TestFlagsAfterPositionals(t *testing.T) {
	t.Parallel()
	e, _, _ := testEnv(t, nil)
	fs := newFlags(e, "x", "x", "")
	g := fs.String("groups", "", "")
	pos, err := parse(fs, []string{"alice", "--groups", "a,b", "extra", "--", "--literal"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alice", "extra", "--literal"}, pos); diff != "" || *g != "a,b" {
		t.Errorf("positionals (-want +got):\n%s groups %q", diff, *g)
	}
	if diff := cmp.Diff([]string{"a", "b"}, splitList(" a, ,b,")); diff != "" {
		t.Errorf("splitList: %s", diff)
	}
}

func TestExecInfoHostile(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"not json":      "{{{",
		"wrong version": `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":true}}`,
		"wrong types":   `{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":"yes"}}`,
		"huge":          `{"apiVersion":"` + strings.Repeat("a", 1<<20) + `"}`,
	}
	for name, v := range cases {
		e, _, _ := testEnv(t, map[string]string{"KUBERNETES_EXEC_INFO": v})
		if _, err := execInfo(e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	e, _, _ := testEnv(t, map[string]string{"KUBERNETES_EXEC_INFO": `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false,"cluster":{"server":"https://sg:8443"}}}`})
	info, err := execInfo(e)
	if err != nil || info.Spec.Interactive || info.Spec.Cluster.Server != "https://sg:8443" {
		t.Errorf("valid exec info: %+v %v", info, err)
	}
}

// The plugin without a terminal and without a cached token prints one line
// and fails at once; it never waits for input.
func TestCredentialNeverHangsWithoutATerminal(t *testing.T) {
	t.Parallel()
	e, out, errb := testEnv(t, map[string]string{"KUBERNETES_EXEC_INFO": `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`})
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), e, []string{"credential", "--server", "https://127.0.0.1:1", "--user", "alice"})
	}()
	select {
	case code := <-done:
		if code != 1 || out.Len() != 0 || !strings.Contains(errb.String(), "cannot prompt") || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin waited instead of failing")
	}
}

func TestTokenCacheHostileFiles(t *testing.T) {
	t.Parallel()
	e, _, _ := testEnv(t, nil)
	tg := &target{server: "https://sg:8443", user: "alice"}
	now := time.Now()
	if err := saveCached(e, tg, "sgs_token", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cacheFile(e, tg))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file mode %v %v", st.Mode(), err)
	}
	if c := loadCached(e, tg, now); c == nil || c.Token != "sgs_token" {
		t.Fatalf("round trip: %+v", c)
	}
	for name, body := range map[string]string{
		"garbage":      "\x00\x01not json",
		"other server": `{"server":"https://evil","user":"alice","token":"x","expiresAt":"2999-01-01T00:00:00Z"}`,
		"expired":      `{"server":"https://sg:8443","user":"alice","token":"x","expiresAt":"2000-01-01T00:00:00Z"}`,
		"empty token":  `{"server":"https://sg:8443","user":"alice","token":"","expiresAt":"2999-01-01T00:00:00Z"}`,
	} {
		os.WriteFile(cacheFile(e, tg), []byte(body), 0o600)
		if c := loadCached(e, tg, now); c != nil {
			t.Errorf("%s: used %+v", name, c)
		}
	}
	if filepath.Dir(cacheFile(e, tg)) != filepath.Join(e.getenv("HOME"), ".cache", "stepgate", "sessions") {
		t.Errorf("cache dir %s", cacheFile(e, tg))
	}
}

func TestKubectlRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		verb, res, ns, method, path string
		bad                         bool
	}{
		{"delete", "pods/web", "prod-eu", "DELETE", "/api/v1/namespaces/prod-eu/pods/web", false},
		{"list", "deployments.apps", "dev", "GET", "/apis/apps/v1/namespaces/dev/deployments", false},
		{"watch", "pods", "", "GET", "/api/v1/pods?watch=true", false},
		{"exec", "pods/web", "default", "GET", "/api/v1/namespaces/default/pods/web/exec", false},
		{"port-forward", "pods/web", "default", "GET", "/api/v1/namespaces/default/pods/web/portforward", false},
		{"deletecollection", "pods", "prod-eu", "DELETE", "/api/v1/namespaces/prod-eu/pods", false},
		{"exec", "pods", "default", "", "", true},
		{"frob", "pods", "", "", "", true},
		{"get", "", "", "", "", true},
	}
	for _, tc := range cases {
		m, p, err := kubectlRequest(tc.verb, tc.res, tc.ns)
		if tc.bad {
			if err == nil {
				t.Errorf("%s %s: accepted", tc.verb, tc.res)
			}
			continue
		}
		if err != nil || m != tc.method || p != tc.path {
			t.Errorf("%s %s -n %s: %s %s %v", tc.verb, tc.res, tc.ns, m, p, err)
		}
	}
}

func TestRulesExplainAndCheck(t *testing.T) {
	t.Parallel()
	e, out, errb := testEnv(t, nil)
	rules := filepath.Join("..", "..", "config", "examples", "rules.yaml")
	if code := run(context.Background(), e, []string{"rules", "explain", "--rules", rules, "--user", "alice", "--groups", "dev", "delete", "pods/web", "-n", "prod-eu"}); code != 0 {
		t.Fatalf("explain: %d %s", code, errb.String())
	}
	for _, want := range []string{"request: DELETE /api/v1/namespaces/prod-eu/pods/web", "rules[0] prod-delete: MATCH",
		"decision: stepUp by rule prod-delete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), e, []string{"rules", "explain", "--rules", rules, "--user", "alice", "get", "pods/web", "-n", "prod-eu"}); code != 0 ||
		!strings.Contains(out.String(), "decision: allow") || strings.Contains(out.String(), ": MATCH") {
		t.Errorf("explain of a request no rule matches: %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), e, []string{"rules", "explain", "--rules", rules, "--user", "alice", "--method", "GET", "--path", "/api/v1/namespaces/x/pods/../secrets"}); code != 1 {
		t.Errorf("explain of a non-canonical path: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), e, []string{"rules", "check", rules}); code != 0 || !strings.Contains(out.String(), "5 rules") {
		t.Errorf("check: %d %s %s", code, out.String(), errb.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: stepgate.io/v1alpha1\nkind: StepgateRules\nrules:\n- name: x\n  match: {verbs: [get, dlete]}\n  action: stepUp\n"), 0o600)
	errb.Reset()
	if code := run(context.Background(), e, []string{"rules", "check", bad}); code == 0 || !strings.Contains(errb.String(), "rules[0].match.verbs[1]") ||
		!strings.Contains(errb.String(), "did you mean delete") {
		t.Errorf("check of a bad file: exit %d, stderr:\n%s", code, errb.String())
	}
}

// TestPrintExecCredential: what the plugin hands kubectl is a
// client.authentication.k8s.io/v1 ExecCredential with the token and its
// expiry, so client-go runs the plugin again only when the session ends.
func TestPrintExecCredential(t *testing.T) {
	t.Parallel()
	e, out, _ := testEnv(t, nil)
	expires := time.Date(2026, 12, 1, 21, 30, 0, 0, time.UTC)
	if err := printExecCredential(e, "sgs_example", expires); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	want := map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": map[string]any{"interactive": false},
		"status": map[string]any{"token": "sgs_example", "expirationTimestamp": "2026-12-01T21:30:00Z"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exec credential (-want +got):\n%s", diff)
	}
}
