package rules_test

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"stepgate.io/stepgate/rules"
)

// examplePolicy is the shape of config/examples/rules.yaml (a StepgateRules
// file), decoded here without importing config, which rules must not.
type examplePolicy struct {
	APIVersion    string       `json:"apiVersion"`
	Kind          string       `json:"kind"`
	DefaultAction rules.Action `json:"defaultAction"`
	Rules         []rules.Rule `json:"rules"`
}

// TestExamplePolicy decides the requests issue 3 names against the example
// policy shipped in config/examples: step-up for delete and
// deletecollection in prod-*, exec/attach/port-forward anywhere, reading
// secrets in kube-system, changes to RBAC bindings and the escalate, bind
// and impersonate verbs; everything else allowed.
func TestExamplePolicy(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../config/examples/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p examplePolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("example policy does not decode into rules types: %v", err)
	}
	if p.APIVersion != "stepgate.io/v1alpha1" || p.Kind != "StepgateRules" {
		t.Fatalf("example policy is %s %s", p.APIVersion, p.Kind)
	}
	set, err := rules.Compile(p.Rules, p.DefaultAction)
	if err != nil {
		t.Fatal(err)
	}
	res := func(verb, group, resource, sub, ns, name string) rules.Attributes {
		return rules.Attributes{User: "alice", Groups: []string{"dev"}, ResourceRequest: true,
			Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
	}
	const rbac = "rbac.authorization.k8s.io"
	cases := []struct {
		name   string
		a      rules.Attributes
		action rules.Action
		rule   string // "" for the default action
	}{
		{"delete a pod in prod", res("delete", "", "pods", "", "prod-eu", "web"), rules.ActionStepUp, "prod-delete"},
		{"delete a deployment in prod", res("delete", "apps", "deployments", "", "prod-us", "api"), rules.ActionStepUp, "prod-delete"},
		{"deletecollection in prod", res("deletecollection", "", "pods", "", "prod-eu", ""), rules.ActionStepUp, "prod-delete"},
		{"delete a prod namespace", res("delete", "", "namespaces", "", "prod-eu", "prod-eu"), rules.ActionStepUp, "prod-delete"},
		{"delete outside prod", res("delete", "", "pods", "", "dev", "web"), rules.ActionAllow, ""},
		{"deletecollection outside prod", res("deletecollection", "", "pods", "", "dev", ""), rules.ActionAllow, ""},
		{"exec in default", res("create", "", "pods", "exec", "default", "web"), rules.ActionStepUp, "pod-access"},
		{"exec in kube-system", res("create", "", "pods", "exec", "kube-system", "dns"), rules.ActionStepUp, "pod-access"},
		{"exec in prod", res("create", "", "pods", "exec", "prod-eu", "web"), rules.ActionStepUp, "pod-access"},
		{"attach", res("create", "", "pods", "attach", "dev", "web"), rules.ActionStepUp, "pod-access"},
		{"portforward", res("create", "", "pods", "portforward", "prod-eu", "db"), rules.ActionStepUp, "pod-access"},
		{"logs are not exec", res("get", "", "pods", "log", "prod-eu", "web"), rules.ActionAllow, ""},
		{"get a kube-system secret", res("get", "", "secrets", "", "kube-system", "token"), rules.ActionStepUp, "kube-system-secrets"},
		{"list kube-system secrets", res("list", "", "secrets", "", "kube-system", ""), rules.ActionStepUp, "kube-system-secrets"},
		{"watch kube-system secrets", res("watch", "", "secrets", "", "kube-system", ""), rules.ActionStepUp, "kube-system-secrets"},
		{"list secrets in all namespaces", res("list", "", "secrets", "", "", ""), rules.ActionStepUp, "kube-system-secrets"},
		{"get a secret elsewhere", res("get", "", "secrets", "", "default", "token"), rules.ActionAllow, ""},
		{"create a rolebinding", res("create", rbac, "rolebindings", "", "dev", ""), rules.ActionStepUp, "rbac-changes"},
		{"patch a clusterrolebinding", res("patch", rbac, "clusterrolebindings", "", "", "admins"), rules.ActionStepUp, "rbac-changes"},
		{"update a role", res("update", rbac, "roles", "", "dev", "edit"), rules.ActionStepUp, "rbac-changes"},
		{"delete a clusterrole", res("delete", rbac, "clusterroles", "", "", "edit"), rules.ActionStepUp, "rbac-changes"},
		{"delete a rolebinding in prod", res("delete", rbac, "rolebindings", "", "prod-eu", "ops"), rules.ActionStepUp, "prod-delete"},
		{"read rolebindings", res("list", rbac, "rolebindings", "", "dev", ""), rules.ActionAllow, ""},
		{"escalate", res("escalate", rbac, "clusterroles", "", "", "admin"), rules.ActionStepUp, "privilege-verbs"},
		{"bind", res("bind", rbac, "clusterroles", "", "", "admin"), rules.ActionStepUp, "privilege-verbs"},
		{"impersonate a user", res("impersonate", "", "users", "", "", "bob"), rules.ActionStepUp, "privilege-verbs"},
		{"impersonate a service account", res("impersonate", "", "serviceaccounts", "", "default", "builder"), rules.ActionStepUp, "privilege-verbs"},
		{"get a pod", res("get", "", "pods", "", "prod-eu", "web"), rules.ActionAllow, ""},
		{"non-resource path", rules.Attributes{User: "alice", Verb: "get", Path: "/healthz"}, rules.ActionAllow, ""},
		{"service token on a step-up rule", func() rules.Attributes {
			a := res("delete", "", "pods", "", "prod-eu", "web")
			a.Machine = true
			return a
		}(), rules.ActionDeny, "prod-delete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := set.Decide(&tc.a)
			rule := ""
			if d.Rule != nil {
				rule = d.Rule.Name
			}
			if d.Action != tc.action || rule != tc.rule {
				t.Errorf("%s: %s by %q, want %s by %q", rules.Describe(&tc.a), d.Action, rule, tc.action, tc.rule)
			}
		})
	}
}
