package evaluate

import "fmt"

// Rule is the decision rule's parameters (docs/models.md, "Champion and
// challenger").
type Rule struct {
	// Margin is how much higher the challenger's recall, or its AUC, must
	// be. Default 0.05.
	Margin float64 `json:"margin"`
	// PrecisionSlack is how much lower the challenger's precision may be
	// when it wins on recall. Default 0.02.
	PrecisionSlack float64 `json:"precision_slack"`
	// MinAlerts: a champion with fewer alerting rows has no measured
	// precision (one lucky alert is precision 1); the challenger's
	// precision must then beat the holdout's positive rate instead (its
	// alerts say more than alerting on every row). Default 10.
	MinAlerts int `json:"min_alerts"`
}

// DefaultRule is the documented default.
var DefaultRule = Rule{Margin: 0.05, PrecisionSlack: 0.02, MinAlerts: 10}

// Winner names who serves after the evaluation.
const (
	WinnerChallenger = "challenger"
	WinnerChampion   = "champion"
)

// Decision is the rule's outcome and why.
type Decision struct {
	Winner string `json:"winner"`
	Reason string `json:"reason"`
}

// Decide applies r. A challenger that failed validation (challenger nil,
// invalid the check's error) never wins. Otherwise the challenger wins
// when (a) its recall is at least Margin higher and its precision at most
// PrecisionSlack lower (with a champion of fewer than MinAlerts alerting
// rows: its precision above the holdout's positive rate), or (b) its AUC is at least Margin higher and its
// recall and precision are not lower. Anything else keeps the champion.
func (r Rule) Decide(champion, challenger *Metrics, invalid error) Decision {
	if invalid != nil || challenger == nil {
		return Decision{Winner: WinnerChampion, Reason: fmt.Sprintf("the challenger fails validation: %v", invalid)}
	}
	const eps = 1e-9 // figures equal to the margin count as reaching it
	c, ch := challenger, champion
	dr, dp, da := c.Recall-ch.Recall, c.Precision-ch.Precision, c.AUC-ch.AUC
	figures := fmt.Sprintf("recall %+.3f, precision %+.3f, AUC %+.3f", dr, dp, da)
	precisionOK, precisionRule := dp >= -r.PrecisionSlack-eps, fmt.Sprintf("precision at most %.3f lower", r.PrecisionSlack)
	if ch.Alerts < r.MinAlerts {
		rate := 0.0
		if c.Rows > 0 {
			rate = float64(c.Positives) / float64(c.Rows)
		}
		precisionOK = c.Precision > rate
		precisionRule = fmt.Sprintf("precision %.3f above the positive rate %.3f (the champion raised %d alerts, fewer than %d: its precision is not measured)",
			c.Precision, rate, ch.Alerts, r.MinAlerts)
	}
	switch {
	case dr >= r.Margin-eps && precisionOK:
		return Decision{Winner: WinnerChallenger, Reason: fmt.Sprintf("recall at least %.3f higher with %s (%s)", r.Margin, precisionRule, figures)}
	case da >= r.Margin-eps && dr >= -eps && dp >= -eps:
		return Decision{Winner: WinnerChallenger, Reason: fmt.Sprintf("AUC at least %.3f higher with recall and precision not lower (%s)", r.Margin, figures)}
	}
	return Decision{Winner: WinnerChampion, Reason: fmt.Sprintf("neither recall +%.3f with precision -%.3f at most, nor AUC +%.3f with recall and precision not lower (%s)", r.Margin, r.PrecisionSlack, r.Margin, figures)}
}
