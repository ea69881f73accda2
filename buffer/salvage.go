package buffer

import (
	"fmt"
	"sort"
)

// InspectSalvage describes what a page scan can recover from a buffer file
// bbolt cannot read (a buffer.db.corrupt-* file moved aside at Open, or a
// damaged buffer.db): the records whose own checksum is intact, per stream,
// as the fresh buffer would get them. It only reads the file. streamOf (may
// be nil; the appliance uses wire.StreamOf) names the stream of records on
// pages the file's tree no longer reaches. Report.Salvage has the counts.
func InspectSalvage(path string, streamOf func(Record) (string, bool)) (*Report, error) {
	recs, sr, err := salvageRecords(path, streamOf)
	if err != nil {
		return nil, fmt.Errorf("inspect buffer %s (salvage): %w", path, err)
	}
	rep := &Report{Path: path, FileSize: sr.fileSize, Salvage: &sr}
	for _, name := range sortedStreams(recs) {
		st := &streamState{name: name}
		for _, r := range recs[name] {
			st.records++
			st.bytes += storedSize(encodedLen(&r))
			st.lastSeq = r.Seq
			if st.firstSeq == 0 {
				st.firstSeq, st.oldest = r.Seq, r.Time
			}
		}
		rep.Streams = append(rep.Streams, StreamReport{Name: name, Records: st.records, Bytes: st.bytes,
			FirstSeq: st.firstSeq, LastSeq: st.lastSeq, OldestTime: st.oldest})
	}
	return rep, nil
}

// ExportSalvage is Export for a file bbolt cannot read: fn gets up to limit
// (<= 0: all) of the records of stream with Seq > after that a page scan
// recovers (see InspectSalvage), in sequence order.
func ExportSalvage(path, stream string, after uint64, limit int, streamOf func(Record) (string, bool), fn func(Record) error) error {
	recs, _, err := salvageRecords(path, streamOf)
	if err != nil {
		return fmt.Errorf("export buffer %s (salvage): %w", path, err)
	}
	n := 0
	for _, r := range recs[stream] {
		if r.Seq <= after {
			continue
		}
		if limit > 0 && n >= limit {
			break
		}
		if err := fn(r); err != nil {
			return err
		}
		n++
	}
	return nil
}

// salvageRecords page-scans the file into memory, each stream sorted by seq.
func salvageRecords(path string, streamOf func(Record) (string, bool)) (map[string][]Record, ScanReport, error) {
	recs := map[string][]Record{}
	rep, err := scanFile(path, streamOf, func(stream string, _ uint64, framed []byte) error {
		r, err := decodeRecord(framed)
		if err != nil {
			return err // the scan hands on decodable records only
		}
		r.Stream = stream
		recs[stream] = append(recs[stream], r)
		return nil
	})
	if err != nil {
		return nil, rep, err
	}
	for _, l := range recs {
		sort.Slice(l, func(i, j int) bool { return l[i].Seq < l[j].Seq })
	}
	return recs, rep, nil
}

func sortedStreams(m map[string][]Record) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
