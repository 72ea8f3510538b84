package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits on rule fields.
const (
	maxNameLen    = 63   // a DNS label
	maxMessageLen = 1024 // bytes
	maxPatternLen = 1024 // users, groups, paths
	maxObjectLen  = 253  // object names, API groups
	maxMaxAge     = 24 * time.Hour
)

// Validate reports every problem in rules, each with its field path under
// fldPath (nil means "rules"), for example
// `rules[3].match.verbs[1]: Invalid value: "Delete": ...`. It does not stop
// at the first problem.
func Validate(rules []Rule, fldPath *field.Path) field.ErrorList {
	if fldPath == nil {
		fldPath = field.NewPath("rules")
	}
	var errs field.ErrorList
	seen := make(map[string]int, len(rules))
	for i := range rules {
		r := &rules[i]
		p := fldPath.Index(i)
		errs = append(errs, validateName(r.Name, i, seen, p.Child("name"))...)
		errs = append(errs, validateAction(r, p)...)
		errs = append(errs, validateMatch(&r.Match, p.Child("match"))...)
		if i < len(rules)-1 && matchesEverything(&r.Match) {
			errs = append(errs, field.Forbidden(p.Child("match"),
				"matches every request, so the rules after it can never apply; narrow it or make it the last rule"))
		}
	}
	return errs
}

// validateName checks a rule name and records it in seen (name → index).
func validateName(name string, i int, seen map[string]int, p *field.Path) field.ErrorList {
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, "every rule needs a name; it appears in messages and the audit log")}
	case !isDNSLabel(name):
		return field.ErrorList{field.Invalid(p, name, "use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit")}
	}
	if j, dup := seen[name]; dup {
		e := field.Duplicate(p, name)
		e.Detail = fmt.Sprintf("rules[%d] has the same name", j)
		return field.ErrorList{e}
	}
	seen[name] = i
	return nil
}

// validateAction checks action, maxAge and message, which depend on each
// other.
func validateAction(r *Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch r.Action {
	case ActionAllow, ActionDeny, ActionStepUp:
	case "":
		errs = append(errs, field.Required(p.Child("action"), "one of allow, deny or stepUp"))
	default:
		errs = append(errs, field.NotSupported(p.Child("action"), r.Action, []Action{ActionAllow, ActionDeny, ActionStepUp}))
	}
	switch age := r.MaxAge.Duration; {
	case age < 0:
		errs = append(errs, field.Invalid(p.Child("maxAge"), age.String(), "must not be negative"))
	case age > 0 && r.Action != ActionStepUp:
		errs = append(errs, field.Forbidden(p.Child("maxAge"), "only stepUp rules have a maxAge"))
	case age > maxMaxAge:
		errs = append(errs, field.Invalid(p.Child("maxAge"), age.String(), "must be at most 24h; a longer window is no longer a step-up"))
	}
	switch msg := r.Message; {
	case msg == "":
	case r.Action == ActionAllow:
		errs = append(errs, field.Forbidden(p.Child("message"), "allow rules show no message; only deny and stepUp rules do"))
	case len(msg) > maxMessageLen:
		errs = append(errs, field.TooLong(p.Child("message"), "", maxMessageLen))
	case !isPrintableLine(msg):
		errs = append(errs, field.Invalid(p.Child("message"), msg, "must be one line of printable UTF-8 text (it is shown in terminals)"))
	}
	return errs
}

func validateMatch(m *Match, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, eachValue(m.Users, p.Child("users"), principalProblem)...)
	errs = append(errs, eachValue(m.Groups, p.Child("groups"), principalProblem)...)
	errs = append(errs, eachValue(m.Verbs, p.Child("verbs"), verbProblem)...)
	errs = append(errs, eachValue(m.APIGroups, p.Child("apiGroups"), apiGroupProblem)...) // "" is the core group
	errs = append(errs, eachValue(m.Resources, p.Child("resources"), resourceProblem)...)
	errs = append(errs, eachValue(m.Namespaces, p.Child("namespaces"), namespaceProblem)...)
	errs = append(errs, eachValue(m.Names, p.Child("names"), objectNameProblem)...)
	errs = append(errs, eachValue(m.NonResourceURLs, p.Child("nonResourceURLs"), urlProblem)...)
	if len(m.NonResourceURLs) > 0 && hasResourceFields(m) {
		errs = append(errs, field.Forbidden(p.Child("nonResourceURLs"),
			"a rule matches either non-resource URLs or resources (apiGroups, resources, namespaces, clusterScoped, names), not both; split it in two"))
	}
	return errs
}

// eachValue checks every entry of a list with problem (which returns "" for
// a good value) and reports duplicates.
func eachValue(values []string, p *field.Path, problem func(string) string) field.ErrorList {
	var errs field.ErrorList
	for i, v := range values {
		switch {
		case len(v) > maxPatternLen:
			errs = append(errs, field.TooLong(p.Index(i), "", maxPatternLen))
		case problem(v) != "":
			errs = append(errs, field.Invalid(p.Index(i), v, problem(v)))
		case slices.Contains(values[:i], v):
			errs = append(errs, field.Duplicate(p.Index(i), v))
		}
	}
	return errs
}

// matchesEverything reports whether m matches every request.
func matchesEverything(m *Match) bool {
	all := func(l []string) bool { return len(l) == 0 || slices.Contains(l, "*") }
	return all(m.Users) && all(m.Groups) && all(m.Verbs) && !hasResourceFields(m) && len(m.NonResourceURLs) == 0
}

func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerAlnum(c) && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isPrintableLine reports whether s is valid UTF-8 without control
// characters (newlines and escape sequences included).
func isPrintableLine(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// only reports whether every byte of s is in allowed.
func only(s, allowed string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(allowed, s[i]) < 0 {
			return false
		}
	}
	return true
}
