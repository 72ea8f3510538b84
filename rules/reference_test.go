package rules

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// This file is a second, deliberately naive implementation of the matching
// semantics, written from the package documentation and sharing no code
// with the compiled matcher: a linear scan over the source rules with a
// recursive glob. The property and fuzz tests check Decide against it.

// refDecide returns the index of the first matching rule (-1 for none) and
// the outcome.
func refDecide(rules []Rule, def Action, a *Attributes) (int, outcome) {
	if def == "" {
		def = ActionAllow
	}
	for i := range rules {
		r := &rules[i]
		if !refMatches(r, a) {
			continue
		}
		switch {
		case r.Action == ActionStepUp && a.Machine:
			return i, outcome{Action: ActionDeny, Rule: r.Name, Message: machineMessage}
		case r.Action == ActionDeny && r.Message == "":
			return i, outcome{Action: ActionDeny, Rule: r.Name, Message: defaultDenyMessage}
		case r.Action == ActionDeny:
			return i, outcome{Action: ActionDeny, Rule: r.Name, Message: r.Message}
		}
		return i, outcome{Action: r.Action, Rule: r.Name}
	}
	return -1, outcome{Action: def}
}

func refMatches(r *Rule, a *Attributes) bool {
	m := &r.Match
	resourceFields := len(m.APIGroups)+len(m.Resources)+len(m.Namespaces)+len(m.Names) > 0 || m.ClusterScoped
	if a.ResourceRequest && len(m.NonResourceURLs) > 0 || !a.ResourceRequest && resourceFields {
		return false
	}
	if len(m.Users) > 0 && !refAnyGlob(m.Users, a.User) {
		return false
	}
	if len(m.Groups) > 0 && !refAnyGlob(m.Groups, "system:authenticated") && !slices.ContainsFunc(a.Groups, func(g string) bool { return refAnyGlob(m.Groups, g) }) {
		return false
	}
	if len(m.Verbs) > 0 && !slices.Contains(m.Verbs, "*") && !slices.Contains(m.Verbs, a.Verb) &&
		!(a.Verb == "deletecollection" && slices.Contains(m.Verbs, "delete")) {
		return false
	}
	if !a.ResourceRequest {
		return len(m.NonResourceURLs) == 0 || slices.ContainsFunc(m.NonResourceURLs, func(u string) bool {
			return u == "*" || u == a.Path || strings.HasSuffix(u, "*") && strings.HasPrefix(a.Path, u[:len(u)-1])
		})
	}
	restrictive := r.Action != ActionAllow
	if len(m.APIGroups) > 0 && !slices.Contains(m.APIGroups, "*") && !slices.Contains(m.APIGroups, a.APIGroup) {
		return false
	}
	if len(m.Resources) > 0 && !slices.ContainsFunc(m.Resources, func(p string) bool { return refResource(p, a.Resource, a.Subresource) }) {
		return false
	}
	var nsOK bool
	switch {
	case a.Namespace == "":
		nsOK = len(m.Namespaces) == 0 || m.ClusterScoped || restrictive && (a.Verb == "list" || a.Verb == "watch")
	case len(m.Namespaces) == 0:
		nsOK = !m.ClusterScoped
	default:
		nsOK = refAnyGlob(m.Namespaces, a.Namespace)
	}
	if !nsOK {
		return false
	}
	if a.Name == "" {
		return len(m.Names) == 0 || refAnyGlob(m.Names, "") || restrictive
	}
	return len(m.Names) == 0 || refAnyGlob(m.Names, a.Name)
}

func refResource(p, res, sub string) bool {
	if p == "*" {
		return true
	}
	pr, ps, hasSub := strings.Cut(p, "/")
	switch {
	case pr != "*" && pr != res:
		return false
	case !hasSub:
		return sub == ""
	case ps == "*":
		return sub != ""
	}
	return sub == ps
}

func refAnyGlob(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return refGlob(p, s) })
}

// refGlob matches by recursion: '*' takes zero or more runes, '?' one rune.
func refGlob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	_, w := utf8.DecodeRuneInString(s)
	switch p[0] {
	case '*':
		return refGlob(p[1:], s) || s != "" && refGlob(p, s[w:])
	case '?':
		return s != "" && refGlob(p[1:], s[w:])
	}
	return s != "" && s[0] == p[0] && refGlob(p[1:], s[1:])
}
