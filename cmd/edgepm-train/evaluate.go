package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/edgepm/edgepm/edge"
	ev "github.com/edgepm/edgepm/internal/evaluate"
	"github.com/edgepm/edgepm/internal/wire"
)

// evalOptions are the flags of --evaluate.
type evalOptions struct {
	On                   bool
	Champion, Challenger string
	Report               string // prefix of PREFIX.md and PREFIX.json
	Margin               float64
	Lib                  string // libonnxruntime.so
}

// Exit codes of --evaluate (docs/models.md, "Champion and challenger").
const (
	exitChallengerWins = 0
	exitError          = 1
	exitChampionKeeps  = 3
)

func (eo *evalOptions) register() {
	flag.BoolVar(&eo.On, "evaluate", false, "compare --challenger with --champion on the holdout --from-kafka --from --to (exit 0: challenger wins, 3: champion keeps, 1: error)")
	flag.StringVar(&eo.Champion, "champion", "", "--evaluate: the serving model's package directory")
	flag.StringVar(&eo.Challenger, "challenger", "", "--evaluate: the new model's package directory")
	flag.StringVar(&eo.Report, "report", "", "--evaluate: write the report to PREFIX.md and PREFIX.json")
	flag.Float64Var(&eo.Margin, "margin", ev.DefaultRule.Margin, "--evaluate: how much higher the challenger's recall (or AUC) must be")
	flag.StringVar(&eo.Lib, "onnxruntime-lib", os.Getenv("ONNXRUNTIME_LIB"), "--evaluate: libonnxruntime.so (default: $ONNXRUNTIME_LIB, then where `edgepm run` looks)")
}

// runEvaluate scores both packages on the holdout and writes the report.
func runEvaluate(ctx context.Context, o options, ko kafkaOptions, eo evalOptions) (*ev.Report, error) {
	switch {
	case eo.Champion == "" || eo.Challenger == "":
		return nil, fmt.Errorf("--evaluate needs --champion DIR and --challenger DIR")
	case ko.Brokers == "":
		return nil, fmt.Errorf("--evaluate needs --from-kafka BROKERS, --from and --to (the holdout)")
	case eo.Margin < 0:
		return nil, fmt.Errorf("--margin: must be >= 0, got %g", eo.Margin)
	}
	tc, err := ko.config(o, nil)
	if err != nil {
		return nil, err
	}
	if _, err := edge.InitRuntime(eo.Lib); err != nil {
		return nil, fmt.Errorf("--onnxruntime-lib: %w", err)
	}
	rule := ev.DefaultRule
	rule.Margin = eo.Margin
	rep, err := ev.Run(ctx, ev.Config{Champion: eo.Champion, Challenger: eo.Challenger, Brokers: tc.Brokers,
		ReadingsTopic: tc.ReadingsTopic, LabelsTopic: tc.LabelsTopic, Group: tc.Group, From: tc.From, To: tc.To,
		Horizon: tc.Horizon, Every: tc.Every, MinFailures: ko.MinFailures, Rule: rule})
	if err != nil {
		return nil, err
	}
	if eo.Report != "" {
		if err := rep.Write(eo.Report); err != nil {
			return rep, fmt.Errorf("--report %s: %w", eo.Report, err)
		}
	}
	return rep, nil
}

// mainEvaluate runs --evaluate and exits with its documented code.
func mainEvaluate(o options, ko kafkaOptions, eo evalOptions, po pushOptions) {
	if err := po.check(); err != nil {
		fmt.Fprintf(os.Stderr, "edgepm-train: evaluate: %v\n", err)
		os.Exit(2)
	}
	ctx := context.Background()
	rep, err := runEvaluate(ctx, o, ko, eo)
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgepm-train: evaluate: %v\n", err)
		os.Exit(exitError)
	}
	rep.Markdown(os.Stdout)
	if eo.Report != "" {
		fmt.Fprintf(os.Stdout, "\nedgepm-train: wrote %s.md and %s.json\n", eo.Report, eo.Report)
	}
	publishEvent(ctx, ko.Brokers, wire.EventModelEvaluated, evaluatedDetail(rep))
	if err := pushWinner(ctx, ko, eo, po, rep, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "edgepm-train: evaluate: the challenger won but %v\n", err)
		os.Exit(exitError)
	}
	os.Exit(exitCode(rep))
}

func exitCode(rep *ev.Report) int {
	if rep.Decision.Winner == ev.WinnerChallenger {
		return exitChallengerWins
	}
	return exitChampionKeeps
}
