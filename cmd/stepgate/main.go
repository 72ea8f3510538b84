// Command stepgate is an authenticating proxy in front of a Kubernetes API
// server: people sign in with a password and a one-time code, and a fresh
// code is asked for before the requests a policy marks as sensitive.
//
// This package only wires: flags, configuration, the packages' options,
// and Run. Run `stepgate help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// env is what a command may touch of the process: standard streams and
// the environment, so tests can run commands in-process.
type env struct {
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// errUsage marks an error whose message is already the whole story and
// that should exit with status 2.
var errUsage = errors.New("usage")

func commands() []command {
	return []command{
		{"serve", "run the proxy (stepgate serve --config FILE)", runServe},
		{"demo", "start a local API server with stepgate in front, for trying it out", runDemo},
		{"user", "manage accounts: add, list, passwd, delete, set-groups, reset-mfa, unlock, disable, enable", runUser},
		{"session", "list and revoke sessions", runSession},
		{"token", "manage service tokens for machines: create, list, revoke", runToken},
		{"audit", "print authentication events", runAudit},
		{"kubeconfig", "print a kubeconfig that signs in through stepgate", runKubeconfig},
		{"credential", "the kubectl exec credential plugin (used by generated kubeconfigs)", runCredential},
		{"login", "sign in and cache a session token", runLogin},
		{"logout", "end the cached session", runLogout},
		{"elevate", "enter a fresh code now so step-up rules pass for a while (sudo-style)", runElevate},
		{"mfa", "your own two-factor settings: disable", runMFA},
		{"recovery-codes", "regenerate your recovery codes", runRecoveryCodes},
		{"rules", "explain which rule matches a request, or check a rules file", runRules},
		{"bench", "measure stepgate against the API server and a bare proxy (make bench)", runBench},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintln(e.stderr, "stepgate:", strings.TrimSuffix(err.Error(), ": usage"))
			return 2
		default:
			fmt.Fprintln(e.stderr, "stepgate:", err)
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "stepgate: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "stepgate — sign-in and step-up for kubectl, in front of a Kubernetes API server.")
	fmt.Fprintln(w, "\nUsage: stepgate COMMAND [flags]   (stepgate COMMAND --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nTry it: stepgate demo   (starts a local API server; needs Go to build it the first time)")
}

// newFlags makes a flag set whose usage names the command and explains it.
func newFlags(e *env, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: stepgate %s\n\n%s\n", synopsis, about)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(e.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses flags allowing them after positional arguments too
// (stepgate user add alice --groups dev).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", err, errUsage)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func usageErr(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errUsage)...)
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(ctx context.Context, e *env, args []string) error {
	fmt.Fprintln(e.stdout, "stepgate", version)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
