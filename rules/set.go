package rules

import (
	"fmt"
	"strings"
)

// Set is a compiled, immutable rule list, safe for concurrent use.
type Set struct {
	rules []Compiled
	def   Action
	// byResource maps a resource name to the indexes of the rules that could
	// match a request for it, in order: those naming it and those matching
	// any resource. Resources no rule names use anyResource.
	byResource  map[string][]int32
	anyResource []int32
	nonResource []int32
}

// Compile validates rules and builds a Set. defaultAction is allow or deny;
// "" means allow. The error lists every problem with its field path.
func Compile(rules []Rule, defaultAction Action) (*Set, error) {
	if errs := Validate(rules, nil); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if defaultAction == "" {
		defaultAction = ActionAllow
	}
	if defaultAction != ActionAllow && defaultAction != ActionDeny {
		return nil, fmt.Errorf("default action %q: want allow or deny", defaultAction)
	}
	s := &Set{rules: make([]Compiled, len(rules)), def: defaultAction, byResource: map[string][]int32{}}
	for i := range rules {
		r := &rules[i]
		c := &s.rules[i]
		*c = Compiled{Name: r.Name, Action: r.Action, Message: r.Message, MaxAge: r.MaxAge.Duration, Index: i, m: compileMatch(&r.Match)}
		c.machineMsg = fmt.Sprintf("a service token cannot step up, and rule %s asks for a fresh one-time code here", r.Name)
		if c.Action == ActionDeny && c.Message == "" {
			c.Message = "denied by stepgate rule " + r.Name
		}
	}
	s.buildIndex()
	return s, nil
}

// buildIndex fills byResource, anyResource and nonResource.
func (s *Set) buildIndex() {
	named := map[string]bool{}
	for i := range s.rules {
		for _, p := range s.rules[i].m.resources {
			if p.resource != "*" {
				named[p.resource] = true
			}
		}
	}
	for i := range s.rules {
		m := &s.rules[i].m
		if m.nonResource || !m.resourceOnly {
			s.nonResource = append(s.nonResource, int32(i))
		}
		if m.nonResource {
			continue
		}
		wild := m.resources == nil
		for _, p := range m.resources {
			wild = wild || p.resource == "*"
		}
		if wild {
			s.anyResource = append(s.anyResource, int32(i))
			for res := range named {
				s.byResource[res] = append(s.byResource[res], int32(i))
			}
			continue
		}
		for _, p := range m.resources {
			if l := s.byResource[p.resource]; len(l) == 0 || l[len(l)-1] != int32(i) {
				s.byResource[p.resource] = append(l, int32(i))
			}
		}
	}
}

func (s *Set) candidates(a *Attributes) []int32 {
	if !a.ResourceRequest {
		return s.nonResource
	}
	if l, ok := s.byResource[a.Resource]; ok {
		return l
	}
	return s.anyResource
}

// Decide returns the decision of the first rule that matches a, or the
// default. It does not allocate.
func (s *Set) Decide(a *Attributes) Decision {
	vbit := verbBit(a.Verb)
	for _, i := range s.candidates(a) {
		r := &s.rules[i]
		if r.m.match(a, vbit) {
			return s.decision(r, a)
		}
	}
	return Decision{Action: s.def}
}

func (s *Set) decision(r *Compiled, a *Attributes) Decision {
	switch {
	case r.Action == ActionStepUp && a.Machine:
		return Decision{Action: ActionDeny, Rule: r, Message: r.machineMsg}
	case r.Action == ActionDeny:
		return Decision{Action: ActionDeny, Rule: r, Message: r.Message}
	}
	return Decision{Action: r.Action, Rule: r}
}

// Len is the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// DefaultAction is what applies when no rule matches.
func (s *Set) DefaultAction() Action { return s.def }

// Explanation is a rule-by-rule account of a decision.
type Explanation struct {
	Decision Decision
	Steps    []ExplainStep
}

// ExplainStep says whether one rule matched and, if not, why.
type ExplainStep struct {
	Index   int
	Name    string
	Matched bool
	Reason  string
}

// Explain walks every rule in order up to the first match, saying why
// each earlier one did not match. Its decision always equals Decide's.
func (s *Set) Explain(a *Attributes) Explanation {
	vbit := verbBit(a.Verb)
	var e Explanation
	for i := range s.rules {
		r := &s.rules[i]
		f := r.m.fail(a, vbit)
		e.Steps = append(e.Steps, ExplainStep{Index: i, Name: r.Name, Matched: f == fieldNone, Reason: r.m.reason(f, a)})
		if f == fieldNone {
			e.Decision = s.decision(r, a)
			return e
		}
	}
	e.Decision = Decision{Action: s.def}
	return e
}

// String renders the explanation for a terminal.
func (e Explanation) String() string {
	var sb strings.Builder
	for _, st := range e.Steps {
		mark := "  no   "
		if st.Matched {
			mark = "  MATCH"
		}
		fmt.Fprintf(&sb, "%s rules[%d] %s: %s\n", mark, st.Index, st.Name, st.Reason)
	}
	d := e.Decision
	switch {
	case d.Rule == nil:
		fmt.Fprintf(&sb, "decision: %s (no rule matched; default action)\n", d.Action)
	case d.Rule.Action == ActionStepUp && d.Action == ActionDeny:
		fmt.Fprintf(&sb, "decision: deny by rule %s: %s\n", d.Rule.Name, d.Message)
	case d.Action == ActionStepUp && d.Rule.MaxAge > 0:
		fmt.Fprintf(&sb, "decision: stepUp by rule %s (a code entered in the last %s covers it)\n", d.Rule.Name, d.Rule.MaxAge)
	case d.Action == ActionStepUp:
		fmt.Fprintf(&sb, "decision: stepUp by rule %s (a fresh code for this request)\n", d.Rule.Name)
	case d.Action == ActionDeny:
		fmt.Fprintf(&sb, "decision: deny by rule %s: %s\n", d.Rule.Name, d.Message)
	default:
		fmt.Fprintf(&sb, "decision: %s by rule %s\n", d.Action, d.Rule.Name)
	}
	return sb.String()
}

// Describe says in words what the request does, for messages such as
// "delete pods/web in namespace prod-eu needs a fresh one-time code".
func (d Decision) Describe(a *Attributes) string { return Describe(a) }

// Describe says in words what the request a does.
func Describe(a *Attributes) string {
	if !a.ResourceRequest {
		return a.Verb + " " + a.Path
	}
	res := a.Resource
	if a.APIGroup != "" {
		res += "." + a.APIGroup
	}
	if a.Name != "" {
		res += "/" + a.Name
	}
	verb := a.Verb
	switch {
	case a.Resource == "pods" && a.Subresource == "exec":
		verb = "exec into"
	case a.Resource == "pods" && a.Subresource == "attach":
		verb = "attach to"
	case a.Resource == "pods" && a.Subresource == "portforward":
		verb = "port-forward to"
	case a.Subresource != "":
		res += "/" + a.Subresource
	}
	s := verb + " " + res
	if a.Namespace != "" {
		s += " in namespace " + a.Namespace
	}
	return s
}
