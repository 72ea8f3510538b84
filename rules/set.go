package rules

import (
	"math/bits"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Default messages, for a deny rule without a message and for a service
// token meeting a stepUp rule. Callers add the rule name where they show
// them.
const (
	defaultDenyMessage = "not allowed by stepgate's rules"
	machineMessage     = "a service token cannot step up, and this request needs a fresh one-time code"
)

// Set is a compiled, immutable rule list. It is safe for concurrent use.
type Set struct {
	rules []Compiled
	def   Action
	ix    index
}

// ValidationError is the error Compile returns for invalid rules or an
// invalid default action. Errs holds every problem with its field path;
// errors.As finds the ValidationError, and through Unwrap each
// *field.Error too.
type ValidationError struct {
	Errs field.ErrorList
}

// Error lists every problem on one line.
func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, fe := range e.Errs {
		msgs[i] = fe.Error()
	}
	return "invalid rules: " + strings.Join(msgs, "; ")
}

// Unwrap returns each *field.Error.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, fe := range e.Errs {
		errs[i] = fe
	}
	return errs
}

// Compile validates rules (with field paths under "rules") and the default
// action (path "defaultAction"), and builds a Set. defaultAction is allow or
// deny; "" means allow. On any problem it returns a *ValidationError and no
// Set. The Set keeps its own copy of everything it needs: changing rules
// afterwards does not change it.
func Compile(rules []Rule, defaultAction Action) (*Set, error) {
	errs := Validate(rules, field.NewPath("rules"))
	if defaultAction == "" {
		defaultAction = ActionAllow
	}
	if defaultAction != ActionAllow && defaultAction != ActionDeny {
		errs = append(errs, field.NotSupported(field.NewPath("defaultAction"), defaultAction, []Action{ActionAllow, ActionDeny}))
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Errs: errs}
	}
	s := &Set{rules: make([]Compiled, len(rules)), def: defaultAction}
	for i := range rules {
		r := &rules[i]
		c := &s.rules[i]
		*c = Compiled{
			Name: r.Name, Action: r.Action, Message: r.Message, MaxAge: r.MaxAge.Duration, Index: i,
			m: compileMatch(&r.Match, r.Action),
		}
		if c.Action == ActionDeny && c.Message == "" {
			c.Message = defaultDenyMessage
		}
	}
	s.ix = buildIndex(s.rules)
	return s, nil
}

// Decide returns the decision of the first rule that matches a, or the
// default action when none does. It only reads a, does not allocate, and
// is safe for concurrent use.
func (s *Set) Decide(a *Attributes) Decision {
	if r := s.first(a); r != nil {
		return decision(r, a)
	}
	return Decision{Action: s.def}
}

// first returns the first rule matching a, or nil. It walks the index's
// candidates in rule order and checks each in full.
func (s *Set) first(a *Attributes) *Compiled {
	vbit := verbBit(a.Verb)
	var q query
	s.ix.lookup(a, vbit, &q)
	for w := range s.ix.words {
		for c := q.word(w); c != 0; c &= c - 1 {
			if r := &s.rules[w*64+bits.TrailingZeros64(c)]; r.m.match(a, vbit) {
				return r
			}
		}
	}
	return nil
}

// decision is what rule r decides for a.
func decision(r *Compiled, a *Attributes) Decision {
	switch {
	case r.Action == ActionStepUp && a.Machine:
		return Decision{Action: ActionDeny, Rule: r, Message: machineMessage}
	case r.Action == ActionDeny:
		return Decision{Action: ActionDeny, Rule: r, Message: r.Message}
	}
	return Decision{Action: r.Action, Rule: r}
}

// Len is the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// Rule returns the rule at index i, for listing; it panics if i is out of
// range. The result belongs to the Set and must not be modified.
func (s *Set) Rule(i int) *Compiled { return &s.rules[i] }

// DefaultAction is the action when no rule matches: allow or deny.
func (s *Set) DefaultAction() Action { return s.def }
