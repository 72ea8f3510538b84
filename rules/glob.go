package rules

import "strings"

// glob is a compiled pattern: '*' matches any run of characters, '?' one
// byte; everything else matches itself. Patterns without '?' and with at
// most one '*' take fast paths.
type glob struct {
	pattern string
	kind    globKind
	prefix  string
	suffix  string
}

type globKind uint8

const (
	globExact globKind = iota
	globAny
	globPrefixSuffix // prefix*suffix
	globGeneral
)

func compileGlob(p string) glob {
	g := glob{pattern: p}
	stars := strings.Count(p, "*")
	switch {
	case p == "*":
		g.kind = globAny
	case strings.ContainsRune(p, '?') || stars > 1:
		g.kind = globGeneral
	case stars == 1:
		i := strings.IndexByte(p, '*')
		g.kind, g.prefix, g.suffix = globPrefixSuffix, p[:i], p[i+1:]
	default:
		g.kind = globExact
	}
	return g
}

func (g *glob) match(s string) bool {
	switch g.kind {
	case globExact:
		return s == g.pattern
	case globAny:
		return true
	case globPrefixSuffix:
		return len(s) >= len(g.prefix)+len(g.suffix) && strings.HasPrefix(s, g.prefix) && strings.HasSuffix(s, g.suffix)
	}
	return globMatch(g.pattern, s)
}

// globMatch is the general case: iterative, with one backtrack point, so it
// runs in O(len(p)·len(s)) at worst and never allocates.
func globMatch(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// strSet matches a string against exact values (a map) and globs.
type strSet struct {
	any   bool
	exact map[string]struct{}
	globs []glob
}

func newStrSet(values []string) strSet {
	var s strSet
	if len(values) == 0 {
		s.any = true
		return s
	}
	for _, v := range values {
		g := compileGlob(v)
		switch g.kind {
		case globAny:
			s.any = true
		case globExact:
			if s.exact == nil {
				s.exact = map[string]struct{}{}
			}
			s.exact[v] = struct{}{}
		default:
			s.globs = append(s.globs, g)
		}
	}
	return s
}

func (s *strSet) match(v string) bool {
	if s.any {
		return true
	}
	if _, ok := s.exact[v]; ok {
		return true
	}
	for i := range s.globs {
		if s.globs[i].match(v) {
			return true
		}
	}
	return false
}
