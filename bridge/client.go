package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// clientOpts returns the kgo options shared by every client the bridge makes
// (producer, model watcher, operator commands): seeds, client id, TLS, SASL,
// logging. cfg must have defaults applied.
func clientOpts(cfg Config, log *slog.Logger) ([]kgo.Opt, error) {
	log = discardIfNil(log)
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithLogger(newKgoLogger(log)),
	}
	if cfg.TLS.On() {
		tc, err := cfg.TLS.Build("kafka.tls")
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := saslMechanism(cfg.SASL); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// producerOpts are the producer settings: idempotent (kgo's default),
// acks=all, compression, linger, batch size, and a kgo buffer larger than
// our own in-flight bound so Produce never blocks.
func producerOpts(cfg Config) ([]kgo.Opt, error) {
	c, err := codec(cfg.Compression)
	if err != nil {
		return nil, err
	}
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(c),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytes(int32(cfg.BatchMaxBytes)),
		kgo.MaxBufferedRecords(cfg.MaxInFlight + cfg.ReadBatch + 64),
		// A missing topic fails its records after a few metadata
		// refreshes (about 2 s) with UNKNOWN_TOPIC_OR_PARTITION, so the
		// stream is reported failing and retried with backoff by the
		// producer (its records stay in the buffer) instead of holding
		// in-flight slots forever.
		kgo.UnknownTopicRetries(4),
	}, nil
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "zstd":
		// Level 1 (zstd's "fastest"): on a 2-core gateway the CPU is worth
		// more than the last few percent of ratio on JSON records.
		return kgo.ZstdCompression().WithLevel(1), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "none":
		return kgo.NoCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("%w: kafka.compression: must be zstd, lz4, snappy, gzip or none, got %q",
		ErrInvalidConfig, name)
}

func saslMechanism(s SASLConfig) sasl.Mechanism {
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
	}
	return nil
}

// kgoLogger forwards franz-go's log lines to slog: errors and warnings at
// their level, info as debug (kgo's info is chatty about reconnects).
//
// During an outage kgo warns on every attempt to reach a broker, which is
// several lines a second for as long as the outage lasts. So a failed dial
// is always debug (the producer's link state and the model watcher say once
// that Kafka is unreachable, and once that it is back). So is a warning
// whose error is the connection itself failing (EOF, reset, refused: kgo
// reads a broker that dies as "is SASL missing?" and requeues and bumps
// batches, one line each), for the same reason: the link state reports the
// outage, with the error. Any other warning or error is logged at its level
// at most once per message per kgoRepeatEvery, the repeats in between at
// debug.
type kgoLogger struct {
	l       *slog.Logger
	repeats *logRepeats
}

// kgoRepeatEvery is how often the same kgo warning or error is logged at
// its level.
const kgoRepeatEvery = time.Minute

func newKgoLogger(l *slog.Logger) kgoLogger {
	return kgoLogger{l: l, repeats: &logRepeats{every: kgoRepeatEvery, now: time.Now}}
}

func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	}
	if lv > slog.LevelDebug && (msg == kgoDialFailed || connectionErr(keyvals) || !k.repeats.due(msg)) {
		lv = slog.LevelDebug
	}
	k.l.Log(context.Background(), lv, "kafka: "+msg, keyvals...)
}

// connectionErr reports whether a kgo log line's "err" is the connection to
// a broker failing rather than something the broker said.
func connectionErr(keyvals []any) bool {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if keyvals[i] != "err" {
			continue
		}
		err, ok := keyvals[i+1].(error)
		if !ok {
			return false
		}
		var op *net.OpError
		var sys *os.SyscallError
		return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
			errors.As(err, &op) || errors.As(err, &sys)
	}
	return false
}

// kgoDialFailed is kgo's warning for a failed connection attempt.
const kgoDialFailed = "unable to open connection to broker"

// logRepeats says whether a message is due to be logged at its level: the
// first time, then once per every. It remembers at most maxLogRepeats
// messages (kgo's are constant strings; the bound is a safeguard). Safe for
// concurrent use.
type logRepeats struct {
	mu    sync.Mutex
	every time.Duration
	now   func() time.Time
	last  map[string]time.Time
}

const maxLogRepeats = 256

func (r *logRepeats) due(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if t, ok := r.last[msg]; ok && now.Sub(t) < r.every {
		return false
	}
	if r.last == nil || len(r.last) >= maxLogRepeats {
		r.last = map[string]time.Time{}
	}
	r.last[msg] = now
	return true
}

func discardIfNil(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
