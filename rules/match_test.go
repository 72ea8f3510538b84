package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// res builds resource request attributes for user alice in group dev.
func res(verb, group, resource, sub, ns, name string) Attributes {
	return Attributes{User: "alice", Groups: []string{"dev"}, ResourceRequest: true,
		Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

// nonRes builds non-resource request attributes for user alice.
func nonRes(verb, path string) Attributes {
	return Attributes{User: "alice", Groups: []string{"dev"}, Verb: verb, Path: path}
}

// mustCompile compiles rules or fails the test.
func mustCompile(t testing.TB, rules []Rule, def Action) *Set {
	t.Helper()
	s, err := Compile(rules, def)
	if err != nil {
		t.Fatalf("Compile() = %v", err)
	}
	return s
}

// outcome is a decision in comparable form.
type outcome struct {
	Action  Action
	Rule    string // "" for the default
	Message string
}

func outcomeOf(d Decision) outcome {
	o := outcome{Action: d.Action, Message: d.Message}
	if d.Rule != nil {
		o.Rule = d.Rule.Name
	}
	return o
}

// hit is the outcome of the single step-up rule "r" matching.
var hit = outcome{Action: ActionStepUp, Rule: "r"}

// miss is the default outcome.
var miss = outcome{Action: ActionAllow}

func TestDecideMatch(t *testing.T) {
	t.Parallel()
	getPod := res("get", "", "pods", "", "dev", "web")
	tests := []struct {
		name  string
		match Match
		attrs Attributes
		want  outcome
	}{
		{"empty match, resource request", Match{}, getPod, hit},
		{"empty match, non-resource request", Match{}, nonRes("get", "/healthz"), hit},

		{"user exact", Match{Users: []string{"alice"}}, getPod, hit},
		{"user other", Match{Users: []string{"bob"}}, getPod, miss},
		{"user glob prefix", Match{Users: []string{"al*"}}, getPod, hit},
		{"user glob suffix", Match{Users: []string{"*-admin"}}, attrWith(getPod, func(a *Attributes) { a.User = "root-admin" }), hit},
		{"user glob ?", Match{Users: []string{"al?ce"}}, getPod, hit},
		{"user glob ? needs one char", Match{Users: []string{"alice?"}}, getPod, miss},
		{"user case-sensitive", Match{Users: []string{"Alice"}}, getPod, miss},
		{"user multi-byte ?", Match{Users: []string{"j?rg"}}, attrWith(getPod, func(a *Attributes) { a.User = "jörg" }), hit},

		{"group", Match{Groups: []string{"dev"}}, getPod, hit},
		{"group other", Match{Groups: []string{"ops"}}, getPod, miss},
		{"group glob", Match{Groups: []string{"d*"}}, getPod, hit},
		{"group any of several", Match{Groups: []string{"ops"}}, attrWith(getPod, func(a *Attributes) { a.Groups = []string{"dev", "ops"} }), hit},
		{"group system:authenticated implied", Match{Groups: []string{"system:authenticated"}}, attrWith(getPod, func(a *Attributes) { a.Groups = nil }), hit},
		{"group system:authenticated for machines", Match{Groups: []string{"system:authenticated"}}, attrWith(getPod, func(a *Attributes) { a.Groups, a.Machine = nil, true }), outcome{Action: ActionDeny, Rule: "r", Message: machineMessage}},
		{"group glob matching system:authenticated", Match{Groups: []string{"system:*"}}, getPod, hit},
		{"group system:serviceaccounts not implied", Match{Groups: []string{"system:serviceaccounts"}}, getPod, miss},
		{"no groups", Match{Groups: []string{"dev"}}, attrWith(getPod, func(a *Attributes) { a.Groups = nil }), miss},

		{"verb", Match{Verbs: []string{"get"}}, getPod, hit},
		{"verb other", Match{Verbs: []string{"delete"}}, getPod, miss},
		{"verb star", Match{Verbs: []string{"*"}}, getPod, hit},
		{"delete covers deletecollection", Match{Verbs: []string{"delete"}}, res("deletecollection", "", "pods", "", "dev", ""), hit},
		{"deletecollection does not cover delete", Match{Verbs: []string{"deletecollection"}}, res("delete", "", "pods", "", "dev", "web"), miss},
		{"deletecollection alone", Match{Verbs: []string{"deletecollection"}}, res("deletecollection", "", "pods", "", "dev", ""), hit},
		{"custom verb", Match{Verbs: []string{"frobnicate"}}, res("frobnicate", "x.io", "widgets", "", "dev", "w"), hit},
		{"custom verb other", Match{Verbs: []string{"frobnicate"}}, res("defrobnicate", "x.io", "widgets", "", "dev", "w"), miss},
		{"custom rule verb vs known request verb", Match{Verbs: []string{"frobnicate"}}, getPod, miss},
		{"verb case-sensitive", Match{Verbs: []string{"get"}}, attrWith(getPod, func(a *Attributes) { a.Verb = "GET" }), miss},
		{"verb http method on non-resource", Match{Verbs: []string{"post"}}, nonRes("post", "/logs/x"), hit},

		{"core group", Match{APIGroups: []string{""}, Resources: []string{"pods"}}, getPod, hit},
		{"core group vs named", Match{APIGroups: []string{""}}, res("get", "apps", "deployments", "", "dev", "web"), miss},
		{"named group vs core", Match{APIGroups: []string{"apps"}}, getPod, miss},
		{"named group", Match{APIGroups: []string{"apps"}}, res("get", "apps", "deployments", "", "dev", "web"), hit},
		{"any group", Match{APIGroups: []string{"*"}}, res("get", "batch", "jobs", "", "dev", "j"), hit},
		{"group limits resource", Match{APIGroups: []string{"apps"}, Resources: []string{"pods"}}, getPod, miss},

		{"resource", Match{Resources: []string{"pods"}}, getPod, hit},
		{"resource not its subresource", Match{Resources: []string{"pods"}}, res("create", "", "pods", "exec", "dev", "web"), miss},
		{"resource not pods/log", Match{Resources: []string{"pods"}}, res("get", "", "pods", "log", "dev", "web"), miss},
		{"subresource", Match{Resources: []string{"pods/exec"}}, res("create", "", "pods", "exec", "dev", "web"), hit},
		{"subresource not another", Match{Resources: []string{"pods/exec"}}, res("create", "", "pods", "attach", "dev", "web"), miss},
		{"subresource not the resource", Match{Resources: []string{"pods/exec"}}, getPod, miss},
		{"pods/* any subresource", Match{Resources: []string{"pods/*"}}, res("get", "", "pods", "log", "dev", "web"), hit},
		{"pods/* not pods itself", Match{Resources: []string{"pods/*"}}, getPod, miss},
		{"pods/* not services/proxy", Match{Resources: []string{"pods/*"}}, res("get", "", "services", "proxy", "dev", "s"), miss},
		{"* any resource", Match{Resources: []string{"*"}}, res("get", "", "secrets", "", "dev", "s"), hit},
		{"* any subresource", Match{Resources: []string{"*"}}, res("create", "", "pods", "exec", "dev", "web"), hit},
		{"*/scale", Match{Resources: []string{"*/scale"}}, res("patch", "apps", "deployments", "scale", "dev", "web"), hit},
		{"*/scale not status", Match{Resources: []string{"*/scale"}}, res("patch", "apps", "deployments", "status", "dev", "web"), miss},
		{"*/scale not the resource", Match{Resources: []string{"*/scale"}}, res("patch", "apps", "deployments", "", "dev", "web"), miss},
		{"*/* any subresource", Match{Resources: []string{"*/*"}}, res("get", "", "pods", "log", "dev", "web"), hit},
		{"*/* not a resource", Match{Resources: []string{"*/*"}}, getPod, miss},
		{"resource exact case", Match{Resources: []string{"pods"}}, attrWith(getPod, func(a *Attributes) { a.Resource = "Pods" }), miss},

		{"namespace", Match{Namespaces: []string{"dev"}}, getPod, hit},
		{"namespace other", Match{Namespaces: []string{"prod"}}, getPod, miss},
		{"namespace glob", Match{Namespaces: []string{"prod-*"}}, res("delete", "", "pods", "", "prod-eu", "web"), hit},
		{"namespace glob needs prefix", Match{Namespaces: []string{"prod-*"}}, res("delete", "", "pods", "", "preprod-eu", "web"), miss},
		{"namespace glob empty tail", Match{Namespaces: []string{"prod-*"}}, res("delete", "", "pods", "", "prod-", "web"), hit},
		{"namespace glob ?", Match{Namespaces: []string{"prod-??"}}, res("delete", "", "pods", "", "prod-eu", "web"), hit},
		{"namespace glob middle", Match{Namespaces: []string{"team-*-prod"}}, res("delete", "", "pods", "", "team-a-prod", "web"), hit},
		{"namespace object itself", Match{Namespaces: []string{"prod-*"}, Verbs: []string{"delete"}}, res("delete", "", "namespaces", "", "prod-eu", "prod-eu"), hit},
		{"namespace * not cluster-scoped", Match{Namespaces: []string{"*"}}, res("get", "", "nodes", "", "", "n1"), miss},
		{"namespaces unset: cluster-scoped too", Match{Verbs: []string{"get"}}, res("get", "", "nodes", "", "", "n1"), hit},
		{"namespaces set: not cluster-scoped", Match{Namespaces: []string{"dev"}}, res("get", "", "nodes", "", "", "n1"), miss},
		{"clusterScoped alone: cluster-scoped", Match{ClusterScoped: true}, res("get", "", "nodes", "", "", "n1"), hit},
		{"clusterScoped alone: not namespaced", Match{ClusterScoped: true}, getPod, miss},
		{"clusterScoped with namespaces: cluster-scoped", Match{ClusterScoped: true, Namespaces: []string{"dev"}}, res("get", "", "nodes", "", "", "n1"), hit},
		{"clusterScoped with namespaces: listed namespace", Match{ClusterScoped: true, Namespaces: []string{"dev"}}, getPod, hit},
		{"clusterScoped with namespaces: other namespace", Match{ClusterScoped: true, Namespaces: []string{"prod"}}, getPod, miss},

		{"stepUp on namespaces: list across all namespaces", Match{Namespaces: []string{"kube-system"}, Resources: []string{"secrets"}}, res("list", "", "secrets", "", "", ""), hit},
		{"stepUp on namespaces: watch across all namespaces", Match{Namespaces: []string{"kube-system"}}, res("watch", "", "secrets", "", "", ""), hit},
		{"stepUp on namespaces: cluster-scoped get", Match{Namespaces: []string{"kube-system"}}, res("get", "", "nodes", "", "", "n1"), miss},
		{"stepUp on namespaces: cluster-scoped create", Match{Namespaces: []string{"kube-system"}}, res("create", "", "nodes", "", "", ""), miss},

		{"name", Match{Names: []string{"web"}}, getPod, hit},
		{"name other", Match{Names: []string{"db"}}, getPod, miss},
		{"name glob", Match{Names: []string{"w*"}}, getPod, hit},
		{"name glob with colon", Match{Names: []string{"system:*"}}, res("get", "rbac.authorization.k8s.io", "clusterroles", "", "", "system:admin"), hit},
		{"stepUp with names: list has no name", Match{Names: []string{"db-password"}}, res("list", "", "secrets", "", "dev", ""), hit},
		{"stepUp with names: deletecollection has no name", Match{Names: []string{"web"}, Verbs: []string{"delete"}}, res("deletecollection", "", "pods", "", "dev", ""), hit},
		{"stepUp with names: create has no name", Match{Names: []string{"web"}}, res("create", "", "pods", "", "dev", ""), hit},

		{"url exact", Match{NonResourceURLs: []string{"/healthz"}}, nonRes("get", "/healthz"), hit},
		{"url exact not prefix", Match{NonResourceURLs: []string{"/healthz"}}, nonRes("get", "/healthz/etcd"), miss},
		{"url prefix", Match{NonResourceURLs: []string{"/logs/*"}}, nonRes("get", "/logs/kube-apiserver.log"), hit},
		{"url prefix bare dir", Match{NonResourceURLs: []string{"/logs/*"}}, nonRes("get", "/logs/"), hit},
		{"url prefix not sibling", Match{NonResourceURLs: []string{"/logs/*"}}, nonRes("get", "/logsx"), miss},
		{"url star", Match{NonResourceURLs: []string{"*"}}, nonRes("get", "/version"), hit},
		{"url rule ignores resource requests", Match{NonResourceURLs: []string{"*"}}, getPod, miss},
		{"resource rule ignores non-resource requests", Match{Resources: []string{"*"}}, nonRes("get", "/healthz"), miss},
		{"namespace rule ignores non-resource requests", Match{Namespaces: []string{"*"}}, nonRes("get", "/healthz"), miss},
		{"verb-only rule matches non-resource", Match{Verbs: []string{"get"}}, nonRes("get", "/healthz"), hit},

		{"all fields", Match{Users: []string{"alice"}, Groups: []string{"dev"}, Verbs: []string{"delete"}, APIGroups: []string{"apps"},
			Resources: []string{"deployments"}, Namespaces: []string{"prod-*"}, Names: []string{"web"}},
			res("delete", "apps", "deployments", "", "prod-eu", "web"), hit},
		{"all fields but one", Match{Users: []string{"alice"}, Groups: []string{"dev"}, Verbs: []string{"delete"}, APIGroups: []string{"apps"},
			Resources: []string{"deployments"}, Namespaces: []string{"prod-*"}, Names: []string{"web"}},
			res("delete", "apps", "deployments", "", "prod-eu", "api"), miss},

		{"machine on stepUp is denied", Match{}, attrWith(getPod, func(a *Attributes) { a.Machine = true }), outcome{Action: ActionDeny, Rule: "r", Message: machineMessage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, []Rule{{Name: "r", Match: tt.match, Action: ActionStepUp}}, "")
			got := outcomeOf(s.Decide(&tt.attrs))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide(%+v) (-want +got):\n%s", tt.attrs, diff)
			}
			if e := s.Explain(&tt.attrs); outcomeOf(e.Decision) != got {
				t.Errorf("Explain decision %+v != Decide %+v", outcomeOf(e.Decision), got)
			}
		})
	}
}

// TestDecideAllowRulesDoNotWiden checks that a request without namespace or
// name is not matched by an allow rule limited to namespaces or names.
func TestDecideAllowRulesDoNotWiden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		match Match
		attrs Attributes
		want  outcome
	}{
		{"list across all namespaces", Match{Namespaces: []string{"dev-*"}}, res("list", "", "secrets", "", "", ""), outcome{Action: ActionDeny, Rule: "rest", Message: defaultDenyMessage}},
		{"list in namespace", Match{Namespaces: []string{"dev-*"}}, res("list", "", "secrets", "", "dev-a", ""), outcome{Action: ActionAllow, Rule: "a"}},
		{"list without name", Match{Names: []string{"public-*"}}, res("list", "", "configmaps", "", "dev", ""), outcome{Action: ActionDeny, Rule: "rest", Message: defaultDenyMessage}},
		{"get by name", Match{Names: []string{"public-*"}}, res("get", "", "configmaps", "", "dev", "public-x"), outcome{Action: ActionAllow, Rule: "a"}},
		{"clusterScoped allow covers a list without namespace", Match{ClusterScoped: true}, res("list", "", "secrets", "", "", ""), outcome{Action: ActionAllow, Rule: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, []Rule{
				{Name: "a", Match: tt.match, Action: ActionAllow},
				{Name: "rest", Match: Match{}, Action: ActionDeny},
			}, "")
			if diff := cmp.Diff(tt.want, outcomeOf(s.Decide(&tt.attrs))); diff != "" {
				t.Errorf("Decide() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideOrderAndDefaults(t *testing.T) {
	t.Parallel()
	rules := []Rule{
		{Name: "collections", Match: Match{Verbs: []string{"deletecollection"}, Namespaces: []string{"prod-*"}}, Action: ActionDeny, Message: "delete objects one by one in production"},
		{Name: "prod-delete", Match: Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*"}}, Action: ActionStepUp, MaxAge: maxAge(0)},
		{Name: "ci-reads", Match: Match{Users: []string{"ci-*"}, Verbs: []string{"get", "list", "watch"}}, Action: ActionAllow},
		{Name: "no-secrets", Match: Match{Resources: []string{"secrets"}}, Action: ActionDeny},
	}
	tests := []struct {
		name  string
		def   Action
		attrs Attributes
		want  outcome
	}{
		{"first match wins", "", res("deletecollection", "", "pods", "", "prod-eu", ""), outcome{Action: ActionDeny, Rule: "collections", Message: "delete objects one by one in production"}},
		{"second rule", "", res("delete", "", "pods", "", "prod-eu", "web"), outcome{Action: ActionStepUp, Rule: "prod-delete"}},
		{"allow rule before deny", "", attrWith(res("get", "", "secrets", "", "dev", "s"), func(a *Attributes) { a.User = "ci-bot" }), outcome{Action: ActionAllow, Rule: "ci-reads"}},
		{"deny default message", "", res("get", "", "secrets", "", "dev", "s"), outcome{Action: ActionDeny, Rule: "no-secrets", Message: defaultDenyMessage}},
		{"default allow", "", res("get", "", "pods", "", "dev", "web"), outcome{Action: ActionAllow}},
		{"default deny", ActionDeny, res("get", "", "pods", "", "dev", "web"), outcome{Action: ActionDeny}},
		{"explicit default allow", ActionAllow, res("get", "", "pods", "", "dev", "web"), outcome{Action: ActionAllow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, rules, tt.def)
			if diff := cmp.Diff(tt.want, outcomeOf(s.Decide(&tt.attrs))); diff != "" {
				t.Errorf("Decide() (-want +got):\n%s", diff)
			}
		})
	}
}

// attrWith returns a changed by f.
func attrWith(a Attributes, f func(*Attributes)) Attributes {
	f(&a)
	return a
}
