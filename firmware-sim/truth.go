package sim

import (
	"strconv"
	"time"
)

// AppendTruth appends the ground-truth JSON line of r (without newline):
//
//	{"device":"pump-0003","class":"pump","ts":1735693200000,"seq":1,"health":0.93,
//	 "degrading":true,"failed":false,"rul_ms":86400000,"failure_at":1735779600000,"mode":"bearing"}
//
// rul_ms is -1 and failure_at 0 when unknown; mode is omitted when empty.
// ReadTruth reads these lines back.
func AppendTruth(dst []byte, r Reading) []byte {
	dst = append(dst, `{"device":`...)
	dst = appendString(dst, r.Device)
	dst = append(dst, `,"class":`...)
	dst = appendString(dst, r.Class)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, r.Time.UnixMilli(), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"health":`...)
	dst = appendFloat(dst, r.Truth.Health)
	dst = append(dst, `,"degrading":`...)
	dst = strconv.AppendBool(dst, r.Truth.Degrading)
	dst = append(dst, `,"failed":`...)
	dst = strconv.AppendBool(dst, r.Truth.Failed)
	dst = append(dst, `,"rul_ms":`...)
	rul := int64(-1)
	if r.Truth.RUL >= 0 {
		rul = r.Truth.RUL.Milliseconds()
	}
	dst = strconv.AppendInt(dst, rul, 10)
	dst = append(dst, `,"failure_at":`...)
	dst = strconv.AppendInt(dst, unixMilliOrZero(r.Truth.FailureAt), 10)
	if r.Truth.Mode != "" {
		dst = append(dst, `,"mode":`...)
		dst = appendString(dst, r.Truth.Mode)
	}
	return append(dst, '}')
}

func unixMilliOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
