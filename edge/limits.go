package edge

import (
	"fmt"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

// maxRecordBytes is the buffer's limit on one record's framed size
// (buffer.Options.MaxRecordBytes; not configurable).
const maxRecordBytes = 1 << 20

// Bytes reserved per record besides its key, value and headers: the
// buffer's framing and bbolt element (64 + 24), and what the bridge counts
// and adds on the way to Kafka (its per-record estimate 128, the batch
// header 256, the gateway, stream and seq headers 256).
const (
	bufferRecordOverhead = 64 + 24
	kafkaRecordOverhead  = 128 + 256 + 256
)

// readingOverhead bounds what a readings record adds to its payload's
// bytes (gateway, device, topic fields, timestamps, re-encoded numbers).
const readingOverhead = 8 << 10

// recordRoom is the largest record value, with a key of keyLen bytes and
// the schema header, that both the buffer (its record limit and the
// stream's cap) and Kafka (kafka.batch_max_bytes) take.
func (c *Config) recordRoom(stream string, keyLen int) int {
	fixed := keyLen
	for _, h := range wire.SchemaHeaders() {
		fixed += len(h.Key) + len(h.Value) + 8
	}
	room := min(maxRecordBytes-bufferRecordOverhead, c.Kafka.BatchMaxBytes-kafkaRecordOverhead)
	if capBytes := c.streamCap(stream); capBytes > 0 {
		room = min(room, int(min(capBytes, 1<<30))-bufferRecordOverhead)
	}
	return room - fixed
}

// streamCap is a stream's byte cap in the buffer; <= 0 when it has none.
func (c *Config) streamCap(stream string) int64 {
	o := c.Buffer.options()
	if so, ok := o.Streams[stream]; ok && so.MaxBytes != 0 {
		return so.MaxBytes
	}
	return buffer.DefaultStreamsFor(o.MaxBytes)[stream].MaxBytes // 0: the default cap
}

// checkLimits rejects limits that cannot work together: a payload
// validation.max_payload_bytes admits must fit one readings record in the
// buffer and in a Kafka batch (kafka.batch_max_bytes), or a valid reading
// could never be stored or sent.
func (c *Config) checkLimits() error {
	room := c.recordRoom(buffer.StreamReadings, 256) - readingOverhead
	if c.Validation.MaxPayloadBytes > room {
		return fmt.Errorf("validation.max_payload_bytes: %d does not fit one record; at most %d with kafka.batch_max_bytes=%d and the buffer's %d-byte record limit",
			c.Validation.MaxPayloadBytes, room, c.Kafka.BatchMaxBytes, maxRecordBytes)
	}
	return nil
}
