package sim

import "errors"

// ErrConfig is wrapped by every error NewPlant, NewInjector and the other
// constructors return for an invalid configuration; the message names the
// bad field and value.
var ErrConfig = errors.New("invalid config")

// ErrUnknownClass is wrapped when Config.Classes names a machine class that
// does not exist (see Classes).
var ErrUnknownClass = errors.New("unknown machine class")

// ErrFormat is wrapped by ReadCMAPSS, ReadRUL and ReadTruth when the input
// is not in the expected format; the message carries the line number.
var ErrFormat = errors.New("bad input format")

// ErrNotConnected is returned by MQTTSink.Send when the client is not
// connected (for example during a disconnect storm) and the message was not
// queued.
var ErrNotConnected = errors.New("mqtt not connected")
