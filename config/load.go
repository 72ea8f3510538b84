package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"stepgate.io/stepgate/rules"
)

// MaxFileBytes bounds a configuration or rules file.
const MaxFileBytes = 4 << 20

// Load reads the file at path, resolves relative paths against its
// directory, applies defaults (including a RulesFile's rules) and
// validates. Every problem found is reported, each with its field path.
func Load(path string) (*Configuration, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.resolvePaths(dir)
	if err := c.Complete(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a configuration strictly (unknown fields are errors) and
// checks its apiVersion and kind. It does not apply defaults.
func Parse(data []byte) (*Configuration, error) {
	var c Configuration
	if err := decodeStrict(data, &c); err != nil {
		return nil, err
	}
	if errs := checkTypeMeta(c.APIVersion, c.Kind, Kind); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return &c, nil
}

// Default returns the embedded default configuration (no file), with
// defaults applied; it still needs an upstream before it can serve.
func Default() *Configuration {
	c := &Configuration{APIVersion: APIVersion, Kind: Kind}
	c.SetDefaults()
	return c
}

// Complete loads the rules file if one is named, applies defaults and
// validates.
func (c *Configuration) Complete() error {
	if c.RulesFile != "" {
		if len(c.Rules) > 0 {
			return field.ErrorList{field.Forbidden(field.NewPath("rulesFile"), "set rules or rulesFile, not both")}.ToAggregate()
		}
		rf, err := LoadRulesFile(c.RulesFile)
		if err != nil {
			return fmt.Errorf("rulesFile: %w", err)
		}
		c.Rules = rf.Rules
		if c.DefaultAction == "" {
			c.DefaultAction = rf.DefaultAction
		}
	}
	c.SetDefaults()
	if errs := c.Validate(); len(errs) > 0 {
		return errs.ToAggregate()
	}
	return nil
}

// LoadRulesFile reads and validates a standalone rules file. It also
// accepts a whole StepgateConfiguration and takes its rules, so
// `stepgate rules check` works on either.
func LoadRulesFile(path string) (*RulesFile, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if meta.Kind == Kind {
		c, err := Load(path)
		if err != nil {
			return nil, err
		}
		return &RulesFile{APIVersion: APIVersion, Kind: RulesKind, DefaultAction: c.DefaultAction, Rules: c.Rules}, nil
	}
	var rf RulesFile
	if err := decodeStrict(data, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	errs := checkTypeMeta(rf.APIVersion, rf.Kind, RulesKind)
	errs = append(errs, rules.Validate(rf.Rules, field.NewPath("rules"))...)
	errs = append(errs, validateDefaultAction(rf.DefaultAction, field.NewPath("defaultAction"))...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errs.ToAggregate())
	}
	return &rf, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("read config %s: larger than %d bytes", path, MaxFileBytes)
	}
	return data, nil
}

// decodeStrict decodes YAML (or JSON) refusing unknown and duplicate fields.
func decodeStrict(data []byte, into any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty file: want apiVersion " + APIVersion)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

func checkTypeMeta(apiVersion, kind, wantKind string) field.ErrorList {
	var errs field.ErrorList
	if apiVersion != APIVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), apiVersion, []string{APIVersion}))
	}
	if kind != wantKind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), kind, []string{wantKind}))
	}
	return errs
}

func (c *Configuration) resolvePaths(dir string) {
	for _, p := range []*string{&c.DataDir, &c.TLS.CertFile, &c.TLS.KeyFile, &c.Upstream.Kubeconfig,
		&c.Store.Path, &c.Auth.MFA.SecretKeyFile, &c.RulesFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// DefaultDataDir is $XDG_DATA_HOME/stepgate, or ~/.local/share/stepgate.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "stepgate")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "stepgate")
	}
	return "stepgate-data"
}

// SetDefaults fills every unset field with its default.
func (c *Configuration) SetDefaults() {
	setString(&c.Listen, ":8443")
	setString(&c.DataDir, DefaultDataDir())
	if len(c.TLS.Hosts) == 0 {
		c.TLS.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	setString(&c.Store.Driver, "sqlite")
	setString(&c.Store.Path, filepath.Join(c.DataDir, "stepgate.db"))
	a := &c.Auth
	setDuration(&a.SessionIdleTimeout, time.Hour)
	setDuration(&a.SessionAbsoluteTimeout, 12*time.Hour)
	setDuration(&a.ChallengeTTL, 2*time.Minute)
	setInt(&a.Password.MinLength, 12)
	setInt(&a.Password.MaxLength, 256)
	if a.Password.Argon2 == (Argon2{}) {
		a.Password.Argon2 = Argon2{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}
	}
	// Half the CPUs at most hash passwords, so a sign-in flood leaves the
	// rest to the proxy.
	setInt(&a.Password.MaxConcurrentHashes, max(1, runtime.NumCPU()/2))
	if a.AccountLock.Enabled == nil {
		t := true
		a.AccountLock.Enabled = &t
	}
	setInt(&a.AccountLock.FailureTriggers, 10)
	if a.AccountLock.DurationSeconds == nil {
		d := int64(900)
		a.AccountLock.DurationSeconds = &d
	}
	if a.MFA.RequiredForGroups == nil {
		a.MFA.RequiredForGroups = []string{"*"}
	}
	setString(&a.MFA.Issuer, "stepgate")
	setString(&a.MFA.SecretKeyFile, filepath.Join(c.DataDir, "secret.key"))
	setInt(&a.Throttle.AttemptsPerMinute, 30)
	setInt(&a.Throttle.Burst, 10)
	setInt(&c.Limits.MaxHeaderBytes, 64<<10)
	if c.Limits.MaxAuthBodyBytes == 0 {
		c.Limits.MaxAuthBodyBytes = 16 << 10
	}
	setDuration(&c.Limits.ReadHeaderTimeout, 10*time.Second)
	setDuration(&c.Limits.IdleTimeout, 2*time.Minute)
	setString(&c.Log.Level, "info")
	setString(&c.Log.Format, "json")
	if c.DefaultAction == "" {
		c.DefaultAction = rules.ActionAllow
	}
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDuration(p *metav1.Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}
