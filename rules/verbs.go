package rules

// verbBit returns the bit of a well-known verb, or 0 for a custom one. A switch on the string
// compiles to comparisons and never allocates.
func verbBit(v string) uint32 {
	switch v {
	case "get":
		return 1 << 0
	case "list":
		return 1 << 1
	case "watch":
		return 1 << 2
	case "create":
		return 1 << 3
	case "update":
		return 1 << 4
	case "patch":
		return 1 << 5
	case "delete":
		return 1 << 6
	case "deletecollection":
		return 1 << 7
	case "proxy":
		return 1 << 8
	case "impersonate":
		return 1 << 9
	case "escalate":
		return 1 << 10
	case "bind":
		return 1 << 11
	case "approve":
		return 1 << 12
	case "sign":
		return 1 << 13
	case "use":
		return 1 << 14
	case "attest":
		return 1 << 15
	}
	return 0
}

// verbSet is a rule's verbs: a mask of known verbs plus any custom ones.
type verbSet struct {
	any    bool
	mask   uint32
	custom []string
}

func newVerbSet(verbs []string) verbSet {
	var s verbSet
	if len(verbs) == 0 {
		s.any = true
	}
	for _, v := range verbs {
		if v == "*" {
			s.any = true
			continue
		}
		if b := verbBit(v); b != 0 {
			s.mask |= b
			if v == "delete" {
				s.mask |= verbBit("deletecollection")
			}
			continue
		}
		s.custom = append(s.custom, v)
	}
	return s
}

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
