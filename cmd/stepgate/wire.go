package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"stepgate.io/stepgate/config"
	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// stack is the state every server-side command shares: configuration,
// logger, store and session manager.
type stack struct {
	cfg   *config.Configuration
	log   *zap.Logger
	store *session.SQLiteStore
	mgr   *session.Manager
	rules *rules.Set
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "StepgateConfiguration file (default: built-in defaults, data in "+config.DefaultDataDir()+")")
}

// loadConfig reads the file, or the built-in defaults when path is "";
// the STEPGATE_CONFIG environment variable names a file too.
func loadConfig(e *env, path string) (*config.Configuration, error) {
	if path == "" {
		path = e.getenv("STEPGATE_CONFIG")
	}
	if path == "" {
		c := config.Default()
		if errs := c.Validate(); len(errs) > 0 {
			return nil, errs.ToAggregate()
		}
		return c, nil
	}
	return config.Load(path)
}

// newLogger builds the structured log on stderr.
func newLogger(e *env, cfg *config.Configuration) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey, encCfg.EncodeTime = "ts", zapcore.RFC3339NanoTimeEncoder
	var enc zapcore.Encoder = zapcore.NewJSONEncoder(encCfg)
	if cfg.Log.Format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(e.stderr), level)), nil
}

// openStack opens the store and builds the session manager.
func openStack(ctx context.Context, e *env, cfg *config.Configuration, log *zap.Logger) (*stack, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	key, err := secretKey(e, cfg)
	if err != nil {
		return nil, err
	}
	sealer, err := mfa.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	a := cfg.Auth
	hasher, err := mfa.NewPasswordHasher(mfa.PasswordHasherOptions{
		Params:        mfa.Argon2Params{Time: a.Password.Argon2.Time, MemoryKiB: a.Password.Argon2.MemoryKiB, Threads: a.Password.Argon2.Threads},
		MaxConcurrent: a.Password.MaxConcurrentHashes,
	})
	if err != nil {
		return nil, fmt.Errorf("password hashing: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o700); err != nil {
		return nil, fmt.Errorf("store dir: %w", err)
	}
	store, err := session.OpenSQLite(ctx, cfg.Store.Path)
	if err != nil {
		return nil, err
	}
	mgr, err := session.New(session.Options{
		Store: store, Hasher: hasher, Sealer: sealer,
		TOTP:                 mfa.TOTP{Issuer: a.MFA.Issuer},
		PasswordPolicy:       mfa.PasswordPolicy{MinLength: a.Password.MinLength, MaxLength: a.Password.MaxLength},
		Lock:                 session.LockPolicy{Enabled: *a.AccountLock.Enabled, FailureTriggers: a.AccountLock.FailureTriggers, Duration: a.LockDuration()},
		MFARequiredForGroups: a.MFA.RequiredForGroups,
		IdleTimeout:          a.SessionIdleTimeout.Duration,
		AbsoluteTimeout:      a.SessionAbsoluteTimeout.Duration,
		ChallengeTTL:         a.ChallengeTTL.Duration,
		Logger:               log,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	set, err := rules.Compile(cfg.Rules, cfg.DefaultAction)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("rules: %w", err)
	}
	return &stack{cfg: cfg, log: log, store: store, mgr: mgr, rules: set}, nil
}

func (s *stack) Close() error { return s.store.Close() }

// secretKey returns the key that seals TOTP secrets: STEPGATE_SECRET_KEY
// if set, else the key file, created on first use.
func secretKey(e *env, cfg *config.Configuration) ([]byte, error) {
	if v := e.getenv("STEPGATE_SECRET_KEY"); v != "" {
		key, err := mfa.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("STEPGATE_SECRET_KEY: %w", err)
		}
		return key, nil
	}
	key, _, err := mfa.LoadOrCreateKeyFile(cfg.Auth.MFA.SecretKeyFile)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	return key, nil
}

// adminStack opens the stack for an admin command with --config. Its log
// goes to stderr like the server's, so an admin action (unlock, reset-mfa,
// revoke) reaches the log as well as the store's audit trail.
func adminStack(ctx context.Context, e *env, configPath string) (*stack, error) {
	cfg, err := loadConfig(e, configPath)
	if err != nil {
		return nil, err
	}
	log, err := newLogger(e, cfg)
	if err != nil {
		return nil, err
	}
	return openStack(ctx, e, cfg, log)
}

// actor names who ran an admin command, for the audit trail.
func actor(e *env) string {
	u := e.getenv("USER")
	if u == "" {
		u = "unknown"
	}
	return "cli:" + u
}
