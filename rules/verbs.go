package rules

// Bits of the well-known verbs. Other verbs have no bit and are compared
// as strings.
const (
	bitGet uint32 = 1 << iota
	bitList
	bitWatch
	bitCreate
	bitUpdate
	bitPatch
	bitDelete
	bitDeleteCollection
	bitProxy
	bitImpersonate
	bitEscalate
	bitBind
	bitApprove
	bitSign
	bitUse
	bitAttest
	// HTTP methods, the verbs of non-resource requests.
	bitPost
	bitPut
	bitHead
	bitOptions
)

// verbBit returns the bit of a well-known verb, or 0 for any other. A
// switch on a string compiles to length and byte comparisons and does not
// allocate.
func verbBit(v string) uint32 {
	switch v {
	case "get":
		return bitGet
	case "list":
		return bitList
	case "watch":
		return bitWatch
	case "create":
		return bitCreate
	case "update":
		return bitUpdate
	case "patch":
		return bitPatch
	case "delete":
		return bitDelete
	case "deletecollection":
		return bitDeleteCollection
	case "proxy":
		return bitProxy
	case "impersonate":
		return bitImpersonate
	case "escalate":
		return bitEscalate
	case "bind":
		return bitBind
	case "approve":
		return bitApprove
	case "sign":
		return bitSign
	case "use":
		return bitUse
	case "attest":
		return bitAttest
	case "post":
		return bitPost
	case "put":
		return bitPut
	case "head":
		return bitHead
	case "options":
		return bitOptions
	}
	return 0
}

// verbSet is a rule's verbs: a mask of well-known verbs plus custom ones.
type verbSet struct {
	any    bool
	mask   uint32
	custom []string
}

func newVerbSet(verbs []string) verbSet {
	s := verbSet{any: len(verbs) == 0}
	for _, v := range verbs {
		if v == "*" {
			s.any = true
			continue
		}
		b := verbBit(v)
		if b == 0 {
			s.custom = append(s.custom, v)
			continue
		}
		s.mask |= b
		if b == bitDelete {
			// Deleting a collection is at least as dangerous as deleting
			// one object: "delete" covers "deletecollection".
			s.mask |= bitDeleteCollection
		}
	}
	return s
}

// match reports whether verb, whose bit is bit, is in s.
func (s *verbSet) match(verb string, bit uint32) bool {
	if s.any || s.mask&bit != 0 {
		return true
	}
	if bit != 0 {
		return false
	}
	for _, c := range s.custom {
		if c == verb {
			return true
		}
	}
	return false
}
