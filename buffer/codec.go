package buffer

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// Record framing, version 1 (docs/formats/buffer.md):
//
//	off 0      version   = 0x01
//	off 1..4   crc32c    Castagnoli, big-endian, over bytes [5:]
//	off 5..12  seq       uint64 big-endian (equals the bbolt key)
//	off 13..20 time      int64 big-endian, unix nanoseconds
//	then       uvarint len + key bytes
//	           uvarint len + value bytes
//	           uvarint header count, each: uvarint len + key, uvarint len + value
//
// The value must be consumed exactly; trailing bytes are corruption.
const (
	recordVersion   = 1
	recordHeaderLen = 21
	maxHeaders      = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodedLen returns the framed size of r.
func encodedLen(r *Record) int {
	n := recordHeaderLen + uvarintLen(len(r.Key)) + len(r.Key) +
		uvarintLen(len(r.Value)) + len(r.Value) + uvarintLen(len(r.Headers))
	for _, h := range r.Headers {
		n += uvarintLen(len(h.Key)) + len(h.Key) + uvarintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

// appendRecord appends the framed r (with r.Seq and r.Time) to dst.
func appendRecord(dst []byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, recordVersion, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, r.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendBytes(dst, []byte(h.Key))
		dst = appendBytes(dst, h.Value)
	}
	sum := crc32.Checksum(dst[start+5:], castagnoli)
	binary.BigEndian.PutUint32(dst[start+1:], sum)
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func uvarintLen(n int) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], uint64(n))
}

// decodeRecord decodes a framed value. The returned record does not alias b
// (bbolt values are only valid inside their transaction). Stream is not set.
func decodeRecord(b []byte) (Record, error) {
	if err := checkFrame(b); err != nil {
		return Record{}, err
	}
	d := decoder{buf: b, off: recordHeaderLen}
	// One allocation backs key, value and header values.
	own := make([]byte, len(b)-recordHeaderLen)
	copy(own, b[recordHeaderLen:])
	d.own = own
	r := Record{
		Seq:  binary.BigEndian.Uint64(b[5:13]),
		Time: time.Unix(0, int64(binary.BigEndian.Uint64(b[13:21]))).UTC(),
	}
	r.Key = d.bytes("key")
	r.Value = d.bytes("value")
	n := d.uvarint("header count")
	if d.err == nil && n > maxHeaders {
		d.fail("header count too large")
	}
	if d.err == nil && n > 0 {
		r.Headers = make([]Header, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.bytes("header key")
			v := d.bytes("header value")
			r.Headers = append(r.Headers, Header{Key: string(k), Value: v})
		}
	}
	if d.err == nil && d.off != len(b) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Record{}, d.err
	}
	return r, nil
}

// checkFrame verifies the version byte and checksum.
func checkFrame(b []byte) error {
	if len(b) < recordHeaderLen {
		return &CorruptError{Offset: len(b), Reason: "short record"}
	}
	if b[0] != recordVersion {
		if b[0] > recordVersion {
			return &versionError{v: b[0]}
		}
		return &CorruptError{Reason: "bad version byte"}
	}
	if crc32.Checksum(b[5:], castagnoli) != binary.BigEndian.Uint32(b[1:5]) {
		return &CorruptError{Offset: 1, Reason: "checksum mismatch"}
	}
	return nil
}

// frameTime returns the time field of a framed value without decoding it
// (no checksum check; used for TTL and oldest-age on hot paths).
func frameTime(b []byte) (time.Time, bool) {
	if len(b) < recordHeaderLen || b[0] != recordVersion {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[13:21]))).UTC(), true
}

// versionError is a record written by a newer format version.
type versionError struct{ v byte }

func (e *versionError) Error() string {
	return fmt.Sprintf("record format version %d: %v", e.v, ErrUnsupportedVersion)
}
func (e *versionError) Is(target error) bool {
	return target == ErrUnsupportedVersion || target == ErrCorrupt
}

type decoder struct {
	buf []byte
	own []byte // copy of buf[recordHeaderLen:]
	off int
	err error
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = &CorruptError{Offset: d.off, Reason: reason}
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail("bad " + what + " length")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)-d.off) {
		d.fail(what + " overruns record")
		return nil
	}
	if n == 0 {
		return nil
	}
	s := d.off - recordHeaderLen
	d.off += int(n)
	return d.own[s : s+int(n) : s+int(n)]
}
