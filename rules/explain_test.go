package rules

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// explainRules is the policy of the Explain golden file.
func explainRules() []Rule {
	return []Rule{
		{Name: "collections", Match: Match{Verbs: []string{"deletecollection"}, Namespaces: []string{"prod-eu"}}, Action: ActionDeny, Message: "delete objects one by one in production"},
		{Name: "prod-delete", Match: Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*"}}, Action: ActionStepUp},
		{Name: "pod-access", Match: Match{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}}, Action: ActionStepUp, MaxAge: maxAge(10 * time.Minute)},
		{Name: "kube-system-secrets", Match: Match{APIGroups: []string{""}, Resources: []string{"secrets"}, Namespaces: []string{"kube-system"}, Verbs: []string{"get", "list", "watch"}}, Action: ActionStepUp, MaxAge: maxAge(5 * time.Minute)},
		{Name: "rbac-changes", Match: Match{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, Verbs: []string{"create", "update", "patch", "delete"}}, Action: ActionStepUp},
		{Name: "ops-nodes", Match: Match{Groups: []string{"ops"}, ClusterScoped: true, Resources: []string{"nodes"}}, Action: ActionAllow},
		{Name: "no-node-changes", Match: Match{Resources: []string{"nodes", "nodes/*"}, Verbs: []string{"update", "patch", "delete"}}, Action: ActionDeny},
		{Name: "debug-endpoints", Match: Match{NonResourceURLs: []string{"/debug/*", "/logs/*"}}, Action: ActionDeny, Message: "ask an admin for API server logs"},
	}
}

func TestExplainGolden(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, explainRules(), "")
	cases := []struct {
		title string
		attrs Attributes
	}{
		{"kubectl get pods -n dev", res("get", "", "pods", "", "dev", "")},
		{"kubectl delete pod web -n prod-eu", res("delete", "", "pods", "", "prod-eu", "web")},
		{"kubectl delete pods --all -n prod-eu", res("deletecollection", "", "pods", "", "prod-eu", "")},
		{"kubectl delete pods --all -n prod-us", res("deletecollection", "", "pods", "", "prod-us", "")},
		{"kubectl delete pods --all -n dev", res("deletecollection", "", "pods", "", "dev", "")},
		{"kubectl exec -it web -n default", res("create", "", "pods", "exec", "default", "web")},
		{"kubectl get secrets -A", res("list", "", "secrets", "", "", "")},
		{"kubectl get secret tls -n kube-system, by a service token", attrWith(res("get", "", "secrets", "", "kube-system", "tls"), func(a *Attributes) { a.User, a.Groups, a.Machine = "ci-deployer", nil, true })},
		{"kubectl patch clusterrole admin", res("patch", "rbac.authorization.k8s.io", "clusterroles", "", "", "admin")},
		{"kubectl cordon n1, by ops", attrWith(res("patch", "", "nodes", "", "", "n1"), func(a *Attributes) { a.Groups = []string{"ops"} })},
		{"kubectl cordon n1, by dev", res("patch", "", "nodes", "", "", "n1")},
		{"kubectl get --raw /logs/kube-apiserver.log", nonRes("get", "/logs/kube-apiserver.log")},
		{"kubectl get --raw /healthz", nonRes("get", "/healthz")},
	}
	var sb strings.Builder
	for _, c := range cases {
		sb.WriteString("# " + c.title + "\n")
		sb.WriteString(s.Explain(&c.attrs).String())
		sb.WriteString("\n")
	}
	checkGolden(t, "explain.golden", sb.String())
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./rules -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got), run with -update if the change is intended:\n%s", path, diff)
	}
}

func TestExplainSteps(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, explainRules(), "")
	a := res("delete", "", "pods", "", "prod-eu", "web")
	got := s.Explain(&a)
	want := Explanation{
		Decision: s.Decide(&a),
		Request:  "delete pods/web in namespace prod-eu",
		Who:      `user "alice" in groups ["dev"]`,
		Steps: []ExplainStep{
			{Index: 0, Name: "collections", Reason: `verb "delete" not in [deletecollection]`},
			{Index: 1, Name: "prod-delete", Matched: true},
		},
		NotExamined: 6,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y *Compiled) bool { return x == y })); diff != "" {
		t.Errorf("Explain() (-want +got):\n%s", diff)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attrs Attributes
		want  string
	}{
		{res("delete", "", "pods", "", "prod-eu", "web"), "delete pods/web in namespace prod-eu"},
		{res("create", "", "pods", "exec", "default", "web"), "create pods/exec web in namespace default"},
		{res("list", "", "secrets", "", "kube-system", ""), "list secrets in namespace kube-system"},
		{res("get", "", "secrets", "", "kube-system", ""), "get secrets in namespace kube-system"},
		{res("patch", "apps", "deployments", "scale", "dev", "api"), "patch deployments.apps/scale api in namespace dev"},
		{res("delete", "rbac.authorization.k8s.io", "clusterroles", "", "", "admin"), "delete clusterroles.rbac.authorization.k8s.io/admin"},
		{res("list", "", "pods", "", "", ""), "list pods"},
		{nonRes("get", "/healthz"), "get /healthz"},
		{res("delete", "", "pods", "", "prod-eu", "web\n\x1b[2Jok"), `delete pods/"web\n\x1b[2Jok" in namespace prod-eu`},
		{res("get", "", "pods", "", "dev", "a b"), `get pods/"a b" in namespace dev`},
		{nonRes("", ""), `"" ""`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := (Decision{}).Describe(&tt.attrs); got != tt.want {
				t.Errorf("Describe() = %q, want %q", got, tt.want)
			}
		})
	}
}
