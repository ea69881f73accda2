package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/edgepm/edgepm/bridge"
)

// Resolve turns a canary spec into the selector a release carries and the
// gateway ids it selects now. known are the gateway ids that currently
// serve the model (from the gateways topic, decommissioned ones excluded).
//
//   - "N" (N >= 1): N gateways of known;
//   - "P%" (0 < P <= 100): ceil(P% of known), at least one;
//   - otherwise comma-separated ids and path.Match globs ("gw-1,line3-*"):
//     the ids as given, the globs over known.
//
// N and P% pick deterministically: known sorted by sha256(id + rolloutID),
// so the same rollout always picks the same gateways and different
// rollouts spread over the fleet.
func Resolve(spec, rolloutID string, known []string) (*bridge.Selector, []string, error) {
	spec = strings.TrimSpace(spec)
	if n, ok, err := count(spec, len(known)); ok {
		if err != nil {
			return nil, nil, err
		}
		ids := pick(known, rolloutID, n)
		return &bridge.Selector{Gateways: ids}, slices.Clone(ids), nil
	}
	return resolveList(spec, known)
}

// count parses "N" or "P%" (ok=false: spec is a list).
func count(spec string, known int) (int, bool, error) {
	if p, isPct := strings.CutSuffix(spec, "%"); isPct {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 || math.IsNaN(f) {
			return 0, true, fmt.Errorf("canary %q: a percentage must be within (0, 100]", spec)
		}
		if known == 0 {
			return 0, true, fmt.Errorf("canary %q: %w (no gateway serves the model on the gateways topic)", spec, ErrNoGateways)
		}
		return max(1, int(math.Ceil(f*float64(known)/100))), true, nil
	}
	n, err := strconv.Atoi(spec)
	if err != nil {
		return 0, false, nil
	}
	switch {
	case n < 1:
		return 0, true, fmt.Errorf("canary %q: the count must be >= 1", spec)
	case n > known:
		return 0, true, fmt.Errorf("canary %q: only %d gateways serve the model on the gateways topic: %w", spec, known, ErrNoGateways)
	}
	return n, true, nil
}

// pick returns the first n of known ordered by sha256(id + rolloutID), sorted by id.
func pick(known []string, rolloutID string, n int) []string {
	type ranked struct{ id, rank string }
	rs := make([]ranked, 0, len(known))
	for _, id := range known {
		d := sha256.Sum256([]byte(id + rolloutID))
		rs = append(rs, ranked{id, hex.EncodeToString(d[:])})
	}
	slices.SortFunc(rs, func(a, b ranked) int { return strings.Compare(a.rank+a.id, b.rank+b.id) })
	out := make([]string, 0, n)
	for _, r := range rs[:n] {
		out = append(out, r.id)
	}
	slices.Sort(out)
	return out
}

func resolveList(spec string, known []string) (*bridge.Selector, []string, error) {
	sel := &bridge.Selector{}
	var ids []string
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.ContainsAny(item, `*?[\`) {
			sel.Gateways = append(sel.Gateways, item)
			ids = append(ids, item)
			continue
		}
		if _, err := path.Match(item, ""); err != nil {
			return nil, nil, fmt.Errorf("canary %q: bad glob %q", spec, item)
		}
		sel.Globs = append(sel.Globs, item)
		for _, id := range known {
			if ok, _ := path.Match(item, id); ok {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("canary %q: %w", spec, ErrNoGateways)
	}
	return sel, ids, nil
}
