package evaluate

import (
	"errors"
	"testing"
)

func TestDecide(t *testing.T) {
	champ := &Metrics{Rows: 100, Positives: 20, Alerts: 20, Precision: 0.80, Recall: 0.50, AUC: 0.80}
	quiet := &Metrics{Rows: 100, Positives: 20, Alerts: 1, Precision: 1, Recall: 0.05, AUC: 0.60}
	cases := []struct {
		name       string
		champ, ch  *Metrics
		invalid    error
		wantWinner string
	}{
		{"recall +0.05, precision -0.02", champ, &Metrics{Precision: 0.78, Recall: 0.55, AUC: 0.80}, nil, WinnerChallenger},
		{"recall +0.05, precision -0.03", champ, &Metrics{Precision: 0.77, Recall: 0.55, AUC: 0.90}, nil, WinnerChampion},
		{"recall +0.04", champ, &Metrics{Precision: 0.80, Recall: 0.54, AUC: 0.84}, nil, WinnerChampion},
		{"AUC +0.05, recall and precision equal", champ, &Metrics{Precision: 0.80, Recall: 0.50, AUC: 0.85}, nil, WinnerChallenger},
		{"AUC +0.05, precision lower", champ, &Metrics{Precision: 0.79, Recall: 0.52, AUC: 0.90}, nil, WinnerChampion},
		{"same", champ, champ, nil, WinnerChampion},
		{"better but invalid", champ, &Metrics{Precision: 0.9, Recall: 0.9, AUC: 0.95}, errors.New("samples"), WinnerChampion},
		{"quiet champion, precision above the rate", quiet, &Metrics{Rows: 100, Positives: 20, Precision: 0.6, Recall: 0.7}, nil, WinnerChallenger},
		{"quiet champion, alerting on every row", quiet, &Metrics{Rows: 100, Positives: 20, Precision: 0.2, Recall: 1}, nil, WinnerChampion},
	}
	for _, c := range cases {
		d := DefaultRule.Decide(c.champ, c.ch, c.invalid)
		if d.Winner != c.wantWinner || d.Reason == "" {
			t.Errorf("%s: %+v, want %s", c.name, d, c.wantWinner)
		}
	}
}
