package main

import (
	"context"
	"fmt"
	"time"

	"stepgate.io/stepgate/session"
	"stepgate.io/stepgate/web"
)

func runLogin(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "login", "login [--server URL --user NAME]",
		"Signs in (password and one-time code; first-time users set up an authenticator app) and caches the\n"+
			"session token for kubectl. Without flags, the server and user come from the current kubeconfig context.")
	tf := addTargetFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	t, err := tf.resolve(e)
	if err != nil {
		return err
	}
	p := &prompter{in: e.stdin, out: e.stderr}
	if !p.interactive() {
		return fmt.Errorf("login needs a terminal to prompt for the password and code")
	}
	token, err := signIn(ctx, e, t, p)
	if err != nil {
		return err
	}
	c, err := newClient(t)
	if err != nil {
		return err
	}
	info, err := c.WithToken(token).Session(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Signed in as %s (groups %v) until %s.\n", info.User, info.Groups, info.ExpiresAt.Local().Format(time.Kitchen))
	return nil
}

func runLogout(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "logout", "logout [--server URL --user NAME]", "Ends the cached session on the server and forgets its token.")
	tf := addTargetFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	t, err := tf.resolve(e)
	if err != nil {
		return err
	}
	cached := loadCached(e, t, time.Now())
	dropCached(e, t)
	if cached == nil {
		fmt.Fprintln(e.stderr, "Not signed in.")
		return nil
	}
	c, err := newClient(t)
	if err != nil {
		return err
	}
	if err := c.WithToken(cached.Token).Logout(ctx); err != nil && !web.IsStatus(err, 401) {
		return err
	}
	fmt.Fprintln(e.stderr, "Signed out.")
	return nil
}

func runElevate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "elevate", "elevate [--for 5m] [--server URL --user NAME]",
		"Asks for a fresh one-time code now, sudo-style, so that step-up rules with a maxAge pass without a\n"+
			"prompt until the window ends (each rule caps it at its own maxAge). Rules with maxAge 0 still ask\n"+
			"for every request. Also answers a pending step-up, if there is one.")
	dur := fs.Duration("for", 5*time.Minute, "how long the window stays open")
	tf := addTargetFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *dur <= 0 || *dur > session.MaxElevation {
		return usageErr("--for must be between 1s and %s", session.MaxElevation)
	}
	t, err := tf.resolve(e)
	if err != nil {
		return err
	}
	p := &prompter{in: e.stdin, out: e.stderr}
	if !p.interactive() {
		return fmt.Errorf("elevate needs a terminal to prompt for the code")
	}
	token, info, err := ensureSession(ctx, e, t, p)
	if err != nil {
		return err
	}
	c, err := newClient(t)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		code, err := p.line("One-time code: ")
		if err != nil {
			return err
		}
		res, err := c.WithToken(token).StepUp(ctx, web.StepUpRequest{Code: code, ElevateFor: dur.String()})
		if err != nil {
			if attempt < 3 && (web.IsStatus(err, 401) || web.IsStatus(err, 422)) {
				fmt.Fprintln(e.stderr, "stepgate:", err)
				continue
			}
			return err
		}
		if err := saveCached(e, t, res.Token, info.ExpiresAt); err != nil {
			return err
		}
		if res.Granted != "" {
			fmt.Fprintf(e.stderr, "Code accepted for %s.\n", res.Granted)
		}
		until := "the window"
		if res.ElevatedUntil != nil {
			until = res.ElevatedUntil.Local().Format(time.TimeOnly)
		}
		fmt.Fprintf(e.stderr, "Elevated until %s. Rules with maxAge 0 still ask for a code on every request.\n", until)
		return nil
	}
}

func runMFA(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "disable" {
		return usageErr("usage: stepgate mfa disable [--server URL --user NAME]  (switch your TOTP off; needs a current code)")
	}
	fs := newFlags(e, "mfa disable", "mfa disable [--server URL --user NAME]",
		"Switches two-factor authentication off for your account, after a current code. Refused when a policy\n"+
			"requires it for one of your groups.")
	tf := addTargetFlags(fs)
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	return withCode(ctx, e, tf, func(c *web.Client, code string) error {
		if err := c.DisableTOTP(ctx, code); err != nil {
			return err
		}
		fmt.Fprintln(e.stderr, "Two-factor authentication is off. Your recovery codes no longer work.")
		return nil
	})
}

func runRecoveryCodes(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "regenerate" {
		return usageErr("usage: stepgate recovery-codes regenerate [--server URL --user NAME]")
	}
	fs := newFlags(e, "recovery-codes regenerate", "recovery-codes regenerate [--server URL --user NAME]",
		"Replaces all your recovery codes with ten new ones, after a current code. The old ones stop working.")
	tf := addTargetFlags(fs)
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	return withCode(ctx, e, tf, func(c *web.Client, code string) error {
		codes, err := c.RegenerateRecoveryCodes(ctx, code)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stderr, "New recovery codes; each works once. They are shown only now:")
		for _, rc := range codes {
			fmt.Fprintln(e.stdout, rc)
		}
		return nil
	})
}

// withCode signs in if needed, prompts for a current code and calls fn.
func withCode(ctx context.Context, e *env, tf targetFlags, fn func(c *web.Client, code string) error) error {
	t, err := tf.resolve(e)
	if err != nil {
		return err
	}
	p := &prompter{in: e.stdin, out: e.stderr}
	if !p.interactive() {
		return fmt.Errorf("this needs a terminal to prompt for the code")
	}
	token, _, err := ensureSession(ctx, e, t, p)
	if err != nil {
		return err
	}
	c, err := newClient(t)
	if err != nil {
		return err
	}
	code, err := p.line("Current one-time code: ")
	if err != nil {
		return err
	}
	return fn(c.WithToken(token), code)
}
