package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stepgate.io/stepgate/rules"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExamplesLoad(t *testing.T) {
	t.Parallel()
	c, err := Load(filepath.Join("examples", "stepgate.yaml"))
	if err != nil {
		t.Fatalf("examples/stepgate.yaml: %v", err)
	}
	if len(c.Rules) != 5 || c.Rules[0].Name != "prod-delete" || c.Auth.LockDuration() != 15*time.Minute {
		t.Errorf("loaded %d rules, lock %s", len(c.Rules), c.Auth.LockDuration())
	}
	if !filepath.IsAbs(c.RulesFile) {
		t.Errorf("rulesFile not resolved against the config's directory: %s", c.RulesFile)
	}
	rf, err := ExampleRules()
	if err != nil || len(rf.Rules) != 5 {
		t.Fatalf("embedded example rules: %v", err)
	}
	if _, err := rules.Compile(rf.Rules, rf.DefaultAction); err != nil {
		t.Fatal(err)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	if errs := c.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.Listen != ":8443" || c.Auth.Password.MinLength != 12 || !*c.Auth.AccountLock.Enabled ||
		c.Auth.MFA.RequiredForGroups[0] != "*" || c.DefaultAction != rules.ActionAllow || c.Auth.ChallengeTTL.Duration != 2*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	p := write(t, "c.yaml", "apiVersion: stepgate.io/v1alpha1\nkind: StepgateConfiguration\nauth:\n  accountLock:\n    enabled: false\n    durationSeconds: 0\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if *c.Auth.AccountLock.Enabled || c.Auth.LockDuration() != 0 || c.Auth.AccountLock.FailureTriggers != 10 {
		t.Errorf("explicit false/0 must survive defaulting: %+v", c.Auth.AccountLock)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	t.Parallel()
	head := "apiVersion: stepgate.io/v1alpha1\nkind: StepgateConfiguration\n"
	cases := []struct{ name, body, want string }{
		{"wrong version", "apiVersion: stepgate.io/v2\nkind: StepgateConfiguration\n", "apiVersion"},
		{"wrong kind", "apiVersion: stepgate.io/v1alpha1\nkind: Deployment\n", "kind"},
		{"unknown field", head + "listne: :8443\n", `unknown field "listne"`},
		{"bad listen", head + "listen: nonsense\n", "listen"},
		{"http external url", head + "externalURL: http://x\n", "externalURL"},
		{"half tls", head + "tls: {certFile: a.crt}\n", "tls"},
		{"both upstreams", head + "upstream: {kubeconfig: k, inCluster: true}\n", "upstream.inCluster"},
		{"idle > absolute", head + "auth: {sessionIdleTimeout: 2h, sessionAbsoluteTimeout: 1h}\n", "auth.sessionIdleTimeout"},
		{"weak argon2", head + "auth: {password: {argon2: {time: 1, memoryKiB: 64, threads: 1}}}\n", "auth.password.argon2.memoryKiB"},
		{"short min length", head + "auth: {password: {minLength: 4}}\n", "auth.password.minLength"},
		{"max length 64", head + "auth: {password: {maxLength: 64}}\n", "auth.password.maxLength: Invalid value: 64: must be at least 128"},
		{"max length 127", head + "auth: {password: {maxLength: 127}}\n", "auth.password.maxLength: Invalid value: 127: must be at least 128"},
		{"max length 4097", head + "auth: {password: {maxLength: 4097}}\n", "auth.password.maxLength: Invalid value: 4097: must be at most 4096"},
		{"max below min length", head + "auth: {password: {minLength: 200, maxLength: 150}}\n", "auth.password.maxLength: Invalid value: 150: must be at least minLength"},
		{"zero challenge ttl", head + "auth: {challengeTTL: -1s}\n", `auth.challengeTTL: Invalid value: "-1s": must be positive`},
		{"day-long challenge ttl", head + "auth: {challengeTTL: 24h}\n", `auth.challengeTTL: Invalid value: "24h0m0s": must be at most 10m0s`},
		{"challenge ttl just over", head + "auth: {challengeTTL: 10m1s}\n", "auth.challengeTTL"},
		{"negative lock", head + "auth: {accountLock: {durationSeconds: -1}}\n", "auth.accountLock.durationSeconds"},
		{"bad rule verb", head + "rules: [{name: r, match: {verbs: [DELETE]}, action: stepUp}]\n", "rules[0].match.verbs[0]"},
		{"bad rule action", head + "rules: [{name: r, action: maybe}]\n", "rules[0].action"},
		{"rules and rulesFile", head + "rulesFile: r.yaml\nrules: [{name: r, action: allow}]\n", "rulesFile"},
		{"bad default action", head + "defaultAction: stepUp\n", "defaultAction"},
		// Decoding (not validation) errors come from encoding/json, which
		// names the bad value but not its path.
		{"bad duration", head + "auth: {sessionIdleTimeout: soon}\n", `invalid duration "soon"`},
		{"empty file", "", "empty file"},
		{"not yaml", "\x00\x01\x02", ""},
		{"yaml bomb", head + "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(write(t, "c.yaml", tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

// The edges of the bounds are accepted.
func TestBoundsAccepted(t *testing.T) {
	t.Parallel()
	head := "apiVersion: stepgate.io/v1alpha1\nkind: StepgateConfiguration\n"
	for name, body := range map[string]string{
		"max length 128":     "auth: {password: {maxLength: 128}}\n",
		"max length 4096":    "auth: {password: {maxLength: 4096}}\n",
		"challenge ttl 10m":  "auth: {challengeTTL: 10m}\n",
		"challenge ttl 1s":   "auth: {challengeTTL: 1s}\n",
		"min equals max 128": "auth: {password: {minLength: 128, maxLength: 128}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := Load(write(t, "c.yaml", head+body)); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

func TestRulesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("apiVersion: stepgate.io/v1alpha1\nkind: StepgateRules\ndefaultAction: deny\n"+
		"rules:\n- name: ok\n  match: {verbs: [get]}\n  action: allow\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("apiVersion: stepgate.io/v1alpha1\nkind: StepgateConfiguration\nrulesFile: rules.yaml\n"), 0o600)
	c, err := Load(filepath.Join(dir, "c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 1 || c.DefaultAction != rules.ActionDeny {
		t.Errorf("rules %v default %s", c.Rules, c.DefaultAction)
	}
	bad := write(t, "bad.yaml", "apiVersion: stepgate.io/v1alpha1\nkind: StepgateRules\nrules:\n- name: Bad Name\n  action: allow\n")
	if _, err := LoadRulesFile(bad); err == nil || !strings.Contains(err.Error(), "rules[0].name") {
		t.Errorf("bad rules file: %v", err)
	}
	if _, err := LoadRulesFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
	big := write(t, "big.yaml", strings.Repeat("#", MaxFileBytes+1))
	if _, err := LoadRulesFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}
