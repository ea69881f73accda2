package edge

import (
	"encoding/json"
	"strconv"
)

// appendReadingValue appends the edgepm.readings value of r (the JSON
// object readingValue describes) to dst. It is the ingest hot path, so it
// writes the JSON directly instead of going through encoding/json's
// reflection and map key sorting; TestAppendReadingValueMatchesJSON keeps it
// equal to json.Marshal(readingValue) as decoded JSON.
func appendReadingValue(dst []byte, gateway string, r *Reading) []byte {
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
	if len(r.rawValues) > 0 {
		dst = append(dst, `,"values":`...)
		dst = append(dst, r.rawValues...)
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
