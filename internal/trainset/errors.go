package trainset

import (
	"fmt"
	"time"
)

// TooFewFailuresError is returned by Result.CheckFailures when the time
// range holds fewer failure labels (of devices with readings) than a model
// needs.
type TooFewFailuresError struct {
	From, To    time.Time
	Found, Need int
}

func (e *TooFewFailuresError) Error() string {
	return fmt.Sprintf("%s to %s: %d failures found in the labels, at least %d needed to train (widen --from/--to, wait for labels, or lower --min-failures)",
		e.From.UTC().Format(time.RFC3339), e.To.UTC().Format(time.RFC3339), e.Found, e.Need)
}
