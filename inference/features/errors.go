package features

import "errors"

var (
	// ErrOutOfOrder is returned by Window.Push for a reading older than the
	// newest sample of the window. The window is unchanged.
	ErrOutOfOrder = errors.New("features: reading out of order")
	// ErrNoValues is returned by Window.Push when a reading has no valid
	// value for any channel of the window. The window is unchanged.
	ErrNoValues = errors.New("features: reading has no valid values for the window's channels")
)
