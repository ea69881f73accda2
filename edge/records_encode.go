package edge

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
)

// appendReadingValue appends the edgepm.readings value of r (the JSON
// object readingValue describes) to dst. It is the ingest hot path, so it
// writes the JSON directly instead of going through encoding/json's
// reflection and map key sorting; TestAppendReadingValueMatchesJSON keeps it
// equal to json.Marshal(readingValue) as decoded JSON.
func appendReadingValue(dst []byte, gateway string, r *ingest.Reading) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, SchemaVersion, 10)
	dst = append(dst, `,"gateway":`...)
	dst = appendJSONString(dst, gateway)
	dst = append(dst, `,"device":`...)
	dst = appendJSONString(dst, r.Device)
	if len(r.Fields) > 0 {
		dst = append(dst, `,"fields":{`...)
		first := true
		for k, v := range r.Fields {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, v)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, unixMs(r.Time), 10)
	dst = append(dst, `,"received":`...)
	dst = strconv.AppendInt(dst, unixMs(r.Received), 10)
	if r.DeviceSeq != 0 {
		dst = append(dst, `,"device_seq":`...)
		dst = strconv.AppendUint(dst, r.DeviceSeq, 10)
	}
	if len(r.ValuesJSON) > 0 {
		dst = append(dst, `,"values":`...)
		dst = append(dst, r.ValuesJSON...)
	} else if len(r.Values) > 0 {
		dst = append(dst, `,"values":{`...)
		first := true
		for k, v := range r.Values {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = strconv.AppendFloat(dst, v, 'g', -1, 64) // finite: validated by the decoder
		}
		dst = append(dst, '}')
	}
	if r.Waveform != nil {
		dst = append(dst, `,"waveform":`...)
		dst = append(dst, mustJSON(r.Waveform)...)
	}
	return append(dst, '}')
}

// appendPredictionValue appends the edgepm.predictions value of b's
// prediction i (the JSON object predictionValue describes), made at now,
// to dst. TestAppendPredictionValueMatchesJSON keeps it byte for byte equal
// to json.Marshal(predictionValue).
func appendPredictionValue(dst []byte, gateway string, b *inference.Batch, i int, now time.Time) []byte {
	name, version := b.Model(i)
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, SchemaVersion, 10)
	dst = append(dst, `,"gateway":`...)
	dst = appendJSONString(dst, gateway)
	dst = append(dst, `,"device":`...)
	dst = appendJSONString(dst, b.Device(i))
	dst = append(dst, `,"model":`...)
	dst = appendJSONString(dst, name)
	dst = append(dst, `,"model_version":`...)
	dst = appendJSONString(dst, version)
	dst = append(dst, `,"window_end":`...)
	dst = strconv.AppendInt(dst, unixMs(b.WindowEnd(i)), 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, unixMs(now), 10)
	dst = append(dst, `,"score":`...)
	dst = appendJSONFloat(dst, b.Score(i), 64)
	if out := b.Outputs(i); len(out) > 0 {
		dst = append(dst, `,"outputs":[`...)
		for j, v := range out {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONFloat(dst, float64(v), 32)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"feature_hash":`...)
	dst = appendJSONString(dst, b.FeatureHash(i))
	return append(dst, '}')
}

// appendJSONFloat appends a finite f as encoding/json writes a float64
// (bits 64) or float32 (bits 32): shortest representation, exponent form
// only below 1e-6 or from 1e21 on, with a one-digit negative exponent
// unpadded. The engine emits only finite outputs.
func appendJSONFloat(dst []byte, f float64, bits int) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
