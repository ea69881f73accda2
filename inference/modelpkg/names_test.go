package modelpkg

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	if err := ValidateName("model version", "../x"); err == nil || !strings.Contains(err.Error(), `"../x"`) {
		t.Fatalf("got %v", err)
	}
	for _, good := range []string{"pump-health", "2.0.0-rc.1+build.7", "M_1", strings.Repeat("a", MaxNameLen)} {
		if err := ValidateName("model name", good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "-x", "_x", "current", "a/b", `a\b`, "a b", "x:1", "ü",
		"x\x00", "x\n", strings.Repeat("a", MaxNameLen+1)} {
		if ValidName(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
