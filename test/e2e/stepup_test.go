package e2e

import (
	"strings"
	"testing"
	"time"
)

const stepUpRules = `
- name: prod-delete
  match: {verbs: [delete], namespaces: ["prod-*"]}
  action: stepUp
- name: staging-delete
  match: {verbs: [delete], namespaces: [staging]}
  action: stepUp
  maxAge: 10m
- name: pod-access
  match: {apiGroups: [""], resources: [pods/exec, pods/attach, pods/portforward]}
  action: stepUp
`

// pods creates pods (namespace/name) as the admin and waits for them.
func pods(t *testing.T, names ...string) {
	t.Helper()
	var sb strings.Builder
	for _, n := range names {
		ns, name, _ := strings.Cut(n, "/")
		sb.WriteString(podManifest(ns, name) + "---\n")
	}
	ctx := ctxFor(t, 2*time.Minute)
	if err := env.cluster.Apply(ctx, sb.String()); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		ns, name, _ := strings.Cut(n, "/")
		if err := env.cluster.WaitPodRunning(ctx, ns, name); err != nil {
			t.Fatal(err)
		}
	}
}

// stepUpUser makes a signed-in user of group devs with a kubeconfig.
func stepUpUser(t *testing.T, s *server, name string) (*user, string) {
	u := s.enrolledUser(t, name, "devs")
	kc := s.kubeconfig(t, u)
	s.signIn(t, u, kc)
	return u, kc
}

// TestStepUpFlowWithKubectl is the flow a person sees: the first delete
// asks for a code inline and fails with stepgate's message, the second run
// deletes, and another pod asks again.
func TestStepUpFlowWithKubectl(t *testing.T) {
	s := startServer(t, stepUpRules, "")
	pods(t, "prod-eu/flow-a", "prod-eu/flow-b")
	u, kc := stepUpUser(t, s, "dana")
	envv := kubectlEnv(t, kc)

	tm := startTerm(t, envv, env.kubectl, "delete", "pod", "flow-a", "-n", "prod-eu")
	tm.expect(`stepgate: delete pods/flow-a in namespace prod-eu needs a fresh one-time code \(rule prod-delete\)\.\n`)
	tm.expect(`One-time code \(Enter to skip\): `)
	tm.send(u.otp.next(t))
	tm.expect(`code accepted for delete pods/flow-a in namespace prod-eu; run the command again`)
	out, err := tm.wait()
	if err == nil || !strings.Contains(out, "error: You must be logged in to the server (delete pods/flow-a in namespace prod-eu needs a fresh one-time code (stepgate rule prod-delete)") {
		t.Fatalf("first delete should fail with stepgate's message:\n%s", out)
	}
	t.Logf("terminal transcript, first run:\n$ kubectl delete pod flow-a -n prod-eu\n%s", out)

	out2, err := kubectl(t, kc, "delete", "pod", "flow-a", "-n", "prod-eu", "--wait=false")
	if err != nil || !strings.Contains(out2, `pod "flow-a" deleted`) {
		t.Fatalf("second run: %v\n%s", err, out2)
	}
	t.Logf("terminal transcript, second run:\n$ kubectl delete pod flow-a -n prod-eu\n%s", out2)

	tm = startTerm(t, envv, env.kubectl, "delete", "pod", "flow-b", "-n", "prod-eu")
	tm.expect(`delete pods/flow-b in namespace prod-eu needs a fresh one-time code`)
	tm.expect(`One-time code \(Enter to skip\): `)
	tm.send("")
	out3, err := tm.wait()
	if err == nil || !strings.Contains(out3, "needs a fresh one-time code") {
		t.Fatalf("another pod must ask again:\n%s", out3)
	}
	if _, err := env.cluster.Kubectl(ctxFor(t, time.Minute), "get", "pod", "flow-b", "-n", "prod-eu"); err != nil {
		t.Errorf("flow-b was deleted without its own code: %v", err)
	}
}

// TestGrantIsBoundToItsRequest: a code for delete pods/a in prod-eu lets
// nothing else through; without a terminal the plugin says to elevate.
func TestGrantIsBoundToItsRequest(t *testing.T) {
	s := startServer(t, stepUpRules, "")
	pods(t, "prod-eu/bind-a", "prod-eu/bind-b", "prod-us/bind-a")
	u, kc := stepUpUser(t, s, "erin")
	out, err := kubectl(t, kc, "delete", "pod", "bind-a", "-n", "prod-eu", "--wait=false")
	if err == nil || !strings.Contains(out, "needs a fresh one-time code") {
		t.Fatalf("delete without a code: %v\n%s", err, out)
	}
	if !strings.Contains(out, "run `stepgate elevate` in a terminal") {
		t.Errorf("non-interactive plugin did not point at stepgate elevate:\n%s", out)
	}
	answerPendingStepUp(t, s, u, kc)
	for _, args := range [][]string{
		{"delete", "pod", "bind-b", "-n", "prod-eu", "--wait=false"},
		{"delete", "pod", "bind-a", "-n", "prod-us", "--wait=false"},
		// A real deletecollection (kubectl delete --all deletes one by one).
		{"delete", "--raw", "/api/v1/namespaces/prod-eu/pods"},
	} {
		if out, err := kubectl(t, kc, args...); err == nil || !strings.Contains(out, "needs a fresh one-time code") {
			t.Errorf("kubectl %s passed on another request's grant: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := kubectl(t, kc, "delete", "pod", "bind-a", "-n", "prod-eu", "--wait=false"); err != nil {
		t.Errorf("the granted delete: %v\n%s", err, out)
	}
}

// TestConnectVerbsHitTheRule: exec over WebSocket and SPDY, attach and
// port-forward are all "create pods/<sub>" to the rules.
func TestConnectVerbsHitTheRule(t *testing.T) {
	s := startServer(t, stepUpRules, "")
	_, kc := stepUpUser(t, s, "finn")
	envv := kubectlEnv(t, kc)
	cases := map[string][]string{
		"exec over WebSocket": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true", "exec", "web", "--", "true"},
		"exec over SPDY":      {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "exec", "web", "--", "true"},
		"attach":              {"", "attach", "web"},
		"port-forward":        {"", "port-forward", "pod/web", "0:8080"},
	}
	for name, c := range cases {
		e := envv
		if c[0] != "" {
			e = append(append([]string{}, envv...), c[0])
		}
		out, err := kubectlWith(t, env.kubectl, e, c[1:]...)
		sub := map[string]string{"exec": "exec", "attach": "attach", "port-forward": "portforward"}[c[1]]
		want := "create pods/" + sub + " web in namespace e2e needs a fresh one-time code (stepgate rule pod-access)"
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%s: want %q, got %v:\n%q", name, want, err, out)
		}
	}
}

// TestElevateOpensAWindow: stepgate elevate, then a delete under a rule
// with maxAge passes without a prompt; a maxAge-0 rule still asks.
func TestElevateOpensAWindow(t *testing.T) {
	s := startServer(t, stepUpRules, "")
	pods(t, "staging/elev-a", "staging/elev-b", "prod-eu/elev-c")
	u, kc := stepUpUser(t, s, "gwen")
	tm := startTerm(t, kubectlEnv(t, kc), env.stepgate, "elevate", "--for", "5m")
	tm.expect(`One-time code: `)
	tm.send(u.otp.next(t))
	tm.expect(`Elevated until`)
	tm.mustSucceed()
	for _, pod := range []string{"elev-a", "elev-b"} {
		if out, err := kubectl(t, kc, "delete", "pod", pod, "-n", "staging", "--wait=false"); err != nil {
			t.Errorf("delete %s after elevate: %v\n%s", pod, err, out)
		}
	}
	if out, err := kubectl(t, kc, "delete", "pod", "elev-c", "-n", "prod-eu", "--wait=false"); err == nil || !strings.Contains(out, "needs a fresh one-time code") {
		t.Errorf("maxAge-0 rule passed on the elevation: %v\n%s", err, out)
	}
}

// TestServiceTokenAndStepUp: a machine passes the rules like a person
// but a step-up rule denies it with the reason.
func TestServiceTokenAndStepUp(t *testing.T) {
	s := startServer(t, stepUpRules, "")
	pods(t, "prod-eu/svc-a")
	token := strings.TrimSpace(s.mustStepgate(t, "", "token", "create", "--name", "ci", "--groups", "devs", "--ttl", "1h"))
	base := []string{"--kubeconfig", "/dev/null", "--server", s.url, "--certificate-authority", s.dir + "/tls/ca.crt", "--token", token}
	envv := kubectlEnv(t, t.TempDir()+"/none")
	out, err := kubectlWith(t, env.kubectl, envv, append(base, "get", "pods", "-n", "e2e", "-o", "name")...)
	if err != nil || !strings.Contains(out, "pod/web") {
		t.Fatalf("service token get pods: %v\n%s", err, out)
	}
	out, err = kubectlWith(t, env.kubectl, envv, append(base, "delete", "pod", "svc-a", "-n", "prod-eu")...)
	if err == nil || !strings.Contains(out, "Forbidden") || !strings.Contains(out, "a service token cannot step up, and this request needs a fresh one-time code (rule prod-delete)") {
		t.Errorf("service token on a step-up rule: %v\n%q", err, out)
	}
	out, _ = kubectlWith(t, env.kubectl, envv, append(base, "auth", "whoami")...)
	if !strings.Contains(out, "stepgate:token:ci") {
		t.Errorf("whoami as the token:\n%s", out)
	}
	s.mustStepgate(t, "", "token", "revoke", "ci")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err = kubectlWith(t, env.kubectl, envv, append(base, "get", "pods", "-n", "e2e")...)
		if err != nil && strings.Contains(out, "You must be logged in") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked service token still works:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	list := s.mustStepgate(t, "", "token", "list")
	if !strings.Contains(list, "revoked") {
		t.Errorf("token list:\n%s", list)
	}
}

// TestMaxAgeWindowWithKubectl: under a rule with maxAge 10m one code
// covers every request the rule matches (two deletes in staging), and
// nothing beyond it (a delete in prod-eu still asks).
func TestMaxAgeWindowWithKubectl(t *testing.T) {
	s := startServer(t, stepUpRules, "")
	pods(t, "staging/win-a", "staging/win-b", "staging/win-c", "prod-eu/win-d")
	u, kc := stepUpUser(t, s, "hugo")
	out, err := kubectl(t, kc, "delete", "pod", "win-a", "-n", "staging", "--wait=false")
	if err == nil || !strings.Contains(out, "needs a fresh one-time code (stepgate rule staging-delete)") {
		t.Fatalf("first delete in staging: %v\n%s", err, out)
	}
	answerPendingStepUp(t, s, u, kc)
	for _, pod := range []string{"win-a", "win-b", "win-c"} {
		if out, err := kubectl(t, kc, "delete", "pod", pod, "-n", "staging", "--wait=false"); err != nil {
			t.Errorf("delete %s inside the 10m window: %v\n%s", pod, err, out)
		}
	}
	if out, err := kubectl(t, kc, "delete", "pod", "win-d", "-n", "prod-eu", "--wait=false"); err == nil || !strings.Contains(out, "rule prod-delete") {
		t.Errorf("the staging window let a prod-eu delete through: %v\n%s", err, out)
	}
}

// answerPendingStepUp answers the session's pending step-up through the
// API, as the plugin would at a terminal, and caches the rotated token.
func answerPendingStepUp(t *testing.T, s *server, u *user, kc string) {
	t.Helper()
	c := s.client(t).WithToken(cachedToken(t, kc))
	info, err := c.Session(ctxFor(t, time.Minute))
	if err != nil || info.PendingStepUp == nil {
		t.Fatalf("pending step-up: %+v %v", info, err)
	}
	res, err := c.StepUp(ctxFor(t, time.Minute), stepUpRequest(u, t, info.PendingStepUp.ID))
	if err != nil {
		t.Fatal(err)
	}
	setCachedToken(t, kc, res.Token)
}
