package rules

import (
	"strings"
	"unicode/utf8"
)

// glob is a compiled pattern: '*' matches any run of characters, '?' one
// character (a UTF-8 rune); every other byte matches itself. Patterns that
// are exact, "*", "prefix*", "*suffix" or "prefix*suffix" take fast paths.
// Patterns are valid UTF-8 (Validate sees to it), so a literal never
// matches in the middle of a character, and the fast paths agree with the
// general matcher.
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
	globPrefixSuffix // prefix*suffix, either part possibly empty
	globGeneral
)

func compileGlob(p string) glob {
	g := glob{pattern: p, kind: globGeneral}
	stars := strings.Count(p, "*")
	switch {
	case strings.Trim(p, "*") == "" && p != "":
		g.kind = globAny
	case strings.IndexByte(p, '?') >= 0 || stars > 1:
		// general
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
		return len(s) >= len(g.prefix)+len(g.suffix) &&
			strings.HasPrefix(s, g.prefix) && strings.HasSuffix(s, g.suffix)
	}
	return globMatch(g.pattern, s)
}

// globMatch is the general case. It is iterative with one backtrack point
// (the last '*'), so it runs in O(len(p)·len(s)) at worst, never recurses
// and never allocates.
func globMatch(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == '?':
			_, w := utf8.DecodeRuneInString(s[si:])
			pi++
			si += w
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			// Let the last '*' take one more rune and retry after it.
			_, w := utf8.DecodeRuneInString(s[mark:])
			mark += w
			pi, si = star+1, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// smallSet is the size up to which exact strings are compared one by one;
// past it a map is faster.
const smallSet = 8

// strSet matches a string against exact values and globs. The zero value
// matches nothing; newStrSet of no values matches anything.
type strSet struct {
	any      bool
	exact    []string            // when few
	exactMap map[string]struct{} // when many
	globs    []glob
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
			s.exact = append(s.exact, v)
		default:
			s.globs = append(s.globs, g)
		}
	}
	if len(s.exact) > smallSet {
		s.exactMap = make(map[string]struct{}, len(s.exact))
		for _, v := range s.exact {
			s.exactMap[v] = struct{}{}
		}
		s.exact = nil
	}
	return s
}

func (s *strSet) match(v string) bool {
	if s.any {
		return true
	}
	for _, e := range s.exact {
		if e == v {
			return true
		}
	}
	if s.exactMap != nil {
		if _, ok := s.exactMap[v]; ok {
			return true
		}
	}
	for i := range s.globs {
		if s.globs[i].match(v) {
			return true
		}
	}
	return false
}
