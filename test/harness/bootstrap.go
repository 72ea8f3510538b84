package harness

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ImpersonatorRole is the ClusterRole (and ClusterRoleBinding) that lets
// ProxyUser impersonate.
const ImpersonatorRole = "stepgate-impersonator"

// bootstrap writes the kubeconfigs and creates what the cluster needs
// before kwok starts: the default service account (no controller manager
// runs to make it) and ProxyUser's right to impersonate.
func (c *Cluster) bootstrap(ctx context.Context) error {
	c.AdminKubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	c.ProxyKubeconfig = filepath.Join(c.Dir, "proxy.kubeconfig")
	if err := writeKubeconfig(c.AdminKubeconfig, c.Server, c.CAData, AdminUser, c.AdminToken); err != nil {
		return err
	}
	if err := writeKubeconfig(c.ProxyKubeconfig, c.Server, c.CAData, ProxyUser, c.ProxyToken); err != nil {
		return err
	}
	cs, err := c.AdminClient()
	if err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: metav1.NamespaceDefault}}
	if _, err := cs.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the default service account: %w", err)
	}
	return applyImpersonatorRBAC(ctx, cs)
}

// impersonatorRules let a user impersonate any user, group, service
// account, uid and user extra. RBAC compares a rule's resource with
// "userextras/<key>" as a plain string, so a rule for "userextras/*" would
// match only a key named "*"; "*" in authentication.k8s.io matches every
// key, and userextras and uids are the only resources of that group that
// impersonate applies to.
func impersonatorRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"users", "groups", "serviceaccounts"}, Verbs: []string{"impersonate"}},
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"impersonate"}},
	}
}

func applyImpersonatorRBAC(ctx context.Context, cs kubernetes.Interface) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ImpersonatorRole}, Rules: impersonatorRules()}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create cluster role %s: %w", role.Name, err)
		}
		if _, err := cs.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update cluster role %s: %w", role.Name, err)
		}
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ImpersonatorRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: ProxyUser}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create cluster role binding %s: %w", binding.Name, err)
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for one user with a bearer token.
func writeKubeconfig(path, server string, ca []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["harness"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["harness"] = &clientcmdapi.Context{Cluster: "harness", AuthInfo: user, Namespace: metav1.NamespaceDefault}
	cfg.CurrentContext = "harness"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig for %s: %w", user, err)
	}
	return nil
}

// AdminRESTConfig returns a client configuration for AdminUser.
func (c *Cluster) AdminRESTConfig() *rest.Config {
	return c.restConfig(c.AdminToken)
}

// ProxyRESTConfig returns a client configuration for ProxyUser.
func (c *Cluster) ProxyRESTConfig() *rest.Config {
	return c.restConfig(c.ProxyToken)
}

func (c *Cluster) restConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Server,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), c.CAData...)},
		QPS:             100,
		Burst:           200,
	}
}

// AdminClient returns a clientset for AdminUser.
func (c *Cluster) AdminClient() (kubernetes.Interface, error) {
	cs, err := kubernetes.NewForConfig(c.AdminRESTConfig())
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	return cs, nil
}
