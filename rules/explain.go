package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Explanation is a rule-by-rule account of one decision, for
// `stepgate rules explain`.
type Explanation struct {
	// Decision is what Decide returns for the same request.
	Decision Decision
	// Request is the request in words, as Describe puts it.
	Request string
	// Who says who asks: a user and their groups, or a service token.
	Who string
	// Steps has one entry per rule examined, in order: every rule before
	// the one that matched, and that one; every rule when none matched.
	Steps []ExplainStep
	// NotExamined counts the rules after the matching one, which first
	// match wins leaves unexamined.
	NotExamined int
}

// ExplainStep says whether one rule matched and, if not, why.
type ExplainStep struct {
	// Index is the rule's position in the list.
	Index int
	// Name is the rule's name.
	Name string
	// Matched is true for the rule that decided.
	Matched bool
	// Reason lists every condition that failed, separated by "; ", for
	// example `verb "get" not in [delete deletecollection]`. For the rule
	// that matched it is empty, or says why it applies where that is easy
	// to miss (delete covering deletecollection, a list across all
	// namespaces).
	Reason string
}

// Explain examines every rule in order, without the index, up to the first
// that matches a, and reports for each why it did or did not match. Its
// Decision always equals Decide's. It allocates; use Decide on the request
// path.
func (s *Set) Explain(a *Attributes) Explanation {
	vbit := verbBit(a.Verb)
	e := Explanation{Decision: Decision{Action: s.def}, Request: Describe(a), Who: who(a)}
	for i := range s.rules {
		r := &s.rules[i]
		failed, notes := r.m.explain(a, vbit)
		st := ExplainStep{Index: i, Name: r.Name, Matched: len(failed) == 0}
		if st.Matched {
			st.Reason = strings.Join(notes, "; ")
			e.Steps = append(e.Steps, st)
			e.Decision = decision(r, a)
			e.NotExamined = len(s.rules) - i - 1
			return e
		}
		st.Reason = strings.Join(failed, "; ")
		e.Steps = append(e.Steps, st)
	}
	return e
}

// String renders the explanation as lines for a terminal.
func (e Explanation) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "seen as: %s, by %s\n", e.Request, e.Who)
	for _, st := range e.Steps {
		switch {
		case !st.Matched:
			fmt.Fprintf(&sb, "  rules[%d] %s: no match: %s\n", st.Index, st.Name, st.Reason)
		case st.Reason != "":
			fmt.Fprintf(&sb, "  rules[%d] %s: MATCH (%s)\n", st.Index, st.Name, st.Reason)
		default:
			fmt.Fprintf(&sb, "  rules[%d] %s: MATCH\n", st.Index, st.Name)
		}
	}
	switch {
	case e.NotExamined == 1:
		sb.WriteString("  (1 later rule not examined: the first match decides)\n")
	case e.NotExamined > 1:
		fmt.Fprintf(&sb, "  (%d later rules not examined: the first match decides)\n", e.NotExamined)
	}
	sb.WriteString("decision: " + e.Decision.summary() + "\n")
	return sb.String()
}

// who says who makes request a.
func who(a *Attributes) string {
	if a.Machine {
		return "service token " + strconv.Quote(a.User)
	}
	return fmt.Sprintf("user %q in groups %q", a.User, a.Groups)
}

// summary says what a decision is and why, in one line.
func (d Decision) summary() string {
	r := d.Rule
	switch {
	case r == nil:
		return string(d.Action) + " (no rule matched; the default action applies)"
	case r.Action == ActionStepUp && d.Action == ActionDeny:
		return fmt.Sprintf("deny by stepUp rule %s: %s", r.Name, d.Message)
	case d.Action == ActionStepUp && r.MaxAge > 0:
		return fmt.Sprintf("stepUp by rule %s (a code entered in the last %s covers it)", r.Name, r.MaxAge)
	case d.Action == ActionStepUp:
		return fmt.Sprintf("stepUp by rule %s (this request needs its own fresh code)", r.Name)
	case d.Action == ActionDeny:
		return fmt.Sprintf("deny by rule %s: %s", r.Name, d.Message)
	}
	return fmt.Sprintf("%s by rule %s", d.Action, r.Name)
}

// Describe says in words what request a does, for messages such as
// "delete pods/web in namespace prod-eu needs a fresh one-time code". It
// does not depend on d; it is a method so callers holding a decision need
// nothing else.
func (d Decision) Describe(a *Attributes) string { return Describe(a) }

// Describe says in words what request a does: "delete pods/web in
// namespace prod-eu", "create pods/exec web in namespace default",
// "get secrets in namespace kube-system", "patch deployments.apps/api",
// "get /healthz". Values with spaces or unprintable characters are quoted,
// so a hostile name cannot forge a line in the person's terminal.
func Describe(a *Attributes) string {
	if !a.ResourceRequest {
		return safe(a.Verb) + " " + safe(a.Path)
	}
	res := safe(a.Resource)
	if a.APIGroup != "" {
		res += "." + safe(a.APIGroup)
	}
	var sb strings.Builder
	sb.WriteString(safe(a.Verb) + " " + res)
	switch {
	case a.Subresource != "":
		sb.WriteString("/" + safe(a.Subresource))
		if a.Name != "" {
			sb.WriteString(" " + safe(a.Name))
		}
	case a.Name != "":
		sb.WriteString("/" + safe(a.Name))
	}
	if a.Namespace != "" {
		sb.WriteString(" in namespace " + safe(a.Namespace))
	}
	return sb.String()
}

// safe returns s, or s quoted when it is empty or holds anything but
// printable non-space characters.
func safe(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' || r == '"' }) {
		return s
	}
	return strconv.Quote(s)
}

// explain checks each condition of m against a on its own and returns the
// ones that failed, and notes on conditions that passed for a reason that
// is easy to miss.
func (m *matcher) explain(a *Attributes, vbit uint32) (failed, notes []string) {
	src := &m.src
	if a.ResourceRequest && m.nonResource {
		return []string{fmt.Sprintf("the rule is for non-resource URLs %v; this is a resource request", src.NonResourceURLs)}, nil
	}
	if !a.ResourceRequest && m.resourceOnly {
		return []string{fmt.Sprintf("the rule is for resource requests; this is the non-resource path %q", a.Path)}, nil
	}
	if !m.verbs.match(a.Verb, vbit) {
		failed = append(failed, fmt.Sprintf("verb %q not in %v", a.Verb, effectiveVerbs(src.Verbs)))
	} else if vbit == bitDeleteCollection && !m.verbs.any && m.verbs.mask&bitDeleteCollection != 0 && !slices.Contains(src.Verbs, "deletecollection") {
		notes = append(notes, "deletecollection is covered by delete")
	}
	if a.ResourceRequest {
		failed = append(failed, m.explainResource(a, vbit, &notes)...)
	} else if !m.urls.match(a.Path) {
		failed = append(failed, fmt.Sprintf("path %q not in %v", a.Path, src.NonResourceURLs))
	}
	if !m.users.match(a.User) {
		failed = append(failed, fmt.Sprintf("user %q not in %v", a.User, src.Users))
	}
	if !m.groupsMatch(a.Groups) {
		failed = append(failed, fmt.Sprintf("none of the groups %q in %v", append(slices.Clone(a.Groups), implicitGroup), src.Groups))
	}
	return failed, notes
}

// effectiveVerbs lists verbs as matched: delete brings deletecollection.
func effectiveVerbs(verbs []string) []string {
	if slices.Contains(verbs, "delete") && !slices.Contains(verbs, "deletecollection") {
		return append(slices.Clone(verbs), "deletecollection")
	}
	return verbs
}

// explainResource is explain for the resource conditions.
func (m *matcher) explainResource(a *Attributes, vbit uint32, notes *[]string) []string {
	src := &m.src
	var failed []string
	if !m.apiGroups.match(a.APIGroup) {
		failed = append(failed, fmt.Sprintf("API group %q not in %q", a.APIGroup, src.APIGroups))
	}
	if !m.resources.match(a.Resource, a.Subresource) {
		failed = append(failed, fmt.Sprintf("resource %q not in %v", joinSub(a.Resource, a.Subresource), src.Resources))
	}
	switch {
	case m.namespaceMatch(a.Namespace, vbit):
		if a.Namespace == "" && !m.nsAny && !m.clusterScoped {
			*notes = append(*notes, fmt.Sprintf("a %s without a namespace may span every namespace, %v included", a.Verb, src.Namespaces))
		}
	case a.Namespace == "":
		failed = append(failed, fmt.Sprintf("no namespace (cluster-scoped); the rule is for namespaces %v", src.Namespaces))
	case m.nsAny:
		failed = append(failed, fmt.Sprintf("namespace %q, but the rule is for cluster-scoped requests only", a.Namespace))
	default:
		failed = append(failed, fmt.Sprintf("namespace %q not in %v", a.Namespace, src.Namespaces))
	}
	switch {
	case m.nameMatch(a.Name):
		if a.Name == "" && !m.names.any {
			*notes = append(*notes, fmt.Sprintf("a %s without an object name may touch %v", a.Verb, src.Names))
		}
	case a.Name == "":
		failed = append(failed, fmt.Sprintf("no object name; the rule is for names %v", src.Names))
	default:
		failed = append(failed, fmt.Sprintf("name %q not in %v", a.Name, src.Names))
	}
	return failed
}

func joinSub(res, sub string) string {
	if sub == "" {
		return res
	}
	return res + "/" + sub
}
