package buffer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func sampleRecord() Record {
	return Record{
		Seq:     42,
		Time:    time.Unix(1732233600, 123456789).UTC(),
		Key:     []byte("pump-0003"),
		Value:   []byte(`{"ts":1732233600123,"values":{"vibration_rms":2.31}}`),
		Headers: []Header{{Key: "edgepm-schema", Value: []byte("1")}, {Key: "edgepm-model", Value: []byte("pm:3")}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, r := range []Record{sampleRecord(), {Seq: 1, Time: time.Unix(0, 1).UTC()}} {
		b := appendRecord(nil, &r)
		if len(b) != encodedLen(&r) {
			t.Fatalf("encodedLen %d != %d", encodedLen(&r), len(b))
		}
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := appendRecord(nil, &Record{Seq: 7, Time: time.Unix(1, 0), Key: []byte("k"), Value: []byte("v")})
	flip := bytes.Clone(good)
	flip[len(flip)-1] ^= 0x40
	newer := bytes.Clone(good)
	newer[0] = 2
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"empty":     {nil, ErrCorrupt},
		"short":     {good[:10], ErrCorrupt},
		"truncated": {good[:len(good)-1], ErrCorrupt},
		"flipped":   {flip, ErrCorrupt},
		"version 0": {append([]byte{0}, good[1:]...), ErrCorrupt},
		"newer":     {newer, ErrUnsupportedVersion},
		"trailing":  {append(bytes.Clone(good), 0), ErrCorrupt},
	}
	for name, c := range cases {
		_, err := decodeRecord(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	var ce *CorruptError
	if _, err := decodeRecord(flip); !errors.As(err, &ce) || ce.Reason != "checksum mismatch" {
		t.Errorf("flipped: %v", err)
	}
}

// A valid checksum over bad lengths must still be rejected, not panic.
func TestDecodeBadLengthsWithGoodChecksum(t *testing.T) {
	r := sampleRecord()
	b := appendRecord(nil, &r)
	b[recordHeaderLen] = 0xff // key length varint now huge
	reseal(b)
	if _, err := decodeRecord(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
}

func reseal(b []byte) {
	sum := crc32c(b[5:])
	b[1], b[2], b[3], b[4] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
}

func FuzzDecodeRecord(f *testing.F) {
	r := sampleRecord()
	f.Add(appendRecord(nil, &r))
	f.Add(appendRecord(nil, &Record{Seq: 1}))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		// Whatever decodes must survive a re-encode unchanged.
		again, err := decodeRecord(appendRecord(nil, &got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encode: %v\n%+v\n%+v", err, again, got)
		}
	})
}

// TestWriteFuzzSeeds regenerates the seed corpus when EDGEPM_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("EDGEPM_WRITE_SEEDS") != "1" {
		t.Skip("set EDGEPM_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzDecodeRecord")
	}
	r := sampleRecord()
	good := appendRecord(nil, &r)
	flip := bytes.Clone(good)
	flip[30] ^= 1
	seeds := map[string][]byte{
		"valid":         good,
		"valid-minimal": appendRecord(nil, &Record{Seq: 1}),
		"flipped":       flip,
		"truncated":     good[:len(good)/2],
		"short":         good[:4],
		"newer-version": append([]byte{9}, good[1:]...),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRecord")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		data := []byte("go test fuzz v1\n[]byte(" + goQuote(b) + ")\n")
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
