package rules

import (
	"strings"
	"unicode/utf8"
)

// The checks of single list entries. Each returns "" for a good value or
// says what is wrong and, where a mistake is common, what to write instead.
// Over-long values and duplicates are caught before them.

const (
	emptyValue     = "must not be empty"
	lowerAlnumDash = "abcdefghijklmnopqrstuvwxyz0123456789-"
	globChars      = "*?"
	notGlobSyntax  = "[]{}"
)

// principalProblem checks a user or group name or glob.
func principalProblem(v string) string {
	switch {
	case v == "":
		return emptyValue
	case !isPrintableLine(v):
		return "must be printable UTF-8 without control characters"
	case strings.ContainsAny(v, notGlobSyntax):
		return "only * and ? are wildcards; [, ], { and } are not supported"
	}
	return ""
}

// verbProblem checks a verb. Any lower-case word is accepted, since API
// servers may define their own verbs, but words that look like kubectl
// commands are refused: no request carries them, so the rule would never
// apply.
func verbProblem(v string) string {
	switch v {
	case "*":
		return ""
	case "":
		return emptyValue
	case "exec", "attach", "portforward", "port-forward":
		return "no request has this verb: kubectl " + v + " is verb create on resource pods/" + strings.ReplaceAll(v, "-", "")
	case "log", "logs":
		return "no request has this verb: kubectl logs is verb get on resource pods/log"
	case "read", "write", "edit", "scale", "apply":
		return "no request has this verb: use Kubernetes verbs such as get, list, watch, create, update, patch, delete"
	}
	switch {
	case strings.ToLower(v) != v:
		return "verbs are lower-case and compared exactly (delete, not Delete)"
	case strings.ContainsAny(v, globChars):
		return "verbs are exact words, or * for every verb"
	case !only(v, lowerAlnumDash) || v[0] < 'a' || v[0] > 'z':
		return "verbs are lower-case words such as get, delete or deletecollection, or *"
	}
	if near := nearVerb(v); near != "" {
		return "not a Kubernetes verb; did you mean " + near + "? (a rule with a misspelt verb never applies)"
	}
	return ""
}

// knownVerbs are the verbs Kubernetes API servers use for requests and in
// RBAC. A word one typing slip away from one of them is almost surely that
// verb misspelt, and a misspelt verb makes a step-up rule silently inert.
var knownVerbs = [...]string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"escalate", "bind", "impersonate", "approve", "sign", "use"}

// nearVerb returns the known verb that v is one edit (an insertion,
// deletion, substitution or swap of neighbours) away from, or "".
func nearVerb(v string) string {
	for _, k := range knownVerbs {
		if v == k {
			return ""
		}
	}
	for _, k := range knownVerbs {
		if oneEdit(v, k) {
			return k
		}
	}
	return ""
}

func oneEdit(a, b string) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	switch len(a) - len(b) {
	case 0:
		var diff []int
		for i := range a {
			if a[i] != b[i] {
				diff = append(diff, i)
			}
		}
		return len(diff) == 1 ||
			len(diff) == 2 && diff[1] == diff[0]+1 && a[diff[0]] == b[diff[1]] && a[diff[1]] == b[diff[0]]
	case 1:
		i := 0
		for i < len(b) && a[i] == b[i] {
			i++
		}
		return a[i+1:] == b[i:]
	}
	return false
}

// apiGroupProblem checks an API group: "" (core), "*" or a DNS name.
func apiGroupProblem(v string) string {
	switch {
	case v == "" || v == "*":
		return ""
	case v == "core" || v == "v1":
		return `the core group is "" (apiGroups: [""])`
	case strings.Contains(v, "/"):
		return "API groups have no version: apps, not apps/v1"
	case strings.ContainsAny(v, globChars):
		return `API groups are exact, or "*" for every group`
	case len(v) > maxObjectLen || !isDNSSubdomain(v):
		return "API groups are lower-case DNS names such as apps or rbac.authorization.k8s.io"
	}
	return ""
}

// resourceProblem checks a resource[/subresource] pattern.
func resourceProblem(v string) string {
	if v == "*" {
		return ""
	}
	res, sub, hasSub := strings.Cut(v, "/")
	switch {
	case v == "":
		return emptyValue
	case strings.Count(v, "/") > 1:
		return "at most one /: resource or resource/subresource"
	case res == "":
		return "the resource before / must not be empty (*/scale means any resource)"
	case hasSub && sub == "":
		return "the subresource after / must not be empty (pods/* means any subresource)"
	case strings.Contains(res, "."):
		return "put the API group in apiGroups: resources are plain plural names such as deployments, not deployments.apps"
	case strings.ToLower(v) != v:
		return "resources are lower-case plural names such as pods, not Pod or Pods"
	case !segmentOK(res) || (hasSub && !segmentOK(sub)):
		return "resources are lower-case names such as pods, pods/exec, pods/*, */scale or *; * stands only for a whole name"
	}
	return ""
}

// segmentOK reports whether s is "*" or a lower-case name.
func segmentOK(s string) bool { return s == "*" || only(s, lowerAlnumDash) }

// namespaceProblem checks a namespace name or glob.
func namespaceProblem(v string) string {
	if v == "" {
		return emptyValue
	}
	if len(v) > maxNameLen || !only(v, lowerAlnumDash+globChars) {
		return "namespaces are up to 63 lower-case letters, digits and '-', with * and ? as wildcards"
	}
	return ""
}

// objectNameProblem checks an object name or glob.
func objectNameProblem(v string) string {
	switch {
	case v == "":
		return emptyValue
	case len(v) > maxObjectLen:
		return "object names are at most 253 characters"
	case !isPrintableLine(v) || strings.ContainsAny(v, " /"):
		return "object names have no spaces, '/' or control characters"
	case strings.ContainsAny(v, notGlobSyntax):
		return "only * and ? are wildcards; [, ], { and } are not supported"
	}
	return ""
}

// urlProblem checks a non-resource URL: "*", "/exact" or "/prefix*".
func urlProblem(v string) string {
	switch {
	case v == "*":
		return ""
	case v == "":
		return emptyValue
	case v[0] != '/':
		return "must start with / (or be * for every path)"
	case strings.Contains(strings.TrimSuffix(v, "*"), "*"):
		return "* may only end a path, making it a prefix: /logs/*"
	case strings.ContainsRune(v, '?'):
		return "paths have no query, and ? is not a wildcard here"
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "paths have no spaces or control characters"
	}
	return ""
}

// isDNSSubdomain reports whether s is dot-separated DNS labels.
func isDNSSubdomain(s string) bool {
	for label := range strings.SplitSeq(s, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}
