package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"stepgate.io/stepgate/session"
)

func runUser(ctx context.Context, e *env, args []string) error {
	subs := map[string]func(context.Context, *env, []string) error{
		"add": userAdd, "list": userList, "passwd": userPasswd, "delete": userDelete, "set-groups": userSetGroups,
		"reset-mfa": userSimple("reset-mfa"), "unlock": userSimple("unlock"),
		"disable": userSimple("disable"), "enable": userSimple("enable"),
	}
	if len(args) == 0 || subs[args[0]] == nil {
		return usageErr("usage: stepgate user add|list|passwd|delete|set-groups|reset-mfa|unlock|disable|enable ... (--help on each)")
	}
	return subs[args[0]](ctx, e, args[1:])
}

func userAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "user add", "user add NAME [--groups a,b] [--admin] [--password-stdin] [--config FILE]",
		"Creates an account. The password comes from a hidden prompt, or from the first line of stdin with\n"+
			"--password-stdin. The person sets up their authenticator app at their first sign-in.")
	groups := fs.String("groups", "", "comma-separated groups, sent to Kubernetes as Impersonate-Group")
	admin := fs.Bool("admin", false, "make the account a stepgate admin (never locked out; sees /stepgate/v1/accounts)")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	cfg := configFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("user add takes exactly one NAME")
	}
	pw, err := readNewPassword(e, *stdin)
	if err != nil {
		return err
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := st.mgr.CreateAccount(ctx, session.NewAccount{Name: pos[0], Password: pw, Groups: splitList(*groups), Admin: *admin}, actor(e))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Created %s (groups %v, admin %t). They set up TOTP at their first sign-in.\n", a.Name, a.Groups, a.Admin)
	return nil
}

// readNewPassword reads a password twice from a hidden prompt, or once
// from stdin.
func readNewPassword(e *env, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 8192)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("no password on stdin")
		}
		return pw, nil
	}
	p := &prompter{in: e.stdin, out: e.stderr}
	if !p.interactive() {
		return "", usageErr("no terminal to prompt for the password; use --password-stdin")
	}
	pw, err := p.secret("New password: ")
	if err != nil {
		return "", err
	}
	again, err := p.secret("Same password again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords differ")
	}
	return pw, nil
}

func userList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "user list", "user list [--config FILE]",
		"Lists accounts with their groups, two-factor status and lock status: the 2FA compliance report.")
	cfg := configFlag(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	accts, err := st.mgr.Accounts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tGROUPS\tADMIN\tTOTP\tREQUIRED\tLOCKED\tFAILURES\tRECOVERY\tLAST SIGN-IN\tSTATE")
	for _, a := range accts {
		locked := "no"
		if a.Locked {
			locked = "yes"
			if a.LockedUntil != nil {
				locked = "until " + a.LockedUntil.Local().Format(time.DateTime)
			} else {
				locked = "until unlocked"
			}
		}
		last := "never"
		if a.LastLoginAt != nil {
			last = a.LastLoginAt.Local().Format(time.DateTime)
		}
		state := "active"
		if a.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", a.Name, strings.Join(a.Groups, ","), yesNo(a.Admin),
			yesNo(a.TOTPEnrolled), yesNo(a.MFARequired), locked, a.FailedAttempts, a.RecoveryCodesLeft, last, state)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func userPasswd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "user passwd", "user passwd NAME [--password-stdin] [--config FILE]",
		"Sets a new password for an account and ends its sessions.")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	cfg := configFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("user passwd takes exactly one NAME")
	}
	pw, err := readNewPassword(e, *stdin)
	if err != nil {
		return err
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.mgr.SetPassword(ctx, pos[0], pw, actor(e)); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Password of %s changed; their sessions were ended.\n", pos[0])
	return nil
}

func userDelete(ctx context.Context, e *env, args []string) error {
	return withAccount(ctx, e, args, "delete", "Deletes an account, its sessions and its codes.", func(st *stack, name string) (string, error) {
		return "Deleted " + name + ".", st.mgr.DeleteAccount(ctx, name, actor(e))
	})
}

func userSetGroups(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "user set-groups", "user set-groups NAME a,b,c [--config FILE]",
		"Replaces an account's groups; open sessions use the new groups from their next request.")
	cfg := configFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr("user set-groups takes NAME and a comma-separated group list (\"\" for none)")
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	groups := splitList(pos[1])
	if err := st.mgr.SetGroups(ctx, pos[0], groups, actor(e)); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Groups of %s are now %v.\n", pos[0], groups)
	return nil
}

func userSimple(action string) func(context.Context, *env, []string) error {
	about := map[string]string{
		"reset-mfa": "Removes an account's TOTP secret and recovery codes (a lost device) and ends its sessions;\nthe person enrolls again at the next sign-in.",
		"unlock":    "Clears an account's lock and failure count.",
		"disable":   "Disables an account and ends its sessions.",
		"enable":    "Enables a disabled account.",
	}[action]
	return func(ctx context.Context, e *env, args []string) error {
		return withAccount(ctx, e, args, action, about, func(st *stack, name string) (string, error) {
			switch action {
			case "reset-mfa":
				return "Two-factor reset for " + name + "; they enroll again at the next sign-in.", st.mgr.ResetMFA(ctx, name, actor(e))
			case "unlock":
				return "Unlocked " + name + ".", st.mgr.Unlock(ctx, name, actor(e))
			case "disable":
				return "Disabled " + name + "; their sessions were ended.", st.mgr.SetDisabled(ctx, name, true, actor(e))
			default:
				return "Enabled " + name + ".", st.mgr.SetDisabled(ctx, name, false, actor(e))
			}
		})
	}
}

// withAccount runs a one-account admin action.
func withAccount(ctx context.Context, e *env, args []string, action, about string, fn func(*stack, string) (string, error)) error {
	fs := newFlags(e, "user "+action, "user "+action+" NAME [--config FILE]", about)
	cfg := configFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("user %s takes exactly one NAME", action)
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	msg, err := fn(st, pos[0])
	if err != nil {
		if session.IsNotFound(err) {
			return fmt.Errorf("no account named %q", pos[0])
		}
		return err
	}
	fmt.Fprintln(e.stderr, msg)
	return nil
}
