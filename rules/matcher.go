package rules

import (
	"fmt"
	"strings"
)

// matcher is a compiled Match.
type matcher struct {
	users, groups strSet
	verbs         verbSet
	apiGroups     strSet
	resources     []resourcePattern // nil: any
	namespaces    strSet
	nsSet         bool // Namespaces was given
	clusterScoped bool
	names         strSet
	urls          []urlPattern
	resourceOnly  bool // a resource field was given
	nonResource   bool // nonResourceURLs were given
	src           *Match
}

// resourcePattern is one entry of Resources.
type resourcePattern struct {
	resource string // "*" any
	sub      string // "" none, "*" any
}

func parseResource(s string) resourcePattern {
	res, sub, _ := strings.Cut(s, "/")
	if s == "*" {
		return resourcePattern{resource: "*", sub: "*"}
	}
	return resourcePattern{resource: res, sub: sub}
}

func (p *resourcePattern) match(res, sub string) bool {
	if p.resource != "*" && p.resource != res {
		return false
	}
	return p.sub == "*" || p.sub == sub
}

// urlPattern is one entry of NonResourceURLs.
type urlPattern struct {
	path   string
	prefix bool
}

func compileMatch(m *Match) matcher {
	c := matcher{
		users: newStrSet(m.Users), groups: newStrSet(m.Groups), verbs: newVerbSet(m.Verbs),
		apiGroups: newStrSet(m.APIGroups), namespaces: newStrSet(m.Namespaces), nsSet: len(m.Namespaces) > 0,
		clusterScoped: m.ClusterScoped, names: newStrSet(m.Names), src: m,
	}
	for _, r := range m.Resources {
		c.resources = append(c.resources, parseResource(r))
	}
	for _, u := range m.NonResourceURLs {
		if strings.HasSuffix(u, "*") {
			c.urls = append(c.urls, urlPattern{path: strings.TrimSuffix(u, "*"), prefix: true})
		} else {
			c.urls = append(c.urls, urlPattern{path: u})
		}
	}
	c.nonResource = len(m.NonResourceURLs) > 0
	c.resourceOnly = len(m.APIGroups) > 0 || len(m.Resources) > 0 || len(m.Namespaces) > 0 || m.ClusterScoped || len(m.Names) > 0
	return c
}

// part names the first field of a Match that failed for a request.
type part uint8

const (
	fieldNone part = iota
	fieldKindResource
	fieldKindNonResource
	fieldUser
	fieldGroup
	fieldVerb
	fieldPath
	fieldAPIGroup
	fieldResource
	fieldNamespace
	fieldName
)

// match reports whether a satisfies every field. vbit is the request
// verb's bit, computed once per request.
func (m *matcher) match(a *Attributes, vbit uint32) bool { return m.fail(a, vbit) == fieldNone }

// fail returns the first part that does not match, without allocating.
func (m *matcher) fail(a *Attributes, vbit uint32) part {
	switch {
	case a.ResourceRequest && m.nonResource:
		return fieldKindResource
	case !a.ResourceRequest && m.resourceOnly:
		return fieldKindNonResource
	case !m.users.match(a.User):
		return fieldUser
	case !m.groups.any && !m.groupsMatch(a.Groups):
		return fieldGroup
	case !m.verbs.match(a.Verb, vbit):
		return fieldVerb
	case !a.ResourceRequest:
		if !m.urlMatch(a.Path) {
			return fieldPath
		}
		return fieldNone
	case !m.apiGroups.match(a.APIGroup):
		return fieldAPIGroup
	case !m.resourceMatch(a.Resource, a.Subresource):
		return fieldResource
	case !m.namespaceMatch(a.Namespace):
		return fieldNamespace
	case !m.names.match(a.Name):
		return fieldName
	}
	return fieldNone
}

// reason says in words why part f failed for a (for Explain).
func (m *matcher) reason(f part, a *Attributes) string {
	src := m.src
	switch f {
	case fieldKindResource:
		return fmt.Sprintf("the rule is for non-resource URLs %v; this is a resource request", src.NonResourceURLs)
	case fieldKindNonResource:
		return fmt.Sprintf("the rule is for resource requests; this is the non-resource path %q", a.Path)
	case fieldUser:
		return fmt.Sprintf("user %q not in %v", a.User, src.Users)
	case fieldGroup:
		return fmt.Sprintf("none of the groups %v (and system:authenticated) in %v", a.Groups, src.Groups)
	case fieldVerb:
		return fmt.Sprintf("verb %q not in %v", a.Verb, src.Verbs)
	case fieldPath:
		return fmt.Sprintf("path %q not in %v", a.Path, src.NonResourceURLs)
	case fieldAPIGroup:
		return fmt.Sprintf("API group %q not in %q", a.APIGroup, src.APIGroups)
	case fieldResource:
		return fmt.Sprintf("resource %q not in %v", joinSub(a.Resource, a.Subresource), src.Resources)
	case fieldNamespace:
		if a.Namespace == "" {
			return fmt.Sprintf("cluster-scoped request; the rule is for namespaces %v", src.Namespaces)
		}
		return fmt.Sprintf("namespace %q not in %v", a.Namespace, nsList(src))
	case fieldName:
		return fmt.Sprintf("name %q not in %v", a.Name, src.Names)
	}
	return "matches"
}

func nsList(m *Match) []string {
	if m.ClusterScoped && len(m.Namespaces) == 0 {
		return []string{"(cluster-scoped only)"}
	}
	return m.Namespaces
}

func joinSub(res, sub string) string {
	if sub == "" {
		return res
	}
	return res + "/" + sub
}

func (m *matcher) groupsMatch(groups []string) bool {
	if m.groups.match("system:authenticated") {
		return true
	}
	for _, g := range groups {
		if m.groups.match(g) {
			return true
		}
	}
	return false
}

func (m *matcher) resourceMatch(res, sub string) bool {
	if m.resources == nil {
		return true
	}
	for i := range m.resources {
		if m.resources[i].match(res, sub) {
			return true
		}
	}
	return false
}

func (m *matcher) namespaceMatch(ns string) bool {
	if ns == "" {
		return !m.nsSet || m.clusterScoped
	}
	if !m.nsSet {
		return !m.clusterScoped
	}
	return m.namespaces.match(ns)
}

func (m *matcher) urlMatch(path string) bool {
	if len(m.urls) == 0 {
		return true
	}
	for _, u := range m.urls {
		if u.path == path || (u.prefix && strings.HasPrefix(path, u.path)) {
			return true
		}
	}
	return false
}
