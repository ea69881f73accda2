package rollout

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	base := testRecord() // canary of gw-1, gw-2 since its history entry, window 60 s, shadow unset
	start := base.Since()
	inWindow, after := start.Add(30*time.Second), start.Add(61*time.Second)
	both := map[string]bool{"gw-1": true, "gw-2": true}
	shadowed := func(r *Record) { r.Shadow = "2.0.0" }
	for _, tc := range []struct {
		name string
		mut  func(*Record)
		obs  Observed
		now  time.Time
		want Action
		in   string // substring of the reason
	}{
		{name: "waiting", obs: Observed{Activated: both}, now: inWindow, want: Wait},
		{name: "promote at the end", obs: Observed{Activated: both}, now: after, want: Promote, in: "2 canary gateways"},
		{name: "rejection aborts at once", obs: Observed{Activated: map[string]bool{"gw-1": true}, Rejected: map[string]string{"gw-2": "onnx: bad"}},
			now: inWindow, want: Abort, in: "gw-2 rejected pump:2.0.0: onnx: bad"},
		{name: "rejection outside the canary ignored", obs: Observed{Activated: both, Rejected: map[string]string{"gw-9": "x"}}, now: after, want: Promote},
		{name: "glob member rejection", mut: func(r *Record) { r.Canary.Globs = []string{"line-*"} },
			obs: Observed{Rejected: map[string]string{"line-7": "size"}}, now: inWindow, want: Abort},
		{name: "timeout", obs: Observed{Activated: map[string]bool{"gw-1": true}}, now: after, want: Abort, in: "timeout: gw-2"},
		{name: "disabled", mut: func(r *Record) { r.Rule.Enabled = false }, obs: Observed{Rejected: map[string]string{"gw-1": "x"}}, now: after, want: Wait},
		{name: "nobody selected", mut: func(r *Record) { r.Gateways = nil }, now: after, want: Abort, in: "no gateway"},
		{name: "final state", mut: func(r *Record) { r.State = StatePromoted }, now: after, want: Wait},
		{name: "shadow agreement ok", mut: shadowed, obs: Observed{Activated: both, Agreement: map[string]float64{"gw-1": 0.95, "gw-2": 0.9}}, now: after, want: Promote},
		{name: "shadow agreement low", mut: shadowed, obs: Observed{Activated: both, Agreement: map[string]float64{"gw-1": 0.95, "gw-2": 0.5}}, now: after, want: Abort, in: "0.500 below"},
		{name: "shadow agreement missing", mut: shadowed, obs: Observed{Activated: both, Agreement: map[string]float64{"gw-1": 0.95}}, now: after, want: Abort, in: "no shadow agreement"},
		{name: "shadow state needs no activation", mut: func(r *Record) { r.State = StateShadow; r.Shadow = "2.0.0" },
			obs: Observed{Agreement: map[string]float64{"gw-1": 1, "gw-2": 0.9}}, now: after, want: Promote},
	} {
		r := testRecord()
		if tc.mut != nil {
			tc.mut(r)
		}
		d := Decide(r, tc.obs, tc.now)
		if d.Action != tc.want || !strings.Contains(d.Reason, tc.in) {
			t.Errorf("%s: %v %q, want %v containing %q", tc.name, d.Action, d.Reason, tc.want, tc.in)
		}
	}
}
