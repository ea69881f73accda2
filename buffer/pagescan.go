package buffer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// The page scan reads a buffer file page by page without bbolt, for a file
// bbolt cannot open or walk (truncated, pages overwritten): it recovers every
// record whose own checksum is intact. bbolt's page layout (v1.5, see
// docs/formats/buffer.md):
//
//	page header (16 bytes): id uint64, flags uint16, count uint16, overflow uint32
//	branch element (16):    pos uint32, ksize uint32, pgid uint64
//	leaf element (16):      flags uint32, pos uint32, ksize uint32, vsize uint32
//
// little-endian on every platform edgepm ships for; pos is relative to the
// element. A bucket entry (leaf flag 0x01) holds {root pgid, sequence}, and
// an inline bucket (root 0) its own page right after. Pages are read with
// ReadAt, so a file larger than memory is scanned in constant memory (plus a
// few bytes per page for the tree).
//
// A data leaf page does not say which bucket it belongs to: the scan
// attributes it by following, from every bucket entry found (current or a
// stale copy in a freed page), the branch pages to their children, trusting
// a link only when the child's first key is the key the branch gives it. A
// leaf reached from two streams, or from none (its branch pages are lost),
// has its records attributed one by one by the caller's StreamOf (the queue
// never looks into records; edgepm's record formats tell their stream), else
// to the only stream with a non-inline root when there is just one; a record
// still without a stream is counted as unattributed and not recovered.
const (
	pageHeaderLen   = 16
	pageElemLen     = 16
	flagBranch      = 0x01
	flagLeaf        = 0x02
	flagMeta        = 0x04
	bucketEntryFlag = 0x01
	metaMagic       = 0xED0CDAED
)

// ScanReport counts what a page scan found.
type ScanReport struct {
	PageSize     int   `json:"page_size"`
	Pages        int64 `json:"pages"`        // pages whose header carries their own id
	Intact       int64 `json:"intact"`       // distinct records whose checksum is intact
	Recovered    int64 `json:"recovered"`    // of those, attributed to a stream and handed on
	Unattributed int64 `json:"unattributed"` // intact, but of no known stream: not recovered
	Damaged      int64 `json:"damaged"`      // leaf elements with an 8-byte key that failed to decode

	fileSize int64
}

// scanVisit receives each recovered record once (framed value; valid only
// during the call).
type scanVisit func(stream string, seq uint64, framed []byte) error

type branchLink struct {
	child uint64
	key   []byte
}

type pageScanner struct {
	streamOf func(Record) (string, bool)
	f        io.ReaderAt
	size     int64
	ps       int
	rep      ScanReport
	roots    map[uint64][]string     // page -> streams whose bucket entry names it root
	links    map[uint64][]branchLink // branch page -> children
	firstKey map[uint64][]byte       // leaf or branch page -> its first key
	leaves   []uint64                // data leaf pages
	inline   map[string][][]byte     // stream -> inline bucket pages
	owner    map[uint64]string       // page -> stream ("" = ambiguous)
	seen     map[string]map[uint64]bool
	orphans  map[[2]uint64]bool // (seq, crc) of unattributed records
}

// scanFile scans the file at path and calls visit for every recovered
// record. It reads the file only. streamOf (may be nil) names the stream of
// a record the file's structure does not attribute.
func scanFile(path string, streamOf func(Record) (string, bool), visit scanVisit) (ScanReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return ScanReport{}, fmt.Errorf("scan buffer file: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return ScanReport{}, fmt.Errorf("scan buffer file: %w", err)
	}
	s := &pageScanner{streamOf: streamOf, f: f, size: fi.Size(), roots: map[uint64][]string{}, links: map[uint64][]branchLink{},
		firstKey: map[uint64][]byte{}, inline: map[string][][]byte{}, owner: map[uint64]string{},
		seen: map[string]map[uint64]bool{}, orphans: map[[2]uint64]bool{}}
	s.ps = s.detectPageSize()
	s.rep.PageSize, s.rep.fileSize = s.ps, s.size
	s.mapTree()
	s.attribute()
	err = s.emit(visit)
	return s.rep, err
}

// detectPageSize takes the page size from a meta page with bbolt's magic,
// else the one under which most pages carry their own id.
func (s *pageScanner) detectPageSize() int {
	candidates := []int{pageSize, 4096, 8192, 32 << 10, 64 << 10}
	for _, off := range []int64{0, int64(candidates[0])} {
		var b [pageHeaderLen + 12]byte
		if _, err := s.f.ReadAt(b[:], off); err == nil && binary.LittleEndian.Uint32(b[16:]) == metaMagic {
			if ps := int(binary.LittleEndian.Uint32(b[24:])); ps >= 1024 && ps <= 1<<20 && ps&(ps-1) == 0 {
				return ps
			}
		}
	}
	best, bestN := pageSize, -1
	for _, ps := range candidates {
		n := 0
		for i := int64(0); i < 256 && (i+1)*int64(ps) <= s.size; i++ {
			if h, ok := s.header(i, ps); ok && h.id == uint64(i) {
				n++
			}
		}
		if n > bestN {
			best, bestN = ps, n
		}
	}
	return best
}

type pageHeader struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

func (s *pageScanner) header(i int64, ps int) (pageHeader, bool) {
	var b [pageHeaderLen]byte
	if _, err := s.f.ReadAt(b[:], i*int64(ps)); err != nil {
		return pageHeader{}, false
	}
	return parseHeader(b[:]), true
}

func parseHeader(b []byte) pageHeader {
	return pageHeader{id: binary.LittleEndian.Uint64(b), flags: binary.LittleEndian.Uint16(b[8:]),
		count: binary.LittleEndian.Uint16(b[10:]), overflow: binary.LittleEndian.Uint32(b[12:])}
}

// readPage returns page i with its overflow, cut at the end of the file.
func (s *pageScanner) readPage(i int64) ([]byte, bool) {
	h, ok := s.header(i, s.ps)
	if !ok || h.id != uint64(i) || (h.flags != flagBranch && h.flags != flagLeaf) {
		return nil, false
	}
	n := (int64(h.overflow) + 1) * int64(s.ps)
	n = min(n, s.size-i*int64(s.ps))
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, i*int64(s.ps)); err != nil && err != io.EOF {
		return nil, false
	}
	return b, true
}

// mapTree reads every page's structure: bucket entries, branch links, the
// first key of each page and which leaves hold records.
func (s *pageScanner) mapTree() {
	for i := int64(0); i*int64(s.ps) < s.size; i++ {
		p, ok := s.readPage(i)
		if !ok {
			continue
		}
		s.rep.Pages++
		id := uint64(i)
		if parseHeader(p).flags == flagBranch {
			s.mapBranch(id, p)
		} else {
			s.mapLeaf(id, p)
		}
	}
}

func (s *pageScanner) mapBranch(id uint64, p []byte) {
	forEachElem(p, func(e elem) {
		if len(s.links[id]) == 0 {
			s.firstKey[id] = bytes.Clone(e.key)
		}
		s.links[id] = append(s.links[id], branchLink{child: e.pgid, key: bytes.Clone(e.key)})
	}, true)
}

func (s *pageScanner) mapLeaf(id uint64, p []byte) {
	data := false
	forEachElem(p, func(e elem) {
		switch {
		case e.flags&bucketEntryFlag != 0:
			s.mapBucketEntry(e)
		case len(e.key) == 8:
			if !data {
				s.firstKey[id] = bytes.Clone(e.key)
			}
			data = true
		}
	}, false)
	if data {
		s.leaves = append(s.leaves, id)
	}
}

func (s *pageScanner) mapBucketEntry(e elem) {
	stream, ok := streamName(e.key)
	if !ok || len(e.val) < 16 {
		return
	}
	if root := binary.LittleEndian.Uint64(e.val); root != 0 {
		s.roots[root] = appendUnique(s.roots[root], stream)
		return
	}
	s.inline[stream] = append(s.inline[stream], bytes.Clone(e.val[16:]))
}

func appendUnique(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

// elem is one branch or leaf element of a page.
type elem struct {
	flags    uint32
	pgid     uint64
	key, val []byte
}

// forEachElem calls fn for each element of page p whose key and value lie
// inside p; it never reads outside p.
func forEachElem(p []byte, fn func(elem), branch bool) {
	if len(p) < pageHeaderLen {
		return
	}
	count := int(binary.LittleEndian.Uint16(p[10:]))
	for j := 0; j < count; j++ {
		at := pageHeaderLen + j*pageElemLen
		if at+pageElemLen > len(p) {
			return
		}
		e := p[at : at+pageElemLen]
		var x elem
		var pos, ksize, vsize uint64
		if branch {
			pos, ksize = uint64(binary.LittleEndian.Uint32(e)), uint64(binary.LittleEndian.Uint32(e[4:]))
			x.pgid = binary.LittleEndian.Uint64(e[8:])
		} else {
			x.flags, pos = binary.LittleEndian.Uint32(e), uint64(binary.LittleEndian.Uint32(e[4:]))
			ksize, vsize = uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		}
		start := uint64(at) + pos
		if start+ksize+vsize > uint64(len(p)) {
			continue
		}
		x.key = p[start : start+ksize]
		x.val = p[start+ksize : start+ksize+vsize]
		fn(x)
	}
}

// attribute assigns pages to streams from the bucket roots down the
// verified branch links.
func (s *pageScanner) attribute() {
	var queue []uint64
	for root, streams := range s.roots {
		for _, st := range streams {
			if s.assign(root, st) {
				queue = append(queue, root)
			}
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		st := s.owner[id]
		if st == "" {
			continue
		}
		for _, l := range s.links[id] {
			if fk, ok := s.firstKey[l.child]; ok && bytes.Equal(fk, l.key) && s.assign(l.child, st) {
				queue = append(queue, l.child)
			}
		}
	}
}

// assign makes st the owner of page id; it reports whether that changed
// anything (a second, different owner makes the page ambiguous).
func (s *pageScanner) assign(id uint64, st string) bool {
	cur, ok := s.owner[id]
	switch {
	case !ok:
		s.owner[id] = st
		return true
	case cur != "" && cur != st:
		s.owner[id] = ""
		return true
	}
	return false
}

// soleStream is the only stream with a non-inline root, or "".
func (s *pageScanner) soleStream() string {
	sole := ""
	for _, streams := range s.roots {
		for _, st := range streams {
			if sole != "" && sole != st {
				return ""
			}
			sole = st
		}
	}
	return sole
}

// emit decodes the records of every data leaf and inline bucket and hands
// the intact ones of known streams to visit, each (stream, seq) once.
func (s *pageScanner) emit(visit scanVisit) error {
	sole := s.soleStream()
	for _, id := range s.leaves {
		p, ok := s.readPage(int64(id))
		if !ok {
			continue
		}
		if err := s.emitPage(p, s.owner[id], sole, visit); err != nil {
			return err
		}
	}
	for st, pages := range s.inline {
		for _, p := range pages {
			if err := s.emitPage(p, st, "", visit); err != nil {
				return err
			}
		}
	}
	return nil
}

// emitPage hands on the intact records of leaf page p, of stream owner when
// the tree said so, else of the stream streamOf or fallback names.
func (s *pageScanner) emitPage(p []byte, owner, fallback string, visit scanVisit) error {
	var err error
	forEachElem(p, func(e elem) {
		if err != nil || e.flags&bucketEntryFlag != 0 || len(e.key) != 8 {
			return
		}
		seq := keySeq(e.key)
		r, derr := decodeRecord(e.val)
		if derr != nil || r.Seq != seq {
			if len(e.val) >= recordHeaderLen && e.val[0] == recordVersion {
				s.rep.Damaged++ // a record's frame, not some other 8-byte key
			}
			return
		}
		err = s.take(s.streamFor(r, owner, fallback), seq, e.val, visit)
	}, false)
	return err
}

func (s *pageScanner) streamFor(r Record, owner, fallback string) string {
	if owner != "" {
		return owner
	}
	if s.streamOf != nil {
		if st, ok := s.streamOf(r); ok {
			return st
		}
	}
	return fallback
}

// take counts an intact record once and hands it on when its stream is known.
func (s *pageScanner) take(stream string, seq uint64, framed []byte, visit scanVisit) error {
	if stream == "" {
		k := [2]uint64{seq, uint64(binary.BigEndian.Uint32(framed[1:5]))}
		if !s.orphans[k] {
			s.orphans[k] = true
			s.rep.Intact++
			s.rep.Unattributed++
		}
		return nil
	}
	if s.seen[stream] == nil {
		s.seen[stream] = map[uint64]bool{}
	}
	if s.seen[stream][seq] {
		return nil
	}
	s.seen[stream][seq] = true
	s.rep.Intact++
	s.rep.Recovered++
	return visit(stream, seq, framed)
}
