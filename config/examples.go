package config

import (
	_ "embed"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"stepgate.io/stepgate/rules"
)

//go:embed examples/rules.yaml
var exampleRulesYAML []byte

// ExampleRules returns the example policy in examples/rules.yaml, which
// `stepgate demo` runs with and the README shows.
func ExampleRules() (*RulesFile, error) {
	var rf RulesFile
	if err := decodeStrict(exampleRulesYAML, &rf); err != nil {
		return nil, fmt.Errorf("example rules: %w", err)
	}
	if errs := rules.Validate(rf.Rules, field.NewPath("rules")); len(errs) > 0 {
		return nil, fmt.Errorf("example rules: %w", errs.ToAggregate())
	}
	return &rf, nil
}
