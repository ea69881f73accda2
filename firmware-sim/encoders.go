package sim

import "strconv"

// Formats of other producers, each an Encoder (see encoders).
const (
	FormatFlat     = "flat"     // flat JSON: {"device":..,"ts":..,"seq":..,"<sensor>":v,...}
	FormatTelegraf = "telegraf" // Telegraf's JSON serializer output, one metric
)

// Encoder encodes readings in one payload format: it appends the messages
// to publish for reading r on topic to msgs and returns them. An encoder
// may keep state (a sequence number, births sent); a Publisher calls it
// from its one goroutine.
type Encoder interface {
	Encode(msgs []Message, topic string, r Reading) []Message
}

// encoders maps a --format name to the constructor of its Encoder. A new
// format is one more entry and one more file.
var encoders = map[string]func(PublisherConfig) Encoder{
	FormatFlat:     func(PublisherConfig) Encoder { return flatEncoder{} },
	FormatTelegraf: func(PublisherConfig) Encoder { return telegrafEncoder{} },

	FormatSparkplugB: newSparkplugEncoder,
}

// flatEncoder writes edgepm's flat format with its device in the payload
// (mapping: device_field: device, seq_field: seq, timestamp_unit: ms).
type flatEncoder struct{}

func (flatEncoder) Encode(msgs []Message, topic string, r Reading) []Message {
	return append(msgs, Message{Topic: topic, Payload: AppendFlat(make([]byte, 0, 96+24*len(r.Values)), r)})
}

// AppendFlat appends r as a flat JSON object to dst:
//
//	{"device":"pump-0001","ts":1732233600123,"seq":42,"bearing_temp_c":61.2,"vibration_rms":2.31}
//
// Values as in AppendPayload (sorted, null when not finite).
func AppendFlat(dst []byte, r Reading) []byte {
	dst = append(dst, `{"device":`...)
	dst = appendString(dst, r.Device)
	if !r.Time.IsZero() {
		dst = append(dst, `,"ts":`...)
		dst = strconv.AppendInt(dst, r.Time.UnixMilli(), 10)
	}
	if r.Seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, r.Seq, 10)
	}
	// The values object's members continue the outer object: its '{'
	// becomes a ',' and its '}' closes both.
	n := len(dst)
	dst = appendValues(dst, r.Values)
	if len(dst)-n > 2 {
		dst[n] = ','
		return dst
	}
	return append(dst[:n], '}')
}

// telegrafEncoder writes what Telegraf's JSON serializer writes with
// json_timestamp_units = "1ms": the device as tag host, the machine class
// as the measurement name (mapping: timestamp_unit: ms,
// measurement_prefix: false keeps the sensor names).
type telegrafEncoder struct{}

func (telegrafEncoder) Encode(msgs []Message, topic string, r Reading) []Message {
	return append(msgs, Message{Topic: topic, Payload: AppendTelegraf(make([]byte, 0, 112+24*len(r.Values)), r)})
}

// AppendTelegraf appends r as one Telegraf JSON metric to dst:
//
//	{"fields":{"bearing_temp_c":61.2},"name":"pump","tags":{"host":"pump-0001"},"timestamp":1732233600123}
func AppendTelegraf(dst []byte, r Reading) []byte {
	dst = append(dst, `{"fields":`...)
	dst = appendValues(dst, r.Values)
	name := r.Class
	if name == "" {
		name = "machine"
	}
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, name)
	dst = append(dst, `,"tags":{"host":`...)
	dst = appendString(dst, r.Device)
	dst = append(dst, '}')
	if !r.Time.IsZero() {
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, r.Time.UnixMilli(), 10)
	}
	return append(dst, '}')
}
