package modelpkg

import "fmt"

// MaxNameLen is the longest model name or version accepted.
const MaxNameLen = 128

// ValidName reports whether s may be a model name or version: 1 to
// MaxNameLen bytes of ASCII letters, digits, '.', '_', '+' and '-',
// starting with a letter or digit. So it is never "", "." or "..", never
// holds '/', '\', ':', a space or a control character, and is safe as one
// path element under the model store. "current" is reserved (it is the name
// of the store's pointer file) and rejected too.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen || s == "current" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ValidateName returns an error naming what is wrong with a model name or
// version (what names a record on the models topic and a directory on the
// gateway); what says which it is ("model name", "inference.model_name").
func ValidateName(what, s string) error {
	if ValidName(s) {
		return nil
	}
	return fmt.Errorf("%s %q: must be 1-%d letters, digits, '.', '_', '+' or '-', start with a letter or digit, and not be \"current\"",
		what, s, MaxNameLen)
}
