package fleet

import (
	"cmp"
	"slices"
	"time"

	"github.com/edgepm/edgepm/bridge"
)

// Snapshot returns the view now: every gateway with its age and staleness,
// the per-model usage, each model's rollout and the recent alerts and
// events. The result shares nothing with the view.
func (v *View) Snapshot() Fleet {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now().UTC()
	f := Fleet{V: APIVersion, Time: now, CaughtUp: v.caughtUp, Gateways: make([]Gateway, 0, len(v.gateways)),
		Counts: Counts{BadRecords: v.bad, Refused: v.refused}}
	for _, g := range v.gateways {
		c := *g
		c.Conditions = slices.Clone(g.Conditions)
		c.AgeSeconds = max(0, now.Sub(g.LastSeen).Seconds())
		c.Stale = !g.Stopped && IsStale(g.LastSeen, g.IntervalS, now)
		f.Gateways = append(f.Gateways, c)
		if c.Stale {
			f.Counts.Stale++
		}
		if c.Stopped {
			f.Counts.Stopped++
		}
		f.Counts.AlertsActive += c.AlertsActive
	}
	f.Counts.Gateways = len(f.Gateways)
	slices.SortFunc(f.Gateways, func(a, b Gateway) int { return cmp.Compare(a.ID, b.ID) })
	f.Models = usage(f.Gateways)
	f.Rollouts = v.rollouts(f.Gateways)
	f.Recent = v.recent.newest()
	return f
}

// IsStale reports whether a gateway last seen at lastSeen, with a heartbeat
// every intervalS seconds (0: DefaultInterval), is stale at now: more than
// StaleAfter intervals have passed.
func IsStale(lastSeen time.Time, intervalS float64, now time.Time) bool {
	iv := time.Duration(intervalS * float64(time.Second))
	if iv <= 0 {
		iv = DefaultInterval
	}
	return now.Sub(lastSeen) > StaleAfter*iv
}

// usage counts the gateways per model version and per shadow version.
func usage(gws []Gateway) []ModelUsage {
	type key struct{ name, version string }
	served, shadowed := map[key]*VersionCount{}, map[key]*VersionCount{}
	names := map[string]bool{}
	count := func(m map[key]*VersionCount, k key, stale bool) {
		names[k.name] = true
		c := m[k]
		if c == nil {
			c = &VersionCount{Version: k.version}
			m[k] = c
		}
		c.Gateways++
		if stale {
			c.Stale++
		}
	}
	for _, g := range gws {
		if g.Model != nil {
			count(served, key{g.Model.Name, g.Model.Version}, g.Stale)
		}
		if g.Shadow != nil {
			count(shadowed, key{g.Shadow.Name, g.Shadow.Version}, g.Stale)
		}
	}
	out := []ModelUsage{}
	for name := range names {
		mu := ModelUsage{Name: name, Versions: []VersionCount{}, Shadows: []VersionCount{}}
		for k, c := range served {
			if k.name == name {
				mu.Versions = append(mu.Versions, *c)
			}
		}
		for k, c := range shadowed {
			if k.name == name {
				mu.Shadows = append(mu.Shadows, *c)
			}
		}
		sortCounts(mu.Versions)
		sortCounts(mu.Shadows)
		out = append(out, mu)
	}
	slices.SortFunc(out, func(a, b ModelUsage) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func sortCounts(cs []VersionCount) {
	slices.SortFunc(cs, func(a, b VersionCount) int {
		return cmp.Or(cmp.Compare(b.Gateways, a.Gateways), cmp.Compare(a.Version, b.Version))
	})
}

// rollouts gives each model's pointer with its progress over the gateways
// that serve the model. v.mu is held.
func (v *View) rollouts(gws []Gateway) []Rollout {
	out := []Rollout{}
	for name, p := range v.pointers {
		r := rolloutOf(name, p)
		for _, g := range gws {
			if g.Model == nil || g.Model.Name != name {
				continue
			}
			want := p.version
			if p.release != nil {
				want, _ = p.release.ServedBy(g.ID)
			}
			if want != r.Version {
				continue // a gateway outside the canary keeps the stable version
			}
			r.Targets++
			switch {
			case g.Model.Version == want && g.Model.State == "active":
				r.Updated++
			case g.Model.Rejected == want:
				r.Rejected++
			}
		}
		r.State = progressState(r)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rollout) int { return cmp.Compare(a.Model, b.Model) })
	return out
}

func rolloutOf(name string, p *pointer) Rollout {
	r := Rollout{Model: name, Action: bridge.ActionPush, Version: p.version, Canary: []string{}, Issued: p.published.UTC()}
	if rel := p.release; rel != nil {
		r.ID, r.Action, r.Stable, r.Shadow = rel.Rollout, rel.Action, rel.Stable, rel.Shadow
		r.Counter, r.Issued, r.Reason = rel.Counter, rel.Issued.UTC(), rel.Reason
		if rel.Canary != nil {
			r.Canary = append(append(r.Canary, rel.Canary.Gateways...), rel.Canary.Globs...)
		}
	}
	return r
}

// Rollout states (Rollout.State).
const (
	RolloutDone       = "done"        // every target serves the version
	RolloutInProgress = "in_progress" // some targets do not yet
	RolloutFailing    = "failing"     // a target rejected the version
)

func progressState(r Rollout) string {
	switch {
	case r.Rejected > 0:
		return RolloutFailing
	case r.Updated == r.Targets:
		return RolloutDone
	}
	return RolloutInProgress
}
