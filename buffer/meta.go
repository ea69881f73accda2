package buffer

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// File layout (docs/formats/buffer.md): a "meta" bucket and one bucket per
// stream named "stream/<name>", keyed by the 8-byte big-endian sequence.
const (
	formatVersion = 1
	streamPrefix  = "stream/"
)

var (
	metaBucket   = []byte("meta")
	keyFormat    = []byte("format")
	keyCreated   = []byte("created")
	keyRecovered = []byte("recovered")
	seqPrefix    = "seq/"
	dropPrefix   = "drops/"
)

func streamBucket(name string) []byte { return []byte(streamPrefix + name) }

// streamName returns the stream of a bucket name, or false for non-stream buckets.
func streamName(bucket []byte) (string, bool) {
	s := string(bucket)
	if !strings.HasPrefix(s, streamPrefix) {
		return "", false
	}
	return s[len(streamPrefix):], true
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func putU64(b *bolt.Bucket, key string, v uint64) error {
	return b.Put([]byte(key), seqKey(v))
}

func getU64(b *bolt.Bucket, key string) uint64 {
	v := b.Get([]byte(key))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// putDrops stores a stream's cumulative drop counters.
func putDrops(b *bolt.Bucket, stream string, records, bytes uint64) error {
	v := binary.BigEndian.AppendUint64(nil, records)
	v = binary.BigEndian.AppendUint64(v, bytes)
	return b.Put([]byte(dropPrefix+stream), v)
}

func getDrops(b *bolt.Bucket, stream string) (records, bytes uint64) {
	v := b.Get([]byte(dropPrefix + stream))
	if len(v) != 16 {
		return 0, 0
	}
	return binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
}

// checkFormat returns the file's format version: 0 for a file without a
// meta bucket, an error for one newer than this build.
func checkFormat(tx *bolt.Tx) (int, error) {
	mb := tx.Bucket(metaBucket)
	if mb == nil {
		return 0, nil
	}
	v := mb.Get(keyFormat)
	if len(v) != 1 {
		return 0, &CorruptError{Reason: "meta format key missing or malformed"}
	}
	if v[0] > formatVersion {
		return int(v[0]), fmt.Errorf("file format %d: %w", v[0], ErrUnsupportedVersion)
	}
	return int(v[0]), nil
}

func keySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }
