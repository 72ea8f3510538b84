package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"stepgate.io/stepgate/proxy"
	"stepgate.io/stepgate/session"
)

func runKubeconfig(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "kubeconfig", "kubeconfig --server URL --user NAME [flags]",
		"Prints a kubeconfig whose user signs in through stepgate: kubectl runs `stepgate credential`, which\n"+
			"prompts for the password and one-time code and caches the session. The CA is taken from --ca-file,\n"+
			"else from the self-signed certificate in the data dir of --config (run it where stepgate runs).")
	server := fs.String("server", "", "stepgate's URL as clients reach it (default: externalURL from the config)")
	user := fs.String("user", "", "account name (required)")
	caFile := fs.String("ca-file", "", "PEM CA that signed stepgate's certificate")
	cfgPath := configFlag(fs)
	name := fs.String("name", "stepgate", "name of the cluster and context in the kubeconfig")
	namespace := fs.String("namespace", "", "default namespace of the context")
	command := fs.String("command", "", "command kubectl runs for the plugin (default: this binary's absolute path)")
	output := fs.String("o", "", "write to this file (mode 0600) instead of stdout")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := session.ValidateUserName(*user); err != nil {
		return usageErr("--user: %v", err)
	}
	ca, srv, err := kubeconfigCA(e, *caFile, *cfgPath, *server)
	if err != nil {
		return err
	}
	if u, err := url.Parse(srv); err != nil || u.Scheme != "https" || u.Host == "" {
		return usageErr("--server %q: want the https:// URL clients use to reach stepgate", srv)
	}
	cmd := *command
	if cmd == "" {
		if cmd, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary: %w (pass --command)", err)
		}
	}
	data, err := kubeconfigBytes(buildKubeconfig(*name, srv, *user, cmd, *namespace, ca))
	if err != nil {
		return err
	}
	if *output == "" {
		_, err = e.stdout.Write(data)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*output), 0o700); err != nil {
		return err
	}
	return os.WriteFile(*output, data, 0o600)
}

func kubeconfigCA(e *env, caFile, cfgPath, server string) ([]byte, string, error) {
	if caFile != "" {
		ca, err := proxy.ReadCA(caFile)
		return ca, server, err
	}
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return nil, "", err
	}
	if server == "" {
		server = cfg.ExternalURL
	}
	if server == "" {
		return nil, "", usageErr("--server is required (or set externalURL in the config)")
	}
	if cfg.TLS.CertFile != "" {
		return nil, server, nil // a real certificate: the system roots will do
	}
	ca, err := proxy.ReadCA(proxy.SelfSignedPaths(cfg.DataDir).CAFile)
	if err != nil {
		return nil, "", fmt.Errorf("%w (start stepgate serve once to create it, or pass --ca-file)", err)
	}
	return ca, server, nil
}

func buildKubeconfig(name, server, user, command, namespace string, ca []byte) *clientcmdapi.Config {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	authName := name + "-" + user
	kc.AuthInfos[authName] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion:         "client.authentication.k8s.io/v1",
		Command:            command,
		Args:               []string{"credential", "--server", server, "--user", user},
		InteractiveMode:    clientcmdapi.IfAvailableExecInteractiveMode,
		ProvideClusterInfo: true,
		InstallHint:        "stepgate signs you in to this cluster; install it from your platform team's instructions",
	}}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: authName, Namespace: namespace}
	kc.CurrentContext = name
	return kc
}

func kubeconfigBytes(kc *clientcmdapi.Config) ([]byte, error) { return clientcmd.Write(*kc) }

func writeKubeconfigFile(path string, kc *clientcmdapi.Config) error {
	data, err := kubeconfigBytes(kc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
