package rules

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules []Rule
		def   Action
		want  []string
	}{
		{"bad default", []Rule{ok("a")}, ActionStepUp, []string{"defaultAction: Unsupported value"}},
		{"bad default spelling", nil, "Allow", []string{"defaultAction: Unsupported value"}},
		{"bad rules and default", []Rule{ok(""), ok("b")}, "block", []string{"rules[0].name: Required value", "defaultAction: Unsupported value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Compile(tt.rules, tt.def)
			if s != nil {
				t.Errorf("Compile() returned a Set with an error")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Compile() error %v is not a *ValidationError", err)
			}
			if diff := cmp.Diff(tt.want, errKeys(ve.Errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			var fe *field.Error
			if !errors.As(err, &fe) || fe != ve.Errs[0] {
				t.Errorf("errors.As(*field.Error) = %v, want the first error", fe)
			}
		})
	}
}

func TestCompileErrorText(t *testing.T) {
	t.Parallel()
	_, err := Compile([]Rule{ruleWith("a", func(r *Rule) { r.Match.Verbs = []string{"Delete"} }), ok("a")}, "")
	want := `invalid rules: rules[0].match.verbs[0]: Invalid value: "Delete": verbs are lower-case and compared exactly (delete, not Delete); ` +
		`rules[1].name: Duplicate value: "a": rules[0] has the same name`
	if err == nil || err.Error() != want {
		t.Errorf("Compile() error =\n%v\nwant\n%s", err, want)
	}
}

func TestCompileEmpty(t *testing.T) {
	t.Parallel()
	for _, def := range []Action{"", ActionAllow, ActionDeny} {
		s := mustCompile(t, nil, def)
		a := res("delete", "", "pods", "", "prod", "web")
		want := def
		if want == "" {
			want = ActionAllow
		}
		if got := s.Decide(&a); got != (Decision{Action: want}) || s.DefaultAction() != want || s.Len() != 0 {
			t.Errorf("default %q: Decide() = %+v, DefaultAction() = %q, Len() = %d", def, got, s.DefaultAction(), s.Len())
		}
	}
}

// TestStepUpMessage checks that a stepUp rule's message survives Compile
// and reaches the caller through Decision.Rule, which the proxy appends to
// its 401 message; Decision.Message stays for denies.
func TestStepUpMessage(t *testing.T) {
	t.Parallel()
	const msg = "production deletes are reviewed weekly"
	s := mustCompile(t, []Rule{{Name: "prod", Match: Match{Verbs: []string{"delete"}}, Action: ActionStepUp, Message: msg}}, "")
	a := res("delete", "", "pods", "", "prod-eu", "web")
	if d := s.Decide(&a); d.Action != ActionStepUp || d.Rule.Message != msg || d.Message != "" {
		t.Errorf("Decide() = %+v, rule message %q", d, d.Rule.Message)
	}
	a.Machine = true
	if d := s.Decide(&a); d.Action != ActionDeny || d.Message != machineMessage {
		t.Errorf("service token: Decide() = %+v", d)
	}
}

// TestCompileCopies checks that changing the rules after Compile changes
// neither decisions nor explanations.
func TestCompileCopies(t *testing.T) {
	t.Parallel()
	rules := []Rule{{Name: "prod", Match: Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*"}}, Action: ActionStepUp, MaxAge: maxAge(time.Minute)}}
	s := mustCompile(t, rules, "")
	a := res("delete", "", "pods", "", "prod-eu", "web")
	before := s.Explain(&a).String()
	rules[0].Name, rules[0].Match.Verbs[0], rules[0].Match.Namespaces[0], rules[0].Action = "x", "get", "dev", ActionAllow
	if d := s.Decide(&a); d.Action != ActionStepUp || d.Rule.Name != "prod" || d.Rule.MaxAge != time.Minute || d.Rule.Index != 0 {
		t.Errorf("Decide() after changing the rules = %+v", d)
	}
	if after := s.Explain(&a).String(); after != before {
		t.Errorf("Explain() changed with the rules:\n%s\nvs\n%s", before, after)
	}
	if r := s.Rule(0); r.Name != "prod" {
		t.Errorf("Rule(0).Name = %q", r.Name)
	}
}

// TestIndexManyPrefixes has more namespace globs sharing a request's
// prefixes than a query holds, so lookup falls back to every prefix rule.
func TestIndexManyPrefixes(t *testing.T) {
	t.Parallel()
	const ns = "abcdefghijklmnop"
	var rules []Rule
	for i := 1; i <= 14; i++ {
		rules = append(rules, Rule{Name: fmt.Sprintf("p%d", i), Action: ActionAllow,
			Match: Match{Namespaces: []string{ns[:i] + "*"}, Names: []string{fmt.Sprintf("n%d", i)}}})
	}
	s := mustCompile(t, rules, ActionDeny)
	for i := 1; i <= 14; i++ {
		a := res("get", "", "pods", "", ns, fmt.Sprintf("n%d", i))
		if d := s.Decide(&a); d.Rule == nil || d.Rule.Name != fmt.Sprintf("p%d", i) {
			t.Errorf("Decide(name n%d) = %+v, want rule p%d", i, d, i)
		}
	}
	if a := res("get", "", "pods", "", "abx", "n3"); s.Decide(&a).Rule != nil {
		t.Errorf("namespace abx matched a rule for %s*", ns[:3])
	}
}
