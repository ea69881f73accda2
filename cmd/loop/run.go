package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/devstack"
	ev "github.com/edgepm/edgepm/internal/evaluate"
	"github.com/edgepm/edgepm/internal/wire"
)

const (
	modelName  = "edgepm-default"
	championV  = "1.1.0"
	challengeV = "1.2.0"
)

// loop is one run: its directories, processes and what it measured.
type loop struct {
	o       options
	dir     string
	seeds   []string
	mqtt    string
	key     string
	pub     string
	gws     []*devstack.Child
	addrs   []string
	sims    []*devstack.Child
	watcher *devstack.Child
	tap     eventTap
	changed time.Time // when the plant reached changeAt in Kafka (wall clock)
	// agreement is gw-2's latest shadow alert agreement.
	agreement atomic.Pointer[float64]
	result    result
}

// result is DATA_DIR/loop.json.
type result struct {
	V               int         `json:"v"`
	Accel           float64     `json:"accel"`
	Champion        string      `json:"champion"`
	Challenger      string      `json:"challenger"`
	StaleBefore     *ev.Metrics `json:"stale_before_change"` // champion on [championTo, changeAt)
	StaleHoldout    *ev.Metrics `json:"stale_holdout"`       // champion on [retrainTo, holdoutTo)
	Retrained       *ev.Metrics `json:"retrained_holdout"`   // challenger on the same holdout
	Decision        ev.Decision `json:"decision"`
	DriftBefore     float64     `json:"drift_max_score_before_change"`
	DriftAfter      float64     `json:"drift_max_score_after_change"`
	DriftingAfter   int         `json:"drifting_features_after_change"`
	DriftingBefore  int         `json:"drifting_features_before_change"`
	PSIBefore       float64     `json:"drift_max_psi_before_change"`
	PSIAfter        float64     `json:"drift_max_psi_after_change"`
	ShadowAgreement *float64    `json:"shadow_alert_agreement"`
	RecallGain      float64     `json:"recall_gain"`
	TargetMet       bool        `json:"target_met"`
	WallSeconds     float64     `json:"wall_seconds"`
}

func run(ctx context.Context, o options) error {
	begin := time.Now()
	for _, b := range []string{"edgepm", "edgepm-train", "firmware-sim"} {
		if _, err := os.Stat(filepath.Join(o.binDir, b)); err != nil {
			return fmt.Errorf("%s not built (run `make build`): %w", b, err)
		}
	}
	dir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := devstack.MosquittoBin()
	if bin == "" {
		return errors.New("mosquitto is not installed (make mosquitto)")
	}
	stack, err := devstack.Start(ctx, devstack.Options{MQTTAddr: o.mqttAddr, KafkaPort: o.kafkaPort,
		DataDir: filepath.Join(dir, "kafka"), Mosquitto: bin, MosquittoDropIn: o.dropIn})
	if err != nil {
		return fmt.Errorf("%w (another loop running? pick other ports with --mqtt and --kafka-port)", err)
	}
	defer stack.Close()
	l := &loop{o: o, dir: dir, seeds: stack.KafkaSeeds, mqtt: stack.MQTTURL, result: result{V: 1, Accel: o.accel}}
	defer l.stop()
	// The maintenance system's topic (a CMMS would own it).
	if err := createTopic(ctx, l.seeds, "edgepm.labels", 3); err != nil {
		return err
	}
	if err := l.tap.run(ctx, l.seeds); err != nil {
		return err
	}
	if err := l.start(ctx); err != nil {
		return err
	}
	steps := []func(context.Context) error{l.champion, l.change, l.retrain, l.promotion}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	l.result.WallSeconds = time.Since(begin).Seconds()
	return l.report()
}

// start makes the signing key and starts the gateways, the rollout
// watcher and the plant.
func (l *loop) start(ctx context.Context) error {
	l.key = filepath.Join(l.dir, "release.key")
	pub, err := l.cmd(ctx, "edgepm", "keygen", "--out", l.key)
	if err != nil {
		return err
	}
	l.pub = strings.TrimSpace(pub)
	for i := range lines {
		path, addr, err := writeGatewayConfig(l.o, l.dir, l.mqtt, l.seeds[0], l.pub, i)
		if err != nil {
			return err
		}
		gw, err := devstack.StartChild(l.bin("edgepm"), filepath.Join(l.dir, lines[i].gateway+".log"), "run", "--config", path)
		if err != nil {
			return err
		}
		l.gws, l.addrs = append(l.gws, gw), append(l.addrs, addr)
	}
	if err := l.waitGateways(ctx, func(g fleet.Gateway) bool { return g.Model != nil && g.Model.Name == modelName }, time.Minute); err != nil {
		return fmt.Errorf("gateways did not come up (logs in %s): %w", l.dir, err)
	}
	l.watcher, err = devstack.StartChild(l.bin("edgepm"), filepath.Join(l.dir, "rollouts-watch.log"),
		"fleet", "rollouts", "watch", "--key", l.key, "--brokers", l.seeds[0], "--tick", "1s")
	if err != nil {
		return err
	}
	for i := range lines {
		s, err := devstack.StartChild(l.bin("firmware-sim"), filepath.Join(l.dir, "firmware-sim-"+lines[i].line+".log"),
			simArgs(l.o, l.mqtt, l.seeds[0], i)...)
		if err != nil {
			return err
		}
		l.sims = append(l.sims, s)
	}
	fmt.Printf("loop: plant running: %s on gw-1 (24 machines), %s on gw-2 (6 machines, 30 conveyors at %s), a simulated day every %.1f s; logs in %s\n",
		lines[0].line, lines[1].line, days(changeAt), day.Seconds()/l.o.accel, l.o.dataDir)
	return nil
}

// champion: train the first model from Kafka on the plant before the
// change and push it, signed, to every gateway.
func (l *loop) champion(ctx context.Context) error {
	step(1, "train the champion from Kafka (days 0-18) and serve it")
	if err := waitSim(ctx, l.seeds, championTo+labelsLag+settled, "the champion's range and its labels in Kafka"); err != nil {
		return err
	}
	out, err := l.train(ctx, "champion", championV, 0, championTo)
	if err != nil {
		return err
	}
	fmt.Print(indent(out))
	if out, err = l.cmd(ctx, "edgepm", "model", "push", "--dir", filepath.Join(l.dir, "champion"), "--key", l.key,
		"--brokers", l.seeds[0]); err != nil {
		return err
	}
	fmt.Print(indent(out))
	if err := l.waitGateways(ctx, serving(championV), time.Minute); err != nil {
		return err
	}
	l.result.Champion = modelName + ":" + championV
	return l.fleetStatus(ctx)
}

// change: the conveyors appear; the champion's drift reports and the
// heartbeats show its features leaving their training distribution.
func (l *loop) change(ctx context.Context) error {
	step(2, "the plant changes: line 2 commissions 30 conveyors (belt wear, a failure mode never seen)")
	// "Before" is read a simulated day ahead of the change: a drift
	// report's last interval (about 18 simulated hours) then holds none
	// of the conveyors' readings.
	if err := waitSim(ctx, l.seeds, changeAt-day, "a day before the change"); err != nil {
		return err
	}
	var before, after, psiBefore, psiAfter string
	l.result.DriftBefore, before = latestDrift(l.tap.since(time.Time{}), championV, "score", "recent_score")
	l.result.PSIBefore, psiBefore = latestDrift(l.tap.since(time.Time{}), championV, "psi")
	f, err := l.fleet(ctx)
	if err != nil {
		return err
	}
	for _, g := range f.Gateways {
		fmt.Printf("loop:   %s heartbeat a day before the change: %d features drifting\n", g.ID, g.Drifting)
		l.result.DriftingBefore = max(l.result.DriftingBefore, g.Drifting)
	}
	if err := waitSim(ctx, l.seeds, changeAt, "the change"); err != nil {
		return err
	}
	l.changed = time.Now()
	if err := waitSim(ctx, l.seeds, changeAt+6*day, "six days of the changed plant"); err != nil {
		return err
	}
	l.result.DriftAfter, after = latestDrift(l.tap.since(time.Time{}), championV, "score", "recent_score")
	l.result.PSIAfter, psiAfter = latestDrift(l.tap.since(time.Time{}), championV, "psi")
	fmt.Printf("loop: the gateways' latest inference.drift events of %s (mean shift: the larger of since the model loaded and over the last drift interval; PSI: since the model loaded):\n"+
		"loop:   a day before the change: highest mean shift %.2f training stds (%s), highest PSI %.2f (%s)\n"+
		"loop:   six days later: highest mean shift %.2f (%s), highest PSI %.2f (%s); %d drift events since the change\n",
		championV, l.result.DriftBefore, before, l.result.PSIBefore, psiBefore, l.result.DriftAfter, after, l.result.PSIAfter, psiAfter,
		len(l.tap.since(l.changed, wire.EventInferenceDrift)))
	if f, err = l.fleet(ctx); err != nil {
		return err
	}
	for _, g := range f.Gateways {
		fmt.Printf("loop:   %s heartbeat: %d features drifting (mean shift > 3 stds, or PSI since loading > 0.5)\n", g.ID, g.Drifting)
		l.result.DriftingAfter = max(l.result.DriftingAfter, g.Drifting)
	}
	if l.result.DriftAfter <= l.result.DriftBefore {
		return fmt.Errorf("the drift score did not rise after the change (%.2f before, %.2f after)", l.result.DriftBefore, l.result.DriftAfter)
	}
	return l.fleetStatus(ctx)
}

// retrain: retrain from Kafka on the changed plant, then score both on
// the holdout, and the champion on the days before the change.
func (l *loop) retrain(ctx context.Context) error {
	step(3, "retrain from the Kafka log (days 0-38) and evaluate against the champion (holdout days 38-48)")
	if err := waitSim(ctx, l.seeds, holdoutTo+labelsLag+settled, "the holdout and its labels in Kafka"); err != nil {
		return err
	}
	champ, chall := filepath.Join(l.dir, "champion"), filepath.Join(l.dir, "challenger")
	// The champion alone on the days it had not seen before the change.
	// A measurement, not a decision: no model.evaluated event.
	before, err := l.evaluate(ctx, "before", champ, champ, championTo, changeAt, "--events-topic=")
	if err != nil {
		return err
	}
	l.result.StaleBefore = before.Champion.Metrics
	out, err := l.train(ctx, "challenger", challengeV, 0, retrainTo, retrainArgs...)
	if err != nil {
		return err
	}
	fmt.Print(indent(out))
	l.result.Challenger = modelName + ":" + challengeV
	rep, err := l.evaluate(ctx, "holdout", champ, chall, retrainTo, holdoutTo,
		"--push-shadow", "--on", "gw-2", "--key", l.key, "--auto", "--window", l.o.window.String(),
		"--min-agreement", fmt.Sprint(l.o.minAgreement))
	if err != nil {
		return err
	}
	l.result.StaleHoldout, l.result.Retrained, l.result.Decision = rep.Champion.Metrics, rep.Challenger.Metrics, rep.Decision
	if rep.Decision.Winner != "challenger" {
		return fmt.Errorf("the champion kept serving: %s", rep.Decision.Reason)
	}
	return nil
}

// promotion: the challenger scores in shadow on gw-2; the rollout watcher
// promotes it at the window's end.
func (l *loop) promotion(ctx context.Context) error {
	step(4, "shadow on gw-2, then promoted by `edgepm fleet rollouts watch`")
	if err := l.waitGateways(ctx, func(g fleet.Gateway) bool {
		return g.ID != "gw-2" || (g.Shadow != nil && g.Shadow.Version == challengeV)
	}, time.Minute); err != nil {
		return err
	}
	if err := l.fleetStatus(ctx); err != nil {
		return err
	}
	// The shadow's agreement as gw-2's heartbeats report it, until the
	// watcher decides.
	watch, stopWatch := context.WithCancel(ctx)
	go func() {
		for watch.Err() == nil {
			if f, err := l.fleet(watch); err == nil {
				for _, g := range f.Gateways {
					if g.ID == "gw-2" && g.Shadow != nil && g.Shadow.AlertAgreement != nil {
						l.agreement.Store(g.Shadow.AlertAgreement)
					}
				}
			}
			select {
			case <-watch.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	_, err := l.tap.waitEvent(ctx, l.o.window+2*time.Minute, "rollout.promoted", func(e tapped) bool {
		return e.Type == "rollout.promoted" && e.Detail["version"] == challengeV
	})
	stopWatch()
	l.result.ShadowAgreement = l.agreement.Load()
	if l.result.ShadowAgreement != nil {
		fmt.Printf("loop: gw-2 scored %s in shadow: alert agreement with %s %.1f%% (promotion needs %.0f%%)\n",
			challengeV, championV, 100**l.result.ShadowAgreement, 100*l.o.minAgreement)
	}
	if err != nil {
		rec, _ := l.cmd(ctx, "edgepm", "fleet", "rollouts", "list", "--brokers", l.seeds[0], "--public-key", l.pub)
		return fmt.Errorf("%w; rollouts:\n%s", err, rec)
	}
	if err := l.waitGateways(ctx, serving(challengeV), time.Minute); err != nil {
		return err
	}
	return l.fleetStatus(ctx)
}

// report prints the timeline of events, the figures and the target.
func (l *loop) report() error {
	step(5, "what happened")
	fmt.Println("events on edgepm.events (drift events counted, the rest in order):")
	drift := 0
	for _, e := range l.tap.since(time.Time{}) {
		switch {
		case e.Type == wire.EventInferenceDrift:
			drift++
		case strings.HasPrefix(e.Type, "model.") || strings.HasPrefix(e.Type, "rollout."):
			fmt.Printf("  %s %-12s %-17s %s\n", time.UnixMilli(e.TS).UTC().Format("15:04:05"), e.Gateway, e.Type, detail(e.Detail))
		}
	}
	fmt.Printf("  and %d inference.drift events\n", drift)
	r := &l.result
	if r.StaleHoldout == nil || r.Retrained == nil || r.StaleBefore == nil {
		return errors.New("an evaluation is missing")
	}
	fmt.Printf("\n| %s | rows | failures | AUC | precision | recall |\n| --- | ---: | ---: | ---: | ---: | ---: |\n", "model, range")
	row := func(name string, m *ev.Metrics) {
		fmt.Printf("| %s | %d | %d | %.3f | %.3f | %.3f |\n", name, m.Rows, m.Failures, m.AUC, m.Precision, m.Recall)
	}
	row("stale "+championV+", days 18-24 (before the change)", r.StaleBefore)
	row("stale "+championV+", holdout days 38-48", r.StaleHoldout)
	row("retrained "+challengeV+", holdout days 38-48", r.Retrained)
	r.RecallGain = r.Retrained.Recall - r.StaleHoldout.Recall
	r.TargetMet = r.RecallGain >= 0.20 && r.Retrained.Precision >= r.StaleHoldout.Precision
	fmt.Printf("\nrecall +%.1f points (target +20), precision %.3f against %.3f (target: no lower): %s\n",
		100*r.RecallGain, r.Retrained.Precision, r.StaleHoldout.Precision, map[bool]string{true: "met", false: "NOT met"}[r.TargetMet])
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(l.dir, "loop.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return l.writeDriftEvents()
}

// writeDriftEvents writes the gateways' inference.drift events, one JSON
// object a line, to DATA_DIR/drift-events.jsonl: the figures behind the
// drift lines above, each report's whole top list.
func (l *loop) writeDriftEvents() error {
	var buf bytes.Buffer
	for _, e := range l.tap.since(time.Time{}, wire.EventInferenceDrift) {
		b, err := json.Marshal(e.Event)
		if err != nil {
			return err
		}
		buf.Write(append(b, '\n'))
	}
	return os.WriteFile(filepath.Join(l.dir, "drift-events.jsonl"), buf.Bytes(), 0o644)
}

// stop ends the plant, the watcher and the gateways.
func (l *loop) stop() {
	for _, s := range l.sims {
		s.Stop(syscall.SIGINT, 5*time.Second)
	}
	l.watcher.Stop(syscall.SIGTERM, 5*time.Second)
	for _, g := range l.gws {
		g.Stop(syscall.SIGTERM, 20*time.Second)
	}
}

func (l *loop) bin(name string) string { return filepath.Join(l.o.binDir, name) }

// cmd runs a command to its end and returns its stdout; stderr goes to
// the error.
func (l *loop) cmd(ctx context.Context, name string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, l.bin(name), args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

// train runs edgepm-train --from-kafka on [from, to) into DIR/name.
func (l *loop) train(ctx context.Context, name, version string, from, to time.Duration, extra ...string) (string, error) {
	args := []string{"--from-kafka", l.seeds[0], "--from", at(from), "--to", at(to),
		"-out", filepath.Join(l.dir, name), "-version", version, "-pos-weight", posWeight}
	return l.cmd(ctx, "edgepm-train", append(args, extra...)...)
}

// evaluate runs edgepm-train --evaluate on [from, to); exit 3 (the
// champion keeps) is not an error.
func (l *loop) evaluate(ctx context.Context, name, champ, chall string, from, to time.Duration, extra ...string) (*ev.Report, error) {
	prefix := filepath.Join(l.dir, "eval-"+name)
	args := append([]string{"--evaluate", "--from-kafka", l.seeds[0], "--from", at(from), "--to", at(to),
		"--champion", champ, "--challenger", chall, "--report", prefix}, extra...)
	out, err := l.cmd(ctx, "edgepm-train", args...)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) {
		return nil, err
	}
	fmt.Print(indent(out))
	b, err := os.ReadFile(prefix + ".json")
	if err != nil {
		return nil, err
	}
	var rep ev.Report
	return &rep, json.Unmarshal(b, &rep)
}

// fleet reads `edgepm fleet status --json`.
func (l *loop) fleet(ctx context.Context) (*fleet.Fleet, error) {
	out, err := l.cmd(ctx, "edgepm", "fleet", "status", "--brokers", l.seeds[0], "--json")
	if err != nil {
		return nil, err
	}
	var f fleet.Fleet
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		return nil, fmt.Errorf("edgepm fleet status --json: %w", err)
	}
	return &f, nil
}

// fleetStatus prints `edgepm fleet status`.
func (l *loop) fleetStatus(ctx context.Context) error {
	out, err := l.cmd(ctx, "edgepm", "fleet", "status", "--brokers", l.seeds[0])
	if err != nil {
		return err
	}
	fmt.Printf("$ edgepm fleet status\n%s", indent(out))
	return nil
}

// waitGateways waits until every gateway's latest heartbeat satisfies ok.
func (l *loop) waitGateways(ctx context.Context, ok func(fleet.Gateway) bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		f, err := l.fleet(ctx)
		if err == nil && len(f.Gateways) == len(lines) {
			all := true
			for _, g := range f.Gateways {
				all = all && ok(g)
			}
			if all {
				return nil
			}
		}
		if err != nil {
			last = err.Error()
		} else {
			b, _ := json.Marshal(f.Gateways)
			last = string(b)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the gateways' heartbeats did not show the expected state within %s; last: %.2000s", d, last)
}

func serving(version string) func(fleet.Gateway) bool {
	return func(g fleet.Gateway) bool {
		return g.Model != nil && g.Model.Name == modelName && g.Model.Version == version
	}
}

// latestDrift is, over the gateways, the highest figure of a feature in
// each gateway's latest drift event of version, among the fields keys
// (score and recent_score: the mean shift since the model loaded and over
// the last interval; psi), and that feature.
func latestDrift(events []tapped, version string, keys ...string) (float64, string) {
	latest := map[string]tapped{}
	for _, e := range events {
		if e.Type == wire.EventInferenceDrift && e.Detail["model_version"] == version {
			latest[e.Gateway] = e
		}
	}
	top, name := 0.0, ""
	for _, e := range latest {
		feats, _ := e.Detail["top"].([]any)
		for _, f := range feats {
			if m, ok := f.(map[string]any); ok {
				for _, k := range keys {
					if s, ok := m[k].(float64); ok && !math.IsNaN(s) && s > top {
						what := ""
						if strings.HasPrefix(k, "recent_") {
							what = ", last interval"
						}
						top, name = s, fmt.Sprintf("%v on %s%s", m["feature"], e.Gateway, what)
					}
				}
			}
		}
	}
	return top, name
}

func step(n int, what string) { fmt.Printf("\n== %d. %s\n", n, what) }

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

func detail(d map[string]any) string {
	b, _ := json.Marshal(d)
	if len(b) > 160 {
		return string(b[:157]) + "..."
	}
	return string(b)
}
