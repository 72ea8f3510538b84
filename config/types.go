package config

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/rules"
)

// The version and kinds this package reads.
const (
	APIVersion = "stepgate.io/v1alpha1"
	Kind       = "StepgateConfiguration"
	RulesKind  = "StepgateRules"
)

// Configuration is the whole StepgateConfiguration file.
type Configuration struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// Listen is the address stepgate serves HTTPS on. Default ":8443".
	Listen string `json:"listen,omitempty"`
	// DataDir holds the SQLite store, the generated certificate and the
	// generated secret key. Default "$XDG_DATA_HOME/stepgate" (or
	// ~/.local/share/stepgate).
	DataDir string `json:"dataDir,omitempty"`
	// ExternalURL is how clients reach stepgate, used in generated
	// kubeconfigs. Default https://localhost:<port>.
	ExternalURL string `json:"externalURL,omitempty"`

	TLS      TLS      `json:"tls,omitempty"`
	Upstream Upstream `json:"upstream,omitempty"`
	Store    Store    `json:"store,omitempty"`
	Auth     Auth     `json:"auth,omitempty"`
	Limits   Limits   `json:"limits,omitempty"`
	Log      Log      `json:"log,omitempty"`

	// Rules are the step-up rules, first match wins. RulesFile, if set,
	// names a StepgateRules file whose rules are used instead; setting both
	// is an error.
	Rules     []rules.Rule `json:"rules,omitempty"`
	RulesFile string       `json:"rulesFile,omitempty"`
	// DefaultAction applies when no rule matches: allow (default) or deny.
	DefaultAction rules.Action `json:"defaultAction,omitempty"`
}

// TLS configures the listener's certificate. With neither file set, a
// self-signed certificate is generated once and kept in the data dir.
type TLS struct {
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// Hosts are the DNS names and IPs the generated certificate is valid
	// for. Default localhost, 127.0.0.1, ::1.
	Hosts []string `json:"hosts,omitempty"`
}

// Upstream says how to reach the Kubernetes API server. Exactly one of
// Kubeconfig and InCluster.
type Upstream struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	InCluster  bool   `json:"inCluster,omitempty"`
}

// Store selects where state lives.
type Store struct {
	// Driver is "sqlite" (the only one so far).
	Driver string `json:"driver,omitempty"`
	// Path of the SQLite file. Default <dataDir>/stepgate.db.
	Path string `json:"path,omitempty"`
}

// Auth holds sign-in, session and two-factor settings.
type Auth struct {
	SessionIdleTimeout     metav1.Duration `json:"sessionIdleTimeout,omitempty"`
	SessionAbsoluteTimeout metav1.Duration `json:"sessionAbsoluteTimeout,omitempty"`
	// ChallengeTTL is how long a step-up challenge and its single-use grant
	// stay valid. Default 2m.
	ChallengeTTL metav1.Duration `json:"challengeTTL,omitempty"`
	Password     Password        `json:"password,omitempty"`
	AccountLock  AccountLock     `json:"accountLock,omitempty"`
	MFA          MFA             `json:"mfa,omitempty"`
	Throttle     Throttle        `json:"throttle,omitempty"`
}

// Password is the password policy and hashing cost.
type Password struct {
	MinLength int    `json:"minLength,omitempty"`
	MaxLength int    `json:"maxLength,omitempty"`
	Argon2    Argon2 `json:"argon2,omitempty"`
	// MaxConcurrentHashes bounds argon2 work so a flood of sign-ins cannot
	// take every CPU. Default: half the CPUs, at least 1.
	MaxConcurrentHashes int `json:"maxConcurrentHashes,omitempty"`
}

// Argon2 are argon2id's cost parameters.
type Argon2 struct {
	Time      uint32 `json:"time,omitempty"`
	MemoryKiB uint32 `json:"memoryKiB,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
}

// AccountLock locks an account after repeated failures.
type AccountLock struct {
	// Enabled is a pointer so an explicit false is told from "unset"
	// (default true).
	Enabled         *bool `json:"enabled,omitempty"`
	FailureTriggers int   `json:"failureTriggers,omitempty"`
	// DurationSeconds is how long the lock lasts; 0 means until an admin
	// unlocks the account. Unset means 900.
	DurationSeconds *int64 `json:"durationSeconds,omitempty"`
}

// MFA configures TOTP.
type MFA struct {
	// RequiredForGroups lists groups whose members must use TOTP; "*" is
	// everyone (the default).
	RequiredForGroups []string `json:"requiredForGroups,omitempty"`
	// Issuer is the name authenticator apps show. Default "stepgate".
	Issuer string `json:"issuer,omitempty"`
	// SecretKeyFile holds the key that seals TOTP secrets at rest. If the
	// environment variable STEPGATE_SECRET_KEY is set it wins; otherwise a
	// key is generated into this file on first start. Default
	// <dataDir>/secret.key.
	SecretKeyFile string `json:"secretKeyFile,omitempty"`
}

// Throttle limits sign-in and step-up attempts per client address.
type Throttle struct {
	// AttemptsPerMinute per source address. Default 30.
	AttemptsPerMinute int `json:"attemptsPerMinute,omitempty"`
	// Burst is how many attempts may come at once. Default 10.
	Burst int `json:"burst,omitempty"`
}

// Limits bound what one client can make the server hold.
type Limits struct {
	MaxHeaderBytes    int             `json:"maxHeaderBytes,omitempty"`
	MaxAuthBodyBytes  int64           `json:"maxAuthBodyBytes,omitempty"`
	ReadHeaderTimeout metav1.Duration `json:"readHeaderTimeout,omitempty"`
	IdleTimeout       metav1.Duration `json:"idleTimeout,omitempty"`
}

// Log configures the structured log.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `json:"level,omitempty"`
	// Format is json (default) or console.
	Format string `json:"format,omitempty"`
}

// RulesFile is a standalone rules file (kind: StepgateRules).
type RulesFile struct {
	APIVersion    string       `json:"apiVersion"`
	Kind          string       `json:"kind"`
	DefaultAction rules.Action `json:"defaultAction,omitempty"`
	Rules         []rules.Rule `json:"rules"`
}
