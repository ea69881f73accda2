package rollout

import "errors"

// Errors callers branch on (returned wrapped).
var (
	// ErrUnsigned: a rollouts topic value without a rollout or a signature.
	ErrUnsigned = errors.New("rollout record is not signed")
	// ErrBadSignature: no configured key verifies the record's signature.
	ErrBadSignature = errors.New("rollout record signature does not verify with any configured key")
	// ErrNoGateways: a canary spec selects no gateway.
	ErrNoGateways = errors.New("no gateway selected")
	// ErrSuperseded: the model's pointer carries a newer release than the
	// rollout's (someone pushed since), so promoting or aborting it would
	// undo that release.
	ErrSuperseded = errors.New("the model's pointer moved on since the rollout")
	// ErrNotActive: a rollout command needs an active (canary or shadow) rollout.
	ErrNotActive = errors.New("no active rollout")
)
