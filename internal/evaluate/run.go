package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/trainset"
)

// Config says what to compare, on which holdout.
type Config struct {
	Champion, Challenger string // package directories
	// Brokers, ReadingsTopic, LabelsTopic, Group, From, To, Horizon and
	// Every are the holdout's extraction (trainset.Config).
	Brokers                    []string
	ReadingsTopic, LabelsTopic string
	Group                      string
	From, To                   time.Time
	Horizon, Every             time.Duration
	// MinFailures: a holdout with fewer failure labels is refused
	// (*trainset.TooFewFailuresError).
	MinFailures int
	Rule        Rule
}

// candidate is one side: its package, manifest and holdout rows.
type candidate struct {
	side *Candidate
	pkg  *modelpkg.Package
	man  *modelpkg.Manifest
	set  *trainset.Result
}

// Run extracts the holdout, scores both packages and decides. The report
// is returned with the error when the holdout was read but refused.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	rep := newReport(cfg)
	champ, err := load("champion", cfg.Champion, &rep.Champion)
	if err != nil {
		return nil, err
	}
	if champ.man == nil {
		return nil, fmt.Errorf("champion %s: %s", cfg.Champion, rep.Champion.Invalid)
	}
	chal, err := load("challenger", cfg.Challenger, &rep.Challenger)
	if err != nil {
		return nil, err
	}
	if err := extract(ctx, cfg, champ, chal); err != nil {
		return nil, err
	}
	rep.HoldoutFailures = champ.set.Failures
	if err := champ.set.CheckFailures(cfg.MinFailures); err != nil {
		return rep, fmt.Errorf("holdout: %w", err)
	}
	if err := champ.score(cfg); err != nil {
		return nil, err
	}
	var invalid error
	if !rep.Challenger.Valid {
		invalid = errors.New(rep.Challenger.Invalid)
	} else if err := chal.score(cfg); err != nil {
		return nil, err
	}
	rep.Decision = cfg.Rule.Decide(rep.Champion.Metrics, rep.Challenger.Metrics, invalid)
	return rep, nil
}

// load reads a package directory and runs the gateway's checks on it
// (`edgepm model validate`); a failed check is recorded, not returned.
func load(role, dir string, side *Candidate) (*candidate, error) {
	side.Dir = dir
	pkg, err := modelpkg.LoadPackageDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", role, dir, err)
	}
	man, err := pkg.Decode()
	if err != nil { // the challenger is then never scored
		side.Invalid = err.Error()
		return &candidate{side: side, pkg: pkg}, nil
	}
	if man.InputKind != "" && man.InputKind != modelpkg.InputFeatures {
		return nil, fmt.Errorf("%s %s: input_kind %q: the evaluation scores feature models only", role, dir, man.InputKind)
	}
	side.Model, side.Semantics, side.Raise = man.ID(), man.OutputSemantics, man.Thresholds.Raise
	side.AlertWhen = modelpkg.AlertDirection(man.OutputSemantics)
	gateway := ""
	if len(man.Targeting.Gateways) > 0 {
		gateway = man.Targeting.Gateways[0] // a glob matches itself
	}
	side.Valid = true
	if _, err := inference.CheckPackage(pkg, inference.EngineConfig{Gateway: gateway}); err != nil {
		side.Valid, side.Invalid = false, err.Error()
	}
	return &candidate{side: side, pkg: pkg, man: man}, nil
}

// extract reads the holdout once per distinct input (features, their
// stats and the window): two packages with the same input are scored on
// the same rows.
func extract(ctx context.Context, cfg Config, champ, chal *candidate) error {
	var err error
	if champ.set, err = extractFor(ctx, cfg, champ.man, "champion"); err != nil {
		return err
	}
	if chal.man == nil || !chal.side.Valid {
		return nil // not scored
	}
	if sameInput(champ.man, chal.man) {
		chal.set = champ.set
		return nil
	}
	chal.set, err = extractFor(ctx, cfg, chal.man, "challenger")
	return err
}

func extractFor(ctx context.Context, cfg Config, man *modelpkg.Manifest, role string) (*trainset.Result, error) {
	plan, err := man.Plan()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", role, man.ID(), err)
	}
	group := cfg.Group
	if group != "" {
		group += "-" + role
	}
	set, err := trainset.Extract(ctx, trainset.Config{Brokers: cfg.Brokers, ReadingsTopic: cfg.ReadingsTopic, LabelsTopic: cfg.LabelsTopic,
		Group: group, From: cfg.From, To: cfg.To, Plan: plan, Window: man.Window, Horizon: cfg.Horizon, Every: cfg.Every})
	if err != nil {
		return nil, fmt.Errorf("holdout for the %s %s: %w", role, man.ID(), err)
	}
	return set, nil
}

func sameInput(a, b *modelpkg.Manifest) bool {
	type input struct {
		F []features.Spec
		S []modelpkg.FeatureStat
		W features.WindowConfig
	}
	ja, _ := json.Marshal(input{a.Features, a.FeatureStats, a.Window.WithDefaults()})
	jb, _ := json.Marshal(input{b.Features, b.FeatureStats, b.Window.WithDefaults()})
	return string(ja) == string(jb)
}

// score runs the package on its holdout rows with ONNX Runtime.
func (c *candidate) score(cfg Config) error {
	inputs := make([][]float32, len(c.set.Rows))
	for i, r := range c.set.Rows {
		inputs[i] = r.Features
	}
	outs, err := inference.Evaluate(c.pkg.ONNX, c.man, inputs)
	if err != nil {
		return fmt.Errorf("score %s on the holdout: %w", c.side.Dir, err)
	}
	scores := make([]float64, len(outs))
	for i, o := range outs {
		scores[i] = float64(o[c.man.OutputIndex])
		if math.IsNaN(scores[i]) || math.IsInf(scores[i], 0) {
			r := c.set.Rows[i]
			return fmt.Errorf("score %s on the holdout: output %v for device %s at %s", c.side.Dir, scores[i], r.Device, r.WindowEnd.Format(time.RFC3339))
		}
	}
	m := Score(c.man, c.set.Rows, scores, cfg.Horizon, cfg.From, cfg.To, c.set.FailureTimes)
	c.side.Metrics = &m
	return nil
}
