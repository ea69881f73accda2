package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// wireReading is payload format v1 (docs/formats/mqtt-payloads.md).
type wireReading struct {
	TS       json.RawMessage    `json:"ts"`
	Seq      *uint64            `json:"seq"`
	Values   map[string]float64 `json:"values"`
	Waveform *wireWaveform      `json:"waveform"`
	Readings []wireReading      `json:"readings"`

	// rawValues is the payload's "values" object as sent, set only by the
	// fast path (valid JSON, finite numbers, no duplicate keys).
	rawValues []byte
}

// edgepmDecoder decodes FormatEdgepm: a reading, a batch of readings or a
// waveform as JSON. The common single-reading shape goes through
// fastDecode; everything else (and everything fastDecode is unsure of)
// through encoding/json, which also words the errors.
type edgepmDecoder struct {
	rules *rules
}

func (d *edgepmDecoder) Decode(dst []Reading, src Source, payload []byte) ([]Reading, error) {
	w, ok := fastDecode(payload, src.sc)
	if !ok {
		var err error
		if w, err = plainDecode(payload, d.rules.cfg.NullValues == NullSkip); err != nil {
			return nil, err
		}
	}
	return d.readings(dst, src, &w)
}

// plainDecode parses a payload with encoding/json, and rejects what
// encoding/json lets through: invalid UTF-8 (it would substitute U+FFFD),
// repeated keys and null numbers (see strictScan). With skipNull a sensor
// sent as null is left out of its reading instead.
func plainDecode(payload []byte, skipNull bool) (wireReading, error) {
	var w wireReading
	if !utf8.Valid(payload) {
		return w, invalid(ReasonMalformed, "payload is not valid UTF-8")
	}
	jerr := json.Unmarshal(payload, &w)
	var te *json.UnmarshalTypeError
	if jerr != nil && !errors.As(jerr, &te) {
		return w, classifyJSONError(jerr) // not valid JSON: nothing to scan
	}
	s := strictScan{b: payload, skipNull: skipNull}
	if err := s.run(); err != nil {
		return w, err
	}
	if jerr != nil {
		return w, classifyJSONError(jerr)
	}
	for _, n := range s.skipped {
		if n.reading < 0 {
			delete(w.Values, n.name)
		} else if n.reading < len(w.Readings) {
			delete(w.Readings[n.reading].Values, n.name)
		}
	}
	return w, nil
}

// readings appends the readings of a parsed payload to dst.
func (d *edgepmDecoder) readings(dst []Reading, src Source, w *wireReading) ([]Reading, error) {
	if w.Readings == nil {
		r, err := d.reading(src, w)
		if err != nil {
			return nil, err
		}
		return append(dst, r), nil
	}
	if w.Values != nil || w.Waveform != nil {
		return nil, invalid(ReasonMalformed, "a batch has only \"readings\"")
	}
	if len(w.Readings) == 0 {
		return nil, invalid(ReasonMissing, "empty batch")
	}
	if err := d.rules.batch(len(w.Readings)); err != nil {
		return nil, err
	}
	out := dst
	for i := range w.Readings {
		if w.Readings[i].Readings != nil {
			return nil, invalid(ReasonMalformed, "readings[%d]: nested batch", i)
		}
		r, err := d.reading(src, &w.Readings[i])
		if err != nil {
			var ie *InvalidError
			if errors.As(err, &ie) {
				ie.Detail = fmt.Sprintf("readings[%d]: %s", i, ie.Detail)
			}
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// reading maps one wire reading to a Reading and validates it.
func (d *edgepmDecoder) reading(src Source, w *wireReading) (Reading, error) {
	r := Reading{Device: src.Device, Fields: src.Fields, Received: src.Received, Time: src.Received,
		Values: w.Values, ValuesJSON: w.rawValues}
	if w.Waveform != nil {
		wf, err := w.Waveform.waveform(d.rules.cfg.MaxWaveformSamples)
		if err != nil {
			return r, err
		}
		r.Waveform = wf
	}
	if w.Seq != nil {
		r.DeviceSeq = *w.Seq
	}
	if len(w.TS) > 0 && string(w.TS) != "null" {
		ts, err := parseTS(w.TS)
		if err != nil {
			return r, err
		}
		r.Time = ts
	}
	return r, d.rules.reading(&r)
}

// parseTS accepts unix milliseconds (a JSON integer) or an RFC 3339 string.
func parseTS(raw json.RawMessage) (time.Time, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, invalid(ReasonBadTimestamp, "ts: %v", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, invalid(ReasonBadTimestamp, "ts %q is not RFC 3339", s)
		}
		return t, nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, invalid(ReasonBadTimestamp, "ts %s is not integer unix milliseconds", raw)
	}
	return time.UnixMilli(ms), nil
}

func classifyJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Type.String() == "float64" && len(te.Value) > 7 && te.Value[:7] == "number " {
			return invalid(ReasonNonFinite, "field %q: %s overflows float64", te.Field, te.Value)
		}
		return invalid(ReasonWrongType, "field %q: got JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return invalid(ReasonMalformed, "%v", err)
}
