// Package devices is the bounded registry of per-device state: at most a
// configured number of devices, least recently seen evicted first, devices
// idle for a configured time evicted, every eviction counted by reason.
//
// The appliance keeps state for each device in several places (the status
// view, the stuck-sensor check, the inference engine's feature windows).
// One Registry decides which devices are kept; the other holders drop a
// device when the registry's OnEvict tells them to, so there is one bound
// and one eviction order.
//
// # Invariants
//
//   - At most Max devices are held. A new device at the bound first evicts
//     the least recently touched one (reason ReasonMaxDevices).
//   - A device not touched for IdleTTL is evicted (ReasonIdle) by the next
//     Touch or EvictIdle; IdleTTL < 0 never evicts for idleness.
//   - OnEvict runs once per evicted device, synchronously, inside the Touch
//     or EvictIdle that evicted it, after the device left the registry.
//     Holders that add a device only after touching it, and drop it in
//     OnEvict, therefore never hold a device the registry does not.
//
// # Concurrency
//
// A Registry is not safe for concurrent use: its owner serialises calls
// (edge's device table holds its own mutex around them). Touch and
// EvictIdle may evict, so OnEvict runs on whichever goroutine calls them;
// owners that give OnEvict goroutine-bound work call them from that
// goroutine only. Evicted and Len may be read from any goroutine. No call
// blocks except in what OnEvict does.
package devices
