package rules

import (
	"slices"
	"strings"
)

// implicitGroup is the group every authenticated user is in.
const implicitGroup = "system:authenticated"

// matcher is a compiled Match. It is read-only after compileMatch.
type matcher struct {
	resourceOnly bool // a resource field is set: only resource requests
	nonResource  bool // NonResourceURLs is set: only non-resource requests

	verbs     verbSet
	apiGroups strSet
	resources resSet

	nsAny         bool // Namespaces unset
	namespaces    strSet
	clusterScoped bool
	names         strSet
	// widen is set for deny and stepUp rules: a request without a namespace
	// that lists or watches, or a request without an object name, may touch
	// what the rule names, so those conditions pass.
	widen bool

	urls urlSet

	users     strSet
	groupsAny bool // Groups unset, or a pattern matches system:authenticated
	groups    strSet

	src Match // a private copy, for Explain
}

func compileMatch(src *Match, action Action) matcher {
	m := Match{
		Users: slices.Clone(src.Users), Groups: slices.Clone(src.Groups), Verbs: slices.Clone(src.Verbs),
		APIGroups: slices.Clone(src.APIGroups), Resources: slices.Clone(src.Resources),
		Namespaces: slices.Clone(src.Namespaces), ClusterScoped: src.ClusterScoped,
		Names: slices.Clone(src.Names), NonResourceURLs: slices.Clone(src.NonResourceURLs),
	}
	c := matcher{
		resourceOnly:  hasResourceFields(&m),
		nonResource:   len(m.NonResourceURLs) > 0,
		verbs:         newVerbSet(m.Verbs),
		apiGroups:     newStrSet(m.APIGroups),
		resources:     newResSet(m.Resources),
		nsAny:         len(m.Namespaces) == 0,
		namespaces:    newStrSet(m.Namespaces),
		clusterScoped: m.ClusterScoped,
		names:         newStrSet(m.Names),
		widen:         action == ActionDeny || action == ActionStepUp,
		urls:          newURLSet(m.NonResourceURLs),
		users:         newStrSet(m.Users),
		groups:        newStrSet(m.Groups),
		src:           m,
	}
	c.groupsAny = c.groups.match(implicitGroup)
	return c
}

// hasResourceFields reports whether m sets a field that only resource
// requests have.
func hasResourceFields(m *Match) bool {
	return len(m.APIGroups) > 0 || len(m.Resources) > 0 || len(m.Namespaces) > 0 || m.ClusterScoped || len(m.Names) > 0
}

// match reports whether a satisfies every condition. vbit is verbBit(a.Verb),
// computed once per request. The checks run cheapest and most selective
// first; Explain checks the same conditions one by one with ok.
func (m *matcher) match(a *Attributes, vbit uint32) bool {
	if a.ResourceRequest {
		if m.nonResource || !m.verbs.match(a.Verb, vbit) ||
			!m.apiGroups.match(a.APIGroup) ||
			!m.resources.match(a.Resource, a.Subresource) ||
			!m.namespaceMatch(a.Namespace, vbit) ||
			!m.nameMatch(a.Name) {
			return false
		}
	} else if m.resourceOnly || !m.verbs.match(a.Verb, vbit) || !m.urls.match(a.Path) {
		return false
	}
	return m.users.match(a.User) && m.groupsMatch(a.Groups)
}

// namespaceMatch applies Namespaces and ClusterScoped to ns.
func (m *matcher) namespaceMatch(ns string, vbit uint32) bool {
	if ns == "" {
		// Cluster-scoped, or a list or watch across all namespaces.
		return m.nsAny || m.clusterScoped || (m.widen && vbit&(bitList|bitWatch) != 0)
	}
	if m.nsAny {
		return !m.clusterScoped
	}
	return m.namespaces.match(ns)
}

// nameMatch applies Names to name.
func (m *matcher) nameMatch(name string) bool {
	if name == "" {
		return m.names.any || m.widen
	}
	return m.names.match(name)
}

func (m *matcher) groupsMatch(groups []string) bool {
	if m.groupsAny {
		return true
	}
	for _, g := range groups {
		if m.groups.match(g) {
			return true
		}
	}
	return false
}

// subKind says which subresources a resource pattern takes.
type subKind uint8

const (
	subNone  subKind = iota // "pods": the resource itself only
	subExact                // "pods/exec": that subresource
	subSome                 // "pods/*": any subresource, not the resource
	subAll                  // "*": the resource and every subresource
)

// resPattern is one compiled entry of Resources.
type resPattern struct {
	anyRes   bool
	resource string
	sub      subKind
	subName  string
}

func parseResource(s string) resPattern {
	if s == "*" {
		return resPattern{anyRes: true, sub: subAll}
	}
	res, sub, hasSub := strings.Cut(s, "/")
	p := resPattern{anyRes: res == "*", resource: res}
	switch {
	case !hasSub:
		p.sub = subNone
	case sub == "*":
		p.sub = subSome
	default:
		p.sub, p.subName = subExact, sub
	}
	return p
}

func (p *resPattern) match(res, sub string) bool {
	if !p.anyRes && p.resource != res {
		return false
	}
	switch p.sub {
	case subNone:
		return sub == ""
	case subExact:
		return sub == p.subName
	case subSome:
		return sub != ""
	}
	return true
}

// resSet is a compiled Resources list.
type resSet struct {
	any  bool
	pats []resPattern
}

func newResSet(values []string) resSet {
	s := resSet{any: len(values) == 0}
	for _, v := range values {
		p := parseResource(v)
		if p.anyRes && p.sub == subAll {
			s.any = true
		}
		s.pats = append(s.pats, p)
	}
	return s
}

func (s *resSet) match(res, sub string) bool {
	if s.any {
		return true
	}
	for i := range s.pats {
		if s.pats[i].match(res, sub) {
			return true
		}
	}
	return false
}

// urlSet is a compiled NonResourceURLs list.
type urlSet struct {
	any      bool
	exact    []string
	prefixes []string
}

func newURLSet(values []string) urlSet {
	s := urlSet{any: len(values) == 0}
	for _, v := range values {
		switch {
		case v == "*":
			s.any = true
		case strings.HasSuffix(v, "*"):
			s.prefixes = append(s.prefixes, strings.TrimSuffix(v, "*"))
		default:
			s.exact = append(s.exact, v)
		}
	}
	return s
}

func (s *urlSet) match(path string) bool {
	if s.any {
		return true
	}
	for _, e := range s.exact {
		if e == path {
			return true
		}
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
