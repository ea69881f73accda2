package fleet

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints f for a terminal: one line per gateway, then the
// gateways per model version, then each model's rollout.
func WriteTable(w io.Writer, f Fleet) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GATEWAY\tLAST SEEN\tSTALE\tVERSION\tMODEL\tSTATE\tSHADOW\tBACKLOG\tALERTS\tCONDITIONS")
	for _, g := range f.Gateways {
		model, state, shadow := "-", "-", "-"
		if m := g.Model; m != nil {
			model, state = m.Name+":"+m.Version, m.State
			if m.Rejected != "" {
				state += " (rejected " + m.Rejected + ")"
			}
		}
		if s := g.Shadow; s != nil {
			shadow = s.Version
			if s.AlertAgreement != nil {
				shadow += fmt.Sprintf(" (%.1f%% agree)", 100**s.AlertAgreement)
			}
		}
		stale := "-"
		if g.Stale {
			stale = "STALE"
		} else if g.Stopped {
			stale = "stopped"
		}
		fmt.Fprintf(tw, "%s\t%s ago\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", g.ID, ago(g.AgeSeconds), stale,
			g.Version, model, state, shadow, g.BacklogRecords, g.AlertsActive, len(g.Conditions))
	}
	fmt.Fprintf(tw, "(%d gateways, %d stale, %d stopped, %d active alerts)\n", f.Counts.Gateways, f.Counts.Stale, f.Counts.Stopped, f.Counts.AlertsActive)
	fmt.Fprintln(tw, "\nMODEL\tVERSION\tGATEWAYS\tSTALE\tIN SHADOW")
	for _, m := range f.Models {
		for _, v := range m.Versions {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", m.Name, v.Version, v.Gateways, v.Stale, counts(m.Shadows))
		}
	}
	fmt.Fprintln(tw, "\nROLLOUT\tACTION\tVERSION\tSTABLE\tCANARY\tUPDATED\tREJECTED\tSTATE")
	for _, r := range f.Rollouts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\n", r.Model, r.Action, r.Version, dash(r.Stable),
			dash(strings.Join(r.Canary, ",")), r.Updated, r.Targets, r.Rejected, r.State)
	}
	return tw.Flush()
}

func counts(cs []VersionCount) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s (%d)", c.Version, c.Gateways))
	}
	return dash(strings.Join(parts, ", "))
}

func ago(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < 48*time.Hour:
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
