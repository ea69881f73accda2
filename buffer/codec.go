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
func decodeRecord(b []byte) (Record, error) { return decodeRecordIn(b, nil) }

// readSlab lets the records of one Read share allocations: their key, value
// and header bytes come from chunks of bytes, their header slices from
// chunks of headers, and header keys seen before are shared strings. A
// record kept by the caller keeps its chunks reachable (a few tens of KB).
// Not safe for concurrent use.
type readSlab struct {
	bytes   []byte
	headers []Header
	keys    []string // header keys seen, shared
}

const (
	slabBytes   = 64 << 10
	slabHeaders = 512
)

// own returns n bytes (capacity n) that no other record uses.
func (s *readSlab) own(n int) []byte {
	if s == nil || n > slabBytes/4 {
		return make([]byte, n)
	}
	if cap(s.bytes)-len(s.bytes) < n {
		s.bytes = make([]byte, 0, slabBytes)
	}
	at := len(s.bytes)
	s.bytes = s.bytes[:at+n]
	return s.bytes[at : at+n : at+n]
}

// headerSlice returns an empty slice of capacity n.
func (s *readSlab) headerSlice(n int) []Header {
	if s == nil || n > slabHeaders/4 {
		return make([]Header, 0, n)
	}
	if cap(s.headers)-len(s.headers) < n {
		s.headers = make([]Header, 0, slabHeaders)
	}
	at := len(s.headers)
	s.headers = s.headers[:at+n]
	return s.headers[at : at : at+n]
}

// key returns b as a string, shared with an earlier equal header key.
func (s *readSlab) key(b []byte) string {
	if s == nil {
		return string(b)
	}
	for _, k := range s.keys {
		if k == string(b) {
			return k
		}
	}
	k := string(b)
	if len(s.keys) < 16 {
		s.keys = append(s.keys, k)
	}
	return k
}

// decodeRecordIn is decodeRecord with the record's memory taken from slab
// (nil: its own allocations).
func decodeRecordIn(b []byte, slab *readSlab) (Record, error) {
	if err := checkFrame(b); err != nil {
		return Record{}, err
	}
	d := decoder{buf: b, off: recordHeaderLen}
	// One allocation backs key, value and header values.
	own := slab.own(len(b) - recordHeaderLen)
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
		r.Headers = slab.headerSlice(int(n))
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.bytes("header key")
			v := d.bytes("header value")
			r.Headers = append(r.Headers, Header{Key: slab.key(k), Value: v})
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
