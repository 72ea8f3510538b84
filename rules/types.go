package rules

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Action is what a rule decides for the requests it matches.
type Action string

// The actions a rule can take. The default action of a Set is ActionAllow
// or ActionDeny, never ActionStepUp.
const (
	// ActionAllow forwards the request; the cluster's RBAC still decides.
	ActionAllow Action = "allow"
	// ActionDeny refuses the request with the rule's message.
	ActionDeny Action = "deny"
	// ActionStepUp asks the person for a fresh one-time code first. A
	// service token cannot step up, so for it a stepUp rule denies.
	ActionStepUp Action = "stepUp"
)

// Rule is one entry of the ordered rule list, as written in configuration.
type Rule struct {
	// Name identifies the rule in messages, the audit log and grants: 1-63
	// lower-case letters, digits and '-', unique in the list.
	Name string `json:"name"`
	// Match says which requests the rule applies to.
	Match Match `json:"match"`
	// Action is allow, deny or stepUp.
	Action Action `json:"action"`
	// Message is shown to the person: the reason for a deny (a deny
	// without one gets a default naming the rule), or extra words the proxy
	// appends to a stepUp rule's 401 message (after the sentence naming the
	// action and the rule). Allow rules take no message.
	Message string `json:"message,omitempty"`
	// MaxAge is for stepUp rules only: 0 means every matching request needs
	// its own code; a positive age (at most 24h) lets one code cover every
	// request this rule matches for that long.
	MaxAge metav1.Duration `json:"maxAge,omitempty"`
}

// Match says which requests a rule applies to. A rule matches a request
// when every field it sets matches; an unset field matches anything. Globs
// use '*' for any run of characters and '?' for one character; there is no
// escaping and no character classes. Matching is case-sensitive.
type Match struct {
	// Users are user names or globs.
	Users []string `json:"users,omitempty"`
	// Groups match when any of the user's groups matches. Every signed-in
	// user, service tokens included, is also in system:authenticated.
	Groups []string `json:"groups,omitempty"`
	// Verbs are Kubernetes verbs (get, list, watch, create, update, patch,
	// delete, deletecollection, impersonate, escalate, bind, ...), custom
	// lower-case verbs, or "*". "delete" also matches deletecollection.
	// Non-resource requests use the lower-case HTTP method (get, post, ...).
	Verbs []string `json:"verbs,omitempty"`
	// APIGroups are API group names: "" is the core group, "*" any group.
	APIGroups []string `json:"apiGroups,omitempty"`
	// Resources name a resource and optionally a subresource: "pods" (only
	// the resource itself, not pods/log or pods/exec), "pods/exec" (that
	// subresource), "pods/*" (any subresource of pods, not pods itself),
	// "*/scale" (that subresource of any resource), "*/*" (any subresource
	// of any resource) and "*" (every resource and every subresource).
	Resources []string `json:"resources,omitempty"`
	// Namespaces are namespace names or globs ("prod-*"). Unset, the rule
	// matches every namespace and cluster-scoped requests too; set, only
	// requests in those namespaces (plus cluster-scoped ones when
	// ClusterScoped is true).
	Namespaces []string `json:"namespaces,omitempty"`
	// ClusterScoped adds cluster-scoped requests (those without a
	// namespace) to Namespaces; without Namespaces, the rule matches only
	// cluster-scoped requests.
	ClusterScoped bool `json:"clusterScoped,omitempty"`
	// Names are object names or globs.
	Names []string `json:"names,omitempty"`
	// NonResourceURLs are paths such as "/healthz", prefixes ending in '*'
	// such as "/logs/*", or "*" for every path. A rule with them matches
	// only non-resource requests and may not set resource fields.
	NonResourceURLs []string `json:"nonResourceURLs,omitempty"`
}

// Attributes are one request's facts, already parsed and normalized by the
// caller (the proxy, from k8s.io/apiserver's RequestInfo): exec, attach and
// port-forward arrive with verb "create" whatever the HTTP method. Decide
// reads them and never changes them.
type Attributes struct {
	// User is the authenticated user name.
	User string
	// Groups are the user's groups; system:authenticated is implied.
	Groups []string
	// Machine is true for a service token, which can never step up.
	Machine bool
	// ResourceRequest is true for API resource requests and false for
	// other paths (/healthz, /version, discovery).
	ResourceRequest bool
	// Verb is the Kubernetes verb of a resource request, or the lower-case
	// HTTP method of a non-resource request.
	Verb string
	// APIGroup is "" for the core group.
	APIGroup string
	// Resource and Subresource, e.g. "pods" and "exec".
	Resource, Subresource string
	// Namespace is "" for cluster-scoped requests and for lists and
	// watches across all namespaces.
	Namespace string
	// Name is the object name; "" for list, watch, deletecollection and
	// create.
	Name string
	// Path is the URL path of a non-resource request.
	Path string
}

// Decision is the outcome for one request.
type Decision struct {
	// Action is allow, deny or stepUp. A service token that meets a stepUp
	// rule gets deny, with a Message saying a machine cannot step up.
	Action Action
	// Rule is the rule that decided, or nil when the default action
	// applied. It belongs to the Set and must not be modified.
	Rule *Compiled
	// Message is what to tell the person about a deny; empty otherwise.
	Message string
}

// Compiled is a rule ready for matching, owned by its Set. Its exported
// fields are read-only.
type Compiled struct {
	// Name is the rule's name.
	Name string
	// Action is the rule's action as configured.
	Action Action
	// Message is the rule's message; for a deny rule without one, the
	// default deny message. For a stepUp rule it is the extra words for
	// the step-up message, possibly empty.
	Message string
	// MaxAge is how long one code covers this rule's requests (stepUp only).
	MaxAge time.Duration
	// Index is the rule's position in the list given to Compile.
	Index int

	m matcher
}
