package ingest

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Bounds of a sparkplug_b subscription's session state. A birth that would
// go beyond them evicts the least recently used edge nodes and devices
// (spEvictBatch at a time; they must then be born again: their data is
// no_birth until they are), so edge nodes sending births for ever, or for
// ever new devices, cannot grow memory: at most MaxSparkplugEntities nodes
// and devices and MaxSparkplugDefinitions metric definitions of at most
// MaxSensorName bytes each, about 22 MiB of heap at most (measured: 19.6
// MiB for 62,478 definitions of 128-byte names on 11,264 devices).
const (
	MaxSparkplugEntities    = 16384
	MaxSparkplugDefinitions = 65536
)

// PresenceChange is an edge node or device going online (its birth) or
// offline (its death, or its edge node's death).
type PresenceChange struct {
	Device string    // the device id (the node id for an edge node)
	Online bool      // true: born; false: dead
	Cause  string    // the message type: NBIRTH, DBIRTH, NDEATH or DDEATH
	BdSeq  uint64    // the edge node's bdSeq
	At     time.Time // when the message was received
}

// spSession is what a sparkplug_b subscription knows of its edge nodes:
// their births (metric names, aliases and data types), seq and bdSeq, and
// whether they are online. It belongs to one goroutine (the Pipeline's
// decode loop); only rebirths is read concurrently.
type spSession struct {
	nodes    map[spNodeKey]*spNode
	entities int // nodes and devices held
	defs     int // metric definitions held
	clock    uint64
	pay      spPayload
	changes  []PresenceChange
	publish  Publish
	rebirths atomic.Int64 // rebirth requests sent
}

// Publish sends an MQTT message (Client.Publish).
type Publish func(topic string, qos byte, retain bool, payload []byte) error

type spNodeKey struct{ group, node string }

// spEntity is the state of an edge node or of a device.
type spEntity struct {
	id     string // its device id
	born   bool   // its birth was read and nothing since invalidated it
	online bool
	defs   spDefs
	used   uint64 // the session clock when last used (LRU)
}

type spNode struct {
	spEntity
	key         spNodeKey
	bdSeq       uint64
	seq         uint64 // of the last message
	devices     map[string]*spEntity
	lastRebirth time.Time
}

// spDefs are the metrics a birth defined.
type spDefs struct {
	byAlias map[uint64]spDef
	byName  map[string]spDef
}

type spDef struct {
	name     string
	datatype uint32
	control  bool // bookkeeping, not a reading value (spControl)
}

func (d *spDefs) len() int { return len(d.byName) }

func newSpSession() *spSession {
	return &spSession{nodes: map[spNodeKey]*spNode{}}
}

// node returns the state of an edge node, creating it (unborn, its device
// id from the node_id template idTmpl) when create.
func (s *spSession) node(t *spTopic, idTmpl string, create bool) *spNode {
	s.clock++
	if n, ok := s.nodes[spNodeKey{t.group, t.node}]; ok {
		n.used = s.clock
		return n
	}
	if !create {
		return nil
	}
	s.makeRoom(1, 0)
	k := spNodeKey{strings.Clone(t.group), strings.Clone(t.node)}
	id := expandID(idTmpl, t.group, t.node, "")
	n := &spNode{key: k, spEntity: spEntity{id: id, used: s.clock}, devices: map[string]*spEntity{}}
	s.nodes[k] = n
	s.entities++
	return n
}

// device returns the state of a device of n, creating it when create.
func (s *spSession) device(n *spNode, name, id string, create bool) *spEntity {
	if d, ok := n.devices[name]; ok {
		d.used = s.clock
		return d
	}
	if !create {
		return nil
	}
	s.makeRoom(1, 0)
	d := &spEntity{id: id, used: s.clock}
	n.devices[strings.Clone(name)] = d
	s.entities++
	return d
}

// define replaces e's definitions with those of a birth's metrics.
func (s *spSession) define(e *spEntity, ms []spMetric) {
	s.defs -= e.defs.len()
	e.defs = spDefs{}
	s.makeRoom(0, len(ms))
	e.defs = spDefs{byAlias: make(map[uint64]spDef, len(ms)), byName: make(map[string]spDef, len(ms))}
	for i := range ms {
		m := &ms[i]
		name := string(m.name)
		def := spDef{name: name, datatype: m.datatype, control: spControl(name)}
		e.defs.byName[name] = def
		if m.hasAlias {
			e.defs.byAlias[m.alias] = def
		}
	}
	s.defs += e.defs.len()
}

// forgetDefs drops e's definitions.
func (s *spSession) forgetDefs(e *spEntity) {
	s.defs -= e.defs.len()
	e.defs = spDefs{}
}

// makeRoom evicts least recently used nodes and devices until entities
// more nodes or devices and defs more definitions fit the bounds. It
// never evicts what the message being decoded touched (used == clock).
func (s *spSession) makeRoom(entities, defs int) {
	for s.entities+entities > MaxSparkplugEntities || s.defs+defs > MaxSparkplugDefinitions {
		if !s.evictLRU(spEvictBatch) {
			return
		}
	}
}

// spEvictBatch is how many nodes and devices one eviction drops at least:
// a sixteenth of the bound, so that births at the bound cost one scan of
// the state per spEvictBatch births, not one per birth.
const spEvictBatch = MaxSparkplugEntities / 16

// evictLRU drops the n least recently used nodes (each with its devices)
// and devices not touched by the message being decoded (a node is used
// whenever one of its devices is, so it goes no earlier than they do);
// false when there is none.
func (s *spSession) evictLRU(n int) bool {
	var used []uint64
	for _, nd := range s.nodes {
		if nd.used < s.clock {
			used = append(used, nd.used)
		}
		for _, d := range nd.devices {
			if d.used < s.clock {
				used = append(used, d.used)
			}
		}
	}
	if len(used) == 0 {
		return false
	}
	slices.Sort(used)
	cut := used[min(n, len(used))-1]
	for _, nd := range s.nodes {
		if nd.used <= cut {
			s.dropNode(nd)
			continue
		}
		for name, d := range nd.devices {
			if d.used <= cut {
				s.dropDevice(nd, name)
			}
		}
	}
	return true
}

func (s *spSession) dropNode(n *spNode) {
	for name := range n.devices {
		s.dropDevice(n, name)
	}
	s.forgetDefs(&n.spEntity)
	delete(s.nodes, n.key)
	s.entities--
}

func (s *spSession) dropDevice(n *spNode, name string) {
	s.forgetDefs(n.devices[name])
	delete(n.devices, name)
	s.entities--
}

// presence records an entity going online or offline, if it changes.
func (s *spSession) presence(e *spEntity, online bool, cause string, bdSeq uint64, at time.Time) {
	if e.online == online {
		return
	}
	e.online = online
	s.changes = append(s.changes, PresenceChange{Device: e.id, Online: online, Cause: cause, BdSeq: bdSeq, At: at})
}

// takeChanges appends the presence changes recorded since the last call
// to out.
func (s *spSession) takeChanges(out []PresenceChange) []PresenceChange {
	out = append(out, s.changes...)
	clear(s.changes)
	s.changes = s.changes[:0]
	return out
}
