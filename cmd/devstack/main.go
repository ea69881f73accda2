// Command devstack (dev-only) runs an embedded MQTT broker and a kfake
// Kafka-protocol broker on loopback for demos and manual tests, with
// edgepm's topics created (edgepm.models compacted). Ctrl-C stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgepm/edgepm/internal/devstack"
)

func main() {
	mqttAddr := flag.String("mqtt", devstack.DefaultMQTTAddr, "MQTT listen address")
	kafkaPort := flag.Int("kafka-port", devstack.DefaultKafkaPort, "Kafka-protocol broker port (loopback)")
	dataDir := flag.String("data-dir", "", "kfake data dir (empty: in memory)")
	maxMB := flag.Int("max-message-mb", 1, "broker message.max.bytes in MiB")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := devstack.Start(ctx, devstack.Options{MQTTAddr: *mqttAddr, KafkaPort: *kafkaPort, DataDir: *dataDir,
		MaxMessageMB: *maxMB, Logger: log})
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("devstack: MQTT %s, Kafka %v (Ctrl-C stops)\n", s.MQTTURL, s.KafkaSeeds)
	<-ctx.Done()
	s.Close()
}
