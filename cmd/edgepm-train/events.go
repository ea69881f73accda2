package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	ev "github.com/edgepm/edgepm/internal/evaluate"
	"github.com/edgepm/edgepm/internal/wire"
)

// eventsTopic is --events-topic: where a training from Kafka and an
// evaluation are reported (model.trained, model.evaluated), beside the
// gateways' events; "" writes none.
var eventsTopic = "edgepm.events"

func registerEvents() {
	flag.StringVar(&eventsTopic, "events-topic", eventsTopic, "--from-kafka, --evaluate: write a model.trained or model.evaluated event to this topic (\"\" = none)")
}

// publishEvent writes one event from edgepm-train to the events topic of
// brokers. A failure is printed, not fatal: the package or the report is
// the result, the event only tells the fleet.
func publishEvent(ctx context.Context, brokers, typ string, detail map[string]any) {
	if eventsTopic == "" || brokers == "" {
		return
	}
	err := func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		value := wire.EncodeEvent(wire.EventSourceTrain, typ, time.Now(), detail)
		return cl.ProduceSync(ctx, &kgo.Record{Topic: eventsTopic, Key: []byte(wire.EventSourceTrain), Value: value}).FirstErr()
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgepm-train: %s event not written to %s: %v\n", typ, eventsTopic, err)
	}
}

// trainedDetail is the detail of model.trained.
func trainedDetail(o options, ko kafkaOptions, res kafkaResult) map[string]any {
	m := res.Model.Test
	return map[string]any{"model": o.Name, "version": o.Version, "from": ko.From, "to": ko.To,
		"rows": len(res.Set.Rows), "positives": res.Set.Counts.Positives,
		"failures": res.Set.Failures, "precision": m.Precision, "recall": m.Recall, "auc": m.AUC}
}

// evaluatedDetail is the detail of model.evaluated.
func evaluatedDetail(rep *ev.Report) map[string]any {
	d := map[string]any{"champion": orUnknown(rep.Champion.Model), "challenger": orUnknown(rep.Challenger.Model), "from": rep.From, "to": rep.To,
		"holdout_failures": rep.HoldoutFailures, "winner": rep.Decision.Winner, "reason": rep.Decision.Reason}
	for side, c := range map[string]ev.Candidate{"champion": rep.Champion, "challenger": rep.Challenger} {
		if c.Metrics != nil {
			d[side+"_precision"], d[side+"_recall"], d[side+"_auc"] = c.Metrics.Precision, c.Metrics.Recall, c.Metrics.AUC
		}
	}
	return d
}

// orUnknown is a package's name:version, "unknown" when its manifest did
// not decode.
func orUnknown(model string) string {
	if model == "" {
		return "unknown"
	}
	return model
}
