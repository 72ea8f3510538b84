package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
	"k8s.io/client-go/tools/clientcmd"

	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/web"
)

// target is the stepgate server and account a client command talks about.
type target struct {
	server string
	user   string
	caPEM  []byte
}

// targetFlags are the flags every client command takes; unset ones come
// from the current kubeconfig context when it signs in through stepgate.
type targetFlags struct {
	server, user, caFile, kubeconfig *string
}

func addTargetFlags(fs *flag.FlagSet) targetFlags {
	return targetFlags{
		server:     fs.String("server", "", "stepgate URL (default: from the current kubeconfig context)"),
		user:       fs.String("user", "", "account name (default: from the current kubeconfig context)"),
		caFile:     fs.String("ca-file", "", "PEM CA that signed stepgate's certificate (default: from the kubeconfig, else the system roots)"),
		kubeconfig: fs.String("kubeconfig", "", "kubeconfig to read the defaults from (default: $KUBECONFIG or ~/.kube/config)"),
	}
}

func (f targetFlags) resolve(e *env) (*target, error) {
	t := &target{server: *f.server, user: *f.user}
	if *f.caFile != "" {
		b, err := os.ReadFile(*f.caFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		t.caPEM = b
	}
	if t.server == "" || t.user == "" {
		if err := fillFromKubeconfig(e, t, *f.kubeconfig); err != nil {
			return nil, err
		}
	}
	if t.server == "" || t.user == "" {
		return nil, usageErr("say which stepgate and account: --server URL --user NAME (or use a kubeconfig from stepgate kubeconfig)")
	}
	return t, nil
}

// fillFromKubeconfig takes the server, CA and user of the current context
// if its user entry runs `stepgate credential`.
func fillFromKubeconfig(e *env, t *target, path string) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	} else if kc := e.getenv("KUBECONFIG"); kc != "" {
		rules.Precedence = filepath.SplitList(kc)
	}
	raw, err := rules.Load()
	if err != nil {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	ctx, ok := raw.Contexts[raw.CurrentContext]
	if !ok {
		return nil
	}
	auth, ok := raw.AuthInfos[ctx.AuthInfo]
	if !ok || auth.Exec == nil {
		return nil
	}
	args := auth.Exec.Args
	if len(args) == 0 || args[0] != "credential" {
		return nil
	}
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "--user":
			if t.user == "" {
				t.user = args[i+1]
			}
		case "--server":
			if t.server == "" {
				t.server = args[i+1]
			}
		}
	}
	if cl, ok := raw.Clusters[ctx.Cluster]; ok {
		if t.server == "" {
			t.server = cl.Server
		}
		if len(t.caPEM) == 0 {
			t.caPEM = cl.CertificateAuthorityData
			if len(t.caPEM) == 0 && cl.CertificateAuthority != "" {
				t.caPEM, _ = os.ReadFile(cl.CertificateAuthority)
			}
		}
	}
	return nil
}

// cachedSession is one cached token, in a 0600 file under the user's
// cache dir.
type cachedSession struct {
	Server    string    `json:"server"`
	User      string    `json:"user"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func cacheDir(e *env) string {
	if d := e.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "stepgate", "sessions")
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "stepgate", "sessions")
	}
	d, _ := os.UserCacheDir()
	return filepath.Join(d, "stepgate", "sessions")
}

func cacheFile(e *env, t *target) string {
	sum := sha256.Sum256([]byte(t.server + "\x00" + t.user))
	return filepath.Join(cacheDir(e), hex.EncodeToString(sum[:12])+".json")
}

func loadCached(e *env, t *target, now time.Time) *cachedSession {
	b, err := os.ReadFile(cacheFile(e, t))
	if err != nil {
		return nil
	}
	var c cachedSession
	if json.Unmarshal(b, &c) != nil || c.Token == "" || c.Server != t.server || c.User != t.user || !now.Before(c.ExpiresAt) {
		return nil
	}
	return &c
}

func saveCached(e *env, t *target, token string, expires time.Time) error {
	dir := cacheDir(e)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	b, _ := json.Marshal(cachedSession{Server: t.server, User: t.user, Token: token, ExpiresAt: expires})
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("token cache: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("token cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return os.Rename(f.Name(), cacheFile(e, t))
}

func dropCached(e *env, t *target) { os.Remove(cacheFile(e, t)) }

// prompter asks questions on a terminal: prompts go to out (stderr, so
// stdout stays clean for kubectl), answers come from in.
type prompter struct {
	in  *os.File
	out io.Writer
}

func (p *prompter) interactive() bool { return p.in != nil && term.IsTerminal(int(p.in.Fd())) }

// line reads one visible line, a byte at a time so nothing is read ahead
// of a following hidden prompt.
func (p *prompter) line(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	var sb strings.Builder
	buf := make([]byte, 1)
	for sb.Len() < 4096 {
		n, err := p.in.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			sb.WriteByte(buf[0])
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && sb.Len() > 0 {
				break
			}
			return "", fmt.Errorf("read answer: %w", err)
		}
	}
	return strings.TrimSpace(sb.String()), nil
}

// secret reads a line without echoing it when in is a terminal.
func (p *prompter) secret(prompt string) (string, error) {
	if !p.interactive() {
		return p.line(prompt)
	}
	fmt.Fprint(p.out, prompt)
	b, err := term.ReadPassword(int(p.in.Fd()))
	fmt.Fprintln(p.out)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}

func newClient(t *target) (*web.Client, error) { return web.NewClient(t.server, t.caPEM) }

// signIn prompts for the password and code (up to three tries), walks an
// account without TOTP through enrollment, caches the token and returns it.
func signIn(ctx context.Context, e *env, t *target, p *prompter) (string, error) {
	c, err := newClient(t)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(p.out, "Signing in to stepgate at %s as %s\n", t.server, t.user)
	for attempt := 1; ; attempt++ {
		pw, err := p.secret("Password: ")
		if err != nil {
			return "", err
		}
		code, err := p.line("One-time code (press Enter if you have not set up an authenticator app yet): ")
		if err != nil {
			return "", err
		}
		info, err := c.Login(ctx, web.LoginRequest{Username: t.user, Password: pw, Code: code})
		if err == nil {
			if info.RecoveryCodesLeft != nil {
				fmt.Fprintf(p.out, "Signed in with a recovery code; %d left. Regenerate them soon: stepgate recovery-codes regenerate\n", *info.RecoveryCodesLeft)
			}
			token, expires := info.Token, info.ExpiresAt
			if info.EnrollmentRequired {
				if token, err = enroll(ctx, c.WithToken(token), p); err != nil {
					return "", err
				}
			}
			if err := saveCached(e, t, token, expires); err != nil {
				fmt.Fprintln(p.out, "stepgate: warning:", err)
			}
			return token, nil
		}
		if !web.IsStatus(err, http.StatusUnauthorized) || attempt == 3 {
			return "", err
		}
		fmt.Fprintln(p.out, "stepgate:", err, "— try again")
	}
}

// enroll shows a new TOTP secret as a QR code and text, asks for a code
// from the app, and shows the recovery codes once.
func enroll(ctx context.Context, c *web.Client, p *prompter) (string, error) {
	en, err := c.BeginEnrollment(ctx)
	if err != nil {
		return "", fmt.Errorf("start two-factor enrollment: %w", err)
	}
	qr, err := mfa.TerminalQR(en.OTPAuthURL)
	if err != nil {
		return "", err
	}
	fmt.Fprintln(p.out, "\nYour account needs an authenticator app (TOTP) before you can go on.")
	fmt.Fprintln(p.out, "Scan this QR code with the app (Google Authenticator, 1Password, Aegis, ...):")
	fmt.Fprint(p.out, "\n"+qr+"\n")
	fmt.Fprintf(p.out, "Or enter this secret by hand: %s\n(type: time-based, SHA1, 6 digits, 30 seconds)\n\n", en.Secret)
	for attempt := 1; ; attempt++ {
		code, err := p.line("Code shown by the app: ")
		if err != nil {
			return "", err
		}
		res, err := c.ConfirmEnrollment(ctx, code)
		if err == nil {
			fmt.Fprintln(p.out, "\nTwo-factor authentication is on.")
			fmt.Fprintln(p.out, "Recovery codes: each works once in place of a code if you lose your device.")
			fmt.Fprintln(p.out, "They are shown only now; store them somewhere safe:")
			for _, rc := range res.RecoveryCodes {
				fmt.Fprintln(p.out, "    "+rc)
			}
			fmt.Fprintln(p.out)
			return res.Token, nil
		}
		if !web.IsStatus(err, http.StatusUnprocessableEntity) || attempt == 5 {
			return "", fmt.Errorf("confirm two-factor enrollment: %w", err)
		}
		fmt.Fprintln(p.out, "stepgate:", err)
	}
}

// ensureSession returns a working token for t: the cached one if the server
// still accepts it, else a new sign-in (when a prompt is possible).
func ensureSession(ctx context.Context, e *env, t *target, p *prompter) (string, *web.SessionInfo, error) {
	if cached := loadCached(e, t, time.Now()); cached != nil {
		c, err := newClient(t)
		if err != nil {
			return "", nil, err
		}
		info, err := c.WithToken(cached.Token).Session(ctx)
		if err == nil {
			return cached.Token, info, nil
		}
		if !web.IsStatus(err, http.StatusUnauthorized) {
			return "", nil, err
		}
		dropCached(e, t)
	}
	if !p.interactive() {
		return "", nil, fmt.Errorf("not signed in to %s as %s, and cannot prompt here; run stepgate login in a terminal", t.server, t.user)
	}
	token, err := signIn(ctx, e, t, p)
	if err != nil {
		return "", nil, err
	}
	c, err := newClient(t)
	if err != nil {
		return "", nil, err
	}
	info, err := c.WithToken(token).Session(ctx)
	return token, info, err
}
