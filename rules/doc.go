// Package rules decides, per request, how sure stepgate must be that the
// person is who they say: allow, deny, or step up (ask for a fresh
// one-time code). RBAC in the cluster still decides whether the person may
// act at all; rules only add proof on top.
//
// A rule set is an ordered list; the first rule that matches a request
// decides it, and the default action (allow unless configured) applies when
// none does. A rule matches when every field it sets matches; an empty field
// matches anything. Resource fields (apiGroups, resources, namespaces,
// clusterScoped, names) make a rule match only resource requests;
// nonResourceURLs make it match only non-resource requests; a rule with
// neither (only users, groups or verbs) matches both.
//
// Two conventions keep rules from being dodged:
//
//   - A rule naming the verb "delete" also matches "deletecollection"
//     (kubectl delete --all), because deleting many objects is at least as
//     dangerous as deleting one. A rule naming "deletecollection" matches
//     only that; put it first to treat collections differently.
//   - Attributes come from the request as the API server parses it (the
//     proxy uses k8s.io/apiserver's RequestInfoFactory), never from string
//     matching on a raw URL, and exec, attach and port-forward arrive with
//     verb "create" whatever the HTTP method.
//
// A service token (Attributes.Machine) can never step up, so a step-up rule
// that matches one denies it, saying why.
//
// Compile builds an index from resource name to the rules that could match
// it, so Decide looks at few rules and allocates nothing.
package rules
