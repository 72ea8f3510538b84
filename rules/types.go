package rules

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Action is what a rule decides.
type Action string

// The actions.
const (
	ActionAllow  Action = "allow"
	ActionDeny   Action = "deny"
	ActionStepUp Action = "stepUp"
)

// Rule is one entry of the policy as written in configuration.
type Rule struct {
	Name    string `json:"name"`
	Match   Match  `json:"match"`
	Action  Action `json:"action"`
	Message string `json:"message,omitempty"`
	// MaxAge applies to stepUp: 0 means every matching request needs its
	// own code; a positive age lets one code cover every request this rule
	// matches for that long.
	MaxAge metav1.Duration `json:"maxAge,omitempty"`
}

// Match says which requests a rule applies to; unset fields match anything.
type Match struct {
	// Users are user names or globs.
	Users []string `json:"users,omitempty"`
	// Groups match if any of the user's groups matches; every signed-in
	// user is also in system:authenticated.
	Groups []string `json:"groups,omitempty"`
	// Verbs are Kubernetes verbs (get, list, watch, create, update, patch,
	// delete, deletecollection, ...) or "*".
	Verbs []string `json:"verbs,omitempty"`
	// APIGroups: "" is the core group, "*" any.
	APIGroups []string `json:"apiGroups,omitempty"`
	// Resources: "pods" (only the resource itself), "pods/exec" (one
	// subresource), "pods/*" (any subresource of pods, not pods itself),
	// "*/scale" (that subresource of any resource), "*" (everything).
	Resources []string `json:"resources,omitempty"`
	// Namespaces are names or globs ("prod-*"). Unset: any namespace and
	// cluster-scoped requests too.
	Namespaces []string `json:"namespaces,omitempty"`
	// ClusterScoped adds cluster-scoped requests to Namespaces; alone, the
	// rule matches only cluster-scoped requests.
	ClusterScoped bool `json:"clusterScoped,omitempty"`
	// Names are object names or globs.
	Names []string `json:"names,omitempty"`
	// NonResourceURLs are paths such as /healthz, or prefixes ending in *.
	NonResourceURLs []string `json:"nonResourceURLs,omitempty"`
}

// Attributes are one request's facts, as the proxy parsed them.
type Attributes struct {
	User            string
	Groups          []string
	Machine         bool
	ResourceRequest bool
	Verb            string
	APIGroup        string
	Resource        string
	Subresource     string
	Namespace       string
	Name            string
	Path            string
}

// Decision is the outcome for one request.
type Decision struct {
	Action Action
	// Rule is the rule that matched, nil when the default applied.
	Rule *Compiled
	// Message is what to tell the person about a deny.
	Message string
}

// Compiled is a rule ready for matching. Its exported fields are read-only.
type Compiled struct {
	Name    string
	Action  Action
	Message string
	MaxAge  time.Duration
	Index   int

	m          matcher
	machineMsg string
}
