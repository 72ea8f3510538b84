package rules

import (
	"math/bits"
	"slices"
	"strings"
)

// bitset holds one bit per rule, rule i at bit i%64 of word i/64.
type bitset []uint64

func (b bitset) set(i int) { b[i/64] |= 1 << (i % 64) }

// resKey is an (API group, resource) pair. A struct of two strings is
// hashed as is, so looking one up allocates nothing, unlike building a
// "group/resource" string.
type resKey struct{ group, resource string }

// index narrows a request to the rules that could match it. Along each of
// three dimensions (API group and resource, verb, namespace) it keeps, for
// every value some rule names, the set of rules that could match a request
// with that value; a request's candidates are the intersection, walked in
// rule order, and each candidate is then checked in full by its matcher.
// Every set is a superset of the rules that match on its dimension, never
// a subset, so the index can only save work, not change a decision.
type index struct {
	words int // len of every bitset

	// API group and resource, for resource requests. For each (g, r) that
	// some rule names in both, pairs holds the rules naming g (or any group)
	// and r (or any resource). Otherwise no rule names both, and the
	// candidates are byGroup[g] (rules naming g, any resource) or'ed with
	// byResource[r] (rules naming r, any group); both include wild, the
	// rules naming neither, which is the answer when neither key exists.
	pairs       map[resKey]bitset
	byGroup     map[string]bitset
	byResource  map[string]bitset
	wild        bitset
	nonResource bitset // rules that can match a non-resource request

	// Verbs: the rules that can match each well-known verb, by bit number,
	// and those that can match any other verb.
	verbs     [32]bitset
	otherVerb bitset

	// Namespaces, for resource requests. A request without namespace
	// checks noNS (or noNSListWatch for a list or watch). Otherwise the
	// candidates are nsAlways (rules for every namespace, and globs without
	// a literal prefix), nsExact[ns], and nsPrefix[p] for every literal
	// prefix p of ns that a glob starts with.
	noNS, noNSListWatch bitset
	nsAlways            bitset
	nsExact             map[string]bitset
	nsPrefix            map[string]bitset
	nsPrefixLens        []int  // the lengths of nsPrefix's keys, ascending
	nsPrefixAll         bitset // the union of nsPrefix, when too many match
}

// maxNSTerms bounds the namespace sets a query ORs together: nsAlways,
// nsExact and prefixes. More matching prefixes fall back to nsPrefixAll.
const maxNSTerms = 10

// query is a request's candidate sets, built on the stack by lookup.
type query struct {
	res1, res2 bitset // or'ed; res2 may be nil
	verbs      bitset
	nsFilter   bool // a resource request: apply ns
	ns         [maxNSTerms]bitset
	nns        int
}

func buildIndex(rules []Compiled) index {
	n := len(rules)
	ix := index{words: (n + 63) / 64, pairs: map[resKey]bitset{}, byGroup: map[string]bitset{},
		byResource: map[string]bitset{}, nsExact: map[string]bitset{}, nsPrefix: map[string]bitset{}}
	ix.buildResources(rules)
	ix.buildVerbs(rules)
	ix.buildNamespaces(rules)
	return ix
}

func (ix *index) newBitset() bitset { return make(bitset, ix.words) }

// indexShape is what the resource dimension needs to know of one rule.
type indexShape struct {
	resource  bool     // can match resource requests
	groups    []string // exact groups; nil: any
	resources []string // exact resource names; nil: any
}

func shapeOf(m *matcher) indexShape {
	sh := indexShape{resource: !m.nonResource}
	if !m.apiGroups.any {
		sh.groups = m.src.APIGroups // exact names: Validate admits no other globs
	}
	if !m.resources.any {
		for _, p := range m.resources.pats {
			if p.anyRes {
				return indexShape{resource: sh.resource, groups: sh.groups}
			}
			if !slices.Contains(sh.resources, p.resource) {
				sh.resources = append(sh.resources, p.resource)
			}
		}
	}
	return sh
}

// could reports whether a rule of shape sh could match group g and
// resource r. otherG (otherR) means the group (resource) is one that no
// rule names, so only rules for any group (resource) could match it.
func (sh *indexShape) could(g, r string, otherG, otherR bool) bool {
	return sh.resource &&
		(sh.groups == nil || !otherG && slices.Contains(sh.groups, g)) &&
		(sh.resources == nil || !otherR && slices.Contains(sh.resources, r))
}

func (ix *index) buildResources(rules []Compiled) {
	shapes := make([]indexShape, len(rules))
	for i := range rules {
		shapes[i] = shapeOf(&rules[i].m)
	}
	collect := func(g, r string, otherG, otherR bool) bitset {
		b := ix.newBitset()
		for i := range shapes {
			if shapes[i].could(g, r, otherG, otherR) {
				b.set(i)
			}
		}
		return b
	}
	ix.nonResource = ix.newBitset()
	for i, sh := range shapes {
		if !rules[i].m.resourceOnly {
			ix.nonResource.set(i)
		}
		for _, g := range sh.groups {
			for _, r := range sh.resources {
				if _, ok := ix.pairs[resKey{g, r}]; !ok {
					ix.pairs[resKey{g, r}] = collect(g, r, false, false)
				}
			}
			if _, ok := ix.byGroup[g]; !ok && sh.resources == nil {
				ix.byGroup[g] = collect(g, "", false, true)
			}
		}
		for _, r := range sh.resources {
			if _, ok := ix.byResource[r]; !ok && sh.groups == nil {
				ix.byResource[r] = collect("", r, true, false)
			}
		}
	}
	ix.wild = collect("", "", true, true)
}

func (ix *index) buildVerbs(rules []Compiled) {
	for b := range ix.verbs {
		ix.verbs[b] = ix.newBitset()
	}
	ix.otherVerb = ix.newBitset()
	for i := range rules {
		v := &rules[i].m.verbs
		for b := range ix.verbs {
			if v.any || v.mask&(1<<b) != 0 {
				ix.verbs[b].set(i)
			}
		}
		if v.any || len(v.custom) > 0 {
			ix.otherVerb.set(i)
		}
	}
}

func (ix *index) buildNamespaces(rules []Compiled) {
	ix.noNS, ix.noNSListWatch, ix.nsAlways, ix.nsPrefixAll = ix.newBitset(), ix.newBitset(), ix.newBitset(), ix.newBitset()
	add := func(m map[string]bitset, key string, i int) {
		if m[key] == nil {
			m[key] = ix.newBitset()
		}
		m[key].set(i)
	}
	for i := range rules {
		m := &rules[i].m
		if m.nsAny || m.clusterScoped {
			ix.noNS.set(i)
		}
		if m.nsAny || m.clusterScoped || m.widen {
			ix.noNSListWatch.set(i)
		}
		if m.nsAny {
			if !m.clusterScoped {
				ix.nsAlways.set(i)
			}
			continue
		}
		for _, p := range m.src.Namespaces {
			lit := p[:literalPrefixLen(p)]
			switch {
			case lit == p:
				add(ix.nsExact, p, i)
			case lit == "":
				ix.nsAlways.set(i)
			default:
				add(ix.nsPrefix, lit, i)
				ix.nsPrefixAll.set(i)
			}
		}
	}
	for p := range ix.nsPrefix {
		if !slices.Contains(ix.nsPrefixLens, len(p)) {
			ix.nsPrefixLens = append(ix.nsPrefixLens, len(p))
		}
	}
	slices.Sort(ix.nsPrefixLens)
}

// literalPrefixLen is the length of p before its first wildcard.
func literalPrefixLen(p string) int {
	if i := strings.IndexAny(p, globChars); i >= 0 {
		return i
	}
	return len(p)
}

// lookup fills q with a's candidate sets. vbit is verbBit(a.Verb).
func (ix *index) lookup(a *Attributes, vbit uint32, q *query) {
	if vbit != 0 {
		q.verbs = ix.verbs[bits.TrailingZeros32(vbit)]
	} else {
		q.verbs = ix.otherVerb
	}
	if !a.ResourceRequest {
		q.res1 = ix.nonResource
		return
	}
	q.nsFilter = true
	if b, ok := ix.pairs[resKey{a.APIGroup, a.Resource}]; ok {
		q.res1 = b
	} else {
		g, okG := ix.byGroup[a.APIGroup]
		r, okR := ix.byResource[a.Resource]
		switch {
		case okG:
			q.res1, q.res2 = g, r
		case okR:
			q.res1 = r
		default:
			q.res1 = ix.wild
		}
	}
	ix.lookupNamespace(a.Namespace, vbit, q)
}

func (ix *index) lookupNamespace(ns string, vbit uint32, q *query) {
	if ns == "" {
		q.ns[0], q.nns = ix.noNS, 1
		if vbit&(bitList|bitWatch) != 0 {
			q.ns[0] = ix.noNSListWatch
		}
		return
	}
	q.ns[0], q.nns = ix.nsAlways, 1
	if b, ok := ix.nsExact[ns]; ok {
		q.ns[q.nns] = b
		q.nns++
	}
	start := q.nns
	for _, l := range ix.nsPrefixLens {
		if l > len(ns) {
			break
		}
		b, ok := ix.nsPrefix[ns[:l]]
		if !ok {
			continue
		}
		if q.nns == maxNSTerms {
			q.ns[start], q.nns = ix.nsPrefixAll, start+1
			return
		}
		q.ns[q.nns] = b
		q.nns++
	}
}

// word returns the candidates among rules 64w to 64w+63.
func (q *query) word(w int) uint64 {
	c := q.res1[w]
	if q.res2 != nil {
		c |= q.res2[w]
	}
	c &= q.verbs[w]
	if q.nsFilter && c != 0 {
		var n uint64
		for _, b := range q.ns[:q.nns] {
			n |= b[w]
		}
		c &= n
	}
	return c
}
