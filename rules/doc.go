// Package rules decides, per request, how sure stepgate must be that the
// person is who they say right now: allow, deny, or step up (ask for a
// fresh one-time code first). RBAC in the cluster still decides whether the
// person may act at all; rules only add proof on top, and a request they
// allow still has to pass RBAC.
//
// # The model
//
// A rule set is an ordered list. The first rule that matches a request
// decides it; when none matches, the default action applies (allow unless
// configured to deny). A rule matches when every field of its Match that is
// set matches; an unset field matches anything, so a rule with an empty
// Match matches every request (Validate refuses one that is not last, since
// the rules after it could never apply). Resource fields (apiGroups,
// resources, namespaces, clusterScoped, names) limit a rule to resource
// requests; nonResourceURLs limit it to other paths such as /healthz; a rule
// with neither (only users, groups or verbs) matches both kinds. Matching is
// exact and case-sensitive, as in Kubernetes: "Delete" is not "delete".
// Globs in users, groups, namespaces and names use '*' for any run of
// characters and '?' for one character, with no escapes or classes.
// Every user, a service token included, is in the group
// system:authenticated, so `groups: [system:authenticated]` means everyone
// signed in.
//
// Resources name the subresource too: "pods" is the pods resource itself,
// not pods/log or pods/exec; "pods/exec" is that subresource; "pods/*" any
// subresource of pods; "*/scale" the scale subresource of any resource;
// "*/*" any subresource; "*" everything. Namespaces unset matches every
// namespace and cluster-scoped requests; set, only those namespaces, plus
// cluster-scoped requests when clusterScoped is true; clusterScoped alone
// matches only cluster-scoped requests. A request on a Namespace object
// carries its own name as namespace, so a rule on namespaces "prod-*" also
// covers deleting the namespace prod-eu itself.
//
// # Rules that cannot be dodged
//
// A request can say less than a rule names, and a deny or stepUp rule must
// still catch it; an allow rule must not allow more than it names:
//
//   - A rule naming the verb "delete" also matches "deletecollection"
//     (kubectl delete --all), because deleting many objects is at least as
//     dangerous as deleting one. A rule naming "deletecollection" matches
//     only that; put it before the delete rule to treat it differently.
//   - A list or watch across all namespaces (kubectl get secrets -A)
//     arrives without a namespace, like a cluster-scoped request, yet
//     returns objects from every namespace. Deny and stepUp rules limited
//     to namespaces therefore match a list or watch without a namespace;
//     allow rules treat it as cluster-scoped. The attributes cannot tell
//     such a list from a list of a cluster-scoped resource (kubectl get
//     nodes), so a stepUp rule on namespaces "prod-*" that names no
//     resources and no verbs also asks for a code to list nodes; name the
//     resources or verbs it is about.
//   - Lists, watches, deletecollection and create arrive without an object
//     name, yet may touch (or, for create, make) the named objects. Deny
//     and stepUp rules with names therefore match requests without a name;
//     allow rules with names do not.
//
// Attributes come from the request as the API server parses it (the proxy
// uses k8s.io/apiserver's RequestInfoFactory), never from matching strings
// in a raw URL, so there is no second parser to disagree with the cluster.
// Exec, attach and port-forward arrive with verb "create" whatever the
// HTTP method, as the API server authorizes them.
//
// A service token (Attributes.Machine) can never step up: a stepUp rule
// that matches one denies it, with a message that says so.
//
// # Performance
//
// Compile validates and builds an immutable Set once. Decide is safe for
// concurrent use and allocates nothing. Verbs are bits; short string lists
// are compared in place and globs have prefix and suffix fast paths. An
// index keeps, per API group and resource, per verb and per namespace (by
// exact name and by the literal prefix of each glob), the set of rules that
// could match, as bitsets; Decide intersects the request's three sets and
// checks only the rules left, lowest index first, so first-match order is
// exact and a few hundred rules cost about as much as ten. Explain walks
// every rule without the index and always reaches the same decision.
package rules
