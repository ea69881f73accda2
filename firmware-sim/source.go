package sim

import "time"

// Source yields the readings of one tick at a time (normally one reading per
// device). Next returns ok=false when the source is exhausted. The returned
// slice is valid until the next call.
type Source interface {
	Next() (rs []Reading, ok bool)
}

// PlantSource steps a Plant by Interval per tick, forever.
type PlantSource struct {
	Plant    *Plant
	Interval time.Duration
	buf      []Reading
}

// Next steps the plant.
func (s *PlantSource) Next() ([]Reading, bool) {
	s.buf = s.Plant.StepInto(s.Interval, s.buf[:0])
	return s.buf, true
}
