package rollout

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func gateways(n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("gw-%02d", i))
	}
	return ids
}

func TestResolveCounts(t *testing.T) {
	known := gateways(10)
	for spec, want := range map[string]int{"2": 2, "10": 10, "25%": 3, "100%": 10, "1%": 1, "0.5%": 1} {
		sel, ids, err := Resolve(spec, "r1", known)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if len(ids) != want || !slices.Equal(sel.Gateways, ids) || !slices.IsSorted(ids) {
			t.Errorf("%s: %v (selector %v), want %d sorted", spec, ids, sel.Gateways, want)
		}
		for _, id := range ids {
			if !slices.Contains(known, id) {
				t.Errorf("%s: picked unknown %s", spec, id)
			}
		}
	}
}

// The pick depends on the rollout id and on nothing else, not on the order
// the gateways were read in.
func TestResolveDeterministic(t *testing.T) {
	known := gateways(20)
	_, a, _ := Resolve("3", "pump-2.0.0-1", known)
	rev := slices.Clone(known)
	slices.Reverse(rev)
	_, b, _ := Resolve("3", "pump-2.0.0-1", rev)
	if !slices.Equal(a, b) {
		t.Fatalf("order changed the pick: %v vs %v", a, b)
	}
	differs := false
	for i := range 10 {
		_, c, _ := Resolve("3", fmt.Sprintf("other-%d", i), known)
		differs = differs || !slices.Equal(a, c)
	}
	if !differs {
		t.Fatal("ten other rollout ids all picked the same gateways")
	}
}

func TestResolveList(t *testing.T) {
	known := []string{"line3-a", "line3-b", "line4-a"}
	sel, ids, err := Resolve("line3-*, gw-new", "r", known)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"gw-new", "line3-a", "line3-b"}) || !slices.Equal(sel.Globs, []string{"line3-*"}) ||
		!slices.Equal(sel.Gateways, []string{"gw-new"}) {
		t.Fatalf("ids %v selector %+v", ids, sel)
	}
}

func TestResolveErrors(t *testing.T) {
	known := gateways(3)
	for spec, noGateways := range map[string]bool{"0": false, "-1": false, "4": true, "0%": false, "101%": false,
		"x%": false, "line9-*": true, "[": false, " , ": true} {
		_, _, err := Resolve(spec, "r", known)
		if err == nil {
			t.Errorf("%q resolved", spec)
			continue
		}
		if errors.Is(err, ErrNoGateways) != noGateways {
			t.Errorf("%q: %v (ErrNoGateways %v)", spec, err, noGateways)
		}
	}
	if _, _, err := Resolve("50%", "r", nil); !errors.Is(err, ErrNoGateways) {
		t.Errorf("no gateways: %v", err)
	}
}
