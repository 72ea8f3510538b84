package rules

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// catalogEntry is an API resource with some of its subresources.
type catalogEntry struct {
	group, resource string
	subs            []string
}

// catalog returns built-in resources plus n custom resources, as a large
// cluster with many CRDs would have.
func catalog(n int) []catalogEntry {
	c := []catalogEntry{
		{"", "pods", []string{"exec", "log", "attach", "portforward", "eviction", "status"}},
		{"", "services", []string{"proxy", "status"}}, {"", "configmaps", nil}, {"", "secrets", nil},
		{"", "serviceaccounts", []string{"token"}}, {"", "persistentvolumeclaims", nil}, {"", "events", nil},
		{"", "namespaces", []string{"finalize"}}, {"", "nodes", []string{"proxy", "status"}},
		{"apps", "deployments", []string{"scale", "status"}}, {"apps", "statefulsets", []string{"scale"}},
		{"apps", "daemonsets", nil}, {"apps", "replicasets", []string{"scale"}},
		{"batch", "jobs", nil}, {"batch", "cronjobs", nil},
		{"networking.k8s.io", "ingresses", nil}, {"networking.k8s.io", "networkpolicies", nil},
		{"rbac.authorization.k8s.io", "roles", nil}, {"rbac.authorization.k8s.io", "rolebindings", nil},
		{"rbac.authorization.k8s.io", "clusterroles", nil}, {"rbac.authorization.k8s.io", "clusterrolebindings", nil},
		{"apiextensions.k8s.io", "customresourcedefinitions", nil}, {"policy", "poddisruptionbudgets", nil},
		{"cert-manager.io", "certificates", nil}, {"cert-manager.io", "issuers", nil},
	}
	for i := range n {
		c = append(c, catalogEntry{fmt.Sprintf("team%d.example.com", i), fmt.Sprintf("widgets%d", i), []string{"status"}})
	}
	return c
}

// realisticRules generates n rules shaped like a large organisation's
// policy: per-team production rules on resources, per-team namespace
// rules, secrets, exec, RBAC, CI allowances and a few non-resource paths.
func realisticRules(n int, seed uint64) []Rule {
	rng := rand.New(rand.NewPCG(seed, seed))
	cat := catalog(n / 10)
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	rules := make([]Rule, 0, n)
	for i := range n {
		team := rng.IntN(n/4 + 1)
		e := cat[rng.IntN(len(cat))]
		r := Rule{Name: fmt.Sprintf("rule-%d", i), Action: ActionStepUp}
		switch k := rng.IntN(20); {
		case k < 7: // a team's production objects
			r.Match = Match{APIGroups: []string{e.group}, Resources: []string{e.resource},
				Namespaces: []string{fmt.Sprintf("team-%d-prod", team), fmt.Sprintf("team-%d-prod-*", team)},
				Verbs:      []string{"delete", pick([]string{"update", "patch"})}[:1+rng.IntN(2)]}
			if len(e.subs) > 0 && rng.IntN(3) == 0 {
				r.Match.Resources = append(r.Match.Resources, e.resource+"/"+pick(e.subs))
			}
		case k < 11: // a team's namespaces, any resource
			r.Match = Match{Namespaces: []string{fmt.Sprintf("team-%d-*", team)}, Verbs: []string{"delete", "deletecollection"}[:1+rng.IntN(2)]}
		case k < 13: // secrets in system namespaces
			r.Match = Match{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"},
				Namespaces: []string{pick([]string{"kube-system", "cert-manager", "*-system"})}}
			r.MaxAge = maxAge(5 * time.Minute)
		case k < 15: // shells into a team's pods
			r.Match = Match{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "pods/portforward"},
				Namespaces: []string{fmt.Sprintf("team-%d-*", team)}}
			r.MaxAge = maxAge(10 * time.Minute)
		case k < 17: // CI reads freely
			r.Match = Match{Users: []string{fmt.Sprintf("ci-team-%d-*", team)}, Verbs: []string{"get", "list", "watch"}}
			r.Action = ActionAllow
		case k < 18: // cluster-wide RBAC
			r.Match = Match{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles", "clusterrolebindings"},
				ClusterScoped: true, Verbs: []string{"create", "update", "patch", "delete", "escalate", "bind"}}
		case k < 19: // a group that may not touch a CRD
			r.Match = Match{Groups: []string{fmt.Sprintf("team-%d", team)}, APIGroups: []string{e.group}, Resources: []string{e.resource + "/*"}}
			r.Action, r.Message = ActionDeny, "ask the owning team"
		default:
			r.Match = Match{NonResourceURLs: []string{pick([]string{"/logs/*", "/debug/*", "/metrics"})}}
			r.Action = ActionDeny
		}
		rules = append(rules, r)
	}
	// The worst case for a request that matches: the last rule.
	rules[n-1] = Rule{Name: "last", Match: Match{Namespaces: []string{"zz-last-*"}, Verbs: []string{"delete"}}, Action: ActionStepUp}
	return rules
}

// worstRequests are requests that no rule matches, or only the last: each
// walks every candidate the index yields for a busy resource.
func worstRequests() []Attributes {
	a := func(verb, group, resource, sub, ns, name string) Attributes {
		return Attributes{User: "zed", Groups: []string{"nobody", "team-x"}, ResourceRequest: true,
			Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
	}
	return []Attributes{
		a("delete", "", "pods", "", "zz-last-1", "web"),                    // matches the last rule only
		a("delete", "", "pods", "", "unlisted", "web"),                     // matches nothing
		a("deletecollection", "", "secrets", "", "team-x-prod", ""),        // matches nothing
		a("patch", "apps", "deployments", "scale", "unlisted", "api"),      // matches nothing
		a("create", "", "pods", "exec", "zz-last-2", "web"),                // matches nothing
		a("delete", "team3.example.com", "widgets3", "", "zz-last-3", "w"), // matches the last rule only
	}
}

// TestDecideDoesNotAllocate checks allocations, not time, at each size the
// benchmark measures.
func TestDecideDoesNotAllocate(t *testing.T) {
	for _, size := range []int{10, 200, 1000} {
		t.Run(fmt.Sprintf("rules=%d", size), func(t *testing.T) {
			s := mustCompile(t, realisticRules(size, 1), "")
			reqs := append(worstRequests(),
				res("delete", "", "pods", "", "team-1-prod", "web"),
				attrWith(res("get", "", "secrets", "", "kube-system", "s"), func(a *Attributes) { a.Machine = true }),
				attrWith(res("frob", "x.io", "things", "", "dev", "t"), func(a *Attributes) { a.User = "ci-team-1-x" }),
				nonRes("get", "/logs/x"), nonRes("get", "/healthz"))
			for i := range reqs {
				a := &reqs[i]
				if n := testing.AllocsPerRun(100, func() { _ = s.Decide(a) }); n != 0 {
					t.Errorf("Decide(%+v): %v allocs/op, want 0", *a, n)
				}
			}
		})
	}
}

func TestRealisticRulesAgreeWithReference(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10, 200, 1000} {
		rules := realisticRules(n, 1)
		s := mustCompile(t, rules, "")
		rng := rand.New(rand.NewPCG(3, 3))
		cat := catalog(n / 10)
		reqs := worstRequests()
		for range 2000 {
			e := cat[rng.IntN(len(cat))]
			a := res([]string{"get", "delete", "patch", "deletecollection", "list"}[rng.IntN(5)], e.group, e.resource, "",
				fmt.Sprintf("team-%d-prod", rng.IntN(n/4+1)), "x")
			reqs = append(reqs, a)
		}
		for i := range reqs {
			if _, want := refDecide(rules, "", &reqs[i]); outcomeOf(s.Decide(&reqs[i])) != want {
				t.Fatalf("rules=%d: Decide(%+v) disagrees with the reference %+v", n, reqs[i], want)
			}
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 200, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			s := mustCompile(b, realisticRules(n, 1), "")
			reqs := worstRequests()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = s.Decide(&reqs[i%len(reqs)])
				i++
			}
		})
	}
}

// BenchmarkDecideLinear is the same work without the index, for comparison.
func BenchmarkDecideLinear(b *testing.B) {
	for _, n := range []int{10, 200, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			s := mustCompile(b, realisticRules(n, 1), "")
			reqs := worstRequests()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = linearFirst(s, &reqs[i%len(reqs)])
				i++
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	rules := realisticRules(1000, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(rules, ""); err != nil {
			b.Fatal(err)
		}
	}
}
