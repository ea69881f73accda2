package evaluate

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// ReportVersion is the version of the report's JSON
// (docs/schemas/evaluation.schema.json).
const ReportVersion = 1

// Report is the evaluation's outcome, written as PREFIX.json and PREFIX.md.
type Report struct {
	V        int     `json:"v"`
	From     string  `json:"from"` // holdout readings' time range [from, to), RFC 3339
	To       string  `json:"to"`
	HorizonS float64 `json:"horizon_s"` // label: a failure within this many seconds after the window end
	Rule     Rule    `json:"rule"`
	// MinFailures is the failure labels a holdout needs; HoldoutFailures
	// those it has (of devices with readings in it).
	MinFailures     int       `json:"min_failures"`
	HoldoutFailures int       `json:"holdout_failures"`
	Champion        Candidate `json:"champion"`
	Challenger      Candidate `json:"challenger"`
	Decision        Decision  `json:"decision"`
}

// Candidate is one package's side of the report.
type Candidate struct {
	Dir       string  `json:"dir"`
	Model     string  `json:"model"` // name:version ("" when the manifest does not decode)
	Semantics string  `json:"output_semantics"`
	AlertWhen string  `json:"alert_when"` // above or below the raise threshold
	Raise     float64 `json:"raise"`
	// Valid: the package passes the gateway's checks (`edgepm model
	// validate`); Invalid says the first failed check.
	Valid   bool   `json:"valid"`
	Invalid string `json:"invalid,omitempty"`
	// Metrics are nil for a challenger that was not scored (invalid).
	Metrics *Metrics `json:"metrics"`
}

func newReport(cfg Config) *Report {
	return &Report{V: ReportVersion, From: cfg.From.UTC().Format(time.RFC3339), To: cfg.To.UTC().Format(time.RFC3339),
		HorizonS: cfg.Horizon.Seconds(), Rule: cfg.Rule, MinFailures: cfg.MinFailures}
}

// Write writes prefix.json and prefix.md.
func (r *Report) Write(prefix string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(prefix+".json", append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var md strings.Builder
	r.Markdown(&md)
	if err := os.WriteFile(prefix+".md", []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Markdown writes the report as a markdown document.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# Champion and challenger\n\nHoldout: readings from %s to %s (Kafka), label: a failure within %s; %d failure labels (%d needed).\n\n",
		r.From, r.To, time.Duration(r.HorizonS*float64(time.Second)), r.HoldoutFailures, r.MinFailures)
	fmt.Fprintf(w, "**Winner: %s.** %s.\n\n", r.Decision.Winner, r.Decision.Reason)
	fmt.Fprintf(w, "Rule: the challenger wins when its recall is at least %.3f higher with precision at most %.3f lower (against a champion of fewer than %d alerts: precision above the positive rate), or its AUC at least %.3f higher with recall and precision not lower; a challenger that fails validation never wins.\n\n",
		r.Rule.Margin, r.Rule.PrecisionSlack, r.Rule.MinAlerts, r.Rule.Margin)
	fmt.Fprintln(w, "| | champion | challenger |")
	fmt.Fprintln(w, "|---|---|---|")
	row := func(name string, f func(c *Candidate) string) {
		fmt.Fprintf(w, "| %s | %s | %s |\n", name, f(&r.Champion), f(&r.Challenger))
	}
	row("package", func(c *Candidate) string { return fmt.Sprintf("%s (%s)", c.Model, c.Dir) })
	row("valid", func(c *Candidate) string {
		if c.Valid {
			return "yes"
		}
		return "no: " + strings.ReplaceAll(c.Invalid, "|", "/")
	})
	row("alert", func(c *Candidate) string { return fmt.Sprintf("%s %s %g", c.Semantics, c.AlertWhen, c.Raise) })
	metric := func(name string, f func(m *Metrics) string) {
		row(name, func(c *Candidate) string {
			if c.Metrics == nil {
				return "not scored"
			}
			return f(c.Metrics)
		})
	}
	metric("rows (positive)", func(m *Metrics) string { return fmt.Sprintf("%d (%d)", m.Rows, m.Positives) })
	metric("AUC", func(m *Metrics) string { return fmt.Sprintf("%.3f", m.AUC) })
	metric("precision at threshold", func(m *Metrics) string { return fmt.Sprintf("%.3f", m.Precision) })
	metric("recall at threshold", func(m *Metrics) string { return fmt.Sprintf("%.3f", m.Recall) })
	metric("failures alerted", func(m *Metrics) string { return fmt.Sprintf("%d of %d", m.Alerted, m.Failures) })
	metric("median lead time", func(m *Metrics) string { return optSeconds(m.LeadTimeMedianS) })
	metric("RMSE (RUL)", func(m *Metrics) string { return optSeconds(m.RMSES) })
}

func optSeconds(v *float64) string {
	if v == nil {
		return "-"
	}
	return time.Duration(*v * float64(time.Second)).Round(time.Second).String()
}
