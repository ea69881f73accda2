package sim

import (
	"bufio"
	"context"
	"fmt"
	"io"
)

// Sink receives published messages. Send may keep payload until the
// message is written: callers must not reuse it.
type Sink interface {
	Send(ctx context.Context, topic string, payload []byte) error
	// Close flushes and releases the sink.
	Close() error
}

// Stormer is implemented by sinks that can simulate a disconnect storm:
// Storm disconnects and reconnects cycles times.
type Stormer interface {
	Storm(ctx context.Context, cycles int) error
}

// WriterSink writes one message per line to w: the payload, or with
// WithTopic "topic payload" (the format of mosquitto_sub -v). Payloads
// produced by this package contain no newline, except a malformed one may
// not be JSON; lines are written verbatim. Not safe for concurrent use.
type WriterSink struct {
	w         *bufio.Writer
	WithTopic bool
}

// NewWriterSink returns a buffered WriterSink; Close flushes it (it does not
// close w).
func NewWriterSink(w io.Writer) *WriterSink {
	return &WriterSink{w: bufio.NewWriterSize(w, 256<<10)}
}

// Send writes the message line.
func (s *WriterSink) Send(_ context.Context, topic string, payload []byte) error {
	if s.WithTopic {
		s.w.WriteString(topic)
		s.w.WriteByte(' ')
	}
	s.w.Write(payload)
	if err := s.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// Close flushes buffered lines.
func (s *WriterSink) Close() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}
