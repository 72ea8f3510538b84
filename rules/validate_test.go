package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ok is a valid rule to start cases from.
func ok(name string) Rule {
	return Rule{Name: name, Match: Match{Verbs: []string{"delete"}}, Action: ActionStepUp}
}

// ruleWith returns ok(name) changed by f, if f is not nil.
func ruleWith(name string, f func(*Rule)) Rule {
	r := ok(name)
	if f != nil {
		f(&r)
	}
	return r
}

func maxAge(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

// errKeys renders errors as "path: type" for comparison.
func errKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+e.Type.String())
	}
	return out
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules []Rule
		want  []string
	}{
		{name: "valid", rules: []Rule{
			ok("a"),
			ruleWith("b", func(r *Rule) {
				r.Match = Match{Users: []string{"alice", "*-admin", "b?b"}, Groups: []string{"system:authenticated", "dev"},
					Verbs: []string{"get", "frobnicate", "*"}, APIGroups: []string{"", "apps", "*"},
					Resources: []string{"pods", "pods/exec", "pods/*", "*/scale", "*/*", "*"}, Namespaces: []string{"prod-*", "kube-system", "dev-?"},
					ClusterScoped: true, Names: []string{"web", "web-*", "system:controller:x"}}
				r.MaxAge = maxAge(10 * time.Minute)
				r.Message = "production needs a fresh code"
			}),
			ruleWith("c", func(r *Rule) { r.Match = Match{NonResourceURLs: []string{"/healthz", "/logs/*", "*"}} }),
			ruleWith("d", func(r *Rule) { r.Action, r.Message = ActionDeny, "" }),
			ruleWith("catch-all-last", func(r *Rule) { r.Match = Match{}; r.Action = ActionDeny }),
		}},
		{name: "no rules"},
		{name: "names", rules: []Rule{
			ruleWith("", nil), ruleWith("Prod", nil), ruleWith("-a", nil), ruleWith("a-", nil), ruleWith("a_b", nil),
			ruleWith(strings.Repeat("a", 64), nil), ok("dup"), ok("dup"),
		}, want: []string{
			"rules[0].name: Required value", "rules[1].name: Invalid value", "rules[2].name: Invalid value",
			"rules[3].name: Invalid value", "rules[4].name: Invalid value", "rules[5].name: Invalid value",
			"rules[7].name: Duplicate value",
		}},
		{name: "actions", rules: []Rule{
			ruleWith("a", func(r *Rule) { r.Action = "" }),
			ruleWith("b", func(r *Rule) { r.Action = "Deny" }),
			ruleWith("c", func(r *Rule) { r.Action = "step-up" }),
		}, want: []string{"rules[0].action: Required value", "rules[1].action: Unsupported value", "rules[2].action: Unsupported value"}},
		{name: "maxAge", rules: []Rule{
			ruleWith("a", func(r *Rule) { r.MaxAge = maxAge(-time.Second) }),
			ruleWith("b", func(r *Rule) { r.Action, r.MaxAge = ActionDeny, maxAge(time.Minute) }),
			ruleWith("c", func(r *Rule) { r.Action, r.MaxAge = ActionAllow, maxAge(time.Minute) }),
			ruleWith("d", func(r *Rule) { r.MaxAge = maxAge(25 * time.Hour) }),
			ruleWith("e", func(r *Rule) { r.MaxAge = maxAge(24 * time.Hour) }),
		}, want: []string{"rules[0].maxAge: Invalid value", "rules[1].maxAge: Forbidden", "rules[2].maxAge: Forbidden", "rules[3].maxAge: Invalid value"}},
		{name: "message", rules: []Rule{
			ruleWith("a", func(r *Rule) { r.Action, r.Message = ActionAllow, "hi" }),
			ruleWith("b", func(r *Rule) { r.Action, r.Message = ActionDeny, strings.Repeat("x", 1025) }),
			ruleWith("c", func(r *Rule) { r.Action, r.Message = ActionDeny, "two\nlines" }),
			ruleWith("d", func(r *Rule) { r.Message = "\x1b[2Jclear" }),
			ruleWith("e", func(r *Rule) { r.Message = "bad \xff utf-8" }),
		}, want: []string{"rules[0].message: Forbidden", "rules[1].message: Too long", "rules[2].message: Invalid value",
			"rules[3].message: Invalid value", "rules[4].message: Invalid value"}},
		{name: "verbs", rules: []Rule{
			ruleWith("a", func(r *Rule) {
				r.Match.Verbs = []string{"get", "", "Delete", "exec", "logs", "port-forward", "de*", "get", "9lives", "custom-verb"}
			}),
		}, want: []string{
			"rules[0].match.verbs[1]: Invalid value", "rules[0].match.verbs[2]: Invalid value", "rules[0].match.verbs[3]: Invalid value",
			"rules[0].match.verbs[4]: Invalid value", "rules[0].match.verbs[5]: Invalid value", "rules[0].match.verbs[6]: Invalid value",
			"rules[0].match.verbs[7]: Duplicate value", "rules[0].match.verbs[8]: Invalid value",
		}},
		{name: "apiGroups", rules: []Rule{
			ruleWith("a", func(r *Rule) {
				r.Match.APIGroups = []string{"", "core", "v1", "apps/v1", "*.k8s.io", "Apps", "-x.io", "rbac.authorization.k8s.io", ""}
			}),
		}, want: []string{
			"rules[0].match.apiGroups[1]: Invalid value", "rules[0].match.apiGroups[2]: Invalid value", "rules[0].match.apiGroups[3]: Invalid value",
			"rules[0].match.apiGroups[4]: Invalid value", "rules[0].match.apiGroups[5]: Invalid value", "rules[0].match.apiGroups[6]: Invalid value",
			"rules[0].match.apiGroups[8]: Duplicate value",
		}},
		{name: "resources", rules: []Rule{
			ruleWith("a", func(r *Rule) {
				r.Match.Resources = []string{"pods", "", "pods/exec/x", "/exec", "pods/", "deployments.apps", "Pods", "pod*", "pods/ex*", "*/?", "pods"}
			}),
		}, want: []string{
			"rules[0].match.resources[1]: Invalid value", "rules[0].match.resources[2]: Invalid value", "rules[0].match.resources[3]: Invalid value",
			"rules[0].match.resources[4]: Invalid value", "rules[0].match.resources[5]: Invalid value", "rules[0].match.resources[6]: Invalid value",
			"rules[0].match.resources[7]: Invalid value", "rules[0].match.resources[8]: Invalid value", "rules[0].match.resources[9]: Invalid value",
			"rules[0].match.resources[10]: Duplicate value",
		}},
		{name: "namespaces users groups names", rules: []Rule{
			ruleWith("a", func(r *Rule) {
				r.Match = Match{
					Users:      []string{"alice", "", "bad\x00", "team-[ab]"},
					Groups:     []string{"dev", "x{y}", strings.Repeat("g", 1025)},
					Namespaces: []string{"prod-*", "Prod", "prod_eu", strings.Repeat("n", 64), "prod-*"},
					Names:      []string{"web", "a b", "a/b", "x[1]", strings.Repeat("n", 254)},
				}
			}),
		}, want: []string{
			"rules[0].match.users[1]: Invalid value", "rules[0].match.users[2]: Invalid value", "rules[0].match.users[3]: Invalid value",
			"rules[0].match.groups[1]: Invalid value", "rules[0].match.groups[2]: Too long",
			"rules[0].match.namespaces[1]: Invalid value", "rules[0].match.namespaces[2]: Invalid value",
			"rules[0].match.namespaces[3]: Invalid value", "rules[0].match.namespaces[4]: Duplicate value",
			"rules[0].match.names[1]: Invalid value", "rules[0].match.names[2]: Invalid value",
			"rules[0].match.names[3]: Invalid value", "rules[0].match.names[4]: Invalid value",
		}},
		{name: "nonResourceURLs", rules: []Rule{
			ruleWith("a", func(r *Rule) {
				r.Match = Match{NonResourceURLs: []string{"/healthz", "healthz", "/a*b", "/x?y", "/a b", "/logs/*"}}
			}),
			ruleWith("b", func(r *Rule) {
				r.Match = Match{NonResourceURLs: []string{"/healthz"}, Namespaces: []string{"dev"}}
			}),
			ruleWith("c", func(r *Rule) { r.Match = Match{NonResourceURLs: []string{"/healthz"}, ClusterScoped: true} }),
		}, want: []string{
			"rules[0].match.nonResourceURLs[1]: Invalid value", "rules[0].match.nonResourceURLs[2]: Invalid value",
			"rules[0].match.nonResourceURLs[3]: Invalid value", "rules[0].match.nonResourceURLs[4]: Invalid value",
			"rules[1].match.nonResourceURLs: Forbidden", "rules[2].match.nonResourceURLs: Forbidden",
		}},
		{name: "catch-all before the end", rules: []Rule{
			ruleWith("a", func(r *Rule) { r.Match = Match{} }),
			ruleWith("b", func(r *Rule) { r.Match = Match{Verbs: []string{"*"}, Users: []string{"*"}} }),
			ok("c"),
		}, want: []string{"rules[0].match: Forbidden", "rules[1].match: Forbidden"}},
		{name: "every problem of one rule", rules: []Rule{
			{Name: "X", Action: ActionAllow, Message: "m", MaxAge: maxAge(-1), Match: Match{Verbs: []string{"GET"}, NonResourceURLs: []string{"/x"}, Names: []string{"n"}}},
		}, want: []string{
			"rules[0].name: Invalid value", "rules[0].maxAge: Invalid value", "rules[0].message: Forbidden",
			"rules[0].match.verbs[0]: Invalid value", "rules[0].match.nonResourceURLs: Forbidden",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := errKeys(Validate(tt.rules, field.NewPath("rules")))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s\nall: %v", diff, Validate(tt.rules, nil))
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rule Rule
		base *field.Path
		want string
	}{
		{"verb case", ruleWith("a", func(r *Rule) { r.Match.Verbs = []string{"get", "Delete"} }), field.NewPath("spec", "rules"),
			`spec.rules[0].match.verbs[1]: Invalid value: "Delete": verbs are lower-case and compared exactly (delete, not Delete)`},
		{"exec is not a verb", ruleWith("a", func(r *Rule) { r.Match.Verbs = []string{"exec"} }), nil,
			`rules[0].match.verbs[0]: Invalid value: "exec": no request has this verb: kubectl exec is verb create on resource pods/exec`},
		{"misspelt verb", ruleWith("a", func(r *Rule) { r.Match.Verbs = []string{"dlete"} }), nil,
			`rules[0].match.verbs[0]: Invalid value: "dlete": not a Kubernetes verb; did you mean delete? (a rule with a misspelt verb never applies)`},
		{"swapped letters", ruleWith("a", func(r *Rule) { r.Match.Verbs = []string{"lsit"} }), nil,
			`rules[0].match.verbs[0]: Invalid value: "lsit": not a Kubernetes verb; did you mean list? (a rule with a misspelt verb never applies)`},
		{"core group", ruleWith("a", func(r *Rule) { r.Match.APIGroups = []string{"core"} }), nil,
			`rules[0].match.apiGroups[0]: Invalid value: "core": the core group is "" (apiGroups: [""])`},
		{"group in resource", ruleWith("a", func(r *Rule) { r.Match.Resources = []string{"deployments.apps"} }), nil,
			`rules[0].match.resources[0]: Invalid value: "deployments.apps": put the API group in apiGroups: resources are plain plural names such as deployments, not deployments.apps`},
		{"action", ruleWith("a", func(r *Rule) { r.Action = "block" }), nil,
			`rules[0].action: Unsupported value: "block": supported values: "allow", "deny", "stepUp"`},
		{"maxAge on deny", ruleWith("a", func(r *Rule) { r.Action, r.MaxAge = ActionDeny, maxAge(time.Minute) }), nil,
			`rules[0].maxAge: Forbidden: only stepUp rules have a maxAge`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := Validate([]Rule{tt.rule}, tt.base)
			if len(errs) != 1 {
				t.Fatalf("Validate() = %v, want one error", errs)
			}
			if diff := cmp.Diff(tt.want, errs[0].Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateDuplicateNameSaysWhere(t *testing.T) {
	t.Parallel()
	errs := Validate([]Rule{ok("a"), ok("b"), ok("a")}, nil)
	want := `rules[2].name: Duplicate value: "a": rules[0] has the same name`
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("Validate() = %v, want [%s]", errs, want)
	}
}

// TestNearVerb: one slip from a known verb is caught; real verbs, custom
// verbs and unrelated words are not.
func TestNearVerb(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		"dlete": "delete", "deletee": "delete", "delte": "delete", "gte": "get", "gets": "get", "lsit": "list",
		"wacth": "watch", "craete": "create", "pach": "patch", "deletecolection": "deletecollection",
		"get": "", "delete": "", "use": "", "approve": "", "frobnicate": "", "proxy": "", "g": "", "": "",
	} {
		if got := nearVerb(v); got != want {
			t.Errorf("nearVerb(%q) = %q, want %q", v, got, want)
		}
	}
}
