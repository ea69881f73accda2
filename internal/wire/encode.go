package wire

import (
	"encoding/json"
	"math"
	"strconv"
)

// AppendReading appends the edgepm.readings value r to dst (V is written as
// Version). It is the ingest hot path, so it writes the JSON directly
// instead of going through encoding/json's reflection and map key sorting;
// TestAppendReadingMatchesJSON keeps it equal to json.Marshal(r) as decoded
// JSON (map keys come in map order, not sorted).
//
// rawValues, when not empty, is written as "values" instead of r.Values: the
// payload's own values object, already validated by the decoder (finite
// numbers, the same keys as r.Values).
func AppendReading(dst []byte, r *Reading, rawValues []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, Version, 10)
	dst = append(dst, `,"gateway":`...)
	dst = appendJSONString(dst, r.Gateway)
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
	dst = strconv.AppendInt(dst, r.TS, 10)
	dst = append(dst, `,"received":`...)
	dst = strconv.AppendInt(dst, r.Received, 10)
	if r.DeviceSeq != 0 {
		dst = append(dst, `,"device_seq":`...)
		dst = strconv.AppendUint(dst, r.DeviceSeq, 10)
	}
	dst = appendValues(dst, r.Values, rawValues)
	if r.Waveform != nil {
		dst = append(dst, `,"waveform":`...)
		dst = append(dst, MustJSON(r.Waveform)...)
	}
	return append(dst, '}')
}

func appendValues(dst []byte, values map[string]float64, raw []byte) []byte {
	if len(raw) > 0 {
		dst = append(dst, `,"values":`...)
		return append(dst, raw...)
	}
	if len(values) == 0 {
		return dst
	}
	dst = append(dst, `,"values":{`...)
	first := true
	for k, v := range values {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64) // finite: validated by the decoder
	}
	return append(dst, '}')
}

// AppendPrediction appends the edgepm.predictions value p to dst (V is
// written as Version). TestAppendPredictionMatchesJSON keeps it byte for
// byte equal to json.Marshal(p). Score and Outputs must be finite.
func AppendPrediction(dst []byte, p *Prediction) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, Version, 10)
	dst = append(dst, `,"gateway":`...)
	dst = appendJSONString(dst, p.Gateway)
	dst = append(dst, `,"device":`...)
	dst = appendJSONString(dst, p.Device)
	dst = append(dst, `,"model":`...)
	dst = appendJSONString(dst, p.Model)
	dst = append(dst, `,"model_version":`...)
	dst = appendJSONString(dst, p.ModelVersion)
	dst = append(dst, `,"window_end":`...)
	dst = strconv.AppendInt(dst, p.WindowEnd, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, p.TS, 10)
	dst = append(dst, `,"score":`...)
	dst = appendJSONFloat(dst, p.Score, 64)
	if len(p.Outputs) > 0 {
		dst = append(dst, `,"outputs":[`...)
		for j, v := range p.Outputs {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONFloat(dst, float64(v), 32)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"feature_hash":`...)
	dst = appendJSONString(dst, p.FeatureHash)
	return append(dst, '}')
}

// appendJSONFloat appends a finite f as encoding/json writes a float64
// (bits 64) or float32 (bits 32): shortest representation, exponent form
// only below 1e-6 or from 1e21 on, with a one-digit negative exponent
// unpadded.
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
