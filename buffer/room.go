package buffer

// Drop reasons (metric label, event field).
const (
	ReasonStreamCap = "stream_cap" // the stream's own MaxBytes
	ReasonBufferCap = "buffer_cap" // the whole buffer's MaxBytes
	ReasonTTL       = "ttl"        // older than the stream's TTL
)

// makeRoom drops records so recs fit under the stream caps and the buffer
// cap, or returns errNoRoom without dropping anything.
//
// Stream cap: a DropOldest stream drops its own oldest; a Block stream has
// no room. Buffer cap: room is made by dropping the oldest records of
// DropOldest streams whose priority is <= the lowest priority among recs,
// lowest priority first; if they do not hold enough, there is no room.
func (t *txn) makeRoom(recs []Record, sizes []int) error {
	need := make(map[string]int64, 1)
	prio := 0
	var total int64
	for i := range recs {
		st := t.st[recs[i].Stream]
		sz := storedSize(sizes[i])
		need[st.name] += sz
		total += sz
		if i == 0 || st.opts.Priority < prio {
			prio = st.opts.Priority
		}
	}
	self := make(map[string]int64, len(need))
	for name, n := range need {
		st := t.st[name]
		if st.opts.MaxBytes > 0 && st.bytes+n > st.opts.MaxBytes {
			if st.opts.Overflow == Block {
				return errNoRoom
			}
			self[name] = st.bytes + n - st.opts.MaxBytes
		}
	}
	var selfTotal int64
	for _, n := range self {
		selfTotal += n
	}
	plan, ok := t.planBufferCap(t.total+total-selfTotal-t.q.opts.MaxBytes, prio, self)
	if !ok {
		return errNoRoom
	}
	for _, name := range t.q.order {
		if n := self[name]; n > 0 {
			if err := t.dropOldest(name, n, ReasonStreamCap); err != nil {
				return err
			}
		}
		if n := plan[name]; n > 0 {
			if err := t.dropOldest(name, n, ReasonBufferCap); err != nil {
				return err
			}
		}
	}
	return nil
}

// planBufferCap decides how many bytes to drop from which stream to free
// excess bytes, or reports that it cannot be done.
func (t *txn) planBufferCap(excess int64, prio int, self map[string]int64) (map[string]int64, bool) {
	if excess <= 0 {
		return nil, true
	}
	plan := make(map[string]int64)
	for _, name := range t.q.order {
		st := t.st[name]
		if st.opts.Priority > prio {
			break
		}
		if st.opts.Overflow != DropOldest {
			continue
		}
		avail := st.bytes - self[name]
		take := min(avail, excess)
		if take > 0 {
			plan[name] = take
			excess -= take
		}
		if excess <= 0 {
			return plan, true
		}
	}
	return nil, false
}
