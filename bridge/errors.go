package bridge

import "errors"

var (
	// ErrInvalidConfig is wrapped by Config.Validate and the constructors
	// when a field is out of range; the message names the field and value.
	ErrInvalidConfig = errors.New("invalid kafka config")

	// ErrClosed is returned by Run and other calls after Close.
	ErrClosed = errors.New("bridge closed")

	// ErrRunning is returned by Run when the component is already running
	// (Run may be called once).
	ErrRunning = errors.New("bridge already running")
)
