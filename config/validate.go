package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"stepgate.io/stepgate/rules"
)

// Bounds that Validate enforces beyond "positive".
const (
	// MaxChallengeTTL caps auth.challengeTTL: a single-use step-up grant
	// that lasts long stops meaning "this person just confirmed".
	MaxChallengeTTL = 10 * time.Minute
	// MinPasswordMaxLength is the lowest auth.password.maxLength allowed:
	// passwords of up to at least 128 characters must be accepted.
	MinPasswordMaxLength = 128
	// MaxPasswordMaxLength bounds auth.password.maxLength.
	MaxPasswordMaxLength = 4096
)

// Validate reports every problem in a defaulted configuration.
func (c *Configuration) Validate() field.ErrorList {
	errs := checkTypeMeta(c.APIVersion, c.Kind, Kind)
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("listen"), c.Listen, "want host:port, such as :8443"))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, field.Invalid(field.NewPath("listen"), c.Listen, "port must be 0 to 65535"))
	}
	if c.ExternalURL != "" {
		if u, err := url.Parse(c.ExternalURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, field.Invalid(field.NewPath("externalURL"), c.ExternalURL, "want an https:// URL"))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, field.Required(field.NewPath("tls"), "set both certFile and keyFile, or neither for a self-signed certificate"))
	}
	if c.Upstream.InCluster && c.Upstream.Kubeconfig != "" {
		errs = append(errs, field.Forbidden(field.NewPath("upstream", "inCluster"), "set kubeconfig or inCluster, not both"))
	}
	if c.Store.Driver != "sqlite" {
		errs = append(errs, field.NotSupported(field.NewPath("store", "driver"), c.Store.Driver, []string{"sqlite"}))
	}
	errs = append(errs, c.Auth.validate(field.NewPath("auth"))...)
	errs = append(errs, c.Limits.validate(field.NewPath("limits"))...)
	if c.Log.Level != "debug" && c.Log.Level != "info" && c.Log.Level != "warn" && c.Log.Level != "error" {
		errs = append(errs, field.NotSupported(field.NewPath("log", "level"), c.Log.Level, []string{"debug", "info", "warn", "error"}))
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		errs = append(errs, field.NotSupported(field.NewPath("log", "format"), c.Log.Format, []string{"json", "console"}))
	}
	errs = append(errs, rules.Validate(c.Rules, field.NewPath("rules"))...)
	errs = append(errs, validateDefaultAction(c.DefaultAction, field.NewPath("defaultAction"))...)
	return errs
}

func validateDefaultAction(a rules.Action, p *field.Path) field.ErrorList {
	if a == "" || a == rules.ActionAllow || a == rules.ActionDeny {
		return nil
	}
	return field.ErrorList{field.NotSupported(p, a, []string{string(rules.ActionAllow), string(rules.ActionDeny)})}
}

func (a *Auth) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	positive := func(fp *field.Path, d time.Duration) {
		if d <= 0 {
			errs = append(errs, field.Invalid(fp, d.String(), "must be positive"))
		}
	}
	positive(p.Child("sessionIdleTimeout"), a.SessionIdleTimeout.Duration)
	positive(p.Child("sessionAbsoluteTimeout"), a.SessionAbsoluteTimeout.Duration)
	positive(p.Child("challengeTTL"), a.ChallengeTTL.Duration)
	if a.ChallengeTTL.Duration > MaxChallengeTTL {
		errs = append(errs, field.Invalid(p.Child("challengeTTL"), a.ChallengeTTL.Duration.String(),
			"must be at most "+MaxChallengeTTL.String()+": a step-up grant is meant to be used at once"))
	}
	if a.SessionIdleTimeout.Duration > a.SessionAbsoluteTimeout.Duration {
		errs = append(errs, field.Invalid(p.Child("sessionIdleTimeout"), a.SessionIdleTimeout.Duration.String(),
			"must not exceed sessionAbsoluteTimeout"))
	}
	pw := p.Child("password")
	if a.Password.MinLength < 8 {
		errs = append(errs, field.Invalid(pw.Child("minLength"), a.Password.MinLength, "must be at least 8 (NIST SP 800-63B)"))
	}
	switch ml := a.Password.MaxLength; {
	case ml < MinPasswordMaxLength:
		errs = append(errs, field.Invalid(pw.Child("maxLength"), ml,
			fmt.Sprintf("must be at least %d so long passphrases are accepted (NIST SP 800-63B)", MinPasswordMaxLength)))
	case ml > MaxPasswordMaxLength:
		errs = append(errs, field.Invalid(pw.Child("maxLength"), ml, fmt.Sprintf("must be at most %d", MaxPasswordMaxLength)))
	case ml < a.Password.MinLength:
		errs = append(errs, field.Invalid(pw.Child("maxLength"), ml, "must be at least minLength"))
	}
	ag := a.Password.Argon2
	if ag.Time < 1 || ag.Time > 20 {
		errs = append(errs, field.Invalid(pw.Child("argon2", "time"), ag.Time, "must be 1 to 20"))
	}
	if ag.MemoryKiB < 8*1024 || ag.MemoryKiB > 1<<20 {
		errs = append(errs, field.Invalid(pw.Child("argon2", "memoryKiB"), ag.MemoryKiB, "must be 8192 to 1048576"))
	}
	if ag.Threads < 1 || ag.Threads > 16 {
		errs = append(errs, field.Invalid(pw.Child("argon2", "threads"), ag.Threads, "must be 1 to 16"))
	}
	if a.Password.MaxConcurrentHashes < 1 {
		errs = append(errs, field.Invalid(pw.Child("maxConcurrentHashes"), a.Password.MaxConcurrentHashes, "must be at least 1"))
	}
	al := p.Child("accountLock")
	if a.AccountLock.FailureTriggers < 1 {
		errs = append(errs, field.Invalid(al.Child("failureTriggers"), a.AccountLock.FailureTriggers, "must be at least 1"))
	}
	if d := a.AccountLock.DurationSeconds; d != nil && *d < 0 {
		errs = append(errs, field.Invalid(al.Child("durationSeconds"), *d, "must be 0 (until an admin unlocks) or more"))
	}
	for i, g := range a.MFA.RequiredForGroups {
		if g == "" {
			errs = append(errs, field.Invalid(p.Child("mfa", "requiredForGroups").Index(i), g, "must not be empty"))
		}
	}
	th := p.Child("throttle")
	if a.Throttle.AttemptsPerMinute < 1 {
		errs = append(errs, field.Invalid(th.Child("attemptsPerMinute"), a.Throttle.AttemptsPerMinute, "must be at least 1"))
	}
	if a.Throttle.Burst < 1 {
		errs = append(errs, field.Invalid(th.Child("burst"), a.Throttle.Burst, "must be at least 1"))
	}
	return errs
}

func (l *Limits) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if l.MaxHeaderBytes < 4096 || l.MaxHeaderBytes > 16<<20 {
		errs = append(errs, field.Invalid(p.Child("maxHeaderBytes"), l.MaxHeaderBytes, "must be 4096 to 16777216"))
	}
	if l.MaxAuthBodyBytes < 1024 || l.MaxAuthBodyBytes > 1<<20 {
		errs = append(errs, field.Invalid(p.Child("maxAuthBodyBytes"), l.MaxAuthBodyBytes, "must be 1024 to 1048576"))
	}
	if l.ReadHeaderTimeout.Duration <= 0 {
		errs = append(errs, field.Invalid(p.Child("readHeaderTimeout"), l.ReadHeaderTimeout.Duration.String(), "must be positive"))
	}
	if l.IdleTimeout.Duration <= 0 {
		errs = append(errs, field.Invalid(p.Child("idleTimeout"), l.IdleTimeout.Duration.String(), "must be positive"))
	}
	return errs
}

// LockDuration is the account lock's length; 0 means until an admin
// unlocks.
func (a *Auth) LockDuration() time.Duration {
	if a.AccountLock.DurationSeconds == nil {
		return 0
	}
	return time.Duration(*a.AccountLock.DurationSeconds) * time.Second
}
