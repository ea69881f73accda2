package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMosquittoStartStop(t *testing.T) {
	s := StartMosquitto(t)
	if err := waitListening(s.Addr(), time.Second); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := waitListening(s.Addr(), 100*time.Millisecond); err == nil {
		t.Fatal("mosquitto still listening after Stop")
	}
	s.Start()
	if err := waitListening(s.Addr(), time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestKafkaRestartKeepsData(t *testing.T) {
	s := StartKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Seeds()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	s.Stop()
	s.Start()
	cl, err = kgo.NewClient(kgo.SeedBrokers(s.Seeds()...), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	if fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "v1" {
		t.Fatalf("after restart got %d records, want the one produced before", fs.NumRecords())
	}
}
