package ingest

// scratch is memory the ingest hot path reuses from message to message:
// interned sensor names, topic match results, the value maps and the
// readings slice of the batch before. It belongs to one goroutine (the
// Pipeline's decode loop); not safe for concurrent use.
//
// What it hands out is valid until recycle: Reading.Values maps are
// cleared and reused for the next batch, so nothing may keep a reading's
// Values past the batch (the buffer record is encoded, inference copies the
// values into its windows). Interned names and matched Fields maps are never
// modified and may be kept.
type scratch struct {
	names    map[string]string
	topics   map[topicKey]topicMatch
	free     []map[string]float64 // value maps ready for reuse
	used     []map[string]float64 // value maps handed out in this batch
	readings []Reading
	json     []byte // the ValuesJSON objects mapped formats wrote in this batch
}

// Bounds of the scratch's caches, by count and by length: names and topics
// beyond them are not cached (a publisher inventing names cannot grow
// memory by more than about 0.5 + 4 MB).
const (
	maxInternedNames = 4096
	maxInternedLen   = 128
	maxCachedTopics  = 16384
	maxCachedTopic   = 256
	maxReusedMapLen  = 64 // a map that held more sensors is not reused
	// maxReusedReadings: a readings slice a burst of batch payloads grew
	// beyond this is not kept.
	maxReusedReadings = 64 << 10
	// maxReusedJSON: a ValuesJSON buffer grown beyond this is not kept.
	maxReusedJSON = 1 << 20
)

type topicKey struct {
	tt    *TopicTemplate
	topic string
}

type topicMatch struct {
	device string
	fields map[string]string
	ok     bool
}

func newScratch() *scratch {
	return &scratch{names: map[string]string{}, topics: map[topicKey]topicMatch{}}
}

// intern returns b as a string, shared with earlier calls for the same bytes.
func (s *scratch) intern(b []byte) string {
	if v, ok := s.names[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.names) < maxInternedNames && len(v) <= maxInternedLen {
		s.names[v] = v
	}
	return v
}

// valueMap returns an empty map for a reading's values.
func (s *scratch) valueMap() map[string]float64 {
	var m map[string]float64
	if n := len(s.free); n > 0 {
		m = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		m = make(map[string]float64, 8)
	}
	s.used = append(s.used, m)
	return m
}

// valueMapOrNew is valueMap, or a new map when s is nil (a decoder used
// outside the Pipeline).
func (s *scratch) valueMapOrNew() map[string]float64 {
	if s == nil {
		return make(map[string]float64, 8)
	}
	return s.valueMap()
}

// internOrCopy is intern, or a plain copy when s is nil.
func (s *scratch) internOrCopy(b []byte) string {
	if s == nil {
		return string(b)
	}
	return s.intern(b)
}

// jsonStart starts a ValuesJSON object in the batch's buffer and returns
// where (0 when s is nil: no object is written then).
func (s *scratch) jsonStart() int {
	if s == nil {
		return 0
	}
	s.json = append(s.json, '{')
	return len(s.json) - 1
}

// appendJSONValue appends name:v to the object being written. false when
// name needs escaping (then the object is abandoned). v is a number (its
// token is valid JSON) or a boolean (written as 1 or 0).
func (s *scratch) appendJSONValue(name []byte, v scalar) bool {
	for _, c := range name {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	if s.json[len(s.json)-1] != '{' {
		s.json = append(s.json, ',')
	}
	s.json = append(append(append(s.json, '"'), name...), '"', ':')
	switch v.kind {
	case 't':
		s.json = append(s.json, '1')
	case 'f':
		s.json = append(s.json, '0')
	default:
		s.json = append(s.json, v.raw...)
	}
	return true
}

// endJSON closes the object started at start and returns it. It stays
// valid until recycle (a later append that reallocates leaves it in the
// old array).
func (s *scratch) endJSON(start int) []byte {
	s.json = append(s.json, '}')
	return s.json[start:len(s.json):len(s.json)]
}

// match is tt.Match(topic), remembered per (template, topic).
func (s *scratch) match(tt *TopicTemplate, topic string) (device string, fields map[string]string, ok bool) {
	k := topicKey{tt, topic}
	if m, hit := s.topics[k]; hit {
		return m.device, m.fields, m.ok
	}
	device, fields, ok = tt.Match(topic)
	if len(topic) > maxCachedTopic {
		return device, fields, ok
	}
	if len(s.topics) >= maxCachedTopics {
		clear(s.topics)
	}
	s.topics[k] = topicMatch{device, fields, ok}
	return device, fields, ok
}

// recycle makes the value maps handed out since the last recycle
// available again; the caller is done with the batch's readings.
func (s *scratch) recycle() {
	for _, m := range s.used {
		if len(m) <= maxReusedMapLen {
			clear(m)
			s.free = append(s.free, m)
		}
	}
	clear(s.used)
	s.used = s.used[:0]
	if cap(s.json) > maxReusedJSON {
		s.json = nil
	}
	s.json = s.json[:0]
	if cap(s.readings) > maxReusedReadings {
		s.readings = nil
		return
	}
	clear(s.readings)
	s.readings = s.readings[:0]
}
