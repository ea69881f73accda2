package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Label kinds: what a maintenance system (CMMS) reports about a device.
const (
	// LabelFailure: the device failed at TS (a functional failure).
	LabelFailure = "failure"
	// LabelMaintenance: the device was repaired or serviced at TS; it is
	// back to as-new.
	LabelMaintenance = "maintenance"
	// LabelInspectionOK: an inspection at TS found the device healthy.
	LabelInspectionOK = "inspection_ok"
)

// LabelKinds lists the label kinds, in documentation order.
var LabelKinds = []string{LabelFailure, LabelMaintenance, LabelInspectionOK}

// Label is the value of an edgepm.labels record (key: device id;
// docs/schemas/label.schema.json): one work order or inspection result.
// edgepm does not write this topic; a maintenance system (or firmware-sim
// --labels-to-kafka) does, and the trainer reads it.
type Label struct {
	V      int    `json:"v"` // Version
	Device string `json:"device"`
	TS     int64  `json:"ts"`   // when it happened, unix ms
	Kind   string `json:"kind"` // LabelFailure, LabelMaintenance, LabelInspectionOK
	// Reported is when the record was filed, unix ms (omitted when
	// unknown); Reported - TS is the reporting lag.
	Reported int64 `json:"reported,omitempty"`
	// Text is the work order's free text (omitted when empty).
	Text string `json:"text,omitempty"`
}

// ErrLabel is returned by DecodeLabel for a value that is not an
// edgepm.labels record of this version.
var ErrLabel = errors.New("not an edgepm.labels record")

// Time returns TS as a time.
func (l Label) Time() time.Time { return time.UnixMilli(l.TS) }

// DecodeLabel decodes and checks one edgepm.labels value: v must be
// Version, device non-empty, ts > 0 and kind one of LabelKinds. Unknown
// fields are ignored (kafka-records.md, "Versioning"). Errors wrap ErrLabel.
func DecodeLabel(b []byte) (Label, error) {
	var l Label
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&l); err != nil {
		return Label{}, fmt.Errorf("%w: %v", ErrLabel, err)
	}
	switch {
	case l.V != Version:
		return l, fmt.Errorf("%w: v: want %d, got %d", ErrLabel, Version, l.V)
	case l.Device == "":
		return l, fmt.Errorf("%w: device: empty", ErrLabel)
	case l.TS <= 0:
		return l, fmt.Errorf("%w: ts: want unix milliseconds > 0, got %d", ErrLabel, l.TS)
	case !validKind(l.Kind):
		return l, fmt.Errorf("%w: kind: want failure, maintenance or inspection_ok, got %q", ErrLabel, l.Kind)
	}
	return l, nil
}

func validKind(k string) bool {
	for _, v := range LabelKinds {
		if k == v {
			return true
		}
	}
	return false
}
