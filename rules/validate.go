package rules

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate reports every problem in rules, each with its field path under
// fldPath (nil means "rules").
func Validate(rules []Rule, fldPath *field.Path) field.ErrorList {
	if fldPath == nil {
		fldPath = field.NewPath("rules")
	}
	var errs field.ErrorList
	seen := map[string]int{}
	for i := range rules {
		r := &rules[i]
		p := fldPath.Index(i)
		if r.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), "every rule needs a name (it appears in messages and the audit log)"))
		} else if !validName(r.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), r.Name, "use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit"))
		} else if j, dup := seen[r.Name]; dup {
			errs = append(errs, field.Duplicate(p.Child("name"), fmt.Sprintf("%s (also rules[%d])", r.Name, j)))
		} else {
			seen[r.Name] = i
		}
		switch r.Action {
		case ActionAllow, ActionDeny, ActionStepUp:
		default:
			errs = append(errs, field.NotSupported(p.Child("action"), r.Action, []string{string(ActionAllow), string(ActionDeny), string(ActionStepUp)}))
		}
		if r.MaxAge.Duration < 0 {
			errs = append(errs, field.Invalid(p.Child("maxAge"), r.MaxAge.Duration.String(), "must not be negative"))
		} else if r.MaxAge.Duration > 0 && r.Action != ActionStepUp {
			errs = append(errs, field.Forbidden(p.Child("maxAge"), "only stepUp rules have a maxAge"))
		}
		if len(r.Message) > 1024 {
			errs = append(errs, field.TooLong(p.Child("message"), "", 1024))
		}
		errs = append(errs, validateMatch(&r.Match, p.Child("match"))...)
	}
	return errs
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

func validateMatch(m *Match, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validatePatterns(m.Users, p.Child("users"))...)
	errs = append(errs, validatePatterns(m.Groups, p.Child("groups"))...)
	errs = append(errs, validatePatterns(m.Namespaces, p.Child("namespaces"))...)
	errs = append(errs, validatePatterns(m.Names, p.Child("names"))...)
	for i, v := range m.Verbs {
		if v == "" || (v != "*" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyz") != "") {
			errs = append(errs, field.Invalid(p.Child("verbs").Index(i), v, "verbs are lower-case words such as get, delete or deletecollection, or *"))
		}
	}
	for i, g := range m.APIGroups {
		if g != "*" && g != "" && (len(g) > 253 || strings.Trim(g, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "") {
			errs = append(errs, field.Invalid(p.Child("apiGroups").Index(i), g, `API groups are DNS names such as apps, "" for the core group, or *`))
		}
	}
	for i, r := range m.Resources {
		if msg := resourceProblem(r); msg != "" {
			errs = append(errs, field.Invalid(p.Child("resources").Index(i), r, msg))
		}
	}
	for i, u := range m.NonResourceURLs {
		if !strings.HasPrefix(u, "/") || strings.Contains(strings.TrimSuffix(u, "*"), "*") || len(u) > 1024 {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs").Index(i), u, "a path starting with /, optionally ending in * for a prefix"))
		}
	}
	if len(m.NonResourceURLs) > 0 && (len(m.APIGroups) > 0 || len(m.Resources) > 0 || len(m.Namespaces) > 0 || m.ClusterScoped || len(m.Names) > 0) {
		errs = append(errs, field.Forbidden(p.Child("nonResourceURLs"), "a rule matches either non-resource URLs or resources, not both; split it in two"))
	}
	return errs
}

func validatePatterns(values []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, v := range values {
		if v == "" || len(v) > 253 || strings.ContainsAny(v, "\x00\n\r\t ") {
			errs = append(errs, field.Invalid(p.Index(i), v, "must be a non-empty name or glob (* and ?) without spaces"))
		}
	}
	return errs
}

func resourceProblem(r string) string {
	res, sub, hasSub := strings.Cut(r, "/")
	switch {
	case r == "":
		return "must not be empty"
	case strings.Count(r, "/") > 1:
		return "at most one /: resource or resource/subresource"
	case hasSub && sub == "":
		return "subresource after / must not be empty (use resource/* for any)"
	case res == "":
		return "resource before / must not be empty (use */subresource for any resource)"
	case strings.Trim(res, "abcdefghijklmnopqrstuvwxyz0123456789-*") != "" || (res != "*" && strings.Contains(res, "*")):
		return "resources are lower-case plural names such as pods, or *"
	case hasSub && (strings.Trim(sub, "abcdefghijklmnopqrstuvwxyz0123456789-*") != "" || (sub != "*" && strings.Contains(sub, "*"))):
		return "subresources are lower-case names such as exec, or *"
	}
	return ""
}
