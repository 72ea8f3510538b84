package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Vocabularies for random rules and requests. Rules and requests draw from
// overlapping sets so that both matches and near misses are common.
var (
	vocabUsers      = []string{"alice", "bob", "al*", "*-admin", "b?b", "*"}
	vocabGroups     = []string{"dev", "ops", "o*", "system:authenticated", "system:*"}
	vocabVerbs      = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "escalate", "frob", "post", "*"}
	vocabAPIGroups  = []string{"", "apps", "batch", "rbac.authorization.k8s.io", "*"}
	vocabResources  = []string{"pods", "pods/exec", "pods/log", "pods/*", "deployments", "deployments/scale", "*/scale", "*/*", "secrets", "jobs", "roles", "*"}
	vocabNamespaces = []string{"prod-*", "dev", "kube-system", "*", "p?od-eu", "*-eu"}
	vocabNames      = []string{"web", "web-*", "*-db", "db", "*"}
	vocabURLs       = []string{"/healthz", "/logs/*", "/version", "*"}

	reqUsers      = []string{"alice", "bob", "carol", "root-admin", "albert", ""}
	reqGroups     = []string{"dev", "ops", "qa", "operators"}
	reqVerbs      = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "escalate", "frob", "post", "nuke"}
	reqAPIGroups  = []string{"", "apps", "batch", "rbac.authorization.k8s.io", "example.io"}
	reqResources  = []string{"pods", "deployments", "secrets", "jobs", "roles", "nodes", "widgets"}
	reqSubs       = []string{"", "", "", "exec", "log", "scale", "status"}
	reqNamespaces = []string{"", "prod-eu", "prod-us", "dev", "kube-system", "staging", "preprod-eu"}
	reqNames      = []string{"", "web", "web-1", "main-db", "db", "api"}
	reqPaths      = []string{"/healthz", "/healthz/etcd", "/logs/", "/logs/a.log", "/version", "/api", "/"}
)

// pickSome returns 0 to 3 distinct values from vocab, none half the time.
func pickSome(rng *rand.Rand, vocab []string) []string {
	if rng.IntN(2) == 0 {
		return nil
	}
	var out []string
	for n := 1 + rng.IntN(3); len(out) < n; {
		v := vocab[rng.IntN(len(vocab))]
		if slices.Contains(out, v) {
			n-- // tolerate repeats by asking for fewer
			continue
		}
		out = append(out, v)
	}
	return out
}

func randomRules(rng *rand.Rand, n int) []Rule {
	actions := []Action{ActionAllow, ActionDeny, ActionStepUp}
	rules := make([]Rule, n)
	for i := range rules {
		r := &rules[i]
		r.Name = fmt.Sprintf("r%d", i)
		r.Action = actions[rng.IntN(len(actions))]
		if r.Action == ActionDeny && rng.IntN(2) == 0 {
			r.Message = "no"
		}
		m := &r.Match
		m.Users, m.Groups, m.Verbs = pickSome(rng, vocabUsers), pickSome(rng, vocabGroups), pickSome(rng, vocabVerbs)
		if rng.IntN(6) == 0 {
			m.NonResourceURLs = pickSome(rng, vocabURLs)
		} else {
			m.APIGroups, m.Resources = pickSome(rng, vocabAPIGroups), pickSome(rng, vocabResources)
			m.Namespaces, m.Names = pickSome(rng, vocabNamespaces), pickSome(rng, vocabNames)
			m.ClusterScoped = rng.IntN(4) == 0
		}
		if i < n-1 && matchesEverything(m) {
			m.Verbs = []string{reqVerbs[rng.IntN(len(reqVerbs))]}
		}
	}
	return rules
}

func randomAttributes(rng *rand.Rand) Attributes {
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	a := Attributes{User: pick(reqUsers), Machine: rng.IntN(5) == 0, Verb: pick(reqVerbs)}
	for range rng.IntN(3) {
		a.Groups = append(a.Groups, pick(reqGroups))
	}
	if rng.IntN(5) == 0 {
		a.Path = pick(reqPaths)
		return a
	}
	a.ResourceRequest = true
	a.APIGroup, a.Resource, a.Subresource = pick(reqAPIGroups), pick(reqResources), pick(reqSubs)
	a.Namespace, a.Name = pick(reqNamespaces), pick(reqNames)
	return a
}

// linearFirst scans the compiled rules without the index.
func linearFirst(s *Set, a *Attributes) int {
	vbit := verbBit(a.Verb)
	for i := range s.rules {
		if s.rules[i].m.match(a, vbit) {
			return i
		}
	}
	return -1
}

// TestDecideEqualsNaiveScan checks, on random rule sets and requests with
// a fixed seed, that the indexed Decide, a linear scan of the compiled
// rules, Explain and the reference implementation all agree.
func TestDecideEqualsNaiveScan(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(20260125, 1))
	const sets, requests = 400, 400
	for set := range sets {
		rules := randomRules(rng, 1+rng.IntN(40))
		def := []Action{ActionAllow, ActionDeny}[rng.IntN(2)]
		s, err := Compile(rules, def)
		if err != nil {
			t.Fatalf("set %d: Compile() = %v", set, err)
		}
		for range requests {
			a := randomAttributes(rng)
			d := s.Decide(&a)
			wantIdx, want := refDecide(rules, def, &a)
			if got := outcomeOf(d); got != want {
				t.Fatalf("set %d: Decide(%+v) = %+v, reference %+v (rule %d)\nrules: %+v", set, a, got, want, wantIdx, rules)
			}
			if got := linearFirst(s, &a); got != wantIdx {
				t.Fatalf("set %d: linear scan = rule %d, reference rule %d for %+v", set, got, wantIdx, a)
			}
			if d.Rule != nil && d.Rule.Index != wantIdx {
				t.Fatalf("set %d: Decision.Rule.Index = %d, want %d", set, d.Rule.Index, wantIdx)
			}
			if e := s.Explain(&a); outcomeOf(e.Decision) != want || len(e.Steps)+e.NotExamined != max(s.Len(), len(e.Steps)) {
				t.Fatalf("set %d: Explain(%+v) = %+v, want decision %+v", set, a, e, want)
			}
		}
	}
}

func TestGlobEqualsReference(t *testing.T) {
	t.Parallel()
	patterns := []string{"", "*", "**", "a", "a*", "*a", "a*b", "*a*", "a?c", "?", "??", "*?", "?*", "a*b*c", "*-*-*", "ö?", "?ö", "j?rg", "*é", "a**b", "x*x*x"}
	inputs := []string{"", "a", "b", "ab", "abc", "aXbYc", "acb", "ö", "öö", "jörg", "joerg", "é", "aé", "a-b-c", "--", "xx", "xxx", "xax", "\xff", "a\xffb", "aab", "abab"}
	for _, p := range patterns {
		g := compileGlob(p)
		for _, s := range inputs {
			if got, want := g.match(s), refGlob(p, s); got != want {
				t.Errorf("glob %q on %q = %v, reference %v", p, s, got, want)
			}
		}
	}
}

// TestDecideConcurrent lets the race detector watch concurrent Decide and
// Explain calls on one Set.
func TestDecideConcurrent(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	rules := randomRules(rng, 50)
	s := mustCompile(t, rules, "")
	reqs := make([]Attributes, 64)
	for i := range reqs {
		reqs[i] = randomAttributes(rng)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				a := &reqs[(g+i)%len(reqs)]
				if _, want := refDecide(rules, "", a); outcomeOf(s.Decide(a)) != want {
					t.Errorf("Decide(%+v) disagrees with the reference", a)
					return
				}
				if i%50 == 0 {
					_ = s.Explain(a).String()
				}
			}
		})
	}
	wg.Wait()
}

// fuzzRules is a rule set with every kind of pattern, for FuzzDecide.
func fuzzRules() []Rule {
	return []Rule{
		{Name: "collections", Match: Match{Verbs: []string{"deletecollection"}, Namespaces: []string{"prod-*"}}, Action: ActionDeny},
		{Name: "prod-delete", Match: Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*", "*-prod", "p?od-*-x"}}, Action: ActionStepUp},
		{Name: "exec", Match: Match{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "*/portforward"}}, Action: ActionStepUp, MaxAge: maxAge(600e9)},
		{Name: "scale", Match: Match{APIGroups: []string{"apps", "*"}, Resources: []string{"*/scale", "deployments"}, Names: []string{"web-*", "*-db", "a*b*c"}}, Action: ActionStepUp},
		{Name: "secrets", Match: Match{Resources: []string{"secrets"}, Namespaces: []string{"kube-system"}, Verbs: []string{"get", "list", "watch"}}, Action: ActionStepUp},
		{Name: "admins", Match: Match{Users: []string{"*-admin", "r??t", "jö*"}, Groups: []string{"ops", "sre-*"}}, Action: ActionAllow},
		{Name: "cluster", Match: Match{ClusterScoped: true, Verbs: []string{"create", "frob"}}, Action: ActionDeny, Message: "no"},
		{Name: "logs", Match: Match{NonResourceURLs: []string{"/logs/*", "/healthz"}}, Action: ActionDeny},
		{Name: "rbac", Match: Match{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "clusterroles/*"}}, Action: ActionStepUp},
	}
}

// FuzzDecide feeds hostile attribute strings to Decide, Explain and
// Describe: none may panic, and Decide must agree with the reference.
func FuzzDecide(f *testing.F) {
	f.Add("alice", "dev", "delete", "", "pods", "", "prod-eu", "web", "/", true, false)
	f.Add("root-admin", "ops", "create", "", "pods", "exec", "dev", "web", "", true, true)
	f.Add("jörg", "sre-x", "patch", "apps", "deployments", "scale", "p\xffod-a-x", "aXbYc", "", true, false)
	f.Add("\x00", "\n", "deletecollection", "*", "*", "*", "", "", "/logs/\x1b[2J", false, true)
	f.Add("", "", "", "", "", "", "", "", "", false, false)
	s := mustCompile(f, fuzzRules(), ActionDeny)
	f.Fuzz(func(t *testing.T, user, group, verb, apiGroup, resource, sub, ns, name, path string, resourceRequest, machine bool) {
		a := Attributes{User: user, Groups: []string{group}, Machine: machine, ResourceRequest: resourceRequest,
			Verb: verb, APIGroup: apiGroup, Resource: resource, Subresource: sub, Namespace: ns, Name: name, Path: path}
		got := outcomeOf(s.Decide(&a))
		if _, want := refDecide(fuzzRules(), ActionDeny, &a); got != want {
			t.Fatalf("Decide(%+v) = %+v, reference %+v", a, got, want)
		}
		e := s.Explain(&a)
		if outcomeOf(e.Decision) != got {
			t.Fatalf("Explain decision %+v != Decide %+v", e.Decision, got)
		}
		_ = e.String()
		_ = Describe(&a)
	})
}

// FuzzGlob checks compiled globs against the recursive reference.
func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{{"prod-*", "prod-eu"}, {"*-eu", "x-eu"}, {"a*b?c", "aXXbYc"}, {"j?rg", "jörg"}, {"*?*", "\xff"}, {"**", ""}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 16 || len(s) > 64 || strings.Count(p, "*") > 4 {
			t.Skip("the reference is exponential on long patterns")
		}
		if !utf8.ValidString(p) {
			t.Skip("Validate admits only UTF-8 patterns; byte and rune matching differ on others")
		}
		g := compileGlob(p)
		if got, want := g.match(s), refGlob(p, s); got != want {
			t.Fatalf("glob %q on %q = %v, reference %v", p, s, got, want)
		}
	})
}
